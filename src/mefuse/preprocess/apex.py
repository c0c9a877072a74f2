"""Find a clip's apex: the frame where the face has moved most from the onset (its first frame).

Why: onset -> apex optical flow is the input of the strongest micro-expression methods (STSTNet,
OFF-ApexNet, HTNet), and many datasets (and every raw video) come without a labelled apex. The
finder needs no weights, only OpenCV's DIS optical flow, so it runs on every clip of an
extraction at little cost.

The motion signal, per frame t (all on the grey crop resized to ``size`` pixels):

1. DIS flow from frame 0 to frame t;
2. the head's motion removed: a robust affine motion field (iteratively reweighted least
   squares with Tukey's biweight, so the few pixels an expression moves do not bend it) is
   fitted to the flow of the inner face and subtracted; when that head motion exceeds
   ``realign_px`` the frame is first warped back by it and the flow computed again (DIS is most
   accurate for small motions);
3. the residual magnitude averaged in the cells of a ``grid x grid`` layout over the inner part
   of the crop (a border of ``margin`` of the side is left out: background, hair, the crop's
   edge);
4. per cell, a running median over ``blink_frames`` frames: a blink (or any flicker shorter
   than half that window) vanishes while the slower rise and fall of an expression stays;
5. per frame, the mean of the ``top`` share of cells that moved most (an expression moves a few
   regions; a mean over the whole face would drown it), then a light Gaussian smoothing in time.

The apex is the peak of that signal; on a flat top, the middle of the frames within 2 % of the
peak. Frame 0 has no motion by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mefuse.errors import ConfigError
from mefuse.utils.image import as_rgb_uint8

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class Apex:
    """Where a clip's motion peaks."""

    index: int
    """Position of the apex within the crops given (0-based)."""
    signal: np.ndarray
    """Per-frame motion (mean residual flow of the most-moving cells, crop pixels at ``size``)
    before the blink filter and smoothing."""
    smoothed: np.ndarray
    """The signal after the blink filter and smoothing: the apex is its peak."""

    @property
    def contrast(self) -> float:
        """Peak of the smoothed signal over its median (how clearly the apex stands out; about
        1 for a still clip)."""
        middle = float(np.median(self.smoothed[1:])) if len(self.smoothed) > 1 else 0.0
        return float(self.smoothed[self.index]) / max(middle, 1e-6)


def grey_frames(crops: np.ndarray, size: int) -> list[np.ndarray]:
    """The crops as grey ``size x size`` images."""
    out = []
    for crop in crops:
        grey = cv2.cvtColor(as_rgb_uint8(crop), cv2.COLOR_RGB2GRAY)
        if grey.shape[:2] != (size, size):
            grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
        out.append(grey)
    return out


