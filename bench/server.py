"""Servers under test, each in its own process group so nothing outlives the benchmark.

uvicorn with one worker runs the app in the very process we start, so its PID is the one
whose memory we read; the training pool's processes are its children, in the same group,
and go down with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx

from bench.data import PYTHON, REPO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ManagedServer:
    """A server process group: started, waited for, measured, and always stopped."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        port: int,
        log_dir: Path,
        cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._args = args
        self._env = env
        self._cwd = cwd
        self._log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, ready_timeout: float = 120.0) -> ManagedServer:
        log = self._log_path.open("wb")
        self._process = subprocess.Popen(
            [str(PYTHON), *self._args],
            cwd=self._cwd,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches its children
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {ready_timeout:.0f} s:\n{self.log_tail()}")

    def rss_kib(self) -> int:
        """VmRSS of the server process itself (not its training workers)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the group (uvicorn shuts the pool down), SIGKILL whatever remains."""
        if self._process is None:
            return
        pgid = self._process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=grace)
        # The leader may be gone while pool workers linger: the group is killed either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        self._process = None

    def __enter__(self) -> ManagedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def project_server(
    env: dict[str, str], port: int, log_dir: Path, repo: Path = REPO, name: str = "api"
) -> ManagedServer:
    """The API as production runs it: no migration on start, one uvicorn worker.

    `repo`: the checkout whose main.py runs (another worktree, for a before/after)."""
    args = ["main.py", "serve", "--no-migrate", "--port", str(port)]
    return ManagedServer(name, args, env, port, log_dir, cwd=repo)


def ceiling_server(database: str, port: int, log_dir: Path) -> ManagedServer:
    """The minimal strawberry app (bench/ceiling_app.py) on the same database."""
    env = dict(os.environ)
    env["BENCH_CEILING_DATABASE"] = database
    args = [
        "-m",
        "uvicorn",
        "bench.ceiling_app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    return ManagedServer("ceiling", args, env, port, log_dir)
