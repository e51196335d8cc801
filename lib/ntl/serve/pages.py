"""The pages: Upload (-> the ranked list), Customer, Enter by hand, Model, API, Login.

Server-rendered HTML; sorting, filtering and paging are links (no script needed), so the pages
work in any browser and offline. Every number comes from ``ModelService`` (``ntl.score``).
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote, urlencode

import mistune
import numpy as np
import pandas as pd
from fastapi import APIRouter, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ntl.errors import NtlError
from ntl.frame import build_frame, consumption_matrix, day_index
from ntl.preprocess import PreprocessConfig, describe_customers
from ntl.risk import NO_STANDOUT, NOT_EXPLAINED, TIER_ORDER
from ntl.score import readings_frame
from ntl.serve.api import ScoringRefused, score_upload, service_of
from ntl.serve.charts import (
    consumption_svg,
    dated_mark,
    mark_of_reason,
    profile_charts,
    reason_marks,
)
from ntl.serve.forms import parse_readings_text
from ntl.serve.listing import DEFAULT_PER_PAGE, LIST_TIERS, SORTABLE, listing_page
from ntl.serve.security import SESSION_COOKIE, safe_next, session_value, token_matches
from ntl.serve.service import ScoredUpload, headline_metrics
from ntl.serve.workers import ScoringUnavailable
from ntl.tables import safe_csv_text

router = APIRouter(include_in_schema=False)
LAYOUTS = ("auto", "wide", "long", "wide-interval")
_markdown = mistune.create_markdown(escape=True, plugins=["table"])


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` with the common context (the run's name, whether login is on)."""
    service = service_of(request)
    context |= {
        "run_name": service.record.run_name,
        "token_required": request.app.state.config.token is not None,
    }
    return request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )


def render_login(app: FastAPI, next_path: str, wrong: bool) -> str:
    """The login form's HTML (the 401 answer to a page request without a valid session)."""
    template = app.state.templates.get_template("login.html")
    return template.render(next_path=safe_next(next_path), wrong=wrong, run_name="", nav=False)


# --------------------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return HTMLResponse(render_login(request.app, next, wrong=False))


