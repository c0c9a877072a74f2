"""Keep MediaPipe's native log lines out of the terminal.

MediaPipe's C++ code writes several lines straight to file descriptor 2 for every graph it
builds ("Created TensorFlow Lite XNNPACK delegate", "W0000 ... Feedback manager requires ..."),
from its own threads and before any logging setup could filter them. With one graph per clip,
an extraction would bury its progress bar in hundreds of such lines. The CLI therefore routes
fd 2 through a pipe and forwards every line except those; Python's own messages, warnings and
errors pass untouched. Set ``MEFUSE_NATIVE_LOGS=1`` to see everything.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NOISE = re.compile(
    rb"^(?:[WI]0000 \d|INFO: Created TensorFlow Lite|WARNING: All log messages before absl)"
)


def filter_native_stderr() -> None:
    """Install the filter for the rest of the process (once; a no-op when disabled)."""
    if os.environ.get("MEFUSE_NATIVE_LOGS") or getattr(filter_native_stderr, "installed", False):
        return
    filter_native_stderr.installed = True  # type: ignore[attr-defined]
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not NOISE.match(line):
                        os.write(real, line + b"\n")
            if pending and not NOISE.match(pending):
                os.write(real, pending)

    thread = threading.Thread(target=forward, name="mefuse-stderr", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the forwarder sees EOF
        thread.join(timeout=2.0)

    atexit.register(restore)
