"""The CLI's stderr filter drops MediaPipe's native log lines and keeps everything else."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import os, sys, warnings
from mefuse.utils.native_logs import filter_native_stderr
filter_native_stderr()
os.write(2, b"W0000 00:00:1795554111.939509 29523 inference_feedback_manager.cc:114] noise\\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
os.write(2, b"a real native message\\n")
print("error: a user error", file=sys.stderr)
warnings.warn("a python warning")
"""


def run(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MEFUSE_NATIVE_LOGS"} | extra
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=60).stderr


def test_noise_is_dropped_and_the_rest_kept():
    err = run()
    assert "W0000" not in err and "XNNPACK" not in err
    assert "a real native message" in err
    assert "error: a user error" in err
    assert "a python warning" in err


def test_everything_passes_when_asked():
    err = run(MEFUSE_NATIVE_LOGS="1")
    assert "W0000" in err and "XNNPACK" in err
