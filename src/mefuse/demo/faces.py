"""The real-face demo dataset: real photographs, synthetic micro-movements.

**This is synthetic motion on real faces, not a micro-expression dataset.** It exists so that a
new user can run the whole pipeline (frames on disk -> views -> face crops -> ``mesh3d`` and
``flow`` -> cross-validation) in minutes on a laptop, offline, and see it learn something.

- **Faces**: the real photographs that ship inside installed packages (scikit-image's
  ``astronaut``, matplotlib's ``grace_hopper``), each turned into several *subjects* by
  documented identity transforms (:data:`IDENTITY_TRANSFORMS`: mirror, narrower or wider face,
  colour and contrast changes, a head tilt). Subject-disjoint protocols therefore still see
  related faces across folds; that is a limit of what ships offline.
- **Classes** (4DMR order), each a movement that mimics its action units
  (:data:`MOVEMENTS`): Negative = brow lowerer (AU4), Positive = lip-corner puller (AU12),
  Repression = lip presser (AU24), Surprise = brow raiser (AU1+2), Others = lid tightener (AU7).
  A sequence has one class, a third of them a second one.
- **Movement**: a smooth local warp around MediaPipe landmarks of the still face, with a peak
  amplitude of 1 to 3 px at a 256 px face (times :attr:`DemoFacesSpec.amplitude_scale`,
  ``mefuse demo --amplitude``), following onset -> apex -> offset (raised cosine) inside the
  clip. The labels give each sequence's onset, apex and offset frame (0-based, the number in
  its frame files' names), so the apex is known, not guessed: the ``4dmr`` adapter turns the
  apex into the clip table's ``apex_index``.
- **Nuisance**: head jitter (a random walk of small translations and rotations), illumination
  drift (a gain ramp) and sensor noise, identical for all classes.
- **Views**: every frame holds two views side by side, as 4DMR's do: the right one is the same
  face seen by a second camera (fixed scale, shift and shear), so the demo exercises the
  left/right split. Frames are written losslessly (PNG) in the 4DMR layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mefuse import FOURDMR_CLASSES
from mefuse.demo import MAX_AMPLITUDE_SCALE
from mefuse.demo.features import demo_labels
from mefuse.errors import ConfigError, DataError
from mefuse.preprocess.detect import FaceDetector
from mefuse.preprocess.landmarks import FaceLandmarker
from mefuse.utils.atomic import atomic_open, write_json
from mefuse.utils.jsonfile import read_json_object

HALF = 288
"""Side of one view, in pixels (a frame is HALF x 2*HALF)."""


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.array(im.convert("RGB"))


PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _astronaut,  # scikit-image: Eileen Collins, NASA (public domain)
    "hopper": _grace_hopper,  # matplotlib sample data: Grace Hopper (public domain)
}


def _stretch(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(image: np.ndarray) -> np.ndarray:
        side = image.shape[0]
        matrix = np.array([[factor, 0, side * (1 - factor) / 2], [0, 1, 0]], dtype=np.float32)
        return cv2.warpAffine(image, matrix, (side, side), borderMode=cv2.BORDER_REFLECT)
    return apply


def _tilt(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(image: np.ndarray) -> np.ndarray:
        side = image.shape[0]
        matrix = cv2.getRotationMatrix2D((side / 2, side / 2), degrees, 1.0)
        return cv2.warpAffine(image, matrix, (side, side), borderMode=cv2.BORDER_REFLECT)
    return apply


def _colour(gains: tuple[float, float, float], gamma: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(image: np.ndarray) -> np.ndarray:
        scaled = (image / 255.0) ** gamma * np.array(gains)
        return np.clip(scaled * 255.0, 0, 255).astype(np.uint8)
    return apply


def _grey_contrast(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = np.clip((grey - grey.mean()) * 1.25 + grey.mean(), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


IDENTITY_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "original": lambda image: image,
    "mirror": lambda image: np.ascontiguousarray(image[:, ::-1]),
    "narrow-warm": lambda image: _colour((1.08, 1.0, 0.9), 0.9)(_stretch(0.9)(image)),
    "wide-cool": lambda image: _colour((0.92, 1.0, 1.1), 1.1)(_stretch(1.08)(image)),
    "grey-tilt": lambda image: _grey_contrast(_tilt(5.0)(image)),
}
"""How one photograph becomes several demo subjects (applied to the face-centred square)."""


@dataclass(frozen=True)
class Movement:
    """One action-unit-like movement: landmark groups and their unit directions (x, y)."""

    au: str
    groups: tuple[tuple[tuple[int, ...], tuple[float, float]], ...]


_BROW_R = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
_BROW_L = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)

MOVEMENTS: dict[str, Movement] = {
    "Negative": Movement("AU4 brow lowerer", ((_BROW_R, (0.45, 0.9)), (_BROW_L, (-0.45, 0.9)))),
    "Positive": Movement("AU12 lip-corner puller",
                         (((61, 146, 185), (-0.7, -0.7)), ((291, 375, 409), (0.7, -0.7)))),
    "Repression": Movement("AU24 lip presser",
                           (((0, 37, 267, 13, 82, 312), (0.0, 1.0)),
                            ((17, 84, 314, 14, 87, 317), (0.0, -1.0)))),
    "Surprise": Movement("AU1+2 brow raiser", ((_BROW_R, (0.0, -1.0)), (_BROW_L, (0.0, -1.0)))),
    "Others": Movement("AU7 lid tightener",
                       (((7, 163, 144, 145, 153, 154, 155), (0.0, -1.0)),
                        ((249, 390, 373, 374, 380, 381, 382), (0.0, -1.0)))),
}
"""Class -> movement (4DMR classes). Directions are in image coordinates (y down)."""


@dataclass(frozen=True)
class DemoFacesSpec:
    """Size and difficulty of the real-face demo."""

    sequences_per_subject: int = 10
    min_frames: int = 20
    max_frames: int = 28
    min_amplitude: float = 1.0
    max_amplitude: float = 3.0
    """Peak movement in pixels at a 256 px wide face."""
    amplitude_scale: float = 1.0
    """Factor on every sequence's drawn peak movement (0: no movement at all, a chance-level
    control; 0.5: half as large, harder). Applied after the draw, so that every other random
    choice, and at 1.0 every pixel, is the same as without it."""
    jitter: float = 0.15
    """Head translation random-walk step (pixels per frame)."""
    illumination: float = 0.04
    """Largest gain change over a clip."""


@dataclass
class _Subject:
    name: str
    image: np.ndarray
    landmarks: np.ndarray
    face_width: float


def _face_square(photo: np.ndarray) -> np.ndarray:
    """The photo cropped to a square of 2.2 face widths around the face, resized to HALF."""
    with FaceDetector() as detector:
        found = detector.detect(photo)
    if found is None:
        raise DataError("the demo photograph has no detectable face")
    x, y, w, h, _ = found
    side = 2.2 * max(w, h)
    cx, cy = x + w / 2, y + h / 2 + 0.1 * h
    padded = cv2.copyMakeBorder(photo, 400, 400, 400, 400, cv2.BORDER_REFLECT)
    x0, y0 = round(cx - side / 2) + 400, round(cy - side / 2) + 400
    square = padded[y0 : y0 + int(side), x0 : x0 + int(side)]
    return cv2.resize(square, (HALF, HALF), interpolation=cv2.INTER_AREA)


def make_subjects() -> list[_Subject]:
    """Every photo under every identity transform, with its still-face landmarks."""
    subjects = []
    for photo_name, load in PHOTOS.items():
        base = _face_square(load())
        for transform_name, transform in IDENTITY_TRANSFORMS.items():
            image = np.ascontiguousarray(transform(base))
            with FaceLandmarker(tracking=False) as landmarker:
                points = landmarker(image)
            if points is None:
                raise DataError(f"no face mesh on demo subject {photo_name}-{transform_name}")
            width = float(points[:, 0].max() - points[:, 0].min())
            subjects.append(_Subject(f"{photo_name}-{transform_name}", image, points[:, :2],
                                     width))
    return subjects


def _movement_field(subject: _Subject, classes: list[str]) -> np.ndarray:
    """Unit-peak displacement field ``(HALF, HALF, 2)`` for the given classes' movements."""
    ys, xs = np.mgrid[0:HALF, 0:HALF].astype(np.float32)
    sigma = 0.045 * subject.face_width
    field = np.zeros((HALF, HALF, 2), dtype=np.float32)
    for name in classes:
        for ids, (dx, dy) in MOVEMENTS[name].groups:
            bump = np.zeros((HALF, HALF), dtype=np.float32)
            for px, py in subject.landmarks[list(ids)]:
                bump = np.maximum(bump, np.exp(-((xs - px) ** 2 + (ys - py) ** 2)
                                               / (2 * sigma**2)))
            field[..., 0] += bump * dx
            field[..., 1] += bump * dy
    return field


