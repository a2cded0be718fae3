"""The member session cookie on HTTP requests and responses.

The cookie holds the signed session id (`auth.members.sessions.SessionCookie`):
http-only, SameSite=Lax (a cross-site POST arrives without it), and over
HTTPS named `__Host-pai_session` with `Secure` and `Path=/`. The hosted
sign-in pages set it with `set_session_cookie` once a person signed in.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from auth.members.sessions import SessionCookie
from domain.sessions import SESSION_LIFETIME


def session_id_of(conn: HTTPConnection, cookie: SessionCookie) -> str | None:
    """The session id the request's cookie carries, if this server signed it."""
    value = conn.cookies.get(cookie.name)
    return cookie.unsign(value) if value else None


def set_session_cookie(
    response: Response,
    cookie: SessionCookie,
    session_id: str,
    max_age: int = int(SESSION_LIFETIME.total_seconds()),
) -> None:
    response.set_cookie(
        cookie.name,
        cookie.sign(session_id),
        max_age=max_age,
        path="/",
        secure=cookie.secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, cookie: SessionCookie) -> None:
    response.delete_cookie(
        cookie.name, path="/", secure=cookie.secure, httponly=True, samesite="lax"
    )