def robust_affine(flow: np.ndarray, mask: np.ndarray | None = None, step: int = 3,
                  iterations: int = 4) -> np.ndarray:
    """The affine motion field that best explains ``flow`` (``(H, W, 2)``) on ``mask`` (every
    ``step``-th pixel), robust to a minority of pixels that move on their own (Tukey's biweight,
    its scale from the median absolute residual, at least 0.05 px), as a ``(H, W, 2)`` field."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height:step, 0:width:step].astype(np.float64)
    design = np.stack([xs / width, ys / height, np.ones_like(xs)], axis=-1).reshape(-1, 3)
    target = flow[::step, ::step].reshape(-1, 2).astype(np.float64)
    if mask is not None:
        keep = mask[::step, ::step].reshape(-1)
        design, target = design[keep], target[keep]
    weights = np.ones(len(target))
    coefficients = np.zeros((3, 2))
    for _ in range(iterations):
        weighted = design * weights[:, None]
        coefficients = np.linalg.solve(weighted.T @ design + 1e-9 * np.eye(3),
                                       weighted.T @ target)
        residual = np.linalg.norm(target - design @ coefficients, axis=1)
        scale = 4.685 * max(1.4826 * float(np.median(residual)), 0.05)
        weights = np.clip(1 - (residual / scale) ** 2, 0, None) ** 2
    a = coefficients.astype(np.float32)
    gx = np.arange(width, dtype=np.float32) / width
    gy = np.arange(height, dtype=np.float32) / height
    return gx[None, :, None] * a[0] + gy[:, None, None] * a[1] + a[2]


def optical_strain(flow: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Magnitude ``sqrt(exx^2 + eyy^2 + 2 exy^2)`` of the infinitesimal strain tensor of a
    ``(H, W, 2)`` flow, per pixel (dimensionless: how the skin stretches, not how far it
    moves); the flow is smoothed by ``sigma`` pixels first (DIS's patch seams)."""
    smooth = cv2.GaussianBlur(flow, (0, 0), sigma) if sigma > 0 else flow
    u = np.ascontiguousarray(smooth[..., 0])
    v = np.ascontiguousarray(smooth[..., 1])
    du_dx = cv2.Sobel(u, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    du_dy = cv2.Sobel(u, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    dv_dx = cv2.Sobel(v, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    dv_dy = cv2.Sobel(v, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    shear = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2 * shear**2)


class HeadFreeFlow:
    """DIS flow between two grey images with the head's (affine) motion removed."""

    def __init__(self, size: int, preset: str = "fast", realign_px: float = 1.0,
                 mask: np.ndarray | None = None) -> None:
        if preset not in PRESETS:
            raise ConfigError(f"flow preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        self.size = size
        self.realign_px = realign_px
        self.mask = mask
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]
        self._xs, self._ys = np.meshgrid(np.arange(size, dtype=np.float32),
                                         np.arange(size, dtype=np.float32))

    def __call__(self, first: np.ndarray, frame: np.ndarray) -> np.ndarray:
        flow = self._dis.calc(first, frame, None)
        head = robust_affine(flow, self.mask)
        inner = head if self.mask is None else head[self.mask]
        if np.abs(inner).max() > self.realign_px:
            frame = cv2.remap(frame, self._xs + head[..., 0], self._ys + head[..., 1],
                              cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            flow = self._dis.calc(first, frame, None)
            head = robust_affine(flow, self.mask)
        return flow - head


def inner_mask(size: int, margin: float) -> np.ndarray:
    """``True`` inside the crop less a border of ``margin`` of its side."""
    mask = np.zeros((size, size), dtype=bool)
    edge = round(margin * size)
    mask[edge:size - edge, edge:size - edge] = True
    return mask


def running_median(values: np.ndarray, width: int) -> np.ndarray:
    """Running median along axis 0 over ``width`` (odd) frames, edges padded by repetition."""
    if width <= 1 or len(values) < 3:
        return values
    half = width // 2
    padded = np.concatenate([values[:1].repeat(half, axis=0), values,
                             values[-1:].repeat(half, axis=0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=0)
    return np.median(windows, axis=-1)


def gaussian_1d(values: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` smoothed by a Gaussian of ``sigma`` frames (edges padded by repetition)."""
    if sigma <= 0 or len(values) < 3:
        return values
    radius = max(1, round(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(values[:1], radius), values, np.repeat(values[-1:], radius)])
    return np.convolve(padded, kernel, mode="valid")


def peak_index(smoothed: np.ndarray, tolerance: float = 0.02) -> int:
    """The peak of ``smoothed``; on a flat top, the middle of the contiguous frames within
    ``tolerance`` of it."""
    best = int(np.argmax(smoothed))
    peak = float(smoothed[best])
    if peak <= 0:
        return best
    near = smoothed >= peak * (1 - tolerance)
    left = best
    while left > 0 and near[left - 1]:
        left -= 1
    right = best
    while right < len(smoothed) - 1 and near[right + 1]:
        right += 1
    return (left + right) // 2


def default_blink_frames(length: int) -> int:
    """The running-median window for a clip of ``length`` frames: about a tenth of the clip,
    odd, at least 3 (a 1-frame flicker vanishes) and at most 9 at 90 frames and beyond, so a
    sampled 16-frame clip keeps its apex's neighbours."""
    width = round(length / 10)
    width = min(max(width, 3), 9)
    return width if width % 2 else width + 1


def _aggregate(cells: np.ndarray, keep: int) -> np.ndarray:
    """Per frame, the mean of the ``keep`` most-moving cells less the median cell: what moves
    more than the face as a whole (the median carries the flow's noise, which grows with
    lighting drift and interpolation as the head wanders away from the first frame)."""
    ordered = np.sort(cells, axis=1)
    return ordered[:, -keep:].mean(axis=1) - np.median(ordered, axis=1)


class _Motion:
    """Per-cell head-free motion of chosen frames from frame 0 (grey frames made on demand)."""

    def __init__(self, crops: np.ndarray, size: int, preset: str, grid: int, margin: float,
                 realign_px: float) -> None:
        self.crops, self.size, self.grid = crops, size, grid
        self.edge = round(margin * size)
        self.flows = HeadFreeFlow(size, preset, realign_px, inner_mask(size, margin))
        self.first = grey_frames(crops[:1], size)[0]

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        """``(len(indices), grid**2)`` mean residual magnitude per cell (frame 0: zeros)."""
        cells = np.zeros((len(indices), self.grid**2), dtype=np.float32)
        edge, size = self.edge, self.size
        for row, t in enumerate(indices):
            if t == 0:
                continue
            residual = self.flows(self.first, grey_frames(self.crops[t:t + 1], size)[0])
            magnitude = np.sqrt((residual[edge:size - edge, edge:size - edge] ** 2).sum(axis=2))
            cells[row] = cv2.resize(magnitude, (self.grid, self.grid),
                                    interpolation=cv2.INTER_AREA).reshape(-1)
        return cells


def find_apex(crops: np.ndarray, *, size: int = 256, preset: str = "medium", grid: int = 6,
              margin: float = 0.2, top: float = 0.25, blink_frames: int | None = None,
              sigma: float = 1.0, realign_px: float = 1.0, max_frames: int = 48) -> Apex:
    """The apex of a clip's face crops (``(T, H, W, 3)`` uint8 RGB, one crop box): the frame
    whose head-free motion from the first frame peaks (see the module docstring).

    ``blink_frames`` is the running-median window (odd; ``None``: :func:`default_blink_frames`
    of the frames measured); ``top`` the share of grid cells averaged per frame; ``sigma`` the
    final smoothing in measured frames. A clip longer than ``max_frames`` (a high-speed camera's)
    is measured coarse to fine: on every k-th frame (at most ``max_frames`` of them; the
    signals are interpolated to every frame), then on every frame within k of the coarse peak,
    whose most-moving frame is the apex. A clip of one frame has its apex at 0.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or len(crops) == 0:
        raise ConfigError(f"find_apex needs (T, H, W, 3) crops, got shape {crops.shape}")
    if int(grid) < 1 or not 0 < float(top) <= 1 or not 0 <= float(margin) < 0.5:
        raise ConfigError("find_apex needs grid >= 1, 0 < top <= 1 and 0 <= margin < 0.5")
    if int(max_frames) < 3:
        raise ConfigError(f"find_apex max_frames must be >= 3, got {max_frames}")
    length = len(crops)
    if length == 1:
        zero = np.zeros(1, dtype=np.float32)
        return Apex(0, zero, zero)
    step = max(1, -(-(length - 1) // (int(max_frames) - 1)))
    measured = np.unique(np.append(np.arange(0, length, step), length - 1))
    motion = _Motion(crops, int(size), preset, int(grid), float(margin), float(realign_px))
    cells = motion(measured)
    width = default_blink_frames(len(measured)) if blink_frames is None else int(blink_frames)
    if width < 1:
        raise ConfigError(f"find_apex blink_frames must be >= 1, got {blink_frames}")
    width = width if width % 2 else width + 1
    keep = max(1, round(top * cells.shape[1]))
    signal = _aggregate(cells, keep)
    filtered = running_median(cells, width)
    filtered[0] = 0.0
    smoothed = gaussian_1d(_aggregate(filtered, keep).astype(np.float64), float(sigma))
    index = int(measured[peak_index(smoothed)])
    if step > 1:
        frames = np.arange(length)
        signal = np.interp(frames, measured, signal)
        smoothed = np.interp(frames, measured, smoothed)
        near = np.arange(max(1, index - step + 1), min(length, index + step))
        near = near[~np.isin(near, measured)]
        if len(near):
            candidates = np.append(near, index)
            fine = _aggregate(motion(near), keep)
            signal[near] = fine
            index = int(candidates[np.argmax(np.append(fine, signal[index]))])
    return Apex(index, signal.astype(np.float32), smoothed.astype(np.float32))
