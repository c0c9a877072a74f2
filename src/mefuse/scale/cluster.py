"""Connecting to Ray: one place that imports it, explains its absence and owns the session."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from mefuse.errors import ConfigError

EXECUTORS: tuple[str, ...] = ("local", "ray")

RETRIES = 3
"""How often Ray restarts a worker (or actor) that died and retries its work."""


def check_executor(executor: str, address: str | None) -> None:
    """Refuse an unknown executor, and an ``--address`` that would be ignored."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address and executor != "ray":
        raise ConfigError("--address names a Ray cluster; use it with --executor ray")


def import_ray() -> Any:
    """The ``ray`` module, or a user error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray, which is not installed: "
                          "pip install 'mefuse[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray, connected: to ``address`` (``HOST:PORT`` of a cluster's head, or ``auto``), else to
    ``RAY_ADDRESS`` or a new one-machine instance, as ``ray.init`` decides. A connection opened
    here is closed here; one the caller opened (``ray.init`` in a notebook) is reused."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"at {address}" if address else "(RAY_ADDRESS or a new local instance)"
        raise ConfigError(f"cannot connect to the Ray cluster {where}: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def unwrap(exc: BaseException) -> BaseException:
    """The user error inside a Ray task error (so the CLI prints its one line), else ``exc``."""
    from mefuse.errors import MefuseError

    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, MefuseError) else exc
