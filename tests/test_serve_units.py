"""The web app's parts without a server: config, token, listing, charts, hand entry, records."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from ntl.errors import MeterDataError, ParameterError
from ntl.explain import PHRASES, PhraseContext
from ntl.serve.charts import (
    consumption_svg,
    dated_mark,
    longest_run,
    mark_of_reason,
    profile_charts,
    reason_marks,
)
from ntl.serve.config import TOKEN_ENV, build_config, is_loopback, read_token
from ntl.serve.forms import parse_readings_text
from ntl.serve.listing import listing_page
from ntl.serve.security import is_authorised, safe_next, session_value, token_matches
from ntl.serve.service import ResultStore, headline_metrics
from ntl.serve.uploads import display_name

TOKEN = "s3cret-token-for-tests-0123456789"


# --------------------------------------------------------------------------- config and token


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.4", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_token_from_file_first_line_or_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}  \nsecond line\n")
    assert read_token(path, environ={}) == TOKEN
    assert read_token(None, environ={TOKEN_ENV: TOKEN}) == TOKEN
    assert read_token(path, environ={TOKEN_ENV: "other-token-of-enough-length"}) == TOKEN
    assert read_token(None, environ={}) is None


def test_bad_tokens_are_refused_without_quoting_them(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ParameterError, match=r"--token-file .*empty: the file is empty"):
        read_token(tmp_path / "empty", environ={})
    with pytest.raises(ParameterError, match=r"--token-file .*missing: cannot be read"):
        read_token(tmp_path / "missing", environ={})
    with pytest.raises(ParameterError, match=r"NTL_API_TOKEN: the token has 5 characters") as err:
        read_token(None, environ={TOKEN_ENV: "short"})
    assert "short" not in str(err.value).replace("characters", "")


def test_other_addresses_need_a_token(tmp_path):
    with pytest.raises(ParameterError, match=r"--host 0.0.0.0 is reachable .* set an API token"):
        build_config(tmp_path, host="0.0.0.0", environ={})
    config = build_config(tmp_path, host="0.0.0.0", environ={TOKEN_ENV: TOKEN})
    assert config.token == TOKEN and config.host == "0.0.0.0"
    assert TOKEN not in repr(config) and TOKEN not in str(config)
    local = build_config(tmp_path, environ={})
    assert (local.host, local.port, local.token) == ("127.0.0.1", 8000, None)
    assert local.max_upload_bytes == 250_000_000


@pytest.mark.parametrize(
    ("options", "message"),
    [({"port": 0}, "--port must be between 1 and 65535, got 0"),
     ({"max_upload_mb": 0}, "--max-upload-mb must be positive, got 0"),
     ({"keep_results": 0}, "--keep-results must be at least 1, got 0")],
)  # fmt: skip
def test_bad_start_options(tmp_path, options, message):
    with pytest.raises(ParameterError, match=message):
        build_config(tmp_path, environ={}, **options)


def _scope(headers: dict[str, str]) -> dict:
    return {"headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


def test_bearer_token_or_session_cookie():
    assert is_authorised(_scope({"Authorization": f"Bearer {TOKEN}"}), TOKEN)
    assert is_authorised(_scope({"Authorization": f"bearer {TOKEN}"}), TOKEN)
    assert not is_authorised(_scope({"Authorization": f"Bearer {TOKEN}x"}), TOKEN)
    assert not is_authorised(_scope({"Authorization": TOKEN}), TOKEN)
    assert not is_authorised(_scope({}), TOKEN)
    cookie = f"ntl_session={session_value(TOKEN)}"
    assert is_authorised(_scope({"Cookie": cookie}), TOKEN)
    assert not is_authorised(_scope({"Cookie": f"ntl_session={TOKEN}"}), TOKEN)
    assert not is_authorised(_scope({"Cookie": "ntl_session=\x00bad;;=="}), TOKEN)
    assert TOKEN not in session_value(TOKEN)
    assert token_matches(TOKEN, TOKEN) and not token_matches(None, TOKEN)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("/results/abc?page=2", "/results/abc?page=2"), ("//evil.example/", "/"),
     ("https://evil.example/", "/"), ("", "/"), (None, "/"), ("/\\evil", "/")],
)  # fmt: skip
def test_safe_next_stays_on_the_site(given, expected):
    assert safe_next(given) == expected


@pytest.mark.parametrize(
    ("sent", "shown"),
    [("export.csv", "export.csv"), ("../../etc/passwd", "passwd"),
     ("C:\\Users\\me\\meters.csv", "meters.csv"), ("", "the uploaded file"),
     (None, "the uploaded file"), ("a\x00b\nc.csv", "abc.csv"), ("x" * 300, "x" * 120)],
)  # fmt: skip
def test_display_name_is_a_name_never_a_path(sent, shown):
    assert display_name(sent) == shown


# --------------------------------------------------------------------------- listing


@pytest.fixture
def ranked() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2, 3, 4, 5],
            "CONS_NO": ["E", "B", "D", "A", "C"],
            "risk_score": [0.9, 0.8, 0.5, 0.3, 0.1],
            "probability": [0.7, np.nan, 0.3, 0.2, 0.1],
            "tier": ["high", "medium", "low", "low", "low"],
            "cluster": [0, 1, 0, 1, -1],
            "quality_flag": ["HIGH", "LOW", "HIGH", "HIGH", "LOW"],
        }
    )


def test_listing_sorts_filters_and_pages(ranked):
    assert listing_page(ranked).rows["CONS_NO"].tolist() == ["E", "B", "D", "A", "C"]
    by_id = listing_page(ranked, sort="CONS_NO")
    assert by_id.rows["CONS_NO"].tolist() == ["A", "B", "C", "D", "E"]
    rising = listing_page(ranked, sort="risk_score")
    assert rising.rows["risk_score"].tolist() == [0.1, 0.3, 0.5, 0.8, 0.9]
    falling = listing_page(ranked, sort="probability", descending=True)
    assert falling.rows["CONS_NO"].tolist() == ["E", "D", "A", "C", "B"]  # missing last
    tiers = listing_page(ranked, sort="tier", descending=True)
    assert tiers.rows["tier"].tolist() == ["high", "medium", "low", "low", "low"]
    assert tiers.rows["CONS_NO"].tolist()[2:] == ["D", "A", "C"]  # ties keep the list order
    low = listing_page(ranked, tier="low", cluster=0)
    assert low.rows["CONS_NO"].tolist() == ["D"] and low.total == 1
    second = listing_page(ranked, page=2, per_page=2)
    assert second.rows["CONS_NO"].tolist() == ["D", "A"]
    assert (second.total, second.page, second.pages) == (5, 2, 3)
    assert listing_page(ranked, page=9, per_page=2).page == 3  # past the end: the last page
    empty = listing_page(ranked, tier="high", cluster=1)
    assert (empty.total, empty.pages, len(empty.rows)) == (0, 1, 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"sort": "FLAG"}, "sort must be one of"), ({"tier": "urgent"}, "tier must be one of"),
     ({"per_page": 0}, "per_page must be between 1 and 500, got 0"),
     ({"per_page": 501}, "per_page must be between 1 and 500, got 501"),
     ({"page": 0}, "page must be 1 or more, got 0")],
)  # fmt: skip
def test_listing_bad_options(ranked, options, message):
    with pytest.raises(ParameterError, match=message):
        listing_page(ranked, **options)


# --------------------------------------------------------------------------- charts


def test_longest_run_first_of_the_longest():
    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 0, 1], bool)) == (1, 2)
    assert longest_run(np.array([1, 1, 1], bool)) == (0, 3)
    assert longest_run(np.zeros(4, bool)) is None


def test_reason_marks_find_the_drop_zero_run_gap_and_recent_window():
    dates = pd.date_range("2016-01-01", periods=120, freq="D")
    values = np.full(120, 5.0)
    values[30:40] = np.nan  # a 10-day gap from 2016-01-31
    values[50:53] = 0.0  # a 3-day zero run from 2016-02-20
    values[60:61] = 0.0
    marks = reason_marks(values, dates, drop_days_ago=20.0, recent_days=90)
    assert marks["drop"].start == marks["drop"].end == pd.Timestamp("2016-04-09")
    assert (marks["gap"].start, marks["gap"].end) == (
        pd.Timestamp("2016-01-31"),
        pd.Timestamp("2016-02-09"),
    )
    assert marks["gap"].label == "longest gap in readings: 10 days from 2016-01-31"
    assert marks["zero_run"].label == "longest run of zero readings: 3 days from 2016-02-20"
    assert (marks["recent"].start, marks["recent"].end) == (dates[30], dates[-1])
    plain = reason_marks(np.full(120, 1.0), dates, drop_days_ago=float("nan"), recent_days=200)
    assert plain == {}


def _phrase(group: str, value: float) -> str:
    members, build, _ = PHRASES[group]
    columns = {member: np.array([value]) for member in members}
    return str(build(columns, PhraseContext(pd.Timestamp("2016-10-31"), 90))[0])


@pytest.mark.parametrize(
    ("group", "value", "kind"),
    [("drop", 0.6, "drop"), ("zero_runs", 12, "zero_run"), ("zero_days", 30, "zero_run"),
     ("zero_recent_share", 0.5, "recent"), ("missing_recent", 0.4, "recent"),
     ("recent_vs_past", 0.3, "recent"), ("gaps", 40, "gap"), ("missing_share", 0.3, "gap"),
     ("level", 3.0, None), ("trend_slope", -0.2, None), ("yoy_ratio", 0.5, None)],
)  # fmt: skip
def test_each_reason_phrase_points_at_its_mark(group, value, kind):
    assert mark_of_reason(_phrase(group, value)) == kind


SHAPE_DATES = pd.date_range("2016-01-01", "2016-10-31", freq="D")


@pytest.mark.parametrize(
    ("group", "value", "kind", "start"),
    [("week_over_week", 0.4, "window", "2016-10-25"), ("month_over_month", 0.3, "window", "2016-10-04"),
     ("weekday_weekend", 0.3, "window", "2016-10-11"), ("low_days_recent", 0.4, "window", "2016-10-04"),
     ("profile_change", 0.35, "window", "2016-10-04"), ("zero_share_change", 0.4, "window", "2016-10-18"),
     ("peak_change", 0.35, "window", "2016-10-18"), ("swing_change", 0.2, "window", "2016-10-18")],
)  # fmt: skip
def test_dated_shape_phrases_mark_the_stretch_they_name(group, value, kind, start):
    reason = _phrase(group, value)
    assert mark_of_reason(reason) is None  # no word mark: the date is what locates it
    key, mark = dated_mark(reason, SHAPE_DATES)
    assert (key, mark.kind) == (f"{kind}:{start}", kind)
    assert (mark.start, mark.end) == (pd.Timestamp(start), SHAPE_DATES[-1])
    assert mark.label == f"from {start}"


def test_a_recent_day_reason_marks_that_one_day():
    members, build, _ = PHRASES["recent_days"]
    columns = {member: np.array([1.0]) for member in members}
    columns["recent_day_2"] = np.array([0.12])  # the day before the last: Sunday 2016-10-30
    reason = str(build(columns, PhraseContext(pd.Timestamp("2016-10-31"), 90))[0])
    assert reason == "on Sunday 2016-10-30 used 12 % of its usual Sunday"
    key, mark = dated_mark(reason, SHAPE_DATES)
    assert key == "day:2016-10-30"
    assert mark.start == mark.end == pd.Timestamp("2016-10-30")


def test_dated_mark_ignores_dates_outside_the_readings_and_undated_reasons():
    assert dated_mark("the 7 days from 2015-01-01 at 40 % of the week before", SHAPE_DATES) is None
    assert dated_mark("average use 3.0 kWh a day", SHAPE_DATES) is None


def test_consumption_svg_draws_a_window_and_a_day_mark():
    values = np.linspace(1, 10, len(SHAPE_DATES))
    marks = dict(
        [
            dated_mark("the 28 days from 2016-10-04 at 30 % of the 28 before", SHAPE_DATES),
            dated_mark("on Sunday 2016-10-30 used 12 % of its usual Sunday", SHAPE_DATES),
        ]
    )
    svg = consumption_svg(
        values, SHAPE_DATES, marks, {"window:2016-10-04": [1], "day:2016-10-30": [2]}
    )
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    window = root.find(f"{ns}rect[@data-mark='window']")
    day = root.find(f"{ns}line[@data-mark='day']")
    assert "reason [1]" in window.find(f"{ns}title").text
    assert "reason [2]" in day.find(f"{ns}title").text
    assert float(day.get("x1")) > float(window.get("x"))  # the day lies inside the window
    drawn = [element.get("data-mark") for element in root if element.get("data-mark")]
    assert drawn == ["window", "day"]  # widest first, so the day line shows on top


def test_consumption_svg_is_valid_and_marks_the_numbered_reasons():
    dates = pd.date_range("2016-01-01", periods=100, freq="D")
    values = np.linspace(1, 10, 100)
    values[10:20] = np.nan
    marks = reason_marks(values, dates, drop_days_ago=30.0, recent_days=90)
    svg = consumption_svg(values, dates, {"drop": marks["drop"]}, {"drop": [1]})
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2  # the gap breaks the line in two
    drop = root.find(f"{ns}line[@data-mark='drop']")
    assert drop is not None and "reason [1]" in drop.find(f"{ns}title").text
    assert "[1]" in svg and "2016-01-01" in svg and "2016-04-09" in svg
    assert 'data-mark="gap"' not in svg  # only the marks a reason points at are drawn


def test_profile_charts_draw_both_shapes():
    shape = np.r_[np.linspace(0.8, 1.2, 7), np.linspace(0.5, 1.5, 12)]
    week, year = profile_charts(shape, np.ones(19))
    ns = "{http://www.w3.org/2000/svg}"
    for svg, labels in ((week, "Mon"), (year, "Dec")):
        root = ET.fromstring(svg)
        assert {p.get("class") for p in root.findall(f"{ns}polyline")} == {"series", "typical"}
        assert labels in svg
    lonely = ET.fromstring(profile_charts(np.full(19, np.nan), None)[0])
    assert lonely.findall(f"{ns}polyline") == []


# --------------------------------------------------------------------------- hand entry


def test_readings_text_accepts_common_separators_and_a_header():
    text = (
        "date,kwh\n2016-01-01,3.5\n2016-01-02; 4\n\n2016-01-03\t2.25\n2016-01-04 1\n2016-01-05,\n"
    )
    assert parse_readings_text(text) == {
        "2016-01-01": "3.5",
        "2016-01-02": "4",
        "2016-01-03": "2.25",
        "2016-01-04": "1",
        "2016-01-05": None,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "readings: no lines given"), ("\n \n", "readings: no lines given"),
     ("2016-01-01,1,2", r"readings line 1: expected 'date,kWh', got '2016-01-01,1,2'"),
     ("2016-01-01,1\n2016-01-01,2", "readings line 2: 2016-01-01 is given twice"),
     ("2016-01-01,1\n" * 5001, "readings: 5001 lines, at most 5000 are accepted")],
)  # fmt: skip
def test_readings_text_errors_name_the_line(text, message):
    with pytest.raises(MeterDataError, match=message):
        parse_readings_text(text)


# --------------------------------------------------------------------------- records


def test_result_store_keeps_the_last_few():
    store = ResultStore(2)
    results = [type("R", (), {"result_id": f"r{i}"})() for i in range(3)]
    for result in results:
        store.add(result)
    assert len(store) == 2
    assert store.get("r0") is None and store.get("r2") is results[2]


def test_test_metrics_with_intervals_and_without_missing_entries():
    evaluation = {
        "roc_auc": 0.86,
        "roc_auc_ci": [0.83, 0.89],
        "test": {
            "threshold": {
                "precision": 0.6,
                "precision_low": 0.5,
                "precision_high": 0.7,
                "flagged": 100,
            },
            "at_k": [
                {
                    "k": "100",
                    "recall": 0.4,
                    "recall_low": 0.3,
                    "recall_high": 0.5,
                    "thieves_total": 170,
                }
            ],
        },
    }
    metrics = headline_metrics(evaluation)
    assert [(m.name, m.value, m.low, m.high, m.n) for m in metrics] == [
        ("ROC-AUC", 0.86, 0.83, 0.89, None),
        ("precision at the operational threshold", 0.6, 0.5, 0.7, 100),
        ("recall in the top 100", 0.4, 0.3, 0.5, 170),
    ]
    assert headline_metrics(None) == [] and headline_metrics({}) == []


def test_the_app_takes_every_reading_option_ntl_score_takes():
    from ntl.score import READ_OPTIONS
    from ntl.serve.api import ReadOptions

    assert set(ReadOptions.model_fields) == set(READ_OPTIONS) - {"min_days"}  # min_days: the run's


def test_customer_chart_numbers_word_and_dated_reasons_on_their_marks():
    from ntl.preprocess import PreprocessConfig
    from ntl.serve.pages import chart_context

    values = np.full(len(SHAPE_DATES), 5.0)
    values[100:110] = np.nan  # a 10-day gap from 2016-04-10
    reasons = [
        "longest gap in readings: 10 days",
        "the 7 days from 2016-10-25 at 40 % of the week before",
        "average use 5.0 kWh a day",
    ]
    context = chart_context(values, SHAPE_DATES, reasons, None, None, PreprocessConfig())
    assert [reason["mark"] for reason in context["reasons"]] == [
        "longest gap in readings: 10 days from 2016-04-10",
        "from 2016-10-25",
        None,
    ]
    svg = context["consumption_chart"]
    assert 'data-mark="gap"' in svg and 'data-mark="window"' in svg
    assert "reason [2]" in svg and "reason [3]" not in svg
