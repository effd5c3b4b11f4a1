"""The upload benchmark (hardening, third pass): what one hostile or just large CSV costs
the server that validates it, before and after the dataset limits.

    .venv/bin/python -m bench.uploads --baseline /tmp/wt-base [--name uploads]

Three files, each uploaded once (uploadDataset, GraphQL multipart) to a freshly started
`main.py serve` (one uvicorn worker, SQLite, its own artifacts folder), of this checkout
and, with --baseline, of another checkout (e.g. a worktree at main):

- `wide`: 1,000,000 columns (a 7.9 MB header and 3 rows, 13.9 MB);
- `one-field`: one 150 MB quoted value under a usable header;
- `ordinary`: 100 MB of the shipped dataset's rows, repeated (a usable dataset).

For each, after a warm-up upload of the shipped dataset (the first upload imports pandas):
the server process's peak memory during the upload (VmHWM, reset through
/proc/PID/clear_refs just before it, minus VmRSS at that moment), the time from the first
byte sent to the answer, the slowest /healthz answer while it ran (polled every 50 ms),
and the answer (the error code and the start of its message, or the rows stored).
Writes bench/results/<name>.md and .json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import data
from bench.report import write_results
from bench.server import ManagedServer, free_port, project_server

SHIPPED = data.REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"
MB = 1_000_000
UPLOAD = """
mutation Upload($file: Upload!, $path: String!) {
  uploadDataset(file: $file, path: $path) {
    dataset { rows }
    errors { code message }
  }
}"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the files ------------------------------------------------------------------------
def make_files(folder: Path) -> dict[str, Path]:
    files = {"wide": folder / "wide.csv", "one-field": folder / "one-field.csv"}
    files["ordinary"] = folder / "ordinary.csv"
    with files["wide"].open("wb") as out:
        columns = 1_000_000
        out.write(b"job_role_name,future_need_level")
        out.write(b"".join(b",c%d" % i for i in range(columns - 2)) + b"\n")
        for _ in range(3):
            out.write(b"Data Engineer,LOW" + b",1" * (columns - 2) + b"\n")
    with files["one-field"].open("wb") as out:
        out.write(b"job_role_name,future_need_level\n")
        out.write(b'"' + b"x" * (150 * MB) + b'",LOW\n')
    header, *rows = SHIPPED.read_bytes().splitlines(keepends=True)
    block = b"".join(rows)
    with files["ordinary"].open("wb") as out:
        out.write(header)
        written = len(header)
        while written < 100 * MB:
            out.write(block)
            written += len(block)
    return files


# --- one server, one upload -----------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


