"""The audit log (issue 25, section 3): every mutation (done, refused in `errors`,
FORBIDDEN, UNAUTHENTICATED), login, token change and file download recorded append-only,
with who, what (secrets and uploaded content left out), outcome, request id, client
address and when; `auditLog` pages and filters; an entry is a Node (`node(id:)`,
`auditEntry(id:)`) for the audit log's readers only; the retention prune; a failing write
never fails the mutation."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry.relay import GlobalID

from models.accounts import User, create_token
from models.audit_log import AuditChannel, AuditEntry, AuditOutcome
from models.training_runs import TrainingRun
from resolvers import audit_log
from resolvers.audit_log import prune_older_than
from tests.conftest import Server
from tests.helpers import RUN_ROW, auth, multipart, small_csv, train_completed

UPDATE = """
mutation EditRun($id: ID!, $notes: String, $tags: [String!]) {
  updateTrainingRun(id: $id, notes: $notes, tags: $tags) { errors { code } }
}
"""
LOGIN = """
mutation SignIn($username: String!, $password: String!) {
  login(username: $username, password: $password) { token }
}
"""
AUDIT = """
query Audit($first: Int, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    totalCount
    edges {
      cursor
      node {
        databaseId at username userId channel operation operationName arguments outcome
        errorCode requestId clientAddress
      }
    }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


async def new_run() -> TrainingRun:
    return await TrainingRun.create(
        **RUN_ROW, model_version=f"audit-{uuid.uuid4().hex[:10]}", n_estimators=5
    )


async def entries(server: Server, **audit_filter: Any) -> list[dict[str, Any]]:
    data = await server.data(AUDIT, {"first": 100, "filter": audit_filter}, as_="root")
    return [edge["node"] for edge in data["auditLog"]["edges"]]


async def entry_of(server: Server, request_id: str) -> dict[str, Any]:
    """The one entry of the request sent with this X-Request-ID."""
    found = [entry for entry in await entries(server) if entry["requestId"] == request_id]
    assert len(found) == 1, found
    return found[0]


async def send(
    server: Server,
    query: str,
    variables: dict[str, Any],
    as_: str | None = "drh",
    **headers: str,
) -> str:
    """Send `query` with a fresh X-Request-ID; that id."""
    request_id = f"audit-{uuid.uuid4().hex}"
    response = await server.post(
        query, variables, as_=as_, headers={"X-Request-ID": request_id, **headers}
    )
    assert response.status_code == 200, response.text
    return request_id


# --- what an entry holds ------------------------------------------------------------------


async def test_a_mutation_is_recorded_with_who_what_and_where(server: Server) -> None:
    # given
    run = await new_run()
    before = datetime.now(UTC)

    # when
    request_id = await send(server, UPDATE, {"id": str(run.id), "notes": "checked", "tags": ["Q3"]})

    # then
    entry = await entry_of(server, request_id)
    user = await User.get(username="drh-user")
    assert entry | {"databaseId": 0, "at": ""} == {
        "databaseId": 0,
        "at": "",
        "username": "drh-user",
        "userId": user.id,
        "channel": "GRAPHQL",
        "operation": "updateTrainingRun",
        "operationName": "EditRun",
        "arguments": {"id": str(run.id), "notes": "checked", "tags": ["Q3"]},
        "outcome": "OK",
        "errorCode": None,
        "requestId": request_id,
        "clientAddress": "127.0.0.1",
    }
    at = datetime.fromisoformat(entry["at"])
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("role", "variables", "outcome", "code"),
    [
        ("drh", {"tags": ["x" * 40]}, "ERROR", "OUT_OF_RANGE"),
        ("drh", {"id": "999999999"}, "ERROR", "NOT_FOUND"),
        ("manager", {}, "FORBIDDEN", "FORBIDDEN"),
        (None, {}, "UNAUTHENTICATED", "UNAUTHENTICATED"),
    ],
    ids=["refused-input", "not-found", "forbidden", "unauthenticated"],
)
async def test_refused_mutations_are_recorded_with_their_code(
    server: Server, role: str | None, variables: dict[str, Any], outcome: str, code: str
) -> None:
    run = await new_run()

    request_id = await send(server, UPDATE, {"id": str(run.id), "notes": "n"} | variables, role)

    entry = await entry_of(server, request_id)
    assert (entry["operation"], entry["outcome"], entry["errorCode"]) == (
        "updateTrainingRun",
        outcome,
        code,
    )
    assert entry["username"] == (f"{role}-user" if role else None)


