"""Where and in which precision a foundation model runs, and its optional imports.

Kept apart from the models so that every extractor parses ``device`` and ``precision`` the same
way (the CLI passes them as strings through ``--option name.key=value`` and ``--device``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mefuse.errors import ConfigError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HF_HINT = "pip install 'mefuse[hf]'"


def require_transformers() -> Any:
    """The ``transformers`` module, or a :class:`ConfigError` that says how to install it.

    Imported here, at use, so that ``mefuse.features.appearance.foundation`` (and the extractor
    registry) import without the ``hf`` extra.
    """
    try:
        import transformers
    except ImportError as exc:
        raise ConfigError(
            f"the foundation-model extractors need transformers: {HF_HINT} ({exc})"
        ) from exc
    return transformers


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """``"auto"`` is bf16 on a GPU that has it, fp16 on an older GPU, fp32 on the CPU.

    The resolved value goes into the manifest: bf16 and fp32 features differ slightly, and one
    store must not mix them.
    """
    import torch

    text = (precision or "auto").strip().lower()
    if text not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if text != "auto":
        return text
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


@contextlib.contextmanager
def inference(device: torch.device, precision: str) -> Iterator[None]:
    """No autograd, and autocast to the reduced precision when one was chosen.

    Autocast rather than casting the weights keeps layer norms and softmaxes in fp32, which
    is what each model's authors run at inference.
    """
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def as_int(value: Any, what: str, minimum: int = 1) -> int:
    """An integer option (the CLI gives strings), checked against ``minimum``."""
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be an integer, got {value!r}") from exc
    if number < minimum:
        raise ConfigError(f"{what} must be at least {minimum}, got {number}")
    return number


def as_bool(value: Any, what: str) -> bool:
    """A boolean option; accepts the strings the CLI passes (true/false, 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{what} must be true or false, got {value!r}")
