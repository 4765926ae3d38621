"""Source libraries: one module per library, each defining a `SourceLibrary` (see `base`).

`registry` finds a library by name (the built-ins here, plugins through entry points or
`$ZOO_SOURCES`); `common` and `torch_export` hold what several converters share, and
`transform` the eval-transform arithmetic. Frameworks are imported only inside the functions
that convert, so importing any module here stays cheap.
"""