async def test_each_mutation_field_of_an_operation_is_an_entry(server: Server) -> None:
    run = await new_run()
    document = """
    mutation Two($id: ID!) {
      first: updateTrainingRun(id: $id, notes: "one") { errors { code } }
      second: updateTrainingRun(id: $id, tags: [","]) { errors { code } }
    }
    """

    request_id = await send(server, document, {"id": str(run.id)})

    found = [entry for entry in await entries(server) if entry["requestId"] == request_id]
    assert sorted((entry["outcome"], entry["arguments"]) for entry in found) == [
        ("ERROR", {"id": str(run.id), "tags": [","]}),
        ("OK", {"id": str(run.id), "notes": "one"}),
    ]


async def test_a_login_names_who_signed_in_and_keeps_no_secret(server: Server) -> None:
    # when
    response = await server.post(
        LOGIN,
        {"username": "rrh-user", "password": "rrh-password"},
        as_=None,
        headers={"X-Request-ID": (request_id := f"login-{uuid.uuid4().hex}")},
    )
    token = response.json()["data"]["login"]["token"]

    # then
    entry = await entry_of(server, request_id)
    assert (entry["operation"], entry["outcome"], entry["username"]) == ("login", "OK", "rrh-user")
    assert entry["arguments"] == {"username": "rrh-user", "password": "[redacted]"}
    assert "rrh-password" not in str(entry)
    assert token not in str(entry)


async def test_a_failed_login_is_recorded_without_the_password(server: Server) -> None:
    request_id = await send(
        server, LOGIN, {"username": "rrh-user", "password": "wrong-guess-123"}, as_=None
    )

    entry = await entry_of(server, request_id)
    assert (entry["outcome"], entry["errorCode"], entry["username"]) == (
        "ERROR",
        "INVALID_CREDENTIALS",
        None,
    )
    assert "wrong-guess-123" not in str(entry)


async def test_a_logout_records_the_token_revoked(server: Server) -> None:
    token = await create_token(await User.get(username="manager-user"), "audit")

    request_id = await send(
        server, "mutation Out { logout { revoked } }", {}, None, Authorization=f"Token {token}"
    )

    entry = await entry_of(server, request_id)
    assert (entry["operation"], entry["outcome"], entry["username"]) == (
        "logout",
        "OK",
        "manager-user",
    )
    assert token not in str(entry)


async def test_uploaded_content_is_left_out(server: Server) -> None:
    path = f"audit-{uuid.uuid4().hex[:8]}.csv"
    content = small_csv(20)

    response = await server.client.post(
        "/graphql", headers=auth(server, "drh"), **multipart(path, content)
    )

    assert response.status_code == 200, response.text
    [entry] = [
        entry
        for entry in await entries(server, operation=["uploadDataset"])
        if entry["arguments"]["path"] == path
    ]
    assert entry["arguments"]["file"] == "[content omitted]"
    assert entry["outcome"] == "OK"
    assert content.decode()[:40] not in str(entry)


