"""mefuse: facial micro-expression recognition by gated fusion of appearance and 3D geometry.

The Python API (see the README's "Python API" section)::

    import mefuse
    data = mefuse.load_store("store", ["mesh3d", "flow"])        # arrays, labels, subjects
    table = mefuse.clips_table("store")                            # pandas DataFrame
    result = mefuse.cross_validate("store", ["mesh3d", "flow"])    # as 'mefuse cv'
    model = mefuse.train_model("store", ["mesh3d", "flow"])        # as 'mefuse train'
    predictions = mefuse.predict(model, inputs=["clip.mp4"])       # as 'mefuse predict'
    report = mefuse.check_data("casme2", "data/CASME2")           # as 'mefuse check-data'
    mefuse.FusionClassifier(modalities=data.modalities, widths=data.widths)  # scikit-learn

Names load on first use, so ``import mefuse`` stays fast (torch is imported only when needed).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mefuse")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"

FOURDMR_CLASSES: tuple[str, ...] = ("Negative", "Positive", "Repression", "Surprise", "Others")
"""The 4DMR challenge's classes in its submission order."""

_LAZY: dict[str, str] = {
    "load_store": "mefuse.api",
    "clips_table": "mefuse.api",
    "cross_validate": "mefuse.api",
    "train_model": "mefuse.api",  # not "train": that is the subpackage mefuse.train
    "predict": "mefuse.api",
    "check_data": "mefuse.api",
    "StoreData": "mefuse.api",
    "FusionClassifier": "mefuse.estimator",
    "MefuseError": "mefuse.errors",
}


_RENAMED = {"FusionModel": "FusionClassifier"}  # rename-classes: keep
"""Old class names, importable for one release with a DeprecationWarning (PEP 562)."""


def __getattr__(name: str):
    """Load the API's names on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _RENAMED:
        from mefuse.utils.deprecation import renamed

        return renamed(__name__, name, _RENAMED)
    raise AttributeError(f"module 'mefuse' has no attribute {name!r}")


__all__ = ["FOURDMR_CLASSES", "__version__", *_LAZY]
