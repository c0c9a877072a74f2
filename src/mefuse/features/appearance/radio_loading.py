"""Loading NVIDIA RADIO offline: from a torch.hub code folder or a Hugging Face folder.

RADIO is not on PyPI. Its torch.hub entry point (``hubconf.py: radio_model``) builds the network
from a checkpoint that it fetches with ``torch.hub.load_state_dict_from_url``; with no network
that call would stall on retries. While the entry point runs, :func:`serve_checkpoints` stands
in for that function: it hands over the user's checkpoint file, or the file already in torch's
hub cache, and otherwise raises :class:`WeightsNotFound` naming the exact file and URL that the
entry point asked for. The file names therefore come from RADIO's own code, not from a copy of
its table here.

RADIO's code also reads a checkpoint *file* given as ``version`` through ``torch.load`` with
``weights_only=False``, which would run any pickle in it. So while the entry point runs,
``torch.load`` itself is routed through :func:`load_checkpoint` as well: every file that RADIO's
code reads goes through mefuse's ``weights_only`` loader, and one holding other Python objects is
refused unless the user passed ``trust_checkpoint=true``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mefuse.errors import ConfigError, WeightsNotFound
from mefuse.utils.torchload import load_weights_only, pickle_protocol

HUB_ENTRY = "radio_model"
HUB_REPO = "NVlabs/RADIO"


@dataclass
class LoadedRADIO:
    """The network and what was learnt while loading it."""

    net: Any
    label: str
    files: list[Path] = field(default_factory=list)
    teacher_names: list[str] | None = None


def default_hub_dir() -> Path:
    """Where ``torch.hub.load('NVlabs/RADIO', ...)`` keeps its copy of the code."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "NVlabs_RADIO_main"


def load_from_hub_dir(
    repo: str | os.PathLike[str] | None, version: str, checkpoint: str | os.PathLike[str] | None,
    hub_options: dict[str, Any], *, trust_checkpoint: bool = False,
) -> LoadedRADIO:
    """``torch.hub.load(repo, 'radio_model', source='local', version=...)`` without network."""
    import torch.hub

    folder = Path(repo).expanduser() if repo else default_hub_dir()
    if not (folder / "hubconf.py").is_file():
        raise WeightsNotFound(
            f"RADIO: no RADIO code at {folder} (a folder with hubconf.py is expected). Either "
            f"`git clone https://github.com/{HUB_REPO}` and pass repo=/path/to/RADIO "
            f"(CLI: --option radio.repo=/path/to/RADIO), or run torch.hub.load('{HUB_REPO}', "
            f"'{HUB_ENTRY}', version='{version}') once on a machine with network, or load a "
            "Hugging Face copy with model=<folder or repo id> and trust_remote_code=true."
        )
    given = None
    if checkpoint not in (None, ""):
        given = Path(str(checkpoint)).expanduser()
        if not given.is_file():
            raise WeightsNotFound(f"RADIO: checkpoint {given} does not exist.")
    served: list[Path] = []
    if Path(version).expanduser().is_file():
        served.append(Path(version).expanduser())
    try:
        with serve_checkpoints(given, version, served, allow_pickle=trust_checkpoint):
            result = torch.hub.load(
                str(folder), HUB_ENTRY, source="local", version=version, progress=False,
                return_checkpoint=True, **hub_options,
            )
    except (WeightsNotFound, ConfigError):
        raise
    except (ImportError, RuntimeError) as exc:
        if "dependencies" in str(exc) or isinstance(exc, ImportError):
            raise ConfigError(
                f"RADIO's code at {folder} needs packages that are not installed ({exc}); "
                "pip install timm einops"
            ) from exc
        raise
    except KeyError as exc:
        raise _key_error(exc, version, folder, served) from None
    net, chk = result if isinstance(result, tuple) else (result, None)
    names = None
    if chk is not None:
        args = chk.get("args") if isinstance(chk, dict) else None
        teachers = getattr(args, "teachers", None)
        names = summary_teacher_names(teachers, first_only=True) if teachers else None
    del chk, result
    label = served[0].name if served and served[0] == Path(version).expanduser() else version
    return LoadedRADIO(net, label, served[:1], names)


def _key_error(exc: KeyError, version: str, folder: Path, served: list[Path]) -> ConfigError:
    """What a ``KeyError`` raised by RADIO's entry point means: the version is not one of its
    names, or the checkpoint it read lacks an entry (``'args'``: not a RADIO training
    checkpoint)."""
    missing = exc.args[0] if exc.args else None
    if missing == version and not served:
        return ConfigError(
            f"RADIO: version {version!r} is unknown to the code at {folder}; use a version it "
            "lists (radio_v2.5-b|l|h|g, c-radio_v3-b|l|h|g, ...) or a checkpoint file")
    read = served[-1] if served else version
    return ConfigError(
        f"RADIO: the checkpoint {read} has no {missing!r} entry, which RADIO's code at {folder} "
        "needs; it is not a checkpoint written by RADIO's training code (a bare state dict or "
        "another model's file?)")


