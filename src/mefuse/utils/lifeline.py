"""Worker processes that die with their parent.

A process pool's workers outlive a parent killed with SIGKILL: nothing tells them, and each may
hold a gigabyte of model and data while it finishes a cell nobody will collect. A worker calls
:func:`die_with_parent` first thing: on Linux the kernel sends it SIGKILL the moment its parent
dies (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread also checks once a second that
the parent is still the one that started it, and exits otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_S = 1.0


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` (the process that started it) is gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except OSError:
            pass  # the watch thread below still works
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="mefuse-lifeline",
                     daemon=True).start()


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)
