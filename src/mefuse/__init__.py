"""mefuse: facial micro-expression recognition by gated fusion of appearance and 3D geometry."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mefuse")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"

FOURDMR_CLASSES: tuple[str, ...] = ("Negative", "Positive", "Repression", "Surprise", "Others")
"""The 4DMR challenge's classes in its submission order."""

__all__ = ["FOURDMR_CLASSES", "__version__"]
