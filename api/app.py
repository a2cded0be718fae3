"""The composition root: the one place that wires concrete pieces together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Self

import sqlalchemy
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.settings import Settings
from persistence import database, schema
from persistence.unit_of_work import SqlUnitOfWork, session_factory


@dataclass(frozen=True, slots=True)
class Services:
    """Concrete pieces built once per process and shared by every request."""

    settings: Settings
    engine: sqlalchemy.Engine
    sessions: sessionmaker[Session]

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def close(self) -> None:
        """Close every pooled database connection."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def bootstrap(settings: Settings) -> Services:
    engine = database.create_engine(settings.database_url)
    return Services(settings=settings, engine=engine, sessions=session_factory(engine))


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "alive"})


def _readyz(services: Services) -> Callable[[Request], Response]:
    def readyz(_: Request) -> Response:
        try:
            current = schema.is_current(services.engine)
        except sqlalchemy.exc.SQLAlchemyError:
            return JSONResponse(
                {"status": "unavailable", "reason": "the database cannot be reached"}, 503
            )
        if not current:
            return JSONResponse(
                {"status": "unavailable", "reason": "the database schema is not current"}, 503
            )
        return JSONResponse({"status": "ready"})

    return readyz


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """The ASGI application; it closes `services` on shutdown only when it built them."""
    owned = services is None
    services = services or bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            services.close()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", _readyz(services)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return app
