"""Where work runs: executors, progress, and one call that runs tasks and hands back each result.

Sweeps, sensitivity analyses and virtual studies all run their tasks through
:class:`Execution`: in this process for one worker, a process pool for
several, or a Dask cluster (``client.get_executor(pure=False)``, since
replicates can have equal arguments). At most a few tasks per worker are in
flight, so memory stays flat however many tasks there are, and each result is
handed over as it finishes, with progress shown as it goes. Tasks are pure
functions of their arguments, so results do not depend on where or in which
order they run.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sim.budget import cores as available_cores
from sim.processes import worker_started


class ExecutorError(RuntimeError):
    """An executor that cannot be had as asked (a --dask address that does not answer, a missing extra)."""


class InProcessExecutor(Executor):
    """Runs each task when it is submitted, in this process (one worker)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` now and return a future already holding its result or its exception."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


@dataclass
class ExecutorChoice:
    """An executor and how to describe and close it."""

    executor: Executor
    description: str
    close: Callable[[], None]


def check_dask(address: str | None, timeout: float = 5.0) -> None:
    """A --dask address must be 'local' or tcp://HOST:PORT of a scheduler that answers; checked before any work."""
    if address is None or address == "local":
        if address == "local":
            _dask_installed()
        return
    import re
    import socket
    match = re.fullmatch(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", address)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise ExecutorError(f"--dask: address {address!r} is not allowed; expected tcp://HOST:PORT of a Dask "
                         "scheduler, or 'local'")
    _dask_installed()
    host, port = match.group(1).strip("[]"), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ExecutorError(f"--dask: no scheduler answers at {address} ({exc.strerror or exc}); expected the "
                         "address of a running Dask scheduler") from None


def _dask_installed() -> None:
    import importlib.util
    if importlib.util.find_spec("distributed") is None:
        raise ExecutorError("--dask: needs the dask extra: pip install 'cycles[dask]'")


def make_executor(workers: int | None = None, dask: str | None = None) -> ExecutorChoice:
    """In-process (1 worker), a process pool (N workers), or Dask (an address, or "local")."""
    if dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("--dask needs the dask extra: pip install 'cycles[dask]'") from None
        if dask == "local":
            cluster = LocalCluster(n_workers=workers or available_cores(), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)

            def close():
                client.close()
                cluster.close()
            description = f"dask LocalCluster ({len(cluster.workers)} workers)"
        else:
            try:
                client = Client(dask, timeout=10)
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(f"--dask: cannot connect to {dask} ({exc})") from None
            close = client.close
            description = f"dask {dask}"
        return ExecutorChoice(client.get_executor(pure=False), description, close)
    workers = workers or available_cores()
    if workers == 1:
        return ExecutorChoice(InProcessExecutor(), "in-process (1 worker)", lambda: None)
    import multiprocessing
    # Workers' Arrow buffers (a chunk's tables, encoded) from the system's malloc, which hands them back when
    # freed: pyarrow's default pool (mimalloc) kept them, 50-60 MB more resident per worker on the main job,
    # for no gain in speed (measured). Read by pyarrow when a worker starts; a user's own choice stands.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_started, initargs=(os.getpid(),))
    return ExecutorChoice(pool, f"process pool ({workers} workers)", lambda: pool.shutdown(cancel_futures=True))


def bounded_map(executor: Executor, fn: Callable, tasks: Iterable[tuple], window: int):
    """Yield ``(args, fn(*args))`` as tasks finish, with at most ``window`` in flight.

    Finished results are handed over and released at once, and tasks not yet
    submitted are only a lazy iterator, so memory stays flat however many
    tasks there are.
    """
    queue = iter(tasks)
    pending: dict[Future, tuple] = {}
    while True:
        while len(pending) < window:
            args = next(queue, None)
            if args is None:
                break
            pending[executor.submit(fn, *args)] = args
        if not pending:
            return
        future = next(as_completed(pending))
        args = pending.pop(future)
        yield args, future.result()


class Progress:
    """Runs done, runs per second and time left: a bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, done: int = 0, stream=None, every_seconds: float = 5.0, unit: str = "run"):
        self.total, self.done = total, done
        self.unit = unit
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.start_done = done
        self.every = every_seconds
        self.last_line = 0.0
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=done, unit=unit, unit_scale=True, file=self.stream,
                            dynamic_ncols=True, smoothing=0.1)

    def advance(self, runs: int) -> None:
        """Count ``runs`` more as done, moving the bar, or printing a line at most every ``every_seconds``."""
        self.done += runs
        if self.bar is not None:
            self.bar.update(runs)
            return
        now_ = time.perf_counter()
        if now_ - self.last_line >= self.every or self.done >= self.total:
            self.last_line = now_
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """Progress as one plain line: done of total, share, rate and estimated time left."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        share = self.done / self.total if self.total else 1.0
        return (f"{self.unit}s {self.done:,}/{self.total:,} ({share:.0%}), {rate:,.1f} {self.unit}s/s, "
                f"{_duration(left)} left")

    def close(self) -> None:
        """Close the terminal progress bar, if one is shown."""
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Execution:
    """Tasks run on one executor with one progress display; a context manager.

    ``with Execution(workers, dask, total=N) as run: for args, result in run.results(fn, tasks): ...``
    opens the executor on entry (none at all when ``needed`` is False, e.g. a
    resumed sweep with nothing left to do) and closes it and the progress
    display on exit, however the block ends.
    """

    def __init__(self, workers: int | None = None, dask: str | None = None, *, total: int, done: int = 0,
                 unit: str = "run", per_worker: int = 2, needed: bool = True, progress_stream=None):
        self.workers, self.dask, self.needed = workers, dask, needed
        self.window = per_worker * max(1, workers or available_cores())
        self.progress = Progress(total, done, stream=progress_stream, unit=unit)
        self.choice: ExecutorChoice | None = None

    def __enter__(self) -> Execution:
        self.choice = (make_executor(self.workers, self.dask) if self.needed
                       else ExecutorChoice(InProcessExecutor(), "none", lambda: None))
        return self

    def __exit__(self, *exc) -> None:
        self.progress.close()
        if self.choice is not None:
            self.choice.close()

    @property
    def description(self) -> str:
        """Where the tasks ran, for the manifest: e.g. "process pool (2 workers)"."""
        return self.choice.description if self.choice is not None else "none"

    def results(self, fn: Callable, tasks: Iterable[tuple], size: Callable[[Any], int] = lambda result: 1
                ) -> Iterator[tuple[tuple, Any]]:
        """Yield ``(args, fn(*args))`` for every task as it finishes; progress advances by ``size(result)``."""
        for args, result in bounded_map(self.choice.executor, fn, tasks, self.window):
            self.progress.advance(size(result))
            yield args, result
