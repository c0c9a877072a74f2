"""The result of ``predict``: one object with both tables and what happened on the way.

Why one object instead of a tuple of tables: the per-clip and per-sequence tables travel with
what the user should know about them (which inputs were scored, the clips that failed and why,
warnings about the inputs' camera layout), it prints as a short summary in a notebook, and
``to_csv`` writes the two files ``mefuse predict -o`` writes. For one release it still unpacks
as ``clips, sequences = mefuse.predict(...)`` (with a :class:`DeprecationWarning`).
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mefuse.store.reports import Failure

SHOWN_SEQUENCES = 10
"""Sequences listed by the printed summary (the tables hold all of them)."""


def sequences_csv(path: str | Path) -> Path:
    """Where the per-sequence table goes next to the per-clip CSV ``path``."""
    path = Path(path)
    return path.with_name(path.stem + "_sequences.csv")


@dataclass(frozen=True, eq=False)  # tables have no single truth value to compare
class Predictions:
    """Per-clip and per-sequence probabilities (``p_<class>``) and 0/1 decisions (``<class>``)."""

    clips: pd.DataFrame
    """One row per scored clip (view): ``clip_id``, ``sequence_id``, ``view``, ``subject``,
    probabilities and decisions; ``source``, ``faceless_share`` and ``apex_frame`` for videos
    and folders."""
    sequences: pd.DataFrame
    """One row per sequence, its views merged as evaluation merges them."""
    sources: tuple[str, ...] = ()
    """What was scored: the video files and frame folders given, or the store."""
    warnings: tuple[str, ...] = ()
    """What the user should know about the inputs (for example another camera layout)."""
    failures: tuple[Failure, ...] = field(default=())
    """Clips that could not be scored, with the stage and the reason."""

    @property
    def classes(self) -> list[str]:
        """The class names, in the model's order."""
        return [c[2:] for c in self.sequences.columns if c.startswith("p_")]

    def decided(self) -> pd.Series:
        """Each sequence's decided classes joined by ``+`` (``-`` when none), by sequence id."""
        classes = self.classes
        labels = [" + ".join(c for c in classes if int(row[c])) or "-"
                  for _, row in self.sequences.iterrows()]
        return pd.Series(labels, index=self.sequences["sequence_id"].to_numpy(), dtype=object)

    def headline(self) -> str:
        """One line: how many clips, sequences, sources, failures and warnings."""
        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        return (f"Predictions: {count(len(self.clips), 'clip')} in "
                f"{count(len(self.sequences), 'sequence')} from "
                f"{count(len(self.sources), 'source')}; {count(len(self.failures), 'failure')}, "
                f"{count(len(self.warnings), 'warning')}")

    def __str__(self) -> str:
        lines = [self.headline(), f"classes: {', '.join(self.classes)}"]
        decided = self.decided()
        width = max((len(str(s)) for s in decided.index[:SHOWN_SEQUENCES]), default=0)
        lines += [f"  {s!s:<{width}}  {label}"
                  for s, label in list(decided.items())[:SHOWN_SEQUENCES]]
        if len(decided) > SHOWN_SEQUENCES:
            lines.append(f"  ... {len(decided) - SHOWN_SEQUENCES} more (see .sequences)")
        lines += [f"failed {f.clip_id} at {f.stage}: {f.reason}" for f in self.failures]
        lines += [f"warning: {message}" for message in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        """The summary line and the first sequences, for notebooks."""
        notes = "".join(f"<li>{html.escape(text)}</li>" for text in
                        [f"failed {f.clip_id} at {f.stage}: {f.reason}" for f in self.failures]
                        + [f"warning: {message}" for message in self.warnings])
        table = self.sequences.head(SHOWN_SEQUENCES).to_html(index=False)
        return (f"<p>{html.escape(self.headline())}</p>"
                + (f"<ul>{notes}</ul>" if notes else "") + table)

    def to_csv(self, path: str | Path) -> tuple[Path, Path]:
        """Write the per-clip table to ``path`` and the per-sequence one beside it
        (``<stem>_sequences.csv``), as ``mefuse predict -o`` does; return both paths."""
        from mefuse.utils.csvsafe import write_csv

        path = Path(path)
        write_csv(self.clips, path)
        write_csv(self.sequences, sequences_csv(path))
        return path, sequences_csv(path)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        """Deprecated: ``clips, sequences = predict(...)``; use ``.clips`` and ``.sequences``."""
        warnings.warn("unpacking predict()'s result as (clips, sequences) is deprecated; use "
                      "its .clips and .sequences (it also has .sources, .warnings, .failures)",
                      DeprecationWarning, stacklevel=2)
        return iter((self.clips, self.sequences))
