"""The routes of the gallery, the education page, the developers' pages and API, and the
User-access Brands bundle."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from api.web.apps.brands import USER_ACCESS_BRANDS_PATH, Brand, BrandsEndpoint
from api.web.apps.developer_api import DeveloperApi
from api.web.apps.pages import (
    DEVELOPERS_PATH,
    EDUCATION_PATH,
    GALLERY_PATH,
    AppPages,
    AppPagesContext,
)


def app_routes(context: AppPagesContext, brand: Brand) -> list[BaseRoute]:
    pages = AppPages(context)
    api = DeveloperApi(context.registry, context.nudge_outbox)
    return [
        Route(GALLERY_PATH, pages.gallery, methods=["GET"]),
        # Before `/apps/{client_id}`, which would take it.
        Route(EDUCATION_PATH, pages.education, methods=["GET"]),
        Route(GALLERY_PATH + "/{client_id}", pages.app_page, methods=["GET"]),
        Route(DEVELOPERS_PATH, pages.requirements, methods=["GET"]),
        Route(DEVELOPERS_PATH + "/register", pages.register, methods=["GET", "POST"]),
        Route(DEVELOPERS_PATH + "/manage", pages.manage, methods=["GET", "POST"]),
        Route(DEVELOPERS_PATH + "/api/apps", api.register, methods=["POST"]),
        Route(DEVELOPERS_PATH + "/api/apps/{registration_id}", api.show, methods=["GET"]),
        Route(
            DEVELOPERS_PATH + "/api/apps/{registration_id}/production",
            api.production,
            methods=["POST"],
        ),
        Route(USER_ACCESS_BRANDS_PATH, BrandsEndpoint(brand).serve, methods=["GET"]),
    ]
