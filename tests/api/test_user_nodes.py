"""Accounts are visible to HR staff and to themselves only (issue 12): a manager asking
for another account, by `node(id:)` or through `trainingRun.trainedBy`, gets null, as for
an id that does not exist, and learns neither its groups nor its superuser flag."""

from __future__ import annotations

import uuid

import pytest
from strawberry import relay

from models.accounts import User
from models.training_runs import RunStatus, TrainingRun
from tests.conftest import Server
from tests.helpers import RUN_ROW

USER_NODE = """
query UserNode($id: ID!) {
  node(id: $id) { __typename ... on User { username groups isSuperuser } }
}
"""
TRAINED_BY = """
query TrainedBy($id: ID!) {
  trainingRun(id: $id) { trainedByUsername trainedBy { username groups isSuperuser } }
}
"""


def global_id(user: User) -> str:
    return relay.to_base64("User", user.id)


async def run_by(user: User) -> TrainingRun:
    return await TrainingRun.create(
        model_version=f"nodes-{uuid.uuid4().hex[:12]}",
        **RUN_ROW,
        status=RunStatus.QUEUED,
        n_estimators=100,
        trained_by_id=user.id,
        trained_by_username=user.username,
    )


async def test_a_manager_cannot_read_another_account_by_node(server: Server) -> None:
    # given
    root = await User.get(username="root-user")

    # when
    data = await server.data(USER_NODE, {"id": global_id(root)}, as_="manager")

    # then
    assert data == {"node": None}


async def test_a_manager_reads_their_own_account_by_node(server: Server) -> None:
    # given
    manager = await User.get(username="manager-user")

    # when
    data = await server.data(USER_NODE, {"id": global_id(manager)}, as_="manager")

    # then
    assert data["node"] == {
        "__typename": "User",
        "username": "manager-user",
        "groups": ["MANAGER"],
        "isSuperuser": False,
    }


@pytest.mark.parametrize("role", ["drh", "rrh", "root"])
async def test_hr_staff_and_superusers_read_any_account_by_node(server: Server, role: str) -> None:
    # given
    root = await User.get(username="root-user")

    # when
    data = await server.data(USER_NODE, {"id": global_id(root)}, as_=role)

    # then
    assert data["node"] == {
        "__typename": "User",
        "username": "root-user",
        "groups": [],
        "isSuperuser": True,
    }


async def test_a_manager_sees_who_trained_a_run_by_name_only(server: Server) -> None:
    # given
    run = await run_by(await User.get(username="drh-user"))

    # when
    as_manager = await server.data(TRAINED_BY, {"id": str(run.id)}, as_="manager")
    as_hr = await server.data(TRAINED_BY, {"id": str(run.id)}, as_="rrh")

    # then
    assert as_manager["trainingRun"] == {"trainedByUsername": "drh-user", "trainedBy": None}
    assert as_hr["trainingRun"]["trainedBy"] == {
        "username": "drh-user",
        "groups": ["DRH"],
        "isSuperuser": False,
    }
    await TrainingRun.filter(id=run.id).delete()
