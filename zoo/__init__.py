"""zoo: a declarative model zoo."""

# `zoo.atomic` reads the process umask when imported; importing it with the package makes that
# happen at start-up, before zoo starts any thread (reading the umask briefly changes it).
from zoo import atomic as _atomic  # noqa: F401

# The composition root: the source-library registry announces itself to the manifest schema,
# which knows libraries only through an interface (docs/design.md, "Packages and their layers").
from zoo.sources import registry as _registry  # noqa: F401, E402

__version__ = "0.1.0"
