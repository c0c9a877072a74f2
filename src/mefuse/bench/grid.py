"""The cells of a benchmark grid and their stable identifiers.

A cell is one feature set under one strategy variant, cross-validated over all the run's seeds.
Feature sets, as in the paper's tables: each extractor alone (strategy ``single``), every pairing
across kinds (each geometry extractor with each appearance extractor, and with any key of unknown
kind), and all extractors together. Fused sets run under each fusion variant: ``concat``, ``sum``,
``gated`` (the paper's model) and the two beyond-paper options applied to the gated model,
``position`` (temporal position embedding) and ``motion`` (frame minus first frame), and the
fusion options of :mod:`mefuse.model.fusion_checks`, each alone on the gated model (``moddrop``,
``aux``, ``entropy``, ``late``) and together as the recommended preset (``recommended``). Every
variant sets the whole fusion section, so options of a base configuration never leak into a
column that is not theirs (the plain columns are always the paper's model).

A cell's id is a readable slug plus a hash of everything that determines its numbers: the full
cross-validation configuration and a fingerprint of the data it reads (the clip table and the
manifests of its extractors). The same configuration on the same data always gets the same id, so
a rerun finds the cell already done; change the epochs, the seeds or the features and the id
changes, so stale numbers are never reused.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mefuse.bench.groups import GROUPS, KeyGroups
from mefuse.errors import ConfigError
from mefuse.model.strategies import STRATEGIES
from mefuse.utils.hashing import text_digest


@dataclass(frozen=True)
class Variant:
    """One column of the grid: a name (``--variants``), a table label and its settings."""

    name: str
    label: str
    updates: Mapping[str, Any]
    """Configuration updates of the column (``strategy``, ``model`` and ``fusion`` sections).
    The fusion section given here is completed with every other option off."""
    default: bool = False
    """In the grid ``mefuse bench`` computes unless ``--variants`` names others."""
    preset: str | None = None
    """A preset whose fusion section the column uses (``recommended``)."""


VARIANT_TABLE: list[Variant] = [
    *(Variant(strategy, strategy, {"strategy": strategy}, default=True)
      for strategy in STRATEGIES),
    Variant("position", "gated + position",
            {"strategy": "gated", "model": {"position": True, "motion": False}}, default=True),
    Variant("motion", "gated + motion",
            {"strategy": "gated", "model": {"position": False, "motion": True}}, default=True),
    Variant("moddrop", "gated + modality dropout",
            {"strategy": "gated", "fusion": {"modality_dropout": 0.25}}),
    Variant("aux", "gated + aux heads", {"strategy": "gated", "fusion": {"aux_weight": 1.0}}),
    Variant("entropy", "gated + decisive gate",
            {"strategy": "gated", "fusion": {"gate_entropy": 0.1}}),
    Variant("late", "late fusion", {"strategy": "gated", "fusion": {"late": True}}),
    Variant("recommended", "recommended", {"strategy": "gated"}, preset="recommended"),
    Variant("ststnet", "STSTNet (baseline)",
            {"strategy": "single", "model": {"architecture": "ststnet"}}),
    Variant("htnet", "HTNet (baseline)",
            {"strategy": "single", "model": {"architecture": "htnet"}}),
]
"""The strategy variants, in table order: the one table the grid, the bench tables' labels and
``mefuse bench --variants`` read. A new fusion option is one row here (its ``fusion`` update).
The baseline rows (``model.architecture`` other than fusion) are computed on the apex-image
keys alone (:func:`baseline_keys`), beside the paper's model on the same key (``single``)."""


def architecture_of(name: str) -> str:
    """The ``model.architecture`` of a variant: fusion, or the baseline it names."""
    return str(variant(name).updates.get("model", {}).get("architecture", "fusion"))


def baseline_keys(keys: Sequence[str]) -> list[str]:
    """The store keys a baseline reads: the ``apeximage`` extractor's (also under a suffixed
    key such as ``apeximage_farneback``)."""
    from mefuse.model.baselines import APEX_IMAGE_EXTRACTOR

    return [k for k in keys if k == APEX_IMAGE_EXTRACTOR
            or k.startswith(f"{APEX_IMAGE_EXTRACTOR}_")]


def variant_names() -> tuple[str, ...]:
    """Every variant's name, in table order."""
    return tuple(v.name for v in VARIANT_TABLE)


def fusion_variant_names() -> tuple[str, ...]:
    """The variants of the tables' second section (all but ``single``: the fusion variants,
    then the baselines), in table order."""
    return tuple(v.name for v in VARIANT_TABLE if v.name != "single")


def default_variant_names() -> tuple[str, ...]:
    """The grid ``mefuse bench`` computes unless ``--variants`` asks for the fusion options."""
    return tuple(v.name for v in VARIANT_TABLE if v.default)


def variant(name: str) -> Variant:
    """The table row called ``name``."""
    for row in VARIANT_TABLE:
        if row.name == name:
            return row
    raise ConfigError(f"unknown strategy variant {name!r}; choose from "
                      f"{', '.join(variant_names())}")


def variant_label(name: str) -> str:
    """A variant's label in tables (its name when the table has no such row)."""
    return next((v.label for v in VARIANT_TABLE if v.name == name), name)


