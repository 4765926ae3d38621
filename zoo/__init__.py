"""zoo: a declarative model zoo."""

# `zoo.atomic` reads the process umask when imported; importing it with the package makes that
# happen at start-up, before zoo starts any thread (reading the umask briefly changes it).
from zoo import atomic as _atomic  # noqa: F401

__version__ = "0.1.0"
