"""Who may touch which field: HR staff train, managers read, everyone else is refused."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from models.credentials import Scope
from resolvers.errors import ErrorCode
from schema.context import Info

UNAUTHENTICATED_MESSAGE = (
    "Authentication required: send 'Authorization: Token <key>' (or 'Bearer <key>')."
)


def unauthenticated() -> StrawberryGraphQLError:
    return StrawberryGraphQLError(
        UNAUTHENTICATED_MESSAGE, extensions={"code": ErrorCode.UNAUTHENTICATED}
    )


class _ScopePermission(BasePermission):
    """Anonymous callers get UNAUTHENTICATED; callers without the scope get FORBIDDEN."""

    scope: ClassVar[str | None] = None
    error_extensions = {"code": ErrorCode.FORBIDDEN}

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = await info.context.viewer()
        if viewer is None:
            raise unauthenticated()
        return self.scope is None or self.scope in viewer.scopes


class IsAuthenticated(_ScopePermission):
    message = "Authentication required."


class IsHRStaffOrManager(_ScopePermission):
    scope = Scope.READ_RUNS
    message = "Reading training runs is reserved to HR staff (DRH, RESPONSABLE_RH) and managers."


class IsHRStaff(_ScopePermission):
    scope = Scope.TRAIN
    message = "Training and cancelling are reserved to HR staff (DRH, RESPONSABLE_RH)."