@router.post("/login")
def login(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
    """Check the token typed in; on success set the session cookie and go where the user was."""
    expected = request.app.state.config.token
    if expected is None:
        return RedirectResponse(safe_next(next), status_code=303)
    if not token_matches(token, expected):
        return HTMLResponse(render_login(request.app, next, wrong=True), status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session_value(expected), httponly=True, samesite="strict", path="/"
    )
    return response


# --------------------------------------------------------------------------- upload and list


@router.get("/", response_class=HTMLResponse)
def upload_form(request: Request) -> HTMLResponse:
    return page(request, "upload.html", layouts=LAYOUTS, limit_mb=_limit_mb(request))


def _limit_mb(request: Request) -> float:
    return request.app.state.config.max_upload_bytes / 1e6


@router.post("/upload")
async def upload(request: Request) -> Response:
    """Score the uploaded file and show its ranked list (303 to the list's own address)."""
    try:
        scored, received = await score_upload(request)
    except ScoringRefused as exc:
        return page(
            request,
            "upload.html",
            status=exc.status,
            error=exc.message,
            layouts=LAYOUTS,
            limit_mb=_limit_mb(request),
        )
    result = service_of(request).keep(scored, received.display_name)
    return RedirectResponse(f"/results/{result.result_id}", status_code=303)


def _result(request: Request, result_id: str) -> ScoredUpload:
    result = service_of(request).results.get(result_id)
    if result is None:
        raise HTTPException(
            404,
            "this result is no longer kept (the app keeps the last "
            f"{service_of(request).results.capacity} uploads): upload the file again",
        )
    return result


def _link(result_id: str, **query: Any) -> str:
    kept = {key: value for key, value in query.items() if value not in (None, "")}
    return f"/results/{result_id}" + (f"?{urlencode(kept)}" if kept else "")


@router.get("/results/{result_id}", response_class=HTMLResponse)
def results(
    request: Request,
    result_id: str,
    sort: str = "rank",
    order: str = "asc",
    tier: str | None = None,
    cluster: str | None = None,
    page_number: int = Query(1, alias="page"),
    per_page: int = DEFAULT_PER_PAGE,
) -> HTMLResponse:
    """The ranked list of an upload: sortable, filterable by tier and cluster, paginated."""
    result = _result(request, result_id)
    tier = tier or None
    try:
        cluster_number = int(cluster) if cluster not in (None, "") else None
    except ValueError:
        raise HTTPException(422, f"cluster must be a whole number, got {cluster!r}") from None
    if order not in ("asc", "desc"):
        raise HTTPException(422, f"order must be 'asc' or 'desc', got {order!r}")
    try:
        shown = listing_page(
            result.inspection_list,
            sort=sort,
            descending=order == "desc",
            tier=tier,
            cluster=cluster_number,
            page=page_number,
            per_page=per_page,
        )
    except NtlError as exc:
        raise HTTPException(422, str(exc)) from exc
    current = {"tier": tier, "cluster": cluster_number, "per_page": per_page}
    if per_page == DEFAULT_PER_PAGE:
        current["per_page"] = None
    sort_links = {
        column: _link(
            result_id,
            sort=column,
            order="desc" if column == sort and order == "asc" else "asc",
            **current,
        )
        for column in SORTABLE
    }
    pages = {
        "previous": _link(result_id, sort=sort, order=order, page=shown.page - 1, **current)
        if shown.page > 1
        else None,
        "next": _link(result_id, sort=sort, order=order, page=shown.page + 1, **current)
        if shown.page < shown.pages
        else None,
    }
    ranked = result.inspection_list
    clusters = sorted(int(c) for c in pd.unique(ranked["cluster"].dropna()))
    counts = ranked["tier"].astype(str).value_counts()
    tiers = [name for name in LIST_TIERS if name in TIER_ORDER or counts.get(name, 0)]
    return page(
        request,
        "results.html",
        result=result,
        rows=_display_rows(shown.rows),
        reason_columns=[c for c in ranked.columns if c.startswith("reason_")],
        shown=shown,
        sort=sort,
        order=order,
        tier=tier,
        cluster=cluster_number,
        tiers=tiers,
        tier_counts={name: int(counts.get(name, 0)) for name in tiers},
        clusters=clusters,
        sort_links=sort_links,
        pages=pages,
        per_page=per_page,
        customer_base=f"/results/{result_id}/customers/",
        quote=quote,
    )


def _display_rows(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One page of rows as dicts for the template (a page is at most MAX_PER_PAGE rows)."""
    return rows.astype(object).where(rows.notna(), None).to_dict(orient="records")


@router.get("/results/{result_id}/inspection_list.csv")
def download_csv(request: Request, result_id: str) -> Response:
    """The whole ranked list as spreadsheet-safe CSV."""
    result = _result(request, result_id)
    return Response(
        safe_csv_text(result.inspection_list),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="inspection_list.csv"'},
    )


@router.get("/results/{result_id}/inspection_list.parquet")
def download_parquet(request: Request, result_id: str) -> Response:
    """The whole ranked list as parquet (the exact values, IDs as the file gave them)."""
    result = _result(request, result_id)
    buffer = io.BytesIO()
    result.inspection_list.to_parquet(buffer, index=False)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.apache.parquet",
        headers={"content-disposition": 'attachment; filename="inspection_list.parquet"'},
    )


# --------------------------------------------------------------------------- customer


def shown_reasons(row: pd.Series | dict[str, Any]) -> list[str]:
    """The reasons of a list row worth showing (not the 'not explained' or 'no standout' notes)."""
    return [
        str(row[column])
        for column in sorted(key for key in row.keys() if str(key).startswith("reason_"))
        if row[column] and row[column] not in (NOT_EXPLAINED, NO_STANDOUT)
    ]


def chart_context(
    values: np.ndarray,
    dates: pd.DatetimeIndex,
    reasons: list[str],
    drop_days_ago: float | None,
    typical: np.ndarray | None,
    config: PreprocessConfig,
) -> dict[str, Any]:
    """The consumption chart with the reasons' marks numbered, and the two profile charts;
    `config` is the fitted preprocessing's (its recent window is the one the phrases name, and
    the profile shape is computed the chain's one way)."""
    marks = reason_marks(values, dates, drop_days_ago, recent_days=config.recent_days)
    numbered: dict[str, list[int]] = {}
    located = []
    for number, reason in enumerate(reasons, start=1):  # at most n_reasons (3)
        kind = mark_of_reason(reason)
        if kind is None and (dated := dated_mark(reason, dates)) is not None:
            kind, marks[dated[0]] = dated
        if kind in marks:
            numbered.setdefault(kind, []).append(number)
        located.append(
            {"number": number, "text": reason, "mark": marks[kind].label if kind in marks else None}
        )
    shown_marks = {kind: mark for kind, mark in marks.items() if kind in numbered}
    frame = build_frame(["customer"], values[None, :].astype(np.float32), dates[0])
    shape = describe_customers(frame, config, n_threads=1).shapes[0]
    week, year = profile_charts(shape, typical)
    return {
        "consumption_chart": consumption_svg(values, dates, shown_marks, numbered),
        "week_chart": week,
        "year_chart": year,
        "reasons": located,
    }


@router.get("/results/{result_id}/customers/{customer_id:path}", response_class=HTMLResponse)
def customer(request: Request, result_id: str, customer_id: str) -> HTMLResponse:
    """One customer of an upload: consumption with the reasons marked, profile beside the
    cluster's typical one, score, probability, tier and reasons."""
    result = _result(request, result_id)
    row = result.row(customer_id)
    if row is None:
        raise HTTPException(404, f"customer {customer_id!r} is not in {result.display_name}")
    service = service_of(request)
    position = int(result.consumption.index.get_indexer([customer_id])[0])
    if position < 0:  # listed but not scored (no reading in the file)
        return page(request, "customer.html", result=result, row=row, customer_id=customer_id,
                    probability=None, not_scored=True, back=f"/results/{result_id}")  # fmt: skip
    values = consumption_matrix(result.consumption.iloc[[position]])[0].astype(np.float64)
    dates = day_index(result.consumption)
    drop = None
    if "drop_days_ago" in result.features.columns:
        drop = float(result.features["drop_days_ago"].iloc[position])
    cluster_id = int(row["cluster"])
    typical = service.typical_shapes[cluster_id] if cluster_id >= 0 else None
    reasons = shown_reasons(row)
    context = chart_context(values, dates, reasons, drop, typical, service.config)
    probability = row["probability"]
    return page(
        request,
        "customer.html",
        result=result,
        row=row,
        customer_id=customer_id,
        probability=None if pd.isna(probability) else float(probability),
        not_explained=row.get("reason_1") == NOT_EXPLAINED,
        not_scored=False,
        back=f"/results/{result_id}",
        n_days=len(dates),
        first_day=dates[0],
        last_day=dates[-1],
        **context,
    )


# --------------------------------------------------------------------------- enter by hand


@router.get("/enter", response_class=HTMLResponse)
def enter_form(request: Request) -> HTMLResponse:
    return page(request, "enter.html", text="", outcome=None)


@router.post("/enter", response_class=HTMLResponse)
def enter(request: Request, readings: str = Form("")) -> HTMLResponse:
    """Score one customer's typed or pasted ``date,kWh`` lines (ntl.score.score_customer)."""
    service = service_of(request)
    try:
        parsed = parse_readings_text(readings)
        outcome = service.score_readings(parsed)
        frame = readings_frame(parsed)
    except NtlError as exc:
        status = 503 if isinstance(exc, ScoringUnavailable) else 422
        return page(
            request, "enter.html", status=status, text=readings, outcome=None, error=str(exc)
        )
    values = consumption_matrix(frame)[0].astype(np.float64)
    context = chart_context(
        values, day_index(frame), outcome["reasons"], None, None, service.config
    )
    return page(request, "enter.html", text=readings, outcome=outcome, **context)


# --------------------------------------------------------------------------- model and API


@router.get("/model", response_class=HTMLResponse)
def model(request: Request) -> HTMLResponse:
    """The model card, the thresholds, the test metrics with intervals, the run and data."""
    record = service_of(request).record
    card = _markdown(record.model_card) if record.model_card else None
    thresholds = {
        key: value
        for key, value in record.thresholds.items()
        if not isinstance(value, (dict, list))
    }
    return page(
        request,
        "model.html",
        record=record,
        card_html=card,
        thresholds=thresholds,
        metrics=headline_metrics(record.evaluation),
    )


@router.get("/api-docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The JSON API's routes, from the app's own OpenAPI schema (rendered here, offline)."""
    schema = request.app.openapi()
    routes = [
        {"method": method.upper(), "path": path, "summary": spec.get("summary", "")}
        for path, methods in schema["paths"].items()
        for method, spec in methods.items()
    ]
    return page(request, "api.html", routes=routes)
