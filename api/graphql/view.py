"""/graphql over HTTP: authentication, limits, and one transaction per request.

A request's operations run in a worker thread with an event loop of its
own, inside one unit of work that holds every audit event they append, and
commit before the response leaves; each mutation runs in a savepoint of it.
A request whose database work failed (an audit event that cannot be
written, a database that is down) fails as a whole, and shows nothing.

Credentials are bearer only (app access tokens, staff API keys): no cookie
is read here, so no other site can make a browser send one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cross_web import AsyncHTTPRequestAdapter
from graphql import GraphQLError
from starlette.authentication import AuthenticationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.execution import SubscriptionExecutionResult

from api.graphql.context import Context
from api.graphql.errors import BAD_USER_INPUT, UNAUTHENTICATED
from api.graphql.limits import Limits, batch_problems, holds_nul
from api.graphql.schema import PaiSchema
from auth.backend import BearerError, BearerTokenBackend, principal_of
from auth.principal import Anonymous
from domain.repositories import UnitOfWork


class PaiGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view, with PAI's context, limits and transactions."""

    def __init__(
        self,
        schema: PaiSchema,
        *,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        limits: Limits,
        production: bool,
        suppress_below: int,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=False,
            subscription_protocols=(),
            multipart_uploads_enabled=False,
        )
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._limits = limits
        self._suppress_below = suppress_below

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(
            principal=principal_of(request),
            clock=self._clock,
            client_address=request.client.host if request.client else None,
            suppress_below=self._suppress_below,
        )

    async def execute_operation(  # noqa: PLR0917
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        operations = request_data if isinstance(request_data, list) else [request_data]
        if any(holds_nul(item.query, item.variables) for item in operations):
            refusal = GraphQLError(
                "text in the request holds a NUL character", extensions={"code": BAD_USER_INPUT}
            )
            results = [ExecutionResult(data=None, errors=[refusal])] * len(operations)
            return results if isinstance(request_data, list) else results[0]
        if isinstance(request_data, list):
            problem = batch_problems(
                self.schema._schema,  # type: ignore[attr-defined]
                [item.query for item in request_data],
                self._limits,
            )
            if problem is not None:
                return [ExecutionResult(data=None, errors=[GraphQLError(problem)])] * len(
                    request_data
                )
        operate = super().execute_operation

        def in_transaction() -> (
            ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult
        ):
            with self._unit_of_work() as uow:
                context.begin(uow)
                loop = asyncio.new_event_loop()
                try:
                    result = loop.run_until_complete(
                        operate(
                            request=request,
                            request_adapter=request_adapter,
                            request_data=request_data,
                            context=context,
                            root_value=root_value,
                            sub_response=sub_response,
                        )
                    )
                finally:
                    loop.close()
                if context.database_failure is not None:
                    raise context.database_failure
                uow.commit()
            return result

        return await run_in_threadpool(in_transaction)


class GraphQLDoor:
    """The ASGI app at /graphql: body size, bearer authentication, then the view."""

    def __init__(
        self,
        view: PaiGraphQL,
        *,
        read_unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        limits: Limits,
    ) -> None:
        self._view = view
        self._limits = limits
        backend = BearerTokenBackend(read_unit_of_work, clock, staff_keys=True)
        self._app: ASGIApp = AuthenticationMiddleware(
            _RequireCredentials(view), backend=backend, on_error=_refused
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await JSONResponse({"errors": [{"message": "not supported"}]}, 400)(
                scope, receive, send
            )
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (
            not length.isdigit() or int(length) > self._limits.max_body_bytes
        ):
            response = _errors(
                413, f"a request body has at most {self._limits.max_body_bytes} bytes"
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)


class _RequireCredentials:
    """Operations need an app token or a staff key; only the IDE page (demo mode) needs none."""

    def __init__(self, view: PaiGraphQL) -> None:
        self._view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(HTTPConnection(scope))
        if isinstance(principal, Anonymous) and scope.get("method") != "GET":
            response = _errors(401, "a bearer token or staff API key is required", UNAUTHENTICATED)
            response.headers["WWW-Authenticate"] = 'Bearer realm="graphql"'
            await response(scope, receive, send)
            return
        await self._view(scope, receive, send)


def _refused(_: HTTPConnection, error: AuthenticationError) -> Response:
    refused = error if isinstance(error, BearerError) else BearerError.invalid_token("refused")
    response = _errors(refused.status_code, refused.description, UNAUTHENTICATED)
    response.headers["WWW-Authenticate"] = refused.challenge
    return response


def _errors(status: int, message: str, code: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code}
    return JSONResponse(
        {"errors": [error]}, status_code=status, headers={"Cache-Control": "no-store"}
    )
