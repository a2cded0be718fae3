"""Configuration, from `PAI_*` environment variables (documented in the README)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/pai.sqlite"


class Mode(StrEnum):
    PRODUCTION = "production"
    DEMO = "demo"


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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @property
    def uses_embedded_database(self) -> bool:
        """The default SQLite file, which `pai serve` may migrate by itself."""
        return self.database_url == DEFAULT_DATABASE_URL

    @property
    def fhir_base_url(self) -> str:
        return self.base_url.rstrip("/") + "/fhir/r4"