@pytest.mark.parametrize(("role", "code"), [("manager", "FORBIDDEN"), (None, "UNAUTHENTICATED")])
async def test_an_upload_refused_before_its_body_is_read_is_recorded(
    server: Server, role: str | None, code: str
) -> None:
    request_id = f"upload-{uuid.uuid4().hex}"

    response = await server.client.post(
        "/graphql",
        headers=auth(server, role, X_Request_ID=request_id),
        **multipart("refused.csv", small_csv(5)),
    )

    assert response.status_code in (401, 403)
    entry = await entry_of(server, request_id)
    assert (entry["channel"], entry["operation"], entry["outcome"]) == (
        "HTTP",
        "multipartUpload",
        code,
    )
    assert entry["username"] == (f"{role}-user" if role else None)


async def test_long_strings_are_capped(server: Server) -> None:
    run = await new_run()

    request_id = await send(server, UPDATE, {"id": str(run.id), "notes": "é" * 5000})

    entry = await entry_of(server, request_id)
    assert entry["arguments"]["notes"] == "é" * 200 + "…"
    assert (await TrainingRun.get(id=run.id)).notes == "é" * 5000


# --- downloads ----------------------------------------------------------------------------


async def test_model_downloads_are_recorded_served_or_refused(server: Server) -> None:
    run = await train_completed(server.data, trees=3)
    url = f"/runs/{run['databaseId']}/model"

    for role, status in [("drh", 200), ("manager", 403), (None, 401)]:
        request_id = f"download-{uuid.uuid4().hex}"
        response = await server.client.get(url, headers=auth(server, role, X_Request_ID=request_id))
        assert response.status_code == status

        entry = await entry_of(server, request_id)
        expected = {200: ("OK", None), 403: ("FORBIDDEN", "FORBIDDEN")}.get(
            status, ("UNAUTHENTICATED", "UNAUTHENTICATED")
        )
        assert (entry["channel"], entry["operation"]) == ("HTTP", "downloadModel")
        assert (entry["outcome"], entry["errorCode"]) == expected
        assert entry["arguments"] == {"method": "GET", "runId": str(run["databaseId"])}
        assert entry["username"] == (f"{role}-user" if role else None)


async def test_a_runs_export_is_recorded(server: Server) -> None:
    request_id = f"export-{uuid.uuid4().hex}"

    response = await server.client.get(
        "/runs/export.csv",
        params={"filter": '{"status": ["COMPLETED"]}'},
        headers=auth(server, "manager", X_Request_ID=request_id),
    )

    assert response.status_code == 200
    entry = await entry_of(server, request_id)
    assert (entry["operation"], entry["outcome"], entry["username"]) == (
        "exportRuns",
        "OK",
        "manager-user",
    )
    assert entry["arguments"]["filter"] == '{"status": ["COMPLETED"]}'


# --- reading the log ----------------------------------------------------------------------


