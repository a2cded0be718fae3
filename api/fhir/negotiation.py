"""Which representation a FHIR client asked for: JSON only, else 406."""

from __future__ import annotations

from starlette.requests import Request

from api.fhir.outcomes import FhirError

_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_JSON_MEDIA = frozenset({"application/fhir+json", "application/json", "application/*", "*/*"})


def require_json(request: Request) -> None:
    """Raise 406 unless `_format` and `Accept` allow FHIR JSON (the only format served)."""
    requested = request.query_params.get("_format")
    if requested is not None and _media_type(requested) not in _JSON_FORMATS:
        raise FhirError(
            406,
            f"_format {requested!r} is not supported; this server speaks application/fhir+json",
            expression="_format",
        )
    accept = request.headers.get("accept")
    if requested is None and accept and not _accepts_json(accept):
        raise FhirError(
            406, f"Accept {accept!r} is not supported; this server speaks application/fhir+json"
        )


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media, _, parameters = part.partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.strip().lower() in _JSON_MEDIA and quality > 0:
            return True
    return False
