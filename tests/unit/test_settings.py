"""The configuration is checked at startup: each wrong or missing setting is named, from
`PAI_*` variables or the TOML file `PAI_CONFIG_FILE` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import SettingsError, SignInMethod, load_settings

IDP = {
    "PAI_IDP_ISSUER": "https://login.plan.example",
    "PAI_IDP_CLIENT_ID": "pai",
    "PAI_IDP_CLIENT_SECRET": "a-client-secret",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAI_CONFIG_FILE", "PAI_SIGNIN_METHODS", *IDP, "PAI_PORTAL_API_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_methods_offered_follow_what_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().active_methods == (SignInMethod.EMAIL,)
    for name, value in IDP.items():
        monkeypatch.setenv(name, value)
    assert load_settings().active_methods == (SignInMethod.EMAIL, SignInMethod.IDP)
    monkeypatch.setenv("PAI_SIGNIN_METHODS", "idp")
    assert load_settings().active_methods == (SignInMethod.IDP,)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"PAI_SIGNIN_METHODS": "idp"}, "PAI_IDP_ISSUER must be set"),
        ({**IDP, "PAI_IDP_ISSUER": "http://login.plan.example"}, "PAI_IDP_ISSUER must be an https"),
        ({**IDP, "PAI_IDP_PRIVATE_KEY": "not a key"}, "PAI_IDP_PRIVATE_KEY"),
        ({**IDP, "PAI_IDP_SCOPES": "profile email"}, "PAI_IDP_SCOPES must include openid"),
        ({"PAI_SIGNIN_METHODS": "email,sms"}, "PAI_SIGNIN_METHODS"),
        ({"PAI_SIGNIN_METHODS": "portal"}, "PAI_PORTAL_API_SECRET must be set"),
        ({"PAI_PORTAL_API_SECRET": "too short"}, "PAI_PORTAL_API_SECRET"),
        ({"PAI_IDP_ALLOWED_NETWORKS": "169.254.0.0/16"}, "PAI_IDP_ALLOWED_NETWORKS"),
        ({"PAI_IDP_CA_FILE": "/nowhere/ca.pem"}, "PAI_IDP_CA_FILE"),
    ],
    ids=[
        "idp-without-issuer",
        "plain-http-issuer",
        "bad-private-key",
        "no-openid-scope",
        "unknown-method",
        "portal-without-secret",
        "short-portal-secret",
        "link-local-network",
        "missing-ca-file",
    ],
)
def test_a_wrong_or_missing_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_a_config_file_gives_settings_and_variables_win_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "pai.toml"
    config.write_text(
        'plan_name = "Evergreen Health"\nidp_issuer = "https://login.evergreen.example"\n'
        'idp_client_id = "pai"\nidp_client_secret = "from-the-file"\n'
    )
    monkeypatch.setenv("PAI_CONFIG_FILE", str(config))
    monkeypatch.setenv("PAI_IDP_CLIENT_ID", "from-the-environment")

    settings = load_settings()

    assert settings.plan_name == "Evergreen Health"
    assert settings.idp_issuer == "https://login.evergreen.example"
    assert settings.idp_client_id == "from-the-environment"
    assert SignInMethod.IDP in settings.active_methods


def test_a_config_file_that_is_not_there_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAI_CONFIG_FILE", "/nowhere/pai.toml")

    with pytest.raises(SettingsError, match="PAI_CONFIG_FILE"):
        load_settings()
