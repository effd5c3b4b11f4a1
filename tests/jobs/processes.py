"""The job tests' names for the suite's one subprocess harness (tests/processes.py)."""

from tests.processes import (
    PYTHON,
    Api,
    Deployment,
    Service,
    Services,
    first_server,
    free_port,
    group_gone,
    live_group_members,
    parent_pid,
    process_state,
    run_cli,
    service_env,
    wait_for,
)

__all__ = [
    "PYTHON",
    "Api",
    "Deployment",
    "Service",
    "Services",
    "first_server",
    "free_port",
    "group_gone",
    "live_group_members",
    "parent_pid",
    "process_state",
    "run_cli",
    "service_env",
    "wait_for",
]