class HealthProbe:
    """Polls /healthz every 50 ms in a thread; keeps the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest = 0.0
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.get(f"{self.url}/healthz")
                self.times.append(time.perf_counter() - started)
                self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _multipart(path: Path, boundary: str) -> Iterator[bytes]:
    operations = orjson.dumps(
        {"query": UPLOAD, "variables": {"file": None, "path": f"bench-{path.name}"}}
    )
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'.encode()
        + operations
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'.encode()
        + b'{"0": ["variables.file"]}'
        + f"\r\n--{boundary}\r\n".encode()
        + f'Content-Disposition: form-data; name="0"; filename="{path.name}"\r\n'.encode()
        + b"Content-Type: text/csv\r\n\r\n"
    )
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def upload_once(server: ManagedServer, token: str, path: Path) -> dict[str, Any]:
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status(server.pid)
    boundary = "bench-uploads-boundary"
    with HealthProbe(server.url) as probe, httpx.Client(timeout=900) as client:
        started = time.perf_counter()
        response = client.post(
            f"{server.url}/graphql",
            content=_multipart(path, boundary),
            headers={
                "Authorization": f"Token {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        elapsed = time.perf_counter() - started
    after = _status(server.pid)
    return {
        "file_mb": round(path.stat().st_size / MB, 1),
        "seconds_to_answer": round(elapsed, 2),
        "rss_before_mb": round(before["VmRSS"] / 1024, 1),
        "peak_growth_mb": round((after["VmHWM"] - before["VmRSS"]) / 1024, 1),
        "healthz_slowest_ms": round(max(probe.times, default=0) * 1000, 1),
        "healthz_p50_ms": round(statistics.median(probe.times or [0]) * 1000, 1),
        "answer": _answer(response),
    }


def _answer(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    payload = (body.get("data") or {}).get("uploadDataset")
    if payload is None:
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
        return f"HTTP {response.status_code} {codes}"
    if payload["errors"]:
        error = payload["errors"][0]
        return f"{error['code']}: {error['message'][:110]}"
    return f"accepted, {payload['dataset']['rows']} rows"


def measure(repo: Path, files: dict[str, Path], workdir: Path) -> dict[str, Any]:
    """Each file uploaded to a fresh server of the checkout at `repo`."""
    results = {}
    for name, path in files.items():
        folder = workdir / f"{repo.name}-{name}"
        artifacts = folder / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        env = data.project_env(f"sqlite://{folder / 'bench.sqlite3'}", artifacts)
        data.run_cli(["migrate"], env)
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        with project_server(env, free_port(), folder, repo=repo, name=name) as server:
            server.start()
            # The first upload imports pandas (tens of MB): done by the shipped dataset
            # first, so the figures are the file's own.
            warm_up = upload_once(server, token, SHIPPED)
            if not warm_up["answer"].startswith("accepted"):
                raise RuntimeError(f"the warm-up upload failed: {warm_up}")
            log(f"{repo}: uploading {name} ({path.stat().st_size / MB:.1f} MB)")
            results[name] = upload_once(server, token, path)
            log(f"  {results[name]}")
    return results


# --- report ---------------------------------------------------------------------------
def write(result: dict[str, Any], name: str) -> None:
    lines = [
        "# Uploads: what one CSV costs the server that validates it",
        "",
        f"`{result['command']}`, {result['date']}, load average before: {result['load']}.",
        "Each file uploaded once to a fresh `main.py serve` (one uvicorn worker, SQLite),",
        "after a warm-up upload of the shipped dataset (which imports pandas).",
        "Peak growth: VmHWM during the upload minus VmRSS before it (the server process).",
        "",
        "| file | checkout | answer | time to answer | peak memory growth | slowest /healthz |",
        "|---|---|---|---|---|---|",
    ]
    for file in result["files"]:
        for checkout, figures in result["checkouts"].items():
            row = figures[file]
            lines.append(
                f"| {file} ({row['file_mb']} MB) | {checkout} | {row['answer']} | "
                f"{row['seconds_to_answer']} s | +{row['peak_growth_mb']} MB | "
                f"{row['healthz_slowest_ms']} ms |"
            )
    lines += [
        "",
        "Notes:",
        "",
        "- Time to answer runs from the first byte sent to the answer, so it includes",
        "  streaming the body to the server's disk over loopback.",
        "- After: the file's shape (columns, value length, NUL, UTF-8) is checked by one",
        "  csv-module pass holding one line (trainer/ml/dataset_files.py `scan_csv`) before",
        "  pandas reads anything; a usable file is then read 500,000 cells (or 16 MB) at a",
        "  time and nothing is kept (trainer/ml/dataset.py `check_dataset`). That extra",
        "  pass costs about 1.5 s of CPU per 100 MB, on a file the server accepts.",
        "- The machine has 2 cores shared with other work (see the load average): times",
        "  and /healthz latencies are noisy; memory figures are not.",
        "",
    ]
    write_results(name, lines, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout (e.g. main's)")
    parser.add_argument("--name", default="uploads")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-uploads-"))
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
        files = make_files(workdir)
        checkouts = {}
        if args.baseline is not None:
            checkouts[f"before ({args.baseline.name})"] = measure(args.baseline, files, workdir)
        checkouts["after (this checkout)"] = measure(data.REPO, files, workdir)
        command = "python -m bench.uploads" + (
            f" --baseline {args.baseline}" if args.baseline else ""
        )
        result = {
            "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": " ".join(load),
            "files": list(files),
            "checkouts": checkouts,
        }
        write(result, args.name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
