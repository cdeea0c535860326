"""Serve the classroom app (:mod:`sim.app`): start Solara's server as a child process and supervise it.

:func:`serve_app` checks that the app extra is installed and that the address can be used, starts
``python -m solara run sim.app`` so that the kernel stops it if this process dies
(:func:`sim.processes.die_with_parent`), says where the app is once the port answers, and stops the
server when it returns (normally, on Ctrl-C, or on SIGTERM/SIGHUP turned into an interrupt by
:func:`sim.processes.stop_on_signals`). Problems the user can fix raise :class:`AppError`.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time

from sim.processes import die_with_parent

APP_MODULES = ("solara", "solara_assets", "matplotlib", "altair")   # the app extra
START_TIMEOUT = 120                                                  # seconds to wait for the port to answer


class AppError(ValueError):
    """The app cannot be served as asked (extra missing, bad host, port in use, server stopped)."""


def _check_address(host: str, port: int) -> None:
    missing = [m for m in APP_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise AppError(f"the app needs the app extra ({', '.join(missing)} missing): pip install -e '.[app]'")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise AppError(f"--host: value {host[:80]!r} is not allowed; expected an address of this computer "
                       "such as 127.0.0.1, localhost or 0.0.0.0") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cycles: note: listening on {host} makes the app reachable from other computers",
              file=sys.stderr)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)) == 0:
            raise AppError(f"--port: port {port} is already in use; expected a free port")


def serve_app(host: str, port: int) -> int:
    """Serve the app on ``host``:``port`` until the server stops or the caller is interrupted; returns 0."""
    _check_address(host, port)
    # The server gets SIGTERM from the kernel if this process dies without its finally block (kill -9).
    server = subprocess.Popen([sys.executable, "-m", "solara", "run", "sim.app", "--host", host,
                               "--port", str(port), "--production", "--no-open"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_parent)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    try:
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if server.poll() is not None:
                raise AppError(f"the app server stopped: {server.stderr.read().strip().splitlines()[-1:]}")
            with socket.socket() as probe:
                if probe.connect_ex((url.split("//")[1].split(":")[0], port)) == 0:
                    break
            time.sleep(0.2)
        print(f"The classroom app is ready at {url} (Ctrl-C to stop)", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0
