"""Optional temporal smoothing of per-frame coefficients.

Frame-wise regressors jitter from frame to frame by about as much as a micro-expression moves the
face, so a light low-pass over time can help; it can also blur the onset, so it is off by
default and recorded in the feature store's manifest when used. Savitzky-Golay (quadratic) keeps
peaks better than a moving average of the same window.
"""

from __future__ import annotations

import numpy as np

from mefuse.errors import ConfigError

SMOOTHINGS: tuple[str, ...] = ("none", "mean", "savgol")


def check_smoothing(method: str, window: int | str) -> tuple[str, int]:
    """Validated ``(method, window)``; the window must be an odd integer of at least 3."""
    method = str(method).lower()
    if method not in SMOOTHINGS:
        raise ConfigError(f"smoothing must be one of {', '.join(SMOOTHINGS)}, not {method!r}")
    try:
        size = int(window)
    except (TypeError, ValueError):
        raise ConfigError(f"smoothing_window must be an odd integer, not {window!r}") from None
    if method != "none" and (size < 3 or size % 2 == 0):
        raise ConfigError(f"smoothing_window must be an odd integer >= 3, not {size}")
    return method, size


def smooth(coefficients: np.ndarray, method: str = "none", window: int = 5) -> np.ndarray:
    """``(T, dim)`` coefficients smoothed along time; edges repeat the end frames.

    A clip shorter than ``window`` is smoothed with the largest odd window that fits it.
    """
    method, window = check_smoothing(method, window)
    values = np.asarray(coefficients, dtype=np.float32)
    frames = len(values)
    if method == "none" or frames < 3:
        return values
    window = min(window, frames if frames % 2 else frames - 1)
    if method == "savgol":
        from scipy.signal import savgol_filter

        order = min(2, window - 1)
        return savgol_filter(values, window, order, axis=0, mode="nearest").astype(np.float32)
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values,
                             np.repeat(values[-1:], half, 0)])
    cumulative = np.cumsum(np.concatenate([np.zeros_like(values[:1]), padded]), axis=0)
    return ((cumulative[window:] - cumulative[:-window]) / window).astype(np.float32)
