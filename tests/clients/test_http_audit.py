"""The GraphQL Foundation's GraphQL-over-HTTP audit (the npm `graphql-http` package's
`auditServer`), run by node against a real server: every check must be ok, warnings
included.

The package is pinned in tests/clients/http_audit/package-lock.json and installed there
with `npm ci` the first time (node_modules is not committed). Without node and npm the
test skips, or fails under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.processes import LiveServer

# The session's front-end server (clients/conftest.py): the files using it share a worker.
pytestmark = pytest.mark.xdist_group("front-end-api")

AUDIT_DIR = Path(__file__).parent / "http_audit"


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        reason = f"the graphql-http audit needs {tool} on PATH"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


async def _run(*command: str, timeout: float) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=AUDIT_DIR,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _install_audit(npm: str) -> None:
    if (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        return
    code, out, err = await _run(
        npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", timeout=300
    )
    assert code == 0, f"npm ci failed in {AUDIT_DIR}:\n{out}\n{err}"


async def test_graphql_http_audit_passes_without_warnings(front_end_api: LiveServer) -> None:
    # given
    node = _require("node")
    await _install_audit(_require("npm"))

    # when
    code, out, err = await _run(node, "audit.mjs", front_end_api.graphql_url, timeout=300)

    # then
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    not_ok = [f"{r['status']} {r['id']} {r['name']}: {r['reason']}" for r in results]
    not_ok = [line for line, r in zip(not_ok, results, strict=True) if r["status"] != "ok"]
    assert len(results) >= 50, out
    assert not_ok == [], "\n".join(not_ok)
