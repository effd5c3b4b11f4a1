"""The deployment files under docs/deploy/ agree with the README and the app.

Docker and nginx do not run here, so this checks what can be checked: the compose file
parses, its services run exactly the README's scale-out commands (which main.py's own
parser accepts), it sets only real settings, and every path nginx proxies is a route.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Mount, Route, WebSocketRoute

from main import Settings, build_parser, create_app
from tests.conftest import REPO

DEPLOY = REPO / "docs" / "deploy"
APP_SERVICES = {"migrate", "api", "worker"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def readme_scale_out_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running on more machines", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.startswith(".venv/bin/python")]


def test_compose_runs_the_readme_commands() -> None:
    services = compose()["services"]
    assert {"api", "worker", "migrate", "postgres", "redis"} <= set(services)
    commands = {name: services[name]["command"] for name in APP_SERVICES}
    print(f"\ncompose: {commands}\nREADME: {readme_scale_out_commands()}")
    assert sorted(commands.values()) == sorted(readme_scale_out_commands())
    for command in commands.values():
        words = shlex.split(command)
        assert words[:2] == [".venv/bin/python", "main.py"]
        build_parser().parse_args(words[2:])  # exits (fails the test) on a bad argument


def test_compose_sets_only_real_settings() -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        unknown = {key for key in environment if key.lower() not in Settings.model_fields}
        assert not unknown, f"{name}: not settings: {unknown}"
        Settings(**{key.lower(): value for key, value in environment.items()})
    assert services["api"]["environment"]["TRAINING_BACKEND"] == "celery"


def test_compose_builds_with_the_projects_own_install() -> None:
    build = compose()["services"]["api"]["build"]
    dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == DEPLOY / "Dockerfile"
    text = dockerfile.read_text()
    assert "uv sync --locked" in text
    assert re.search(r"pip install --quiet uv==[\d.]+", text)
    pinned = re.search(r"uv==([\d.]+)", (REPO / "Makefile").read_text())
    assert pinned is not None
    assert f"uv=={pinned.group(1)}" in text


def test_nginx_proxies_only_paths_the_app_serves(tmp_path: Path) -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    app = create_app(Settings(artifacts_dir=tmp_path, metrics_enabled=True))
    routes = {route.path for route in app.routes if isinstance(route, Route | WebSocketRoute)}
    routes |= {f"{route.path}/" for route in app.routes if isinstance(route, Mount)}
    proxied = set()
    for match in re.finditer(r"location\s+(?:=\s*)?(\S+)\s*\{(.*?)\n    \}", conf, re.S):
        if "proxy_pass" in match.group(2):
            proxied.add(match.group(1))
    print(f"\nnginx proxies {sorted(proxied)}; the app serves {sorted(routes)}")
    assert {"/graphql", "/healthz", "/readyz", "/metrics", "/static/"} <= proxied
    assert proxied <= routes
    # Regular-expression locations: each must match a path of an app route (its
    # parameters filled with a number), and the model download must be one of them.
    samples = {re.sub(r"\{[^}]+\}", "42", path) for path in routes}
    patterns = [
        re.compile(match.group(1))
        for match in re.finditer(r"location\s+~\s+(\S+)\s*\{(.*?)\n    \}", conf, re.S)
        if "proxy_pass" in match.group(2)
    ]
    for pattern in patterns:
        assert any(pattern.search(sample) for sample in samples), pattern.pattern
    assert any(pattern.search("/runs/42/model") for pattern in patterns)
    graphql = conf.split("location = /graphql", 1)[1].split("\n    }", 1)[0]
    for needed in ("Upgrade", "$connection_upgrade", "proxy_read_timeout", "X-Forwarded-For"):
        assert needed in graphql


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    """`nginx -t` on the file, where nginx is installed (certificates made for the test)."""
    nginx, openssl = shutil.which("nginx"), shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx -t needs nginx and openssl on this machine")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=training.example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/ssl/certs/training.example.com.crt", str(cert))
    site = site.replace("/etc/ssl/private/training.example.com.key", str(key))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
