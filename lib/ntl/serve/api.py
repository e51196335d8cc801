"""The JSON API: score one customer, score a file, model information, health.

Every number comes from ``ntl.score`` through ``ModelService``: ``/api/score`` is
``score_customer`` (concurrent requests are scored together by ``score_customers``, with the
same answers), ``/api/score-file`` is ``score_input`` (the pass ``ntl score`` runs), so the
three give the same scores, tiers and reasons for the same readings.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import pandas as pd
import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError

from ntl.errors import NtlError
from ntl.score import ScoredInput
from ntl.serve.service import ModelService, headline_metrics
from ntl.serve.uploads import Upload, UploadError, UploadTooLarge, received_upload
from ntl.serve.workers import ScoringUnavailable
from ntl.tables import safe_csv_text


class JSONBodyRequest(Request):
    """A request whose JSON body is parsed by pydantic's own parser (jiter), about twice as fast
    as Python's ``json`` for a customer's readings (~70 against ~150 µs for 1,000 days, a fifth
    of the app's CPU time a request). A body it refuses goes to ``json.loads``, which decides
    with its own error (FastAPI's "JSON decode error" and position) or reads what only Python
    accepts; for every other body the two give the same objects (tested)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError:
                self._json = json.loads(body)
        return self._json


class JSONBodyRoute(APIRoute):
    """The API's routes, given `JSONBodyRequest`s."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def with_json_body(request: Request) -> Response:
            return await handler(JSONBodyRequest(request.scope, request.receive))

        return with_json_body


router = APIRouter(prefix="/api", tags=["api"], route_class=JSONBodyRoute)

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "A meter export in any layout the loader accepts (CSV, gzip'd CSV or "
        "parquet; wide SGCC or long): as the form field `file` (multipart/form-data), or as "
        "the request body itself.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


class ScoreRequest(BaseModel):
    """One customer's daily readings."""

    customer_id: str = Field("customer", max_length=200, description="echoed in the answer")
    readings: dict[str, float | None] = Field(
        ...,
        min_length=1,
        description="date (2016-01-31, 2016/1/31, 1/31/2016 or 20160131) -> kWh; null or a "
        "missing day is a missing reading",
        examples=[{"2016-01-01": 3.2, "2016-01-02": 2.9, "2016-01-03": None}],
    )


class ScoreResponse(BaseModel):
    """The customer's risk, as ``ntl.score.score_customer`` gives it."""

    customer_id: str
    risk_score: float = Field(description="the ranking score (higher: inspect first)")
    probability: float | None = Field(
        description="calibrated probability of theft; null when the run had no labels"
    )
    tier: Literal["high", "medium", "low"]
    reasons: list[str] = Field(description="why, in words, with the typical value beside each")


class ReadOptions(BaseModel):
    """How to read an uploaded file: the reading options of ``ntl score`` (all optional; the
    loader's defaults apply, e.g. the ID column CONS_NO or ID, the label column FLAG)."""

    layout: Literal["auto", "wide", "long", "wide-interval"] = "auto"
    id_column: str | None = Field(None, max_length=200)
    label_column: str | None = Field(None, max_length=200)
    date_column: str | None = Field(None, max_length=200, description="long layout: the date")
    value_column: str | None = Field(None, max_length=200, description="long layout: the kWh")
    period_column: str | None = Field(
        None, max_length=200, description="long interval layout: the interval number in the day"
    )
    day_code_origin: str | None = Field(
        None,
        max_length=40,
        description="long interval layout: the date column holds DDDHH codes; day 1 is this date",
    )
    negative_readings: Literal["missing", "error"] | None = Field(
        None, description="a negative reading becomes missing (default) or stops the read"
    )
    timezone: str | None = Field(
        None, max_length=100, description="interval data: e.g. Europe/London"
    )
    interval_stamps: Literal["start", "end"] | None = Field(
        None, description="interval data: a stamp opens (start) or closes (end) its interval"
    )
    max_missing_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="interval data: a day missing more of its intervals is missing",
    )
    max_daily_kwh: float | None = Field(
        None, gt=0, description="readings above this many kWh a day are implausible: set missing"
    )

    def as_read_options(self) -> dict[str, Any]:
        return {key: value for key, value in self.model_dump().items() if value not in (None, "")}


def read_options_from(values: dict[str, Any]) -> dict[str, Any]:
    """Checked read options from query parameters or form fields; ScoringRefused(422) naming
    the option that is wrong."""
    try:
        return ReadOptions(
            **{k: v for k, v in values.items() if v not in (None, "")}
        ).as_read_options()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ScoringRefused(422, f"reading options: {problems}") from None


class ScoringRefused(Exception):
    """An upload that could not be scored, with the HTTP status and the message to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def service_of(request: Request) -> ModelService:
    return request.app.state.service


async def score_upload(
    request: Request, options: dict[str, Any] | None = None
) -> tuple[ScoredInput, Upload]:
    """Receive the request's file into a private temporary folder and score it there; the
    folder is gone when this returns or raises. ScoringRefused: 413 too large, 400 no usable
    file, 422 a file the loader refuses (with the loader's message, naming the file as sent)."""
    service = service_of(request)
    limit = request.app.state.config.max_upload_bytes
    try:
        async with received_upload(request, limit) as upload:
            merged = read_options_from({**(options or {}), **_form_options(upload.fields)})
            try:
                scored = await run_in_threadpool(
                    service.score_path, upload.path, upload.display_name, merged
                )
            except NtlError as exc:
                raise ScoringRefused(422, upload.tell(str(exc))) from exc
    except UploadTooLarge as exc:
        raise ScoringRefused(413, str(exc)) from exc
    except UploadError as exc:
        raise ScoringRefused(400, str(exc)) from exc
    return scored, upload


def _form_options(fields: dict[str, str]) -> dict[str, Any]:
    """Read options sent as form fields beside the file (the upload page's form)."""
    names = ReadOptions.model_fields
    return {key: value.strip() for key, value in fields.items() if key in names and value.strip()}


def list_records(ranked: pd.DataFrame) -> list[dict[str, Any]]:
    """The ranked list as JSON-ready records: NaN as None, numbers exact (Python's shortest
    round-trip repr, where pandas' to_json would round to 15 digits)."""
    return ranked.astype(object).where(ranked.notna(), None).to_dict(orient="records")


@router.post("/score", response_model=ScoreResponse, summary="Score one customer's readings")
async def score_one(body: ScoreRequest, request: Request) -> ScoreResponse:
    """Readings by date -> risk score, calibrated probability, tier and reasons."""
    try:
        result = await service_of(request).score_readings_async(body.readings)
    except ScoringUnavailable as exc:  # the scoring process died with the request: retry
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
    except NtlError as exc:
        raise HTTPException(422, str(exc)) from exc
    return ScoreResponse(customer_id=body.customer_id, **result)


@router.post(
    "/score-file",
    summary="Score a meter export: the ranked list as JSON or CSV",
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {
            "description": "JSON: {source, n_customers, notes, drift, customers: [ranked rows]}; "
            "CSV: the ranked list (spreadsheet-safe)",
            "content": {"text/csv": {}},
        },
        400: {"description": "no usable file in the request"},
        413: {"description": "larger than the upload limit"},
        422: {"description": "the loader refused the file (its message says where and why)"},
    },
)
async def score_file_route(
    request: Request,
    options: Annotated[ReadOptions, Query()],
    format: Literal["json", "csv"] = Query("json", description="answer as JSON or as CSV"),
) -> Response:
    """Upload -> the ranked inspection list with tiers and reasons, and the drift summary."""
    try:
        scored, upload = await score_upload(request, options.as_read_options())
    except ScoringRefused as exc:
        raise HTTPException(exc.status, exc.message) from exc
    ranked = scored.inspection_list
    if format == "csv":
        return Response(
            safe_csv_text(ranked),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="inspection_list.csv"'},
        )
    drift = scored.drift_document
    envelope = {
        "source": upload.display_name,
        "n_customers": len(ranked),
        "notes": scored.notes,
        "drift": {
            "available": drift.get("available", False),
            "alerts": drift.get("alerts", []),
            "messages": _drift_messages(scored),
        },
    }
    envelope["customers"] = list_records(ranked)
    return Response(json.dumps(envelope, allow_nan=False), media_type="application/json")


def _drift_messages(scored: ScoredInput) -> list[str]:
    from ntl.drift import drift_messages

    return drift_messages(scored.scored.drift) if scored.scored.drift is not None else []


@router.get("/model", summary="Which models are loaded, their thresholds and test metrics")
def model_info(request: Request) -> dict[str, Any]:
    """The run the models came from, the sha256 of each verified artifact and of the data,
    the tier thresholds and the test metrics with their 95 % intervals."""
    record = service_of(request).record
    return {
        "run": record.run_name,
        "written_at": record.written_at,
        "artifacts_dir": record.artifacts_dir,
        "ntl_version": record.ntl_version,
        "loaded_at": record.loaded_at,
        "data_sha256": record.data_sha256,
        "artifacts_sha256": record.verified,
        "thresholds": record.thresholds,
        "test_metrics": [metric.__dict__ for metric in headline_metrics(record.evaluation)],
        "model_card": "available at /model" if record.model_card else None,
    }


@router.get("/health", summary="Are the models loaded and verified?")
def health(request: Request) -> dict[str, Any]:
    """``status: ok`` once the models are loaded, every artifact checked against its sha256."""
    return service_of(request).health()
