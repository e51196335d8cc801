"""The app factory: FastAPI with server-rendered pages (Jinja2), a JSON API and its schema.

``create_app(config)`` loads the run once (every artifact hash-checked; a tampered one raises
ArtifactIntegrityError and the app does not start), then wires the token check, the error
answers and the two routers (``pages``, ``api``). Nothing is fetched from the network: the
style sheet is served by the app, charts are inline SVG, and FastAPI's Swagger page (which
loads its script from a CDN) is replaced by a server-rendered list of the routes; the OpenAPI
schema itself is at ``/openapi.json``.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from ntl._version import __version__
from ntl.serve.config import ServeConfig
from ntl.serve.security import API_PREFIXES, TokenMiddleware
from ntl.serve.service import ModelService

HERE = Path(__file__).parent
log = logging.getLogger("ntl.serve")


def templates() -> Jinja2Templates:
    """The page templates (autoescaped HTML)."""
    return Jinja2Templates(directory=str(HERE / "templates"))


def wants_json(request: Request) -> bool:
    """API routes answer errors in JSON, pages in HTML."""
    return request.url.path.startswith(API_PREFIXES)


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse | JSONResponse:
    """The one shape of every error: JSON ``{"detail": message}`` or the error page."""
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    page = request.app.state.templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message},
        status_code=status,
        headers=headers,
    )
    return page


def create_app(config: ServeConfig, service: ModelService | None = None) -> FastAPI:
    """The web app over the run in ``config.artifacts_dir`` (or an already loaded `service`)."""
    from ntl.serve import api, pages

    owned = service is None
    service = service or ModelService(
        config.artifacts_dir,
        keep_results=config.keep_results,
        scoring_processes=config.scoring_processes,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:  # a service handed in (tests) is its owner's to stop
            service.close()

    app = FastAPI(
        lifespan=lifespan,
        title="ntl — electricity-theft screening",
        version=__version__,
        description=(
            "Score smart-meter consumption with the models of a finished ntl run: one customer's "
            "readings, or a whole meter export, ranked with tiers and reasons. The same code as "
            "`ntl score`. With a token configured, send `Authorization: Bearer <token>`."
        ),
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: the app stays offline
        redoc_url=None,
        **telemetry_options(os.environ),
    )
    app.state.config = config
    app.state.service = service
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    def login_page(next_path: str) -> str:
        return pages.render_login(app, next_path, wrong=False)

    app.add_middleware(TokenMiddleware, token=config.token, login_page=login_page)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        if wants_json(request):
            return JSONResponse({"detail": _jsonable_errors(exc)}, status_code=422)
        return error_response(request, 422, _validation_text(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, 500, "internal error: the server log has the details")

    return app


def telemetry_options(environ: Mapping[str, str]) -> dict[str, Any]:
    """FastAPI's native OpenTelemetry (spans, metrics, logs) as the environment configures it:
    left on when an ``OTEL_`` variable is set, otherwise off. On, FastAPI looks for a configured
    provider on every request, ~8 % of the app's CPU time for a scoring request, to find none
    when nothing was configured (``ntl serve`` configures none itself). FastAPI releases before
    this option have no native telemetry: nothing to pass."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if any(name.startswith("OTEL_") for name in environ):
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def _validation_text(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as one sentence: where and what."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _jsonable_errors(exc: RequestValidationError) -> list[dict]:
    """Validation errors without the raw input echoed back (it could be a whole upload)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