def _profile(length: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int, int]:
    """Raised-cosine onset -> apex -> offset inside a clip of ``length`` frames."""
    onset = int(rng.uniform(0.15, 0.35) * length)
    apex = min(length - 2, onset + max(2, int(rng.uniform(0.2, 0.3) * length)))
    offset = min(length - 1, apex + max(2, int(rng.uniform(0.2, 0.3) * length)))
    t = np.arange(length, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - onset) / max(apex - onset, 1), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - apex) / max(offset - apex, 1), 0, 1))
    return np.where(t <= apex, rise, fall), onset, apex, offset


def _second_camera(image: np.ndarray) -> np.ndarray:
    matrix = np.array([[0.95, 0.03, 10], [0.0, 0.95, 4]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (HALF, HALF), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def render_sequence(subject: _Subject, classes: list[str], length: int, amplitude: float,
                    spec: DemoFacesSpec, rng: np.random.Generator
                    ) -> tuple[list[np.ndarray], dict[str, int]]:
    """The side-by-side frames of one sequence and its onset/apex/offset frame indices."""
    field = _movement_field(subject, classes) * amplitude * subject.face_width / 256.0
    profile, onset, apex, offset = _profile(length, rng)
    steps = rng.normal(scale=spec.jitter, size=(length, 2)).cumsum(axis=0)
    angles = rng.normal(scale=0.05, size=length).cumsum()
    gains = 1.0 + np.linspace(0, rng.uniform(-spec.illumination, spec.illumination), length)
    ys, xs = np.mgrid[0:HALF, 0:HALF].astype(np.float32)
    frames = []
    for t in range(length):
        weight = np.float32(profile[t])
        moved = cv2.remap(subject.image, xs - field[..., 0] * weight,
                          ys - field[..., 1] * weight, cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)
        matrix = cv2.getRotationMatrix2D((HALF / 2, HALF / 2), float(angles[t]), 1.0)
        matrix[:, 2] += steps[t]
        moved = cv2.warpAffine(moved, matrix, (HALF, HALF), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)
        lit = moved.astype(np.float32) * gains[t] + rng.normal(scale=1.5, size=moved.shape)
        view = np.clip(lit, 0, 255).astype(np.uint8)
        frames.append(np.concatenate([view, _second_camera(view)], axis=1))
    return frames, {"onset": onset, "apex": apex, "offset": offset}


def make_demo_faces(root: str | Path, spec: DemoFacesSpec = DemoFacesSpec(), seed: int = 0
                    ) -> Path:
    """Write the demo in the 4DMR layout under ``root``; return the labels CSV's path.

    Layout: ``root/train/<Id>/<Id>_<frame>.png`` and ``root/train_labels.csv`` with ``Id``,
    ``Subject``, the five class columns and the onset/apex/offset frames. A finished dataset
    (``root/demo.json`` present) is reused as it is when it was made with the same
    ``spec`` and ``seed``; one made with others is an error (its frames would not be the ones
    asked for).
    """
    root = Path(root)
    labels_path = root / "train_labels.csv"
    if not 0.0 <= spec.amplitude_scale <= MAX_AMPLITUDE_SCALE:
        raise ConfigError(f"demo amplitude {spec.amplitude_scale} is outside 0 to "
                          f"{MAX_AMPLITUDE_SCALE:g}")
    if (root / "demo.json").is_file() and labels_path.is_file():
        _check_same_demo(root, spec, seed)
        return labels_path
    rng = np.random.default_rng(seed)
    subjects = make_subjects()
    count = len(subjects) * spec.sequences_per_subject
    labels = demo_labels(rng, count, len(FOURDMR_CLASSES))
    rows = []
    for index in range(count):
        subject = subjects[index % len(subjects)]
        classes = [c for c, y in zip(FOURDMR_CLASSES, labels[index], strict=True) if y]
        length = int(rng.integers(spec.min_frames, spec.max_frames + 1))
        amplitude = float(rng.uniform(spec.min_amplitude, spec.max_amplitude))
        amplitude *= spec.amplitude_scale
        frames, timing = render_sequence(subject, classes, length, amplitude, spec, rng)
        sequence_id = index + 1
        folder = root / "train" / f"{sequence_id:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(frames):
            cv2.imwrite(str(folder / f"{sequence_id:03d}_{t}.png"), frame[:, :, ::-1],
                        [cv2.IMWRITE_PNG_COMPRESSION, 1])
        rows.append({"Id": sequence_id, "Subject": subject.name,
                     **dict(zip(FOURDMR_CLASSES, labels[index].tolist(), strict=True)),
                     **timing, "amplitude_px_at_256": round(amplitude, 2)})
    with atomic_open(labels_path, "w", encoding="utf-8", newline="") as handle:
        pd.DataFrame(rows).to_csv(handle, index=False)
    write_json(root / "demo.json", {
        "what": "synthetic micro-movements on real photographs; NOT a micro-expression dataset",
        "subjects": [s.name for s in subjects], "sequences": count, "seed": seed,
        "movements": {c: m.au for c, m in MOVEMENTS.items()},
        "spec": spec.__dict__,
    })
    return labels_path


def _check_same_demo(root: Path, spec: DemoFacesSpec, seed: int) -> None:
    """Refuse to reuse a finished demo made with another spec or seed (a demo written before
    ``amplitude_scale`` existed was made at 1.0)."""
    recorded = read_json_object(root / "demo.json", "the demo record")
    made = {**DemoFacesSpec().__dict__, "amplitude_scale": 1.0, **recorded.get("spec", {})}
    wanted = spec.__dict__
    differing = [f"{key} {made.get(key)} (asked: {value})" for key, value in wanted.items()
                 if made.get(key) != value]
    if recorded.get("seed", seed) != seed:
        differing.append(f"seed {recorded.get('seed')} (asked: {seed})")
    if differing:
        raise ConfigError(f"the demo dataset in {root} was made with {', '.join(differing)}; "
                          "give another output folder (--out) or delete this one")
