"""``mefuse import-coeffs``: coefficients computed by the official tools into the feature store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mefuse.errors import DataError
from mefuse.utils.console import make_console

console = make_console(stderr=True)


def import_coeffs(
    source: Annotated[Path, typer.Argument(
        help="folder with one sub-folder of per-frame .npy/.csv files per clip, or one "
             ".npy/.csv file per clip (named <clip_id>)")],
    store: Annotated[Path, typer.Option("--store", "-s", help="feature store folder")],
    key: Annotated[str | None, typer.Option(
        help="extractor key to write in the store (default: 'faceverse' for --layout "
             "faceverse, else 'imported')")] = None,
    layout: Annotated[str, typer.Option(
        help="faceverse (run.py's per-frame dicts, 621 values; keeps expression 156:327) "
             "or generic")] = "generic",
    columns: Annotated[str | None, typer.Option(
        help="keep columns START:STOP of each frame's vector (default: all; faceverse: "
             "156:327)")] = None,
    field: Annotated[str, typer.Option(
        help="entry to take from per-frame dictionaries")] = "coeffs",
    trust_pickle: Annotated[bool, typer.Option(
        "--trust-pickle", help="load pickled .npy files with allow_pickle=True (can run code "
        "from the file: only for files you made); by default only numpy arrays are unpickled")]
        = False,
    overwrite: Annotated[bool, typer.Option(
        help="replace features of another configuration under the same key")] = False,
) -> None:
    """Import per-frame coefficients (e.g. FaceVerse v4 run.py output) into a feature store."""
    from mefuse.extraction.importers import import_coefficients

    report = import_coefficients(
        source, store, key or ("faceverse" if layout == "faceverse" else "imported"),
        layout=layout,  # type: ignore[arg-type]
        columns=columns, field_name=field, trust_pickle=trust_pickle, overwrite=overwrite,
    )
    for clip, why in report.failed.items():
        console.print(f"[yellow]skipped {clip}:[/yellow] {why}", markup=True, highlight=False)
    console.print(
        f"{report.key}: {len(report.written)} clip(s) imported"
        + (f" ({report.dim} values per frame)" if report.dim else "")
        + f", {len(report.skipped)} already present, {len(report.failed)} failed"
        + f" -> {Path(store) / report.key}",
        highlight=False,
    )
    if not report.written and not report.skipped:
        raise DataError(f"no clip could be imported from {source}")


def register(app: typer.Typer) -> None:
    app.command("import-coeffs")(import_coeffs)