VARIANTS: tuple[str, ...] = variant_names()
"""Strategy variants, in table order (as at import; :func:`variant_names` reads the table now)."""
FUSION_VARIANTS: tuple[str, ...] = fusion_variant_names()
DEFAULT_VARIANTS: tuple[str, ...] = default_variant_names()
SET_KINDS: tuple[str, ...] = ("alone", "pairs", "all")
BASELINE_SET = "baseline"
"""The set kind of a baseline cell: one apex-image key, read by a baseline network (made
when ``alone`` is among the sets and a baseline among the variants)."""
_PAPER_MODEL = {"position": False, "motion": False}


def _fusion_of(name: str) -> dict[str, Any]:
    """The complete fusion section of a variant: off except its own options."""
    from mefuse.train.config import FusionConfig
    from mefuse.train.presets import load_preset

    row = variant(name)
    if row.preset is not None:
        return FusionConfig(**load_preset(row.preset)["fusion"]).model_dump()
    return FusionConfig(**row.updates.get("fusion", {})).model_dump()


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Cell:
    """One feature set under one strategy variant."""

    modalities: tuple[str, ...]
    variant: str
    set_kind: str
    """``alone``, ``pairs`` or ``all``."""

    @property
    def feature_set(self) -> str:
        return " + ".join(self.modalities)

    def config_data(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` (a CV configuration without modalities) with this cell's settings."""
        from mefuse.train.config import merge

        override = {k: v for k, v in variant(self.variant).updates.items() if k != "fusion"}
        override["modalities"] = list(self.modalities)
        data = merge(dict(base), override)
        if "model" not in override:
            # beyond-paper model options only in their own columns
            data = merge(data, {"model": _PAPER_MODEL})
        data["fusion"] = _fusion_of(self.variant)
        # every column sets its network, so a base configuration's choice never leaks; a fusion
        # column over a base that names none stays as it was (and keeps its cell id)
        architecture = architecture_of(self.variant)
        if architecture != "fusion" or "architecture" in data.get("model", {}):
            data = merge(data, {"model": {"architecture": architecture}})
        return data

    def slug(self) -> str:
        return _UNSAFE.sub("-", f"{self.variant}__{'+'.join(self.modalities)}")[:80]


def feature_sets(groups: KeyGroups, sets: Sequence[str] = SET_KINDS
                 ) -> list[tuple[str, tuple[str, ...]]]:
    """``(set_kind, modalities)`` pairs: alone, pairs across kinds, then all together.

    Pairs go across groups (geometry x appearance, and each with the keys of unknown kind); when
    every key is in one group, every two keys of it are paired. "All" is left out when it would
    repeat a pair or a single extractor.
    """
    unknown = [s for s in sets if s not in SET_KINDS]
    if unknown:
        raise ConfigError(f"unknown feature set kind(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(SET_KINDS)}")
    keys = groups.keys
    out: list[tuple[str, tuple[str, ...]]] = []
    if "alone" in sets:
        out += [("alone", (k,)) for k in keys]
    pairs: list[tuple[str, ...]] = []
    filled = [getattr(groups, g) for g in GROUPS if getattr(groups, g)]
    if len(filled) >= 2:
        for first, second in itertools.combinations(filled, 2):
            pairs += [(a, b) for a in first for b in second]
    elif filled:
        pairs = list(itertools.combinations(filled[0], 2))
    if "pairs" in sets:
        out += [("pairs", p) for p in pairs]
    if "all" in sets and len(keys) >= 2 and tuple(keys) not in {m for _, m in out}:
        out.append(("all", tuple(keys)))
    return out


def build_cells(groups: KeyGroups, variants: Sequence[str] | None = None,
                sets: Sequence[str] = SET_KINDS) -> list[Cell]:
    """Every cell of the grid: single for each extractor alone, fusion variants for the rest
    (``variants``: the columns to compute, default :func:`default_variant_names`)."""
    chosen = default_variant_names() if variants is None else variants
    known = variant_names()
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise ConfigError(f"unknown strategy variant(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(known)}")
    baselines = [v for v in known if v in chosen and architecture_of(v) != "fusion"]
    apex_keys = baseline_keys(groups.keys)
    if baselines and not apex_keys:
        raise ConfigError(f"variant(s) {', '.join(baselines)} read the apeximage extractor's "
                          f"key, which the grid's keys {list(groups.keys)} lack: run "
                          "'mefuse extract --extractor apeximage' on the store")
    cells = []
    for set_kind, modalities in feature_sets(groups, sets):
        if len(modalities) == 1:
            cells += [Cell(modalities, "single", set_kind)] if "single" in chosen else []
            if modalities[0] in apex_keys:
                cells += [Cell(modalities, v, BASELINE_SET) for v in baselines]
        else:
            cells += [Cell(modalities, v, set_kind) for v in known
                      if v in chosen and v != "single" and v not in baselines]
    if not cells:
        raise ConfigError(f"the grid is empty: feature sets {list(sets)} with variants "
                          f"{list(chosen)} over keys {groups.keys} give no cell")
    return cells


def cell_id(cell: Cell, config: Mapping[str, Any], fingerprint: Mapping[str, Any]) -> str:
    """Stable id: readable slug plus a hash of the full configuration and the data fingerprint."""
    payload = json.dumps({"config": config, "data": fingerprint}, sort_keys=True,
                         separators=(",", ":"), default=str)
    digest = text_digest(payload, 10)
    return f"{cell.slug()}__{digest}"
