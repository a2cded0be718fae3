"""The ASGI application built from the environment, for process managers that import it.

`pai serve --workers N` starts N processes with it, and so does
`uvicorn --factory api.asgi:app --workers N` or gunicorn with uvicorn's worker
class (`gunicorn 'api.asgi:app()' -k uvicorn.workers.UvicornWorker -w N`). Each
process reads the same `PAI_*` settings and keeps nothing another would need
(see "Several processes" in the README). A process refuses to start, as
`pai serve` does, on a schema that is not current or, in production mode, on a
database that could lose committed data.
"""

from __future__ import annotations

from starlette.applications import Starlette

from api.app import bootstrap, create_app
from api.logs import configure_logging
from api.settings import Mode, load_settings
from persistence import database, schema


class NotReady(RuntimeError):
    """The database is not fit to serve from; the message says why and what to do."""


def app() -> Starlette:
    settings = load_settings()
    configure_logging(settings)
    services = bootstrap(settings)
    try:
        if not schema.is_current(services.engine):
            raise NotReady("the database schema is not current: run `pai db upgrade` first")
        problems = database.durability_problems(services.engine)
        if problems and settings.mode is Mode.PRODUCTION:
            raise NotReady("; ".join(problems))
    except BaseException:
        services.close()
        raise
    services.close()
    return create_app(settings)
