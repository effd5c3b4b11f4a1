"""The hardening tests' names for the suite's one subprocess harness (tests/processes.py)."""

from tests.processes import (
    DRH_USER,
    PYTHON,
    STARTUP_TIMEOUT,
    LiveServer,
    free_port,
    live_server,
    postgres_admin_url,
    postgres_database,
    provision,
    run_cli,
    server_env,
    start_live_server,
    start_live_servers,
)

__all__ = [
    "DRH_USER",
    "PYTHON",
    "STARTUP_TIMEOUT",
    "LiveServer",
    "free_port",
    "live_server",
    "postgres_admin_url",
    "postgres_database",
    "provision",
    "run_cli",
    "server_env",
    "start_live_server",
    "start_live_servers",
]
