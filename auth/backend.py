"""Bearer tokens on requests (RFC 6750): who the caller is, never what they may read.

`BearerTokenBackend`, under Starlette's `AuthenticationMiddleware`, puts a
`PrincipalUser` on every request: the app principal of a valid
`Authorization: Bearer` token (or, where the door takes them, the staff
principal of a dashboard API key), or `ANONYMOUS` when the request carries no
bearer token (another scheme, such as a client's Basic credentials at the
token endpoint, is left to its endpoint). A bearer token that is malformed or
grants nothing is refused with `BearerError`, whose reason and status the
middleware's `on_error` (see `bearer_error_response`) sends back.
Which records a principal may read is the policy's decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from auth.principal import (
    ANONYMOUS,
    Anonymous,
    AppPrincipal,
    MemberSession,
    Principal,
    StaffPrincipal,
    app_principal,
)
from auth.staff.accounts import is_key_string, principal_for_key
from auth.tokens import InvalidToken, active_access_token
from domain.repositories import UnitOfWork

# Issued tokens have 43 characters; anything far longer is not one of ours.
MAX_TOKEN_LENGTH = 512

_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class BearerError(AuthenticationError):
    """Why bearer credentials were refused, in RFC 6750's terms (`error`, status code)."""

    def __init__(self, error: str, description: str, status_code: int) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code

    @classmethod
    def malformed(cls, description: str) -> BearerError:
        return cls("invalid_request", description, 400)

    @classmethod
    def invalid_token(cls, description: str) -> BearerError:
        return cls("invalid_token", description, 401)

    @property
    def challenge(self) -> str:
        """The `WWW-Authenticate` value; descriptions are fixed ASCII texts without quotes."""
        return f'Bearer error="{self.error}", error_description="{self.description}"'


class PrincipalUser(BaseUser):
    """Starlette's `request.user`, holding the request's principal."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return not isinstance(self.principal, Anonymous)

    @property
    def display_name(self) -> str:
        return self.identity

    @property
    def identity(self) -> str:
        match self.principal:
            case AppPrincipal(client_id=client_id):
                return client_id
            case MemberSession(account_id=account_id):
                return account_id
            case StaffPrincipal(user_id=user_id):
                return user_id
            case _:
                return ""


def bearer_token(authorization: Sequence[str]) -> str | None:
    """The token in a request's `Authorization` header values; None when it sends no Bearer.

    Raises `BearerError` (invalid_request) for several `Authorization` headers,
    an empty one, or a Bearer one that is not exactly one well-formed token.
    """
    if not authorization:
        return None
    if len(authorization) > 1:
        raise BearerError.malformed("more than one Authorization header")
    scheme, _, credentials = authorization[0].strip().partition(" ")
    if not scheme:
        raise BearerError.malformed("the Authorization header is empty")
    if scheme.lower() != "bearer":
        return None
    token = credentials.strip(" ")
    if not token:
        raise BearerError.malformed("the Bearer authorization has no token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise BearerError.malformed("the bearer token is too long")
    if not _B64TOKEN.fullmatch(token):
        raise BearerError.malformed("the bearer token is not a single b64token")
    return token


class BearerTokenBackend(AuthenticationBackend):
    """Authenticates apps by access token; the principal's checks run in one unit of work.

    With `staff_keys`, a bearer string shaped like a staff API key (`pai_sk_...`)
    is looked up as one instead (GraphQL takes both; the FHIR API apps only).
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        *,
        staff_keys: bool = False,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._staff_keys = staff_keys

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        token = bearer_token(conn.headers.getlist("authorization"))
        if token is None:
            return AuthCredentials(), PrincipalUser(ANONYMOUS)
        if self._staff_keys and is_key_string(token):
            staff = await run_in_threadpool(self.staff_principal_for, token)
            return AuthCredentials([f"staff:{staff.role.value}"]), PrincipalUser(staff)
        principal = await run_in_threadpool(self.principal_for, token)
        return AuthCredentials(principal.scopes), PrincipalUser(principal)

    def staff_principal_for(self, key: str) -> StaffPrincipal:
        """The staff principal of an API key string; raises `BearerError` (invalid_token)."""
        with self._unit_of_work() as uow:
            principal = principal_for_key(uow, key, self._clock())
        if principal is None:
            raise BearerError.invalid_token("the API key is unknown, expired or revoked")
        return principal

    def principal_for(self, token: str) -> AppPrincipal:
        """The app principal of an access token string; raises `BearerError` (invalid_token)."""
        at = self._clock()
        with self._unit_of_work() as uow:
            try:
                access = active_access_token(uow, token, at)
            except InvalidToken as error:
                raise BearerError.invalid_token(str(error)) from None
            principal = app_principal(uow, access, at=at)
        if principal is None:
            raise BearerError.invalid_token(
                "the access token's grant is revoked or its app is not approved"
            )
        return principal


def principal_of(conn: HTTPConnection) -> Principal:
    """The principal `BearerTokenBackend` put on the request; `ANONYMOUS` without one."""
    user = conn.scope.get("user")
    return user.principal if isinstance(user, PrincipalUser) else ANONYMOUS


def bearer_error_response(conn: HTTPConnection, error: AuthenticationError) -> Response:
    """An `on_error` for `AuthenticationMiddleware`: RFC 6750's status, challenge and error."""
    if not isinstance(error, BearerError):
        error = BearerError.invalid_token("the credentials were refused")
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status_code,
        headers={"WWW-Authenticate": error.challenge, "Cache-Control": "no-store"},
    )
