"""The OpenAPI 3.0 description of the authorization server's JSON endpoints and discovery.

The authorize endpoint is left out: it is a browser flow of HTML pages and
redirects, not an API. Bodies are described as RFC 6749, 7009 and 7662,
OpenID Connect and SMART App Launch 2.2 define them, with what PAI adds or
promises (`patient` in token responses, at most an hour of `expires_in`,
`no-store` on everything carrying a token, only `S256` for PKCE). Links
chain a token response to revocation, introspection and UserInfo, for
stateful fuzzing.
"""

from __future__ import annotations

from typing import Any

from auth.oauth.config import GRANT_TYPES
from auth.oauth.requests import MAX_PARAMETER_LENGTH
from domain.tokens import ACCESS_TOKEN_MAX_LIFETIME

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_NO_STORE = {
    "Cache-Control": {
        "description": "Token responses are never cached (RFC 6749 5.1)",
        "required": True,
        "schema": {"type": "string", "enum": ["no-store"]},
    },
    "Pragma": {"required": True, "schema": {"type": "string", "enum": ["no-cache"]}},
}


def _text(description: str | None = None) -> dict[str, Any]:
    """A parameter value: no control characters, at most `MAX_PARAMETER_LENGTH` (else 400)."""
    schema: dict[str, Any] = {
        "type": "string",
        "pattern": "^[^\\x00-\\x1f\\x7f]*$",
        "maxLength": MAX_PARAMETER_LENGTH,
    }
    if description:
        schema["description"] = description
    return schema


# A hint only (RFC 7009 2.1, RFC 7662 2.1): any other value is ignored, every kind is searched.
_TOKEN_HINT = _text("access_token or refresh_token")
_CLIENT_FIELDS: dict[str, Any] = {
    "client_id": _text("A public or client_secret_post app"),
    "client_secret": _text("client_secret_post"),
    "client_assertion_type": {
        "type": "string",
        "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
    },
    "client_assertion": _text("private_key_jwt (RFC 7523)"),
}
# A public app names itself in the form; a confidential one may use HTTP Basic instead.
_OPTIONAL_CLIENT_AUTH: list[dict[str, list[str]]] = [{}, {"clientSecretBasic": []}]


def oauth_paths() -> dict[str, Any]:
    return {
        "/.well-known/smart-configuration": _discovery("smartConfiguration", "SmartConfiguration"),
        "/fhir/r4/.well-known/smart-configuration": _discovery(
            "fhirSmartConfiguration", "SmartConfiguration"
        ),
        "/.well-known/openid-configuration": _discovery(
            "openidConfiguration", "OpenIdConfiguration"
        ),
        "/oauth/jwks": {
            "get": {
                "operationId": "jwks",
                "summary": "The public keys that sign ID tokens",
                "security": [],
                "responses": {"200": _json("The JWK Set", "JwkSet")},
            }
        },
        "/oauth/token": {"post": _token()},
        "/oauth/revoke": {"post": _revoke()},
        "/oauth/introspect": {"post": _introspect()},
        "/oauth/userinfo": {
            method: {
                "operationId": f"userinfo{method.capitalize()}",
                "summary": "OpenID Connect UserInfo of an access token granted `openid`",
                "security": [{"smart": []}],
                "responses": {
                    "200": _json("Claims about the signed-in person", "UserInfo", _NO_STORE),
                    "400": _json("The Authorization header is malformed", "OAuthError"),
                    "401": _json(
                        "No access token, or one unknown, expired or revoked", "OAuthError"
                    ),
                    "403": _json("The token was not granted `openid`", "OAuthError"),
                    **_DATABASE_DOWN,
                },
            }
            for method in ("get", "post")
        },
    }


def oauth_schemas() -> dict[str, Any]:
    lifetime = int(ACCESS_TOKEN_MAX_LIFETIME.total_seconds())
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "OAuthError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "pattern": "^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]+$"},
                "error_description": {"type": "string"},
                "error_uri": {"type": "string"},
                "state": {"type": "string"},
            },
        },
        "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "scope", "patient"],
            "properties": {
                "access_token": {"type": "string", "minLength": 1},
                "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer", "minimum": 1, "maximum": lifetime},
                "scope": {"type": "string"},
                "patient": {"type": "string", "minLength": 1},
                "refresh_token": {"type": "string", "minLength": 1},
                "id_token": {"type": "string", "pattern": "^[^.]+\\.[^.]+\\.[^.]+$"},
            },
        },
        "Introspection": {
            "oneOf": [
                {
                    "type": "object",
                    "description": "Expired, revoked, unknown or another app's: nothing else",
                    "required": ["active"],
                    "properties": {"active": {"type": "boolean", "enum": [False]}},
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": ["active", "scope", "client_id", "patient", "iss", "iat"],
                    "properties": {
                        "active": {"type": "boolean", "enum": [True]},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string"},
                        "patient": {"type": "string"},
                        "iss": {"type": "string"},
                        "aud": {"type": "string"},
                        "sub": {"type": "string"},
                        "iat": {"type": "integer"},
                        "exp": {"type": "integer"},
                        "token_type": {"type": "string", "enum": ["Bearer"]},
                    },
                },
            ]
        },
        "UserInfo": {
            "type": "object",
            "required": ["sub"],
            "properties": {"sub": {"type": "string"}, "fhirUser": {"type": "string"}},
        },
        "JwkSet": {
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["kty", "kid"],
                        "properties": {"kty": {"type": "string"}, "kid": {"type": "string"}},
                        "not": {"anyOf": [{"required": [p]} for p in ("d", "p", "q", "k")]},
                    },
                }
            },
        },
        "SmartConfiguration": {
            "type": "object",
            "required": [
                "issuer",
                "jwks_uri",
                "authorization_endpoint",
                "token_endpoint",
                "grant_types_supported",
                "response_types_supported",
                "code_challenge_methods_supported",
                "capabilities",
            ],
            "properties": {
                "issuer": {"type": "string"},
                "jwks_uri": {"type": "string"},
                "authorization_endpoint": {"type": "string"},
                "token_endpoint": {"type": "string"},
                "revocation_endpoint": {"type": "string"},
                "introspection_endpoint": {"type": "string"},
                "userinfo_endpoint": {"type": "string"},
                "grant_types_supported": strings,
                "response_types_supported": {"type": "array", "items": {"enum": ["code"]}},
                "scopes_supported": strings,
                "code_challenge_methods_supported": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["S256"]},
                },
                "token_endpoint_auth_methods_supported": strings,
                "token_endpoint_auth_signing_alg_values_supported": strings,
                "capabilities": strings,
            },
        },
        "OpenIdConfiguration": {
            "type": "object",
            "required": [
                "issuer",
                "authorization_endpoint",
                "token_endpoint",
                "jwks_uri",
                "response_types_supported",
                "subject_types_supported",
                "id_token_signing_alg_values_supported",
            ],
            "properties": {
                "issuer": {"type": "string"},
                "authorization_endpoint": {"type": "string"},
                "token_endpoint": {"type": "string"},
                "userinfo_endpoint": {"type": "string"},
                "jwks_uri": {"type": "string"},
                "response_types_supported": {"type": "array", "items": {"enum": ["code"]}},
                "subject_types_supported": strings,
                "id_token_signing_alg_values_supported": strings,
                "code_challenge_methods_supported": {
                    "type": "array",
                    "items": {"enum": ["S256"]},
                },
            },
        },
    }


