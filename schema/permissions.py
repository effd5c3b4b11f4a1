"""Who may touch which field: HR staff train, managers read, everyone else is refused."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from resolvers.accounts import Scope
from resolvers.errors import ErrorCode
from schema.context import Info

UNAUTHENTICATED_MESSAGE = (
    "Authentication required: send 'Authorization: Token <key>' (or 'Bearer <key>')."
)


def unauthenticated() -> StrawberryGraphQLError:
    return StrawberryGraphQLError(
        UNAUTHENTICATED_MESSAGE, extensions={"code": ErrorCode.UNAUTHENTICATED}
    )


def field_label(info: Info) -> str:
    """The field being resolved as `Type.field` (e.g. Query.datasets)."""
    return f"{info.path.typename}.{info.field_name}"


class _ScopePermission(BasePermission):
    """Anonymous callers get UNAUTHENTICATED; callers without the scope get FORBIDDEN, with
    a message naming the field refused and who may use it."""

    scope: ClassVar[str | None] = None
    # Who holds the scope, as the refusal tells it.
    holders: ClassVar[str] = "authenticated callers"
    error_extensions = {"code": ErrorCode.FORBIDDEN}

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = await info.context.viewer()
        if viewer is None:
            raise unauthenticated()
        if self.scope is not None and self.scope not in viewer.scopes:
            raise self.forbidden(field_label(info))
        return True

    @classmethod
    def forbidden(cls, field: str) -> StrawberryGraphQLError:
        """The FORBIDDEN error of `field` (e.g. "Query.datasets")."""
        return StrawberryGraphQLError(
            f"{field} is reserved to {cls.holders}.", extensions=dict(cls.error_extensions)
        )


class IsAuthenticated(_ScopePermission):
    message = "Authentication required."


class IsHRStaffOrManager(_ScopePermission):
    scope = Scope.READ_RUNS
    holders = "HR staff (DRH, RESPONSABLE_RH) and managers"


class IsHRStaff(_ScopePermission):
    scope = Scope.TRAIN
    holders = "HR staff (DRH, RESPONSABLE_RH)"
