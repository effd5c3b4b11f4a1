"""Load generation with wrk: one Lua script per request body, output parsed to numbers.

wrk (Debian package) is a C event loop that costs the 2-core machine far less than any
Python client would, so the server, not the load generator, is what saturates. Every
GraphQL request is a POST with a JSON body and the `Authorization: Token` header.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

THREADS = 2
CONNECTIONS = 32
# Generous, so slow answers count in the latency figures instead of as socket timeouts.
TIMEOUT = "30s"

_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
wrk.body = [==[{body}]==]
"""
# wrk has no request-count option: each thread stops itself after its share and leaves
# a marker file; once all markers are there, SIGINT makes wrk print its summary at once
# (its main thread otherwise sleeps for the whole -d duration).
_COUNTING = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("marker", "{marker_prefix}" .. counter)
end
local limit = {per_thread}
local seen = 0
function response(status, headers, body)
  seen = seen + 1
  if seen == limit then
    local f = io.open(marker, "w")
    f:close()
    wrk.thread:stop()
  end
end
"""


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get (Debian package 'wrk')", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=300)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install wrk")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Summary:
    """Median of each statistic over repeats, and the repeats themselves."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    runs: list[WrkResult]

    @classmethod
    def of(cls, runs: list[WrkResult]) -> Summary:
        return cls(
            requests_per_second=statistics.median(r.requests_per_second for r in runs),
            p50_ms=statistics.median(r.p50_ms for r in runs),
            p99_ms=statistics.median(r.p99_ms for r in runs),
            runs=runs,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests_per_second": self.requests_per_second,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "runs": [r.to_dict() for r in self.runs],
        }


class Wrk:
    """Runs wrk against one URL with a fixed body; scripts live in a temp dir."""

    def __init__(self, binary: str, script_dir: Path) -> None:
        self._binary = binary
        self._dir = script_dir
        self._count = 0

    def script(
        self, payload: dict[str, Any], token: str | None, per_thread: int = 0, marker: str = ""
    ) -> Path:
        body = json.dumps(payload, separators=(",", ":"))
        if "]==]" in body:
            raise ValueError("body would end the Lua long string")
        auth = f'wrk.headers["Authorization"] = "Token {token}"' if token else ""
        text = _SCRIPT.format(auth=auth, body=body)
        if per_thread:
            text += _COUNTING.format(per_thread=per_thread, marker_prefix=marker)
        self._count += 1
        path = self._dir / f"request-{self._count}.lua"
        path.write_text(text)
        return path

    def _command(self, url: str, script: Path, seconds: float) -> list[str]:
        return [
            self._binary,
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={TIMEOUT}",
            "--latency",
            "-s",
            str(script),
            url,
        ]

    def run(self, url: str, script: Path, seconds: float) -> WrkResult:
        command = self._command(url, script, seconds)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return parse(done.stdout)

    def measure(
        self, url: str, script: Path, *, warmup: float, seconds: float, repeats: int
    ) -> Summary:
        """A warm-up run (discarded), then the median of `repeats` runs."""
        if warmup > 0:
            self.run(url, script, warmup)
        return Summary.of([self.run(url, script, seconds) for _ in range(repeats)])

    def count(self, url: str, payload: dict[str, Any], token: str, requests: int) -> WrkResult:
        """About `requests` requests (each thread stops after its share), at most 15 min."""
        self._count += 1
        prefix = f"done-{self._count}-"
        marker = str(self._dir / prefix)
        script = self.script(payload, token, per_thread=max(1, requests // THREADS), marker=marker)
        limit = 900
        process = subprocess.Popen(
            self._command(url, script, limit),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + limit
            while process.poll() is None and time.monotonic() < deadline:
                if len(list(self._dir.glob(f"{prefix}*"))) >= THREADS:
                    process.send_signal(signal.SIGINT)
                    break
                time.sleep(0.05)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {stderr or stdout}")
        return parse(stdout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse(output: str) -> WrkResult:
    """Numbers from wrk's text output (with --latency)."""
    percentiles = {
        int(m[1]): _ms(m[2]) for m in re.finditer(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M)
    }
    summary = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not (summary and rate and {50, 75, 90, 99} <= percentiles.keys()):
        raise ValueError(f"could not parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(summary[1]),
        seconds=_ms(summary[2] + summary[3]) / 1000,
        requests_per_second=float(rate[1]),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )
