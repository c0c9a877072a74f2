"""Arguments of the Python API checked against their type hints.

A notebook user who writes ``load_store(store, "mesh3d")`` or ``frames=0`` should read which
argument is wrong, not a ``TypeError`` from deep inside numpy, and a string where a list of
names is expected must not be read character by character. :func:`checked_arguments` lets
pydantic's ``validate_call`` do the checking (the annotations are the specification) and turns
its report into one :class:`~mefuse.errors.ConfigError` naming each bad argument.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, ValidationError, validate_call

from mefuse.errors import ConfigError

Function = TypeVar("Function", bound=Callable[..., Any])

Names = Annotated[Sequence[str], Field(min_length=1)]
"""One or more names, as a list or tuple (a lone string is refused, not split into letters)."""


def checked_arguments(function: Function) -> Function:
    """``function`` with its arguments validated against its annotations; a bad one raises a
    :class:`ConfigError` that names the argument, the value given and what was expected."""
    validated = validate_call(config=ConfigDict(arbitrary_types_allowed=True))(function)
    signature = inspect.signature(function)
    positional = list(signature.parameters)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return validated(*args, **kwargs)
        except ValidationError as exc:
            if exc.title != function.__name__:  # raised by the body, not by its arguments
                raise
            given = {**dict(zip(positional, args, strict=False)), **kwargs}
            raise ConfigError(_describe(function, exc, positional, given)) from None

    return wrapper  # type: ignore[return-value]


def _describe(function: Callable[..., Any], exc: ValidationError, positional: list[str],
              given: dict[str, Any]) -> str:
    """One line per bad argument (a union's alternatives make one line, not one each)."""
    messages: dict[str, list[str]] = {}
    for error in exc.errors():
        head = error["loc"][0] if error["loc"] else "(arguments)"
        name = positional[head] if isinstance(head, int) and head < len(positional) else str(head)
        message = str(error["msg"])
        if error["type"] == "sequence_str":  # say how to write it
            message = f"a list is expected, e.g. [{given.get(name)!r}], not a lone string"
        messages.setdefault(name, []).append(message)
    lines = []
    for name, found in messages.items():
        value = f"={given[name]!r}" if name in given else ""
        if len(found) > 1:  # several alternatives of a union failed: say the annotation
            expected = function.__annotations__.get(name, "another type")
            lines.append(f"  {name}{value}: expected {expected}")
        else:
            lines.append(f"  {name}{value}: {found[0]}")
    return f"invalid argument to {function.__name__}():\n" + "\n".join(lines)
