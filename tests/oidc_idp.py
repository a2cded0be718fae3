"""A real OpenID Provider for the tests: the `oidc-provider` package from npm, run by node over
HTTPS on loopback (tests/oidc_provider/provider.mjs), and a browser-like client for its pages.

npm installs the package into `var/test-artifacts/npm-oidc-provider` on first use
(like axe-core for the browser tests). Without node or npm the tests skip,
visibly; in CI (`CI=true`, where .ci/run installs npm) they fail instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson
import pytest
from joserfc.jwk import RSAKey

from api.example_client import form_with
from tests.conftest import REPO_ROOT
from tests.member_plan import People
from tests.tls import Certificate

PACKAGE = "oidc-provider@9.13.3"
# PAI's client secret at the test IdP.
SECRET = "pai-at-the-idp-" + "s" * 32
PREFIX = REPO_ROOT / "var" / "test-artifacts" / "npm-oidc-provider"
SCRIPT = Path(__file__).resolve().parent / "oidc_provider" / "provider.mjs"


def _missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def installed_provider() -> Path:
    """The provider script, next to an installed `oidc-provider` (installed now if missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("node and npm are needed to run the OpenID Provider (apt-get install npm)")
    if not (PREFIX / "node_modules" / "oidc-provider" / "package.json").is_file():
        PREFIX.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                str(npm),
                "install",
                "--no-save",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(PREFIX),
                PACKAGE,
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install {PACKAGE}: {done.stderr.decode()[-2000:]}")
    script = PREFIX / "provider.mjs"  # beside node_modules, where node resolves the package
    shutil.copyfile(SCRIPT, script)
    return script


def a_signing_key(kid: str) -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
    return dict(key.as_dict(private=True))


@dataclass
class IdpAccount:
    username: str
    password: str
    claims: dict[str, Any]


def portal_accounts(people: People) -> dict[str, IdpAccount]:
    """IdP accounts of the generated plan's people, with claims as a portal would release them."""
    found = {}
    for person in (*people.adults[:3], people.parent):
        details = person.details
        claims: dict[str, Any] = {
            # The portal writes member IDs its own way: case, spaces and dashes do not matter.
            "member_id": " ".join(details.member_id.lower().replace("-", "")),
            "given_name": details.first_name.upper(),
            "family_name": details.last_name,
            "birthdate": details.birth_date.isoformat(),
            "email": f"portal.{details.email}",
            "email_verified": True,
        }
        if person is people.parent:
            claims["represents"] = [
                {"member_id": child.details.member_id, "relationship": "parent"}
                for child in people.children
            ]
        found[person.key] = IdpAccount(f"user-{person.key[:8]}", secrets.token_urlsafe(12), claims)
    found["stranger"] = IdpAccount("stranger", "not-a-member", {"member_id": "ZZ-000-000"})
    return found


@dataclass
class OpenIdProvider:
    """One oidc-provider process; `restart` keeps its port (and so its issuer)."""

    script: Path
    certificate: Certificate
    folder: Path
    clients: list[dict[str, Any]]
    accounts: dict[str, IdpAccount] = field(default_factory=dict)
    keys: list[dict[str, Any]] = field(default_factory=lambda: [a_signing_key("key-1")])
    ttl: dict[str, int] = field(default_factory=lambda: {"IdToken": 60})
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        config = self.folder / "provider.json"
        config.write_bytes(
            orjson.dumps(
                {
                    "port": self.port,
                    "key": str(self.certificate.key_file),
                    "cert": str(self.certificate.cert_file),
                    "clients": self.clients,
                    "jwks": {"keys": self.keys},
                    "ttl": self.ttl,
                    "accounts": {
                        a.username: {"password": a.password, "claims": a.claims}
                        for a in self.accounts.values()
                    },
                }
            )
        )
        with (self.folder / "provider.log").open("ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                ["node", str(self.script), str(config)],
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.script.parent,
                env={**os.environ, "NODE_ENV": "test"},
            )
        self._process = process
        line = _first_line(process, timeout=30)
        if not line.startswith("listening "):
            self.stop()
            text = (self.folder / "provider.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"the OpenID Provider did not start: {line!r}\n{text}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def restart(self, **changes: Any) -> None:
        """Stop, change (`keys`, `clients`, `ttl`, `accounts`), start on the same port."""
        self.stop()
        for name, value in changes.items():
            setattr(self, name, value)
        self.start()


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    found: list[bytes] = []
    reader = threading.Thread(
        target=lambda: found.append(process.stdout.readline() if process.stdout else b""),
        daemon=True,
    )
    reader.start()
    reader.join(timeout)
    return found[0].decode().strip() if found else ""


@contextmanager
def running(provider: OpenIdProvider) -> Iterator[OpenIdProvider]:
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


class IdpBrowser:
    """The person's browser at the IdP: follows its redirects, fills its login form, and stops
    at the redirect back to `callback` (PAI), which it returns."""

    def __init__(self, certificate: Certificate, callback: str) -> None:
        self.certificate = certificate
        self.callback = callback
        self.cookies = httpx.Cookies()  # the IdP's session, kept between sign-ins

    def sign_in(self, url: str, account: IdpAccount | None) -> str:
        """The callback URL the IdP sends the browser back to (its login form filled as
        `account`, when it asks)."""
        context = self.certificate.trusting()
        with httpx.Client(verify=context, follow_redirects=False, cookies=self.cookies) as client:
            found = self._sign_in(client, url, account)
            self.cookies = client.cookies
        return found

    def _sign_in(self, client: httpx.Client, url: str, account: IdpAccount | None) -> str:
        response = client.get(url)
        for _ in range(20):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(self.callback):
                    return location
                response = client.get(location)
                continue
            form = form_with(response.text, "username")
            assert form is not None and account is not None, response.text
            target = urljoin(str(response.url), form.action)
            response = client.post(
                target, data={"username": account.username, "password": account.password}
            )
            assert response.status_code != 401, "the IdP refused the test account's password"
        raise AssertionError("the IdP never sent the browser back")