async def test_the_log_pages_newest_first_and_filters(server: Server) -> None:
    # given: five entries of a user of this test, three OK and two refused
    user = await User.get(username="rrh-user")
    marker = f"page-{uuid.uuid4().hex[:8]}"
    base = datetime(2026, 3, 1, tzinfo=UTC)
    created = []
    for number in range(5):
        created.append(
            await AuditEntry.create(
                at=base + timedelta(days=number),
                user_id=user.id,
                username=marker,
                channel=AuditChannel.GRAPHQL,
                operation="trainModel" if number % 2 == 0 else "cancelTrainingRun",
                outcome=AuditOutcome.OK if number < 3 else AuditOutcome.FORBIDDEN,
                error_code=None if number < 3 else "FORBIDDEN",
                arguments={"number": number},
            )
        )

    # when: pages of two
    seen: list[int] = []
    after = None
    for _ in range(5):
        data = await server.data(
            AUDIT, {"first": 2, "after": after, "filter": {"username": marker}}, as_="drh"
        )
        connection = data["auditLog"]
        assert connection["totalCount"] == 5
        seen += [edge["node"]["databaseId"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    # then
    assert seen == [entry.id for entry in reversed(created)]

    async def ids(**audit_filter: Any) -> list[int]:
        return [e["databaseId"] for e in await entries(server, username=marker, **audit_filter)]

    ids_of = [entry.id for entry in created]
    assert await ids(operation=["trainModel"]) == [ids_of[4], ids_of[2], ids_of[0]]
    assert await ids(outcome=["FORBIDDEN"]) == [ids_of[4], ids_of[3]]
    assert await ids(since="2026-03-02T00:00:00Z", until="2026-03-04T00:00:00Z") == [
        ids_of[2],
        ids_of[1],
    ]
    assert await ids(operation=["trainModel"], outcome=["OK"], since="2026-03-02T00:00:00Z") == [
        ids_of[2]
    ]


@pytest.mark.parametrize(
    ("variables", "argument"),
    [({"first": 101}, "first"), ({"first": -1}, "first"), ({"after": "bm9wZQ"}, "after")],
)
async def test_bad_pages_are_refused(
    server: Server, variables: dict[str, Any], argument: str
) -> None:
    body = await server.gql(AUDIT, variables, as_="drh")

    [error] = body["errors"]
    assert error["extensions"]["argument"] == argument


async def test_the_api_offers_no_way_to_change_the_log(server: Server) -> None:
    body = await server.data('{ __type(name: "Mutation") { fields { name } } }', as_="root")

    names = [field["name"] for field in body["__type"]["fields"]]
    assert "updateTrainingRun" in names
    assert not [name for name in names if "audit" in name.lower()]


# --- an entry as a Node ---------------------------------------------------------------------

NODE = """
query One($id: ID!) {
  node(id: $id) { __typename id ... on AuditEntry { databaseId operation requestId } }
}
"""
AUDIT_ENTRY = """
query ById($id: ID!) { auditEntry(id: $id) { id databaseId operation requestId outcome } }
"""
AUDIT_IDS = "query { auditLog(first: 1) { edges { node { id databaseId } } nodes { id } } }"


async def test_an_entry_is_a_node_found_by_its_global_or_database_id(server: Server) -> None:
    # given: an entry, its global id read from auditLog
    run = await new_run()
    request_id = await send(server, UPDATE, {"id": str(run.id), "notes": "node"})
    entry = await entry_of(server, request_id)
    listed = (await server.data(AUDIT_IDS, as_="drh"))["auditLog"]
    newest = listed["edges"][0]["node"]
    assert listed["nodes"][0]["id"] == newest["id"]
    by_database_id = {
        e["databaseId"]: e for e in await entries(server) if e["requestId"] == request_id
    }
    assert set(by_database_id) == {entry["databaseId"]}
    global_id = (await server.data(AUDIT_ENTRY, {"id": str(entry["databaseId"])}, as_="drh"))[
        "auditEntry"
    ]["id"]

    # then: node(id:) and auditEntry(id:) resolve it, for HR staff and superusers
    for role in ("drh", "rrh", "root"):
        node = (await server.data(NODE, {"id": global_id}, as_=role))["node"]
        assert node == {
            "__typename": "AuditEntry",
            "id": global_id,
            "databaseId": entry["databaseId"],
            "operation": "updateTrainingRun",
            "requestId": request_id,
        }
        for raw in (global_id, str(entry["databaseId"])):
            found = (await server.data(AUDIT_ENTRY, {"id": raw}, as_=role))["auditEntry"]
            assert found == {
                "id": global_id,
                "databaseId": entry["databaseId"],
                "operation": "updateTrainingRun",
                "requestId": request_id,
                "outcome": "OK",
            }
    # and the global id is of this type: another type's id with the same number is not it
    assert GlobalID.from_id(global_id).type_name == "AuditEntry"
    run_id = str(GlobalID("TrainingRun", str(entry["databaseId"])))
    missing = "999999999"
    for raw in (run_id, missing, str(GlobalID("AuditEntry", missing)), "not-an-id"):
        assert (await server.data(AUDIT_ENTRY, {"id": raw}, as_="drh"))["auditEntry"] is None
    gone = str(GlobalID("AuditEntry", missing))
    assert (await server.data(NODE, {"id": gone}, as_="drh"))["node"] is None


@pytest.mark.parametrize(
    ("role", "node_code", "entry_code"),
    [
        ("manager", None, "FORBIDDEN"),
        ("nogroup", "FORBIDDEN", "FORBIDDEN"),
        (None, "UNAUTHENTICATED", "UNAUTHENTICATED"),
    ],
)
async def test_only_the_audit_log_readers_get_an_entry(
    server: Server, role: str | None, node_code: str | None, entry_code: str
) -> None:
    """As the other Nodes: node(id:) is null for a manager (who may call node, not read
    the log), refused for the rest; auditEntry is refused as auditLog is."""
    run = await new_run()
    request_id = await send(server, UPDATE, {"id": str(run.id), "notes": "secret-ish"})
    entry = await entry_of(server, request_id)
    global_id = (await server.data(AUDIT_ENTRY, {"id": str(entry["databaseId"])}, as_="drh"))[
        "auditEntry"
    ]["id"]

    node = await server.gql(NODE, {"id": global_id}, as_=role)
    assert node["data"]["node"] is None
    if node_code is None:
        assert "errors" not in node
    else:
        assert node["errors"][0]["extensions"]["code"] == node_code
    by_id = await server.gql(AUDIT_ENTRY, {"id": global_id}, as_=role)
    assert by_id["data"]["auditEntry"] is None
    assert by_id["errors"][0]["extensions"]["code"] == entry_code


# --- retention and failures ---------------------------------------------------------------


async def test_the_retention_deletes_only_older_entries(server: Server) -> None:
    marker = f"old-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    for age in (400, 366, 364, 1):
        await AuditEntry.create(
            at=now - timedelta(days=age),
            username=marker,
            channel=AuditChannel.CLI,
            operation="token.create",
            outcome=AuditOutcome.OK,
        )

    assert await prune_older_than(0) == 0  # 0 keeps everything
    await prune_older_than(365, now=now)

    kept = await AuditEntry.filter(username=marker).order_by("at")
    assert [round((now - entry.at).total_seconds() / 86_400) for entry in kept] == [364, 1]


async def test_a_failing_audit_write_does_not_fail_the_mutation(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: the audit table refuses writes
    async def refuse(entry: Any) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(audit_log, "append", refuse)
    run = await new_run()

    # when
    with caplog.at_level(logging.ERROR, logger="resolvers.audit_log"):
        data = await server.data(UPDATE, {"id": str(run.id), "notes": "still saved"})

    # then: done, and the failure logged with its traceback
    assert data["updateTrainingRun"]["errors"] == []
    assert (await TrainingRun.get(id=run.id)).notes == "still saved"
    [record] = [r for r in caplog.records if r.name == "resolvers.audit_log"]
    assert "audit entry not written: updateTrainingRun by drh-user" in record.getMessage()
    assert record.exc_info is not None


def test_every_mutation_field_is_audited_outside_its_permission_check() -> None:
    """A mutation added later is recorded without anyone remembering to: build_schema puts
    the extension on every field of the Mutation root, outermost."""
    from strawberry.permission import PermissionExtension
    from strawberry.types.base import get_object_definition

    from schema import build_schema
    from schema.audit_log import AuditedMutation
    from schema.mutation import Mutation

    build_schema()
    build_schema()  # twice in one process: still one extension per field

    for field in get_object_definition(Mutation, strict=True).fields:
        audited = [e for e in field.extensions if isinstance(e, AuditedMutation)]
        assert len(audited) == 1, field.name
        assert field.extensions[-1] is audited[0], field.name
        assert all(
            field.extensions.index(e) < len(field.extensions) - 1
            for e in field.extensions
            if isinstance(e, PermissionExtension)
        ), field.name
