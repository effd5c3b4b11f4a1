"""The strawberry Info type every resolver in schema/ receives."""

from __future__ import annotations

from typing import TypeAlias

import strawberry

from resolvers.context import RequestContext

Info: TypeAlias = strawberry.Info[RequestContext, None]