def load_from_hf(model: str, *, trust_remote_code: bool, cache_dir: str | None) -> LoadedRADIO:
    """``AutoModel.from_pretrained`` from a folder or hub cache, running the checkpoint's own
    code only when the user passed ``trust_remote_code``."""
    from mefuse.features.appearance.runtime import require_transformers
    from mefuse.features.weights import resolve_pretrained, weight_files

    resolved = resolve_pretrained(model, title="RADIO", cache_dir=cache_dir)
    if not trust_remote_code:
        raise ConfigError(
            f"RADIO from Hugging Face ({resolved.label}) runs Python code shipped with the "
            "checkpoint; if you trust it, pass trust_remote_code=true "
            "(CLI: --option radio.trust_remote_code=true)"
        )
    transformers = require_transformers()
    try:
        net = transformers.AutoModel.from_pretrained(
            str(resolved.path), trust_remote_code=trust_remote_code, local_files_only=True
        )
    except OSError as exc:
        raise WeightsNotFound(f"RADIO: cannot load {resolved.path}: {exc}") from exc
    args = getattr(getattr(net, "config", None), "args", None) or {}
    names = summary_teacher_names(args.get("teachers"), first_only=False)
    return LoadedRADIO(net, resolved.label, weight_files(resolved.path), names)


def summary_teacher_names(teachers: Any, *, first_only: bool) -> list[str] | None:
    """Teacher names in the order of their CLS tokens in the summary.

    The torch.hub loader keeps one token per distinct teacher name (the first occurrence); the
    Hugging Face model keeps every teacher that has a summary.
    """
    if not teachers:
        return None
    names: list[str] = []
    for teacher in teachers:
        if not isinstance(teacher, dict) or not teacher.get("use_summary", True):
            continue
        name = str(teacher.get("name"))
        if first_only and name in names:
            continue
        names.append(name)
    return names or None


@contextlib.contextmanager
def serve_checkpoints(given: Path | None, version: str, served: list[Path], *,
                      allow_pickle: bool = False) -> Iterator[None]:
    """Replace ``torch.hub.load_state_dict_from_url`` with an offline stand-in for a while.

    RADIO's ``hubconf.py`` imports the function from ``torch.hub`` when it is imported, which
    ``torch.hub.load(..., source='local')`` does afresh on every call, so it picks the stand-in.
    Checkpoints are read with ``weights_only=True`` (RADIO's training arguments, an
    ``argparse.Namespace``, are allowed); a file holding other Python objects is refused unless
    the user passes ``trust_checkpoint=true``, since unpickling it could run code.
    """
    import torch
    import torch.hub

    original = torch.hub.load_state_dict_from_url
    original_load = torch.load

    def stand_in(url: str, model_dir: str | None = None, map_location: Any = None,
                 progress: bool = True, check_hash: bool = False,
                 file_name: str | None = None, weights_only: bool = False) -> Any:
        name = file_name or os.path.basename(urlparse(url).path)
        cached = Path(model_dir or Path(torch.hub.get_dir()) / "checkpoints") / name
        path = given or cached
        if not path.is_file():
            raise WeightsNotFound(
                f"RADIO {version}: checkpoint {name} was not found at {cached}. mefuse does not "
                f"download it; get it from {url} and either put it there or pass "
                f"checkpoint=/path/to/{name} (CLI: --option radio.checkpoint=/path/to/{name})."
            )
        served.append(path)
        return load_checkpoint(path, map_location, allow_pickle=allow_pickle,
                               loader=original_load)

    def guarded_load(f: Any, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(f, str | os.PathLike):
            path = Path(f)
            if path not in served:
                served.append(path)
            return load_checkpoint(path, map_location, allow_pickle=allow_pickle,
                                   loader=original_load)
        # a file object: RADIO's own code does not do this; refuse anything but weights
        return original_load(f, map_location, *args, **{**kwargs, "weights_only": True})

    torch.hub.load_state_dict_from_url = stand_in
    torch.load = guarded_load
    try:
        yield
    finally:
        torch.hub.load_state_dict_from_url = original
        torch.load = original_load


def load_checkpoint(path: Path, map_location: Any, *, allow_pickle: bool,
                    loader: Any = None) -> Any:
    """``torch.load`` with ``weights_only=True`` plus ``argparse.Namespace``; arbitrary pickles
    only when the user trusts the file. ``loader``: the real ``torch.load`` while it is patched."""
    import argparse
    import pickle

    import torch

    load = loader or torch.load
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return load_weights_only(path, map_location, loader=load)
    except (pickle.UnpicklingError, RuntimeError) as exc:
        if "weights_only" not in str(exc) and not isinstance(exc, pickle.UnpicklingError):
            raise
        if not allow_pickle:
            protocol = pickle_protocol(path)
            what = (f"was pickled with protocol {protocol}, which weights_only loading cannot "
                    "read (it reads protocol 2, torch.save's default)"
                    if protocol not in (None, 2) else
                    f"holds Python objects that weights_only loading refuses "
                    f"({str(exc).splitlines()[0]})")
            raise ConfigError(
                f"RADIO checkpoint {path} {what}. Loading it runs code from the file: "
                "if it is NVIDIA's own file, pass trust_checkpoint=true "
                "(CLI: --option radio.trust_checkpoint=true)."
            ) from exc
        return load(path, map_location=map_location, weights_only=False)
