"""A developer's submission from a JSON document or a form, into `domain.app_registry.Submission`.

Values of the wrong JSON type are reported like any other problem, field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.app_registry import InvalidRegistration, Question, Submission
from domain.apps import ClientType

MAX_SCOPES = 50


def from_json(document: object) -> Submission:
    if not isinstance(document, dict):
        raise InvalidRegistration({"body": "a JSON object"})
    problems: dict[str, str] = {}

    def text(name: str, *, required: bool = True) -> str | None:
        value = document.get(name)
        if value is None or value == "":
            if required:
                problems[name] = "required"
            return None
        if not isinstance(value, str):
            problems[name] = "a string"
            return None
        return value

    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        problems["redirect_uris"] = "a list of URIs"
        uris = []
    scopes = document.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        problems["scopes"] = "a space-separated string or a list of scopes"
        scopes = []
    jwks = document.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        problems["jwks"] = "a JWK Set object"
        jwks = None
    attestation = document.get("attestation") or {}
    if not isinstance(attestation, dict) or not all(
        isinstance(v, bool) for v in attestation.values()
    ):
        problems["attestation"] = "an object of question -> true or false"
        attestation = {}
    client_type = _client_type(text("client_type"), problems)
    submission = Submission(
        name=text("name") or "",
        description=text("description") or "",
        developer=text("developer") or "",
        contact_email=text("contact_email") or "",
        redirect_uris=tuple(uris),
        client_type=client_type,
        scopes=tuple(scopes[:MAX_SCOPES]),
        website=text("website", required=False),
        privacy_policy_url=text("privacy_policy_url", required=False),
        terms_url=text("terms_url", required=False),
        logo_uri=text("logo_uri", required=False),
        jwks_uri=text("jwks_uri", required=False),
        jwks=jwks,
        attestation=attestation,
    )
    return _checked(submission, problems)


def from_form(fields: Mapping[str, str]) -> Submission:
    """The registration form: redirect URIs one per line, scopes space-separated, and a yes or
    no for each attestation question (`attest_<question>`)."""
    problems: dict[str, str] = {}

    def optional(name: str) -> str | None:
        value = fields.get(name, "").strip()
        return value or None

    attestation: dict[str, bool] = {}
    for question in Question:
        answer = fields.get(f"attest_{question.value}", "")
        if answer in ("yes", "no"):
            attestation[question.value] = answer == "yes"
    submission = Submission(
        name=fields.get("name", ""),
        description=fields.get("description", ""),
        developer=fields.get("developer", ""),
        contact_email=fields.get("contact_email", ""),
        redirect_uris=tuple(
            line.strip() for line in fields.get("redirect_uris", "").splitlines() if line.strip()
        ),
        client_type=_client_type(fields.get("client_type"), problems),
        scopes=tuple(fields.get("scopes", "").split()[:MAX_SCOPES]),
        website=optional("website"),
        privacy_policy_url=optional("privacy_policy_url"),
        terms_url=optional("terms_url"),
        logo_uri=optional("logo_uri"),
        jwks_uri=optional("jwks_uri"),
        attestation=attestation,
    )
    return _checked(submission, problems)


def _client_type(value: Any, problems: dict[str, str]) -> ClientType:
    try:
        return ClientType(value)
    except ValueError:
        problems["client_type"] = "one of " + ", ".join(t.value for t in ClientType)
        return ClientType.PUBLIC


def _checked(submission: Submission, problems: dict[str, str]) -> Submission:
    if problems:
        raise InvalidRegistration(submission.problems() | problems)
    return submission
