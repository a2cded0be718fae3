"""The routes of the hosted member pages: sign-in under `/login`, the account under `/account`."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from api.web.member.account import AccountPages
from api.web.member.external import ExternalPages
from api.web.member.pages import (
    ACCOUNT_PATH,
    CHOOSE_PATH,
    CODE_PATH,
    IDP_CALLBACK_PATH,
    IDP_START_PATH,
    LOGIN_PATH,
    PORTAL_PATH,
    MemberPagesContext,
)
from api.web.member.signin import SignInPages


def member_routes(context: MemberPagesContext) -> list[BaseRoute]:
    signin, account, external = SignInPages(context), AccountPages(context), ExternalPages(context)
    return [
        Route(LOGIN_PATH, signin.login, methods=["GET", "POST"]),
        Route("/login/create", signin.create, methods=["GET", "POST"]),
        Route(CODE_PATH, signin.code, methods=["GET", "POST"]),
        Route("/login/code/resend", signin.resend, methods=["POST"]),
        Route("/logout", signin.logout, methods=["POST"]),
        Route(IDP_START_PATH, external.idp_start, methods=["GET"]),
        Route(IDP_CALLBACK_PATH, external.idp_callback, methods=["GET"]),
        Route(PORTAL_PATH, external.portal, methods=["GET", "POST"]),
        Route(CHOOSE_PATH, account.choose, methods=["GET", "POST"]),
        Route(ACCOUNT_PATH, account.account, methods=["GET"]),
        Route("/account/represent", account.represent, methods=["GET", "POST"]),
        Route("/account/apps/{grant_id}/revoke", account.revoke, methods=["GET", "POST"]),
    ]
