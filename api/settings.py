"""Configuration, from `PAI_*` environment variables, or a TOML file named by
`PAI_CONFIG_FILE` (the same names in lower case without the prefix; a variable
wins over the file). Documented in the README; `load_settings` checks it all
at startup and names every wrong or missing setting."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from auth.members.oidc import load_private_key
from auth.outbound import parse_networks

DEFAULT_DATABASE_URL = "sqlite:///var/pai.sqlite"


class Mode(StrEnum):
    PRODUCTION = "production"
    DEMO = "demo"


class SignInMethod(StrEnum):
    """How members may prove who they are (`PAI_SIGNIN_METHODS`)."""

    EMAIL = "email"  # hosted matching of the ID card details, then an emailed code
    IDP = "idp"  # the plan's identity provider, with OpenID Connect
    PORTAL = "portal"  # the plan portal's verification API


CONFIG_FILE_VARIABLE = "PAI_CONFIG_FILE"


class SettingsError(Exception):
    """The configuration is wrong; each line of the message names a setting and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAI_", extra="ignore", frozen=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: an SQLite file, or postgresql://user@host/db.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public URL of this service; the FHIR base is {base_url}/fhir/r4.",
    )
    mode: Mode = Field(default=Mode.PRODUCTION, description="`production` or `demo`.")
    smtp_url: str | None = Field(
        default=None, description="smtp://user:password@host:port for outgoing email."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description=(
            "Server secret of at least 32 characters, the same on every process, that keys the "
            "hashes of emailed sign-in codes (a plain hash of a 6-digit code is reversed in a "
            "second). Unset: generated once and stored in the database, which then protects "
            "less; set it in production and keep it out of the database and its backups."
        ),
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description=(
            "RSA private key that signs ID tokens, as PEM or as a JWK (JSON), the same on every "
            "process. Unset: generated on first use and stored in the database, where every "
            "process finds it."
        ),
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Comma-separated origins (https://app.example) whose browser apps may call the "
            "token, revocation, introspection, UserInfo, JWKS, discovery and FHIR endpoints. "
            "Only these are echoed in Access-Control-Allow-Origin; the authorize endpoint "
            "never answers CORS."
        ),
    )
    plan_name: str = Field(default="Cascade Community Health Plan", description="Shown to members.")
    plan_website: str | None = Field(
        default=None,
        description="The plan's public website, named in the User-access Brands bundle.",
    )
    plan_logo_url: str | None = Field(
        default=None,
        description=(
            "The plan's logo (https) in the User-access Brands bundle (default: the logo this "
            "service serves at /static/web/plan-logo.svg)."
        ),
    )
    portal_url: str | None = Field(
        default=None,
        description=(
            "The member portal's address in the User-access Brands bundle (default: this "
            "service's /account page)."
        ),
    )
    registrations_per_hour: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description=(
            "App registrations accepted per hour for one contact email and from one client "
            "address (each one emails its contact address)."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `pai serve` listens on.")
    port: int = Field(default=8000, description="Port `pai serve` listens on.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    log_json: bool = Field(default=True, description="Structured JSON logs (false: console).")
    small_count_threshold: int = Field(
        default=11,
        ge=2,
        description=(
            "The smallest count dashboards see: counts from 1 to this minus one are suppressed "
            "(CMS's cell-size policy suppresses 1 to 10)."
        ),
    )
    reject_dir: Path = Field(
        default=Path("var/rejects"), description="Where `pai ingest` writes reject files."
    )
    outbox_interval: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description=(
            "Seconds between two passes of each process's email worker over the shared outbox "
            "(a message queued by this process goes at once)."
        ),
    )
    signin_floor_seconds: float = Field(
        default=0.3,
        ge=0,
        le=5,
        description=(
            "The sign-in steps that look people up (email, member details, code) answer no "
            "sooner than this, so their timing does not tell whether a record matched."
        ),
    )
    jwks_allow_loopback: bool = Field(
        default=False,
        description=(
            "Let apps' jwks_uri name loopback addresses (tests and local development only); "
            "private, link-local and other non-public addresses stay refused."
        ),
    )

    signin_methods: Annotated[tuple[SignInMethod, ...], NoDecode] = Field(
        default=(),
        description=(
            "Comma-separated sign-in methods offered to members: email, idp, portal. Unset: "
            "email, plus idp when PAI_IDP_ISSUER is set and portal when PAI_PORTAL_API_URL is. "
            "idp alone sends members straight to the identity provider."
        ),
    )
    idp_issuer: str | None = Field(
        default=None,
        description="The plan identity provider's issuer URL (https), exactly as its tokens say.",
    )
    idp_client_id: str | None = Field(default=None, description="PAI's client id at the IdP.")
    idp_client_secret: SecretStr | None = Field(
        default=None, description="PAI's client secret at the IdP (client_secret_basic)."
    )
    idp_private_key: SecretStr | None = Field(
        default=None,
        description="Or a private key (PEM or JWK) for private_key_jwt at the IdP.",
    )
    idp_scopes: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("openid", "profile", "email"), description="Scopes asked of the IdP."
    )
    idp_member_id_claims: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("member_id",),
        description="Claims that carry the member ID, in order: the first present is used.",
    )
    idp_represents_claim: str | None = Field(
        default=None,
        description=(
            "Optional claim listing the members the person represents: member IDs, or objects "
            "with member_id and relationship."
        ),
    )
    idp_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Hosts besides the issuer's that the IdP's metadata may name (its JWKS host).",
    )
    idp_allow_loopback: bool = Field(
        default=False,
        description=(
            "Let the IdP and portal API be on loopback addresses (tests, development only)."
        ),
    )
    idp_allowed_networks: str = Field(
        default="",
        description=(
            "Comma-separated private networks (CIDR) where the IdP and portal API may be, e.g. "
            "10.20.0.0/16. Link-local addresses are never allowed."
        ),
    )
    idp_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) that verify the IdP and portal API (default: system's).",
    )
    idp_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds each request to the IdP may take."
    )
    portal_name: str | None = Field(
        default=None,
        description="The plan portal's name as members know it (default: '<plan> Member Portal').",
    )
    portal_signup_url: str | None = Field(
        default=None,
        description="Where members without a portal account create one (shown on sign-in).",
    )
    portal_api_url: str | None = Field(
        default=None, description="The portal verification API's HTTPS endpoint."
    )
    portal_api_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="The secret PAI and the portal share to sign requests and answers.",
    )
    portal_api_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds each attempt at the portal API may take."
    )
    portal_api_retries: int = Field(
        default=2, ge=0, le=5, description="Attempts after the first when the portal is down."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then `PAI_*` variables, then the file `PAI_CONFIG_FILE` names (if any)."""
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            if not Path(config_file).is_file():
                raise SettingsError(f"{CONFIG_FILE_VARIABLE}: no such file {config_file}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @field_validator(
        "signin_methods", "idp_scopes", "idp_member_id_claims", "idp_hosts", mode="before"
    )
    @classmethod
    def _split_words(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(w.strip() for w in value.replace(" ", ",").split(",") if w.strip())
        return value

    @field_validator("idp_private_key")
    @classmethod
    def _private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            load_private_key(value.get_secret_value())
        return value

    @field_validator("idp_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _methods_have_what_they_need(self) -> Self:
        problems = []
        methods = self.active_methods
        if SignInMethod.IDP in methods:
            problems += self._idp_problems()
        if SignInMethod.PORTAL in methods:
            if not self.portal_api_url:
                problems.append("PAI_PORTAL_API_URL must be set for the portal sign-in method")
            elif not _is_https(self.portal_api_url):
                problems.append("PAI_PORTAL_API_URL must be an https URL")
            if self.portal_api_secret is None:
                problems.append("PAI_PORTAL_API_SECRET must be set for the portal sign-in method")
        if self.portal_signup_url is not None and not _is_https(self.portal_signup_url):
            problems.append("PAI_PORTAL_SIGNUP_URL must be an https URL")
        for name in ("plan_website", "plan_logo_url", "portal_url"):
            value = getattr(self, name)
            if value is not None and not _is_https(value):
                problems.append(f"PAI_{name.upper()} must be an https URL")
        if self.idp_ca_file is not None and not self.idp_ca_file.is_file():
            problems.append(f"PAI_IDP_CA_FILE: no such file {self.idp_ca_file}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _idp_problems(self) -> list[str]:
        problems = []
        if not self.idp_issuer:
            problems.append("PAI_IDP_ISSUER must be set for the idp sign-in method")
        elif not _is_https(self.idp_issuer):
            problems.append("PAI_IDP_ISSUER must be an https URL")
        if not self.idp_client_id:
            problems.append("PAI_IDP_CLIENT_ID must be set for the idp sign-in method")
        if (self.idp_client_secret is None) == (self.idp_private_key is None):
            problems.append("set exactly one of PAI_IDP_CLIENT_SECRET and PAI_IDP_PRIVATE_KEY")
        if "openid" not in self.idp_scopes:
            problems.append("PAI_IDP_SCOPES must include openid")
        if not self.idp_member_id_claims:
            problems.append("PAI_IDP_MEMBER_ID_CLAIMS must name at least one claim")
        return problems

    @property
    def active_methods(self) -> tuple[SignInMethod, ...]:
        """The sign-in methods offered: `signin_methods`, or what is configured."""
        if self.signin_methods:
            return tuple(dict.fromkeys(SignInMethod(m) for m in self.signin_methods))
        configured = [SignInMethod.EMAIL]
        if self.idp_issuer:
            configured.append(SignInMethod.IDP)
        if self.portal_api_url:
            configured.append(SignInMethod.PORTAL)
        return tuple(configured)

    @property
    def portal_display_name(self) -> str:
        return self.portal_name or f"{self.plan_name} Member Portal"

    @property
    def uses_embedded_database(self) -> bool:
        """The default SQLite file, which `pai serve` may migrate by itself."""
        return self.database_url == DEFAULT_DATABASE_URL

    @property
    def fhir_base_url(self) -> str:
        return self.base_url.rstrip("/") + "/fhir/r4"


def _is_https(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname)


def load_settings(**overrides: object) -> Settings:
    """The configuration from the environment (and `PAI_CONFIG_FILE`); raises `SettingsError`
    whose lines each name a `PAI_*` setting and what is wrong with it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"PAI_{field.upper()}: {message}" if field else message)
        raise SettingsError("\n".join(lines)) from error
