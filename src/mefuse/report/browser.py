"""Render a report in headless Chromium: a screenshot, and the DOM after the page has loaded.

Used by the tests and the benchmark script to check that a report really displays (every plot
decoded by a browser, a non-blank page), and by ``mefuse report --screenshot``. Each call gets a
fresh profile folder and turns off everything that would reach the network, so it works offline
and leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from mefuse.errors import DataError

CANDIDATES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome",
                               "google-chrome-stable", "chrome")
FLAGS: tuple[str, ...] = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                          "--no-first-run", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync",
                          "--hide-scrollbars", "--mute-audio")


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome executable (``MEFUSE_CHROMIUM`` first), or ``None``."""
    given = os.environ.get("MEFUSE_CHROMIUM")
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    executable = find_chromium()
    if executable is None:
        raise DataError("no Chromium found (looked for " + ", ".join(CANDIDATES) + "); install "
                        "it (Debian: apt-get install -y chromium) or set MEFUSE_CHROMIUM")
    profile = tempfile.mkdtemp(prefix="mefuse-chromium-")
    try:
        return subprocess.run([executable, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def height_hint(page: str | Path, width: int = 1280) -> int:
    """A window height that shows a whole report: headless Chromium's screenshot covers the
    window only, so the page's length is estimated from its images' sizes and its rows."""
    text = Path(page).read_text(encoding="utf-8")
    column = min(width, 1120) - 56  # the page's content width (max-width minus padding)
    total = 600
    for w, h in re.findall(r'<img[^>]*width="(\d+)" height="(\d+)"', text):
        total += int(int(h) * min(1.0, column / int(w))) + 70
    total += 30 * text.count("<tr") + 260 * text.count('class="cards"')
    return min(total, 30000)


def screenshot(page: str | Path, png: str | Path, *, width: int = 1280,
               height: int | None = None, timeout: float = 120.0) -> Path:
    """Render ``page`` into ``png`` at ``width`` x ``height`` pixels (default: the whole page,
    as estimated by :func:`height_hint`)."""
    height = height or height_hint(page, width)
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    done = _run([f"--screenshot={png}", f"--window-size={width},{height}",
                 "--virtual-time-budget=5000", Path(page).resolve().as_uri()], timeout)
    if not png.is_file():
        raise DataError(f"Chromium wrote no screenshot (exit {done.returncode}): "
                        f"{done.stderr.strip()[-500:]}")
    return png


def dump_dom(page: str | Path, *, timeout: float = 120.0) -> str:
    """The page's DOM as serialised by Chromium after its scripts ran on load."""
    done = _run(["--dump-dom", "--virtual-time-budget=5000", Path(page).resolve().as_uri()],
                timeout)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise DataError(f"Chromium could not render {page} (exit {done.returncode}): "
                        f"{done.stderr.strip()[-500:]}")
    return done.stdout
