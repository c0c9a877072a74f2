"""The HTML report: what it computes, that every plot is in the page, and that a real headless
browser displays it."""

from __future__ import annotations

import base64
import io
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from mefuse.bench.runner import plan_bench, run_bench
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.errors import DataError
from mefuse.report import analysis, write_report
from mefuse.report.browser import dump_dom, find_chromium, screenshot
from mefuse.train.config import CVConfig
from mefuse.train.cv import run_cv
from mefuse.train.results import CVResult

SMALL = DemoSpec(subjects=6, sequences_per_subject=6, signal_dim=12, noise_dim=16,
                 min_frames=10, max_frames=16)
QUICK = {"seeds": [0, 1], "optim": {"epochs": 3, "warmup_epochs": 0},
         "model": {"frames": 8, "dim": 16, "hidden": 16, "queries": 2}}
CV_PLOTS = {"per-class-f1", "confusion", "gate-weights", "attention-signal", "attention-noise",
            "fold-variance"}


class _Images(HTMLParser):
    """Collects the report's plot images and section ids."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: list[dict[str, str]] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and "plot" in (attrs.get("class") or "").split():
            self.plots.append(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])


def _parse(path) -> _Images:
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_store")
    return root, make_demo_store(root, SMALL, seed=3)


@pytest.fixture(scope="module")
def cv_run(store, tmp_path_factory):
    root, table = store
    config = CVConfig(modalities=["signal", "noise"], strategy="gated", **QUICK)
    out = tmp_path_factory.mktemp("cv_run")
    run_cv(root, table, config).write(out)
    return out


@pytest.fixture(scope="module")
def cv_report(cv_run, tmp_path_factory):
    return write_report(cv_run, tmp_path_factory.mktemp("report") / "r")


def test_cv_report_holds_every_plot_as_a_decodable_png(cv_report):
    images = _parse(cv_report)
    names = [p["data-plot"] for p in images.plots]
    assert sorted(names) == sorted(CV_PLOTS)
    for plot in images.plots:
        prefix = "data:image/png;base64,"
        assert plot["src"].startswith(prefix)
        png = Image.open(io.BytesIO(base64.b64decode(plot["src"][len(prefix):])))
        assert png.format == "PNG" and png.width > 300 and png.height > 150
        assert (png.width, png.height) == (int(plot["width"]), int(plot["height"]))
        assert np.asarray(png.convert("L")).std() > 5  # something is drawn
    files = sorted(p.name for p in (cv_report.parent / "img").glob("*.png"))
    assert files == sorted(f"run-{n}.png" for n in CV_PLOTS)
    html = unescape(cv_report.read_text())
    assert '"strategy": "gated"' in html and "torch_version" in html  # config, provenance
    assert "TP" in html and "Fold-to-fold variance" in html


def test_confusion_counts_reproduce_the_pooled_f1(cv_run):
    result = CVResult.read(cv_run)
    counts = analysis.confusion_counts(result)
    n_sequences = result.summary["n_sequences"]
    assert np.allclose(counts.sum(axis=1), n_sequences)  # each seed covers every sequence once
    for seed in (0, 1):
        y, pred = analysis.scored_units(result, seed)
        pooled = next(p for p in result.pooled if p["seed"] == seed)["per_class_f1"]
        for c, name in enumerate(result.classes):
            tp = int((y[:, c] & pred[:, c]).sum())
            fp = int(((1 - y[:, c]) & pred[:, c]).sum())
            fn = int((y[:, c] & (1 - pred[:, c])).sum())
            f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            assert f1 == pytest.approx(pooled[name])


def test_attention_is_averaged_per_true_class(cv_run):
    result = CVResult.read(cv_run)
    summaries = {s.pool: s for s in analysis.attention_by_class(result)}
    assert set(summaries) == {"signal", "noise"}
    signal = summaries["signal"]
    assert signal.mean.shape == (5, 2, 8)  # classes, queries, frames
    assert np.allclose(signal.mean.sum(axis=2), 1.0, atol=1e-5)  # each query's weights sum to 1
    labels = result.predictions[[f"y_{c}" for c in result.classes]].to_numpy()
    assert (signal.counts == labels.sum(axis=0)).all()  # every test clip of every seed counted
    # the class mean is the mean of the maps of that class's clips
    key = "seed0/fold0/signal"
    ids = list(result.attention["seed0/fold0/clip_ids"])
    assert len(ids) == result.attention[key].shape[0]


def test_bench_report_has_overview_every_cell_and_detail_sections(store, tmp_path):
    root, table = store
    plan = plan_bench(root, table, {**QUICK, "seeds": [0]}, variants=["single", "sum"],
                      kinds={})
    run_bench(plan, table, tmp_path / "bench")
    page = write_report(tmp_path / "bench", detail=3)
    assert page == tmp_path / "bench" / "report" / "report.html"
    names = [p["data-plot"] for p in _parse(page).plots]
    assert names.count("overview") == 1
    assert names.count("per-class-f1") == 3 and names.count("fold-variance") == 3
    assert names.count("gate-weights") == 1  # single pools have no gate; the sum cell has two
    html = page.read_text()
    assert all(c.cell_id in html for c in plan.cells)  # the overview table lists every cell
    fewer = [p["data-plot"] for p in _parse(write_report(tmp_path / "bench", tmp_path / "r1",
                                                         detail=1)).plots]
    assert fewer.count("per-class-f1") == 1 and fewer[0] == "overview"


def test_report_refuses_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(DataError, match="neither results.json"):
        write_report(tmp_path)


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (Debian: "
                    "apt-get install -y chromium); the headless rendering check needs it")
def test_report_renders_in_headless_chromium_with_every_plot(cv_report, tmp_path):
    dom = dump_dom(cv_report)
    assert f'data-plots-loaded="{len(CV_PLOTS)}/{len(CV_PLOTS)}"' in dom
    assert dom.count('data-loaded="yes"') == len(CV_PLOTS) and 'data-loaded="no"' not in dom
    png = screenshot(cv_report, tmp_path / "shot.png", width=1200, height=3000)
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (3000, 1200, 3)
    non_white = (pixels < 240).any(axis=2).mean()
    assert non_white > 0.03, f"the page is nearly blank ({non_white:.1%} non-white pixels)"
    colourful = (np.ptp(pixels.astype(int), axis=2) > 60).mean()  # plots have colour, text not
    assert colourful > 0.005
