"""CSRF tokens of the forms shown before anyone is signed in (sign-in, create account, code).

The browser gets a random value in an http-only cookie; each form carries
the HMAC of that value under a key derived from the server secret, so
another site can neither read nor forge it (double submit, signed). Forms
shown to a signed-in person use the session's token instead
(`auth.members.sessions.SessionCookie.csrf_token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from auth.secret_key import SecretKey

FIELD = "csrf_token"
KEY_PURPOSE = "form-csrf"
SECURE_NAME = "__Host-pai_csrf"
PLAIN_NAME = "pai_csrf"
_VALUE_BYTES = 32
_MAX_VALUE = 128


class FormCsrf:
    def __init__(self, key: SecretKey, *, secure: bool) -> None:
        self._key = key.derive(KEY_PURPOSE)
        self.secure = secure

    @property
    def cookie_name(self) -> str:
        return SECURE_NAME if self.secure else PLAIN_NAME

    def value_of(self, request: Request) -> tuple[str, bool]:
        """The browser's cookie value, or a new one; True when it is new (set it on the answer)."""
        value = request.cookies.get(self.cookie_name)
        if value and len(value) <= _MAX_VALUE:
            return value, False
        return secrets.token_urlsafe(_VALUE_BYTES), True

    def token(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def check(self, request: Request, token: str | None) -> bool:
        value = request.cookies.get(self.cookie_name)
        if not value or not token or len(value) > _MAX_VALUE:
            return False
        return hmac.compare_digest(token.encode(), self.token(value).encode())

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.cookie_name, value, path="/", secure=self.secure, httponly=True, samesite="lax"
        )
