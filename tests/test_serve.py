"""The web app's routes on a finished smoke run, through FastAPI's test client: every page,
every API route and every error the issue names; and the same numbers as ``ntl score``."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ntl import score
from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactIntegrityError, ParameterError
from ntl.frame import day_columns
from ntl.serve import build_config, create_app
from ntl.serve.config import TOKEN_ENV
from ntl.serve.service import ModelService, check_run_folder
from ntl.tables import safe_csv_text

TOKEN = "route-test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def service(smoke_artifacts) -> ModelService:
    return ModelService(smoke_artifacts)


def make_client(service: ModelService, artifacts: Path, **options) -> TestClient:
    environ = options.pop("environ", {})
    config = build_config(artifacts, environ=environ, **options)
    return TestClient(create_app(config, service=service))


@pytest.fixture(scope="module")
def client(service, smoke_artifacts) -> TestClient:
    return make_client(service, smoke_artifacts)


@pytest.fixture(scope="module")
def consumption(smoke_artifacts) -> pd.DataFrame:
    return ArtifactStore(smoke_artifacts).read_parquet("consumption.parquet")


@pytest.fixture(scope="module")
def export(smoke_export) -> Path:
    return smoke_export


def upload(client: TestClient, path: Path, name: str | None = None, **data):
    with path.open("rb") as handle:
        return client.post(
            "/upload",
            files={"file": (name or path.name, handle)},
            data=data,
            follow_redirects=False,
        )


@pytest.fixture(scope="module")
def result_url(client, export) -> str:
    response = upload(client, export)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def readings_of(consumption: pd.DataFrame, customer: str) -> dict[str, float]:
    row = consumption.loc[customer, day_columns(consumption)]
    return {day: float(value) for day, value in row.dropna().items()}


def error_text(html: str) -> str:
    found = re.search(r'id="error">(.*?)</p>', html, re.S)
    assert found, html[:500]
    return found.group(1).replace("&#39;", "'").replace("&quot;", '"')


# --------------------------------------------------------------------------- pages


def test_upload_page_has_the_form(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and 'name="file"' in page.text
    assert "250 MB" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # nothing from outside


def test_results_page_lists_sorts_filters_and_pages(client, result_url, consumption):
    page = client.get(result_url)
    assert page.status_code == 200
    rows = re.findall(r'<td class="num score">([0-9.]+)</td>', page.text)
    assert len(rows) == 50  # one page, never the whole list
    assert [float(v) for v in rows] == sorted((float(v) for v in rows), reverse=True)
    assert f"page 1 of {int(np.ceil(len(consumption) / 50))}" in page.text
    assert 'id="next-page"' in page.text and 'id="drift"' in page.text
    # the run's own customers again: the drift section judges them and finds no shift (the
    # probability, whose calibrator steps differ from the baseline's, is reported, not alerted)
    assert "No drift alert" in page.text
    rising = client.get(f"{result_url}?sort=risk_score&order=asc&per_page=20")
    scores = [float(v) for v in re.findall(r'<td class="num score">([0-9.]+)</td>', rising.text)]
    assert len(scores) == 20 and scores == sorted(scores)
    high = client.get(f"{result_url}?tier=high&per_page=500")
    tiers = re.findall(r'<td><span class="tier tier-(\w+)">', high.text)
    assert tiers and set(tiers) == {"high"}
    cluster = client.get(f"{result_url}?cluster=0&per_page=500")
    cells = re.findall(r'</span></td>\s*<td class="num">(-?\d+)</td>', cluster.text)
    assert cells and set(cells) == {"0"}
    second = client.get(f"{result_url}?page=2")
    assert "page 2 of" in second.text and 'id="previous-page"' in second.text
    for bad, message in (
        ("?sort=FLAG", "sort must be one of"),
        ("?tier=urgent", "tier must be one of"),
        ("?cluster=x", "cluster must be a whole number"),
        ("?page=abc", "page"),
    ):
        answer = client.get(result_url + bad)
        assert answer.status_code == 422 and message in error_text(answer.text)


def test_downloads_are_the_list_as_csv_and_parquet(client, result_url, export, service):
    kept = service.results.get(result_url.rsplit("/", 1)[1]).inspection_list
    csv = client.get(f"{result_url}/inspection_list.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert csv.text == safe_csv_text(kept)
    parquet = client.get(f"{result_url}/inspection_list.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(parquet.content)), kept)


def test_customer_page_shows_chart_profile_and_reasons(client, result_url, service):
    kept = service.results.get(result_url.rsplit("/", 1)[1]).inspection_list
    top = kept.iloc[0]
    page = client.get(f"{result_url}/customers/{top['CONS_NO']}")
    assert page.status_code == 200
    assert f'id="risk-score">{top["risk_score"]:.4f}<' in page.text
    assert f'id="tier">{top["tier"]}<' in page.text
    assert f'id="probability">{top["probability"]:.3f}<' in page.text
    assert page.text.count("<svg") == 3  # consumption, weekday and month profiles
    assert 'class="typical"' in page.text  # the cluster's typical profile beside it
    for column in ("reason_1", "reason_2", "reason_3"):
        if top[column]:
            assert top[column].replace("'", "&#39;") in page.text
    low = kept[kept["tier"] == "low"].iloc[0]
    quiet = client.get(f"{result_url}/customers/{low['CONS_NO']}")
    assert quiet.status_code == 200 and "Reasons are computed for the high and medium" in quiet.text


def test_unknown_customer_and_result_are_404(client, result_url):
    missing = client.get(f"{result_url}/customers/NOPE")
    assert missing.status_code == 404
    assert error_text(missing.text) == "customer 'NOPE' is not in meters.csv"
    gone = client.get("/results/not-a-result")
    assert gone.status_code == 404 and "no longer kept" in error_text(gone.text)
    api = client.get("/api/nothing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_concurrent_single_customers_are_scored_together_with_the_same_answers(
    service, consumption
):
    customers = consumption.index[:6]
    readings = [readings_of(consumption, customer) for customer in customers]
    expected = [score.score_customer(r, service.loaded) for r in readings]
    before = service.batcher.largest_batch
    with service._lock:  # the worker waits for the models: the requests queue up meanwhile
        futures = [service.batcher.submit(r) for r in readings]
        first_batches = service.batcher.batches
    assert [future.result(timeout=30) for future in futures] == expected
    assert service.batcher.batches - first_batches <= 2  # not one pass per request
    assert service.batcher.largest_batch >= max(before, len(customers) - 1)


def test_enter_by_hand_scores_like_score_customer(client, service, consumption):
    customer = consumption.index[3]
    readings = readings_of(consumption, customer)
    expected = score.score_customer(readings, service.loaded)
    text = "date,kwh\n" + "\n".join(f"{day},{value!r}" for day, value in readings.items())
    page = client.post("/enter", data={"readings": text})
    assert page.status_code == 200
    assert f'id="risk-score">{expected["risk_score"]:.4f}<' in page.text
    assert f'id="tier">{expected["tier"]}<' in page.text
    for reason in expected["reasons"]:
        assert reason.replace("'", "&#39;") in page.text
    assert page.text.count("<svg") == 3
    bad = client.post("/enter", data={"readings": "2016-01-01,1\n2016-01-02,lots"})
    assert bad.status_code == 422
    assert error_text(bad.text) == "readings: value 'lots' for 2016-01-02 is not a number"
    short = client.post("/enter", data={"readings": "2016-01-01,1\n2016-01-02,2"})
    assert short.status_code == 422 and "at least" in error_text(short.text)


def test_model_page_shows_card_thresholds_metrics_run_and_data(client, smoke_artifacts):
    page = client.get("/model")
    assert page.status_code == 200
    manifest = ArtifactStore(smoke_artifacts).manifest()["artifacts"]
    assert manifest["consumption.parquet"]["sha256"] in page.text
    assert manifest["model_xgb.json"]["sha256"] in page.text
    assert 'id="model-card"' in page.text and "<h2>Intended use</h2>" in page.text
    thresholds = ArtifactStore(smoke_artifacts).read_json("thresholds.json")
    assert f"{thresholds['high_cutoff']:.4g}" in page.text
    evaluation = ArtifactStore(smoke_artifacts).read_json("evaluation.json")
    low, high = evaluation["roc_auc_ci"]
    assert f"{evaluation['roc_auc']:.3f}</td>" in page.text and f"{low:.3f}–{high:.3f}" in page.text
    assert f"run <code>{smoke_artifacts.name}</code>" in page.text


def test_api_page_and_openapi_schema(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/score", "/api/score-file", "/api/model", "/api/health"} <= set(schema["paths"])
    body = schema["paths"]["/api/score-file"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    page = client.get("/api-docs")
    assert page.status_code == 200 and "/api/score-file" in page.text
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN script


# --------------------------------------------------------------------------- API


def test_api_health_and_model(client, smoke_artifacts):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["models_loaded"] and health["verified"]
    assert health["run"] == smoke_artifacts.name
    info = client.get("/api/model").json()
    manifest = ArtifactStore(smoke_artifacts).manifest()["artifacts"]
    assert info["data_sha256"]["consumption.parquet"] == manifest["consumption.parquet"]["sha256"]
    assert info["artifacts_sha256"]["model_xgb.json"] == manifest["model_xgb.json"]["sha256"]
    assert info["thresholds"] == ArtifactStore(smoke_artifacts).read_json("thresholds.json")
    names = [metric["name"] for metric in info["test_metrics"]]
    assert names[:2] == ["ROC-AUC", "PR-AUC (average precision)"]
    assert info["test_metrics"][0]["low"] <= info["test_metrics"][0]["value"]


def test_api_score_one_customer(client, service, consumption):
    customer = consumption.index[0]
    readings = readings_of(consumption, customer)
    answer = client.post("/api/score", json={"customer_id": customer, "readings": readings})
    assert answer.status_code == 200
    assert answer.json() == {
        "customer_id": customer,
        **score.score_customer(readings, service.loaded),
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"{not json", "JSON decode error"), (b'{"readings": {}}', "at least 1 item"),
     (b'{"customer_id": "x"}', "Field required"),
     (b'{"readings": {"2016-01-01": "lots"}}', "valid number")],
)  # fmt: skip
def test_api_score_malformed_json_is_422(client, body, fragment):
    answer = client.post("/api/score", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert fragment in json.dumps(answer.json())
    assert "lots" not in json.dumps(answer.json())  # the input is not echoed back


def test_api_score_readings_the_loader_refuses(client):
    answer = client.post("/api/score", json={"readings": {"yesterday": 1.0, "2016-01-02": 2.0}})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "readings: keys that are not dates: ['yesterday']"}
    short = client.post("/api/score", json={"readings": {"2016-01-01": 1.0}})
    assert short.status_code == 422 and "day(s) of history, at least" in short.json()["detail"]


def test_api_score_file_json_csv_raw_and_long(client, export, consumption, tmp_path):
    with export.open("rb") as handle:
        answer = client.post("/api/score-file", files={"file": ("meters.csv", handle)})
    assert answer.status_code == 200
    document = answer.json()
    assert document["source"] == "meters.csv" and document["n_customers"] == len(consumption)
    # the run's own customers again: the same population, no alert
    assert document["drift"]["available"] is True
    assert document["drift"]["alerts"] == []
    raw = client.post(
        "/api/score-file?format=csv&filename=m.csv",
        content=export.read_bytes(),
        headers={"content-type": "text/csv"},
    )
    assert raw.status_code == 200
    listed = pd.read_csv(io.StringIO(raw.text), dtype={"CONS_NO": str}, keep_default_na=False)
    assert listed["CONS_NO"].tolist() == [row["CONS_NO"] for row in document["customers"]]
    zipped = gzip.compress(export.read_bytes())
    answer = client.post("/api/score-file", files={"file": ("meters.csv.gz", zipped)})
    assert answer.status_code == 200 and answer.json()["n_customers"] == len(consumption)
    days = day_columns(consumption)
    long = consumption.iloc[:60][days].stack().rename("kwh").rename_axis(["meter", "day"])
    long.reset_index().to_parquet(tmp_path / "long.parquet")
    answer = client.post(
        "/api/score-file?layout=long&id_column=meter&date_column=day",
        files={"file": ("long.parquet", (tmp_path / "long.parquet").read_bytes())},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["n_customers"] == 60


# --------------------------------------------------------------------------- the same numbers


def test_cli_python_api_and_both_http_routes_agree(client, export, smoke_artifacts, tmp_path):
    cli_out = tmp_path / "cli.csv"
    subprocess.run(
        [sys.executable, "-m", "ntl", "score", str(export), "--artifacts", str(smoke_artifacts),
         "--out", str(cli_out), "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip
    from_cli = pd.read_parquet(cli_out.with_suffix(".parquet"))
    from_python = score.score_file(export, smoke_artifacts, tmp_path / "py.csv", progress=False)
    with export.open("rb") as handle:
        from_json = pd.DataFrame(
            client.post("/api/score-file", files={"file": ("m.csv", handle)}).json()["customers"]
        )
    with export.open("rb") as handle:
        csv_text = client.post("/api/score-file?format=csv", files={"file": ("m.csv", handle)}).text
    from_csv = pd.read_csv(io.StringIO(csv_text), dtype={"CONS_NO": str}, keep_default_na=False)
    cli_csv = pd.read_csv(cli_out, dtype={"CONS_NO": str}, keep_default_na=False)
    assert csv_text == cli_out.read_text()  # the CSV route writes exactly what ntl score writes
    reasons = [c for c in from_cli.columns if c.startswith("reason_")]
    for other in (from_python, from_json, from_csv, cli_csv):
        assert other["CONS_NO"].tolist() == from_cli["CONS_NO"].tolist()
        assert other["tier"].tolist() == from_cli["tier"].tolist()
        np.testing.assert_array_equal(other["risk_score"], from_cli["risk_score"])
        np.testing.assert_array_equal(
            other["probability"].astype(float), from_cli["probability"].astype(float)
        )
        for column in reasons:
            assert other[column].fillna("").tolist() == from_cli[column].fillna("").tolist()


# --------------------------------------------------------------------------- bad uploads


def test_reading_options_from_the_form_and_the_query_are_checked(client, consumption, tmp_path):
    days = day_columns(consumption)
    long = consumption.iloc[:30][days].stack().rename("kwh").rename_axis(["meter", "date"])
    long.reset_index().to_csv(tmp_path / "long.csv", index=False)
    page = upload(client, tmp_path / "long.csv", layout="long", id_column="meter")
    assert page.status_code == 303
    wrong = upload(client, tmp_path / "long.csv", layout="long", max_missing_share="2")
    assert wrong.status_code == 422
    assert error_text(wrong.text) == (
        "reading options: max_missing_share: Input should be less than or equal to 1"
    )
    api = client.post("/api/score-file?layout=diagonal", content=b"x,y\n1,2\n")
    assert api.status_code == 422 and "layout" in json.dumps(api.json())


def test_corrupt_files_get_the_loaders_message_naming_the_upload(client, tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"PAR1" + b"\x00garbage" * 50)
    answer = upload(client, tmp_path / "junk.parquet")
    assert answer.status_code == 422
    message = error_text(answer.text)
    assert message.startswith("junk.parquet: unreadable or corrupt parquet file")
    assert tempfile.gettempdir() not in message  # never the private path
    (tmp_path / "no_id.csv").write_text("meter,2016-01-01\nA,1\n")
    api = client.post("/api/score-file", files={"file": ("no_id.csv", b"meter,2016-01-01\nA,1\n")})
    assert api.status_code == 422 and api.json()["detail"].startswith("no_id.csv: ")
    binary = client.post("/api/score-file", files={"file": ("x.csv", bytes(range(256)) * 40)})
    assert binary.status_code == 422 and binary.json()["detail"].startswith("x.csv: ")


@pytest.mark.parametrize(
    ("files", "content", "message"),
    [({"file": ("empty.csv", b"")}, None, "empty.csv: the file is empty"),
     ({"other": ("a.csv", b"x")}, None, "send one file, in the form field 'file'"),
     (None, b"", "the uploaded file: the file is empty")],
)  # fmt: skip
def test_uploads_without_a_usable_file_are_400(client, files, content, message):
    answer = client.post("/api/score-file", files=files, content=content)
    assert answer.status_code == 400 and answer.json() == {"detail": message}


def test_too_large_uploads_are_413(service, smoke_artifacts, export):
    small = make_client(service, smoke_artifacts, max_upload_mb=0.01)
    answer = upload(small, export)
    assert answer.status_code == 413
    assert error_text(answer.text).startswith("the upload is larger than the limit of 0.01 MB")

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(20):
            yield b"x" * 1000

    streamed = small.post("/api/score-file", content=chunks())
    assert streamed.status_code == 413 and "0.01 MB" in streamed.json()["detail"]


def test_uploads_live_in_a_private_folder_removed_after_the_request(
    client, export, tmp_path, monkeypatch
):
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        folder = real_mkdtemp(*args, **kwargs)
        made.append(Path(folder))
        return folder

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    seen: list[list[str]] = []
    real_score_path = ModelService.score_path

    def spying_score_path(self, path, source, read_options=None):
        seen.append([p.name for p in path.parent.iterdir()])
        assert (path.parent.stat().st_mode & 0o777) == 0o700
        return real_score_path(self, path, source, read_options)

    monkeypatch.setattr(ModelService, "score_path", spying_score_path)
    assert upload(client, export, name="../../outside.csv").status_code == 303
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert upload(client, tmp_path / "bad.csv", name="/etc/cron.d/x").status_code == 422
    assert len(made) == 2 and seen == [["upload"], ["upload"]]
    assert not any(folder.exists() for folder in made)
    assert not (export.parent.parent / "outside.csv").exists()


def test_unexpected_errors_are_500_without_a_traceback(
    service, smoke_artifacts, export, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(ModelService, "score_path", broken)
    quiet = TestClient(
        create_app(build_config(smoke_artifacts, environ={}), service=service),
        raise_server_exceptions=False,
    )
    answer = upload(quiet, export)
    assert answer.status_code == 500
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    assert "internal error" in error_text(answer.text)


# --------------------------------------------------------------------------- token


def test_token_required_everywhere_but_login_and_static(service, smoke_artifacts):
    guarded = make_client(service, smoke_artifacts, environ={TOKEN_ENV: TOKEN})
    for path in ("/api/health", "/api/model", "/openapi.json"):
        answer = guarded.get(path)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in answer.json()["detail"]
    wrong = guarded.get("/api/health", headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert wrong.status_code == 401
    right = guarded.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and right.json()["verified"] is True
    refused = guarded.post(
        "/api/score", content=b"{bad", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 401  # the token is checked before the body is read
    page = guarded.get("/model")
    assert page.status_code == 401 and 'name="token"' in page.text
    assert guarded.get("/static/style.css").status_code == 200
    assert guarded.post("/login", data={"token": "nope", "next": "/model"}).status_code == 401
    login = guarded.post("/login", data={"token": TOKEN, "next": "/model"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/model"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    assert guarded.get("/model").status_code == 200  # the session cookie now rides along


# --------------------------------------------------------------------------- start


def test_start_verifies_the_artifacts(smoke_artifacts, tmp_path):
    with pytest.raises(ParameterError, match=r"no finished run there .* make run-all"):
        check_run_folder(tmp_path / "nothing")
    import shutil

    copy = tmp_path / "artifacts"
    shutil.copytree(smoke_artifacts, copy)
    with (copy / "model_xgb.json").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ArtifactIntegrityError, match=r"model_xgb.json changed since"):
        create_app(build_config(copy, environ={}))
