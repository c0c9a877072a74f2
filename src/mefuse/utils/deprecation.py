"""Old public names kept importable for one release, with a :class:`DeprecationWarning`.

Why: a renamed class must not break a user's import on the day it is renamed. Each module that
renamed one answers its old name through its PEP 562 ``__getattr__`` with :func:`renamed`
(``tools/rename_classes.py`` writes those hooks).
"""

from __future__ import annotations

import sys
import warnings


def renamed(module: str, name: str, renames: dict[str, str]) -> object:
    """The object now called ``renames[name]`` in ``module``, with a warning naming it; an
    :class:`AttributeError` for a name that was never renamed (as Python gives by default)."""
    if name not in renames:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new = renames[name]
    warnings.warn(f"{module}.{name} is deprecated and goes in the next release; it is now "
                  f"{module}.{new}", DeprecationWarning, stacklevel=3)
    return getattr(sys.modules[module], new)
