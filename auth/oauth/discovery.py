"""What the server announces: SMART configuration and OpenID Connect discovery documents."""

from __future__ import annotations

from auth.oauth.config import (
    ASSERTION_ALGORITHMS,
    CAPABILITIES,
    GRANT_TYPES,
    TOKEN_ENDPOINT_AUTH_METHODS,
    OAuthConfig,
)
from auth.policy import MEMBER_RESOURCE_TYPES
from domain.oauth import SIGNING_ALGORITHM
from domain.values import JsonObject

CODE_CHALLENGE_METHODS = ("S256",)
RESPONSE_TYPES = ("code",)
CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "fhirUser")


def scopes_supported() -> list[str]:
    """Identity and launch scopes, then the patient scopes, v2 (`.rs`) and v1 (`.read`)."""
    identity = ["openid", "fhirUser", "launch/patient", "offline_access"]
    types = sorted(MEMBER_RESOURCE_TYPES)
    return [
        *identity,
        "patient/*.rs",
        "patient/*.read",
        *(f"patient/{t}.rs" for t in types),
        *(f"patient/{t}.read" for t in types),
    ]


def smart_configuration(config: OAuthConfig) -> JsonObject:
    """`/.well-known/smart-configuration` (SMART App Launch 2.2)."""
    return {
        "issuer": config.issuer,
        "jwks_uri": config.jwks_uri,
        "authorization_endpoint": config.authorization_endpoint,
        "token_endpoint": config.token_endpoint,
        "revocation_endpoint": config.revocation_endpoint,
        "introspection_endpoint": config.introspection_endpoint,
        "userinfo_endpoint": config.userinfo_endpoint,
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": list(RESPONSE_TYPES),
        "scopes_supported": scopes_supported(),
        "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
        "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "capabilities": list(CAPABILITIES),
        "user_access_brand_bundle": config.user_access_brand_bundle,
    }


def openid_configuration(config: OAuthConfig) -> JsonObject:
    """`/.well-known/openid-configuration` (OpenID Connect Discovery 1.0)."""
    return {
        "issuer": config.issuer,
        "authorization_endpoint": config.authorization_endpoint,
        "token_endpoint": config.token_endpoint,
        "userinfo_endpoint": config.userinfo_endpoint,
        "jwks_uri": config.jwks_uri,
        "revocation_endpoint": config.revocation_endpoint,
        "introspection_endpoint": config.introspection_endpoint,
        "scopes_supported": scopes_supported(),
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
        "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
        "claims_supported": list(CLAIMS),
    }
