"""Child processes stop when their command stops.

- A command that gets SIGTERM or SIGHUP unwinds like one interrupted with
  Ctrl-C (:func:`stop_on_signals`): its ``finally`` blocks shut the worker
  pool, the Dask cluster or the app's server down before it exits.
- A pool worker ignores Ctrl-C (the command handles it once, for everyone) and
  exits by itself when the command that started it is gone, even after a
  kill -9 that left no time to tell it (:func:`worker_started`).
- The app's server is started so that the kernel stops it when the command
  dies (:func:`die_with_parent`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind as Ctrl-C does, so every child is stopped on the way out."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _set_parent_death_signal(sig: int) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def die_with_parent() -> None:
    """A ``preexec_fn`` for subprocess.Popen: the child gets SIGTERM when the command dies, however it dies."""
    _set_parent_death_signal(signal.SIGTERM)


def worker_started(parent: int) -> None:
    """Initializer of pool workers: ignore Ctrl-C, and exit as soon as the command (pid ``parent``) is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal(signal.SIGKILL)

    def watch() -> None:
        # The parent-death signal follows the thread that started the worker; watching the parent's pid
        # covers the rest (a worker started from a helper thread, or a platform without prctl).
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)
