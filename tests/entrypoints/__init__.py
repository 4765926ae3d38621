"""Importable modules used as `source.entrypoint` (library `python`) by the converter tests."""