def oauth_security_schemes(scopes: list[str]) -> dict[str, Any]:
    return {
        "smartLaunch": {
            "type": "oauth2",
            "description": "SMART App Launch 2.2 standalone launch, PKCE S256 (how `smart` is got)",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize",
                    "tokenUrl": "/oauth/token",
                    "refreshUrl": "/oauth/token",
                    "scopes": {scope: scope for scope in scopes},
                }
            },
        },
        "clientSecretBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "client_secret_basic (RFC 6749 2.3.1) of a confidential symmetric app",
        },
    }


_DATABASE_DOWN = {"503": {"description": "The database is not available; try again shortly"}}


def _token() -> dict[str, Any]:
    fields: dict[str, Any] = {
        "grant_type": {"type": "string", "enum": list(GRANT_TYPES)},
        "code": _text(),
        "redirect_uri": _text(),
        "code_verifier": _text(),
        "refresh_token": _text(),
        "scope": _text(),
        **_CLIENT_FIELDS,
    }
    access = "$response.body#/access_token"
    return {
        "operationId": "token",
        "summary": "Exchange a code (with its PKCE verifier) or rotate a refresh token",
        "security": _OPTIONAL_CLIENT_AUTH,
        "requestBody": _form(fields, ["grant_type"]),
        "responses": {
            "200": _json(
                "New tokens",
                "TokenResponse",
                _NO_STORE,
                links={
                    "IntrospectAccessToken": {
                        "operationId": "introspect",
                        "requestBody": {"token": access, "token_type_hint": "access_token"},
                    },
                    "RevokeAccessToken": {
                        "operationId": "revoke",
                        "requestBody": {"token": access, "token_type_hint": "access_token"},
                    },
                    "RevokeRefreshToken": {
                        "operationId": "revoke",
                        "requestBody": {
                            "token": "$response.body#/refresh_token",
                            "token_type_hint": "refresh_token",
                        },
                    },
                    "UserInfo": {
                        "operationId": "userinfoGet",
                        "parameters": {"header.Authorization": f"Bearer {{{access}}}"},
                    },
                },
            ),
            "400": _json(
                "The request is malformed, or the code or token is not valid", "OAuthError"
            ),
            "401": _json("The app could not be authenticated (invalid_client)", "OAuthError"),
            **_DATABASE_DOWN,
        },
    }


def _revoke() -> dict[str, Any]:
    fields = {"token": _text(), "token_type_hint": _TOKEN_HINT, **_CLIENT_FIELDS}
    return {
        "operationId": "revoke",
        "summary": "Revoke an access or refresh token (RFC 7009); an unknown token is no error",
        "security": _OPTIONAL_CLIENT_AUTH,
        "requestBody": _form(fields, ["token"]),
        "responses": {
            "200": {"description": "Revoked, or nothing to revoke", "headers": _NO_STORE},
            "400": _json("The request is malformed", "OAuthError"),
            "401": _json("The app could not be authenticated (invalid_client)", "OAuthError"),
            **_DATABASE_DOWN,
        },
    }


def _introspect() -> dict[str, Any]:
    fields = {"token": _text(), "token_type_hint": _TOKEN_HINT, **_CLIENT_FIELDS}
    return {
        "operationId": "introspect",
        "summary": "Describe one of the calling app's tokens (RFC 7662); confidential apps only",
        "security": [{"clientSecretBasic": []}],
        "requestBody": _form(fields, ["token"]),
        "responses": {
            "200": _json("Whether the token is active, and if so what it grants", "Introspection"),
            "400": _json("The request is malformed", "OAuthError"),
            "401": _json("The app could not be authenticated (invalid_client)", "OAuthError"),
            **_DATABASE_DOWN,
        },
    }


def _discovery(operation_id: str, schema: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": "A discovery document",
            "security": [],
            "responses": {"200": _json("The document", schema)},
        }
    }


def _form(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            _FORM: {
                "schema": {"type": "object", "required": required, "properties": fields},
            }
        },
    }


def _json(
    description: str,
    schema: str,
    headers: dict[str, Any] | None = None,
    *,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response
