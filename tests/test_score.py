"""ntl.score end to end on a small run's artifacts: same scores as the chain, files, errors."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from ntl import cli, drift, risk, score
from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactVersionError, MeterDataError, MissingArtifactError, ParameterError
from ntl.models import bundle as bundle_module
from ntl.models import load_model_bundle, save_model_bundle, split_customers, train_models
from ntl.models.bundle import on_all_cores
from ntl.persist import save_preprocessor
from ntl.preprocess import PreprocessConfig, fit_transform
from ntl.synth import generate_consumption
from ntl.thresholds import assign_tiers, fit_thresholds
from tests.test_persist import plant_pickles

SEED = 5


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A small labelled run folder as notebooks 01-04 leave it (drift baseline included)."""
    folder = tmp_path_factory.mktemp("run") / "artifacts"
    consumption, _truth = generate_consumption(240, n_days=100, seed=SEED)
    days = consumption.columns[1:]
    consumption[days] = consumption[days].where(consumption[days] >= 0)  # as the loader does
    ArtifactStore(folder, notebook="01_data_generation_eda").write_parquet(
        "consumption.parquet", consumption
    )
    store = ArtifactStore(folder, notebook="02_preprocessing_clustering")
    preprocessor, preprocessed = fit_transform(consumption, PreprocessConfig(n_clusters=2), SEED)
    save_preprocessor(store, preprocessor)
    store.write_parquet("preprocessed.parquet", preprocessed)
    store = ArtifactStore(folder, notebook="03_modeling")
    preprocessed = store.read_parquet("preprocessed.parquet")  # as 03 reads it: lineage recorded
    split = split_customers(preprocessed["FLAG"], seed=SEED)
    store.write_parquet("split.parquet", split)
    bundle, report = train_models(
        preprocessed,
        split,
        seed=SEED,
        if_n_estimators=20,
        xgb_params={"n_estimators": 30},
        rf_n_estimators=5,
        n_jobs=1,
        min_cluster_size=40,
    )
    save_model_bundle(bundle, store)
    validation = report["validation_scores"]
    store.write_json(
        "thresholds.json", fit_thresholds(validation["risk_score"], validation["FLAG"])
    )
    store = ArtifactStore(folder, notebook="04_evaluation_risk")
    store.write_json(
        "drift_baseline.json", drift.drift_baseline(preprocessed, bundle.score(preprocessed))
    )
    return folder


@pytest.fixture(scope="module")
def chain(run) -> dict:
    """The chain's own view of the run: consumption, preprocessed, scores, tiers."""
    store = ArtifactStore(run)
    preprocessed = store.read_parquet("preprocessed.parquet")
    scores = load_model_bundle(store).score(preprocessed)
    return {
        "consumption": store.read_parquet("consumption.parquet"),
        "scores": scores,
        "tiers": assign_tiers(scores["risk_score"], store.read_json("thresholds.json")),
    }


@pytest.fixture(scope="module")
def export(run, chain, tmp_path_factory) -> Path:
    """The run's consumption as a wide CSV meter export (SGCC layout, dates as 2014/1/1)."""
    path = tmp_path_factory.mktemp("export") / "meter.csv"
    frame = chain["consumption"].copy()
    frame.columns = ["FLAG", *pd.to_datetime(frame.columns[1:]).strftime("%Y/%-m/%-d")]
    frame.to_csv(path)
    return path


@pytest.fixture(scope="module")
def scored(export, run, tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("out") / "list.csv"
    return score.score_file(export, run, out, progress=False), out


def test_score_file_equals_the_chain(scored, chain):
    ranked, _ = scored
    known = ranked["known_case"].to_numpy(dtype=bool)
    assert ranked.loc[~known, "risk_score"].is_monotonic_decreasing  # customers to inspect first
    assert ranked.loc[known, "risk_score"].is_monotonic_decreasing  # then the known cases
    assert not known[: int((~known).sum())].any()
    by_id = ranked.set_index("CONS_NO")
    expected = chain["scores"]
    assert set(by_id.index) == set(expected.index)
    np.testing.assert_allclose(
        by_id.loc[expected.index, "risk_score"], expected["risk_score"], rtol=1e-12
    )
    np.testing.assert_allclose(
        by_id.loc[expected.index, "probability"], expected["probability"], rtol=1e-12
    )
    thieves = chain["consumption"]["FLAG"].eq(1).fillna(False)
    tiers = chain["tiers"].astype(str).where(~thieves.reindex(chain["tiers"].index), "known theft")
    assert (by_id.loc[expected.index, "tier"] == tiers.loc[expected.index]).all()
    assert by_id["known_case"].equals(thieves.reindex(by_id.index).astype(bool))


def test_known_cases_of_the_input_are_set_apart(run, chain, tmp_path):
    """The input's FLAG 1 customers are cases the team knows: tier 'known theft', listed after
    every customer still to inspect; the same file without FLAG lists them by risk like anyone."""
    consumption = chain["consumption"]
    ranked = score.score_file(
        _export_of(chain, tmp_path, "labelled", None), run, tmp_path / "l.csv", progress=False
    )
    thieves = set(consumption.index[consumption["FLAG"].eq(1).fillna(False)])
    assert thieves and set(ranked.loc[ranked["known_case"], "CONS_NO"]) == thieves
    assert (ranked.loc[ranked["known_case"], "tier"] == "known theft").all()
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    assert ranked["known_case"].tolist() == sorted(ranked["known_case"].tolist())
    unlabelled = consumption.assign(FLAG=pd.NA)
    path = tmp_path / "unlabelled.parquet"
    unlabelled.to_parquet(path)
    plain = score.score_file(path, run, tmp_path / "u.csv", progress=False)
    assert not plain["known_case"].any() and "known theft" not in set(plain["tier"])


def test_score_file_writes_csv_parquet_and_drift(scored):
    ranked, out = scored
    from_csv = pd.read_csv(out, dtype={"CONS_NO": str}, keep_default_na=False, na_values=[""])
    assert list(from_csv.columns) == list(ranked.columns)
    np.testing.assert_allclose(from_csv["risk_score"], ranked["risk_score"], rtol=1e-15)
    from_parquet = pd.read_parquet(out.with_suffix(".parquet"))
    assert from_parquet["CONS_NO"].tolist() == ranked["CONS_NO"].tolist()
    report = json.loads(out.with_name("list_drift.json").read_text())
    assert report["available"] is True
    assert report["n_customers"] == len(ranked)
    psi_by_name = {row["variable"]: row["psi"] for row in report["variables"]}
    assert psi_by_name["risk_score"] == pytest.approx(0.0, abs=1e-9)  # the baseline's own data
    assert report["alerts"] == []


def test_score_input_is_score_file_without_writing(scored, export, run, tmp_path):
    ranked, _ = scored
    loaded = score.load_scoring_artifacts(run)
    before = sorted(p.name for p in export.parent.iterdir())
    result = score.score_input(export, loaded, source="meter.csv")
    pd.testing.assert_frame_equal(result.inspection_list, ranked)
    assert sorted(p.name for p in export.parent.iterdir()) == before
    assert result.drift_document["input"] == "meter.csv"
    assert result.drift_document["n_customers"] == len(ranked)
    assert len(result.consumption) == len(ranked)


def test_score_file_csv_neutralises_formula_ids(chain, run, tmp_path):
    frame = chain["consumption"].iloc[:40].copy()
    frame.index = ["=HYPERLINK(0)", "+1", *frame.index[2:]]
    frame.index.name = "CONS_NO"
    frame.columns = ["FLAG", *pd.to_datetime(frame.columns[1:]).strftime("%Y-%m-%d")]
    frame.to_csv(tmp_path / "formulas.csv")
    ranked = score.score_file(tmp_path / "formulas.csv", run, tmp_path / "l.csv", progress=False)
    text = (tmp_path / "l.csv").read_text()
    assert ",'=HYPERLINK(0)," in text and ",'+1," in text
    assert ",=HYPERLINK" not in text
    assert "=HYPERLINK(0)" in set(ranked["CONS_NO"])  # the returned list keeps the real IDs
    parquet = pd.read_parquet(tmp_path / "l.parquet")
    assert "=HYPERLINK(0)" in set(parquet["CONS_NO"])


def test_reasons_cover_the_high_and_medium_tiers_and_the_list_says_so(scored):
    ranked, _ = scored
    explained = ranked["tier"].isin(["high", "medium"]).to_numpy()
    assert explained.any() and (ranked["tier"] == "low").any()
    assert not ranked.loc[explained, "reason_1"].isin(["", risk.NOT_EXPLAINED]).any()
    assert (ranked.loc[~explained, "reason_1"] == risk.NOT_EXPLAINED).all()
    assert (ranked.loc[~explained, "reason_2"] == "").all()


def test_reasons_for_top_and_progress_bar(export, run, tmp_path, capsys):
    ranked = score.score_file(export, run, tmp_path / "top.csv", reasons_for_top=7)
    explained = np.flatnonzero(ranked["reason_1"].to_numpy() != risk.NOT_EXPLAINED)
    assert explained.tolist() == list(range(7))
    assert "ntl score" in capsys.readouterr().err


def test_drift_warnings_on_shifted_data(run, chain, tmp_path, capsys):
    shifted = chain["consumption"].copy()
    days = shifted.columns[1:]
    shifted[days] = (shifted[days] * 3.0).astype(np.float32)
    path = tmp_path / "shifted.parquet"
    shifted.to_parquet(path)
    score.score_file(path, run, tmp_path / "shifted_list.csv", progress=False)
    errors = capsys.readouterr().err
    assert "warning: drift: feature 'mean_kwh' has PSI" in errors
    report = json.loads((tmp_path / "shifted_list_drift.json").read_text())
    assert "mean_kwh" in report["alerts"]


def test_score_customer_matches_the_batch(run, chain, scored):
    ranked, _ = scored
    top = ranked.iloc[0]
    readings = chain["consumption"].loc[top["CONS_NO"]].iloc[1:]
    loaded = score.load_scoring_artifacts(run)
    result = score.score_customer(readings.to_dict(), loaded)  # the whole calendar, NaN included
    assert result["risk_score"] == pytest.approx(top["risk_score"], rel=1e-6)
    assert result["tier"] == top["tier"]
    assert result["probability"] == pytest.approx(top["probability"], rel=1e-6)
    assert result["reasons"] == [top[c] for c in ("reason_1", "reason_2", "reason_3") if top[c]]
    assert len(result["reasons"]) >= 1


def test_score_customers_answers_each_customer_as_if_scored_alone(run, chain):
    """Customers on shared and on different calendars, scored together, get exactly the
    answer of a one-customer pass; a customer that cannot be scored gets its own error."""
    from ntl.risk import NO_STANDOUT, NOT_EXPLAINED

    loaded = score.load_scoring_artifacts(run)
    consumption = chain["consumption"]
    days = list(consumption.columns[1:])
    spans = [(0, 100), (0, 100), (5, 100), (0, 90), (0, 100), (10, 80), (5, 100)]
    many: list = [
        consumption.iloc[row][days[start:stop]].to_dict() for row, (start, stop) in enumerate(spans)
    ]
    many.insert(2, {"2016-01-01": 1.0})  # one day: too short
    many.append({"not a date": 1.0})
    answers = score.score_customers(many, loaded)
    assert len(answers) == len(many)
    assert isinstance(answers[2], MeterDataError)
    assert str(answers[2]) == "readings: only 1 day(s) of history, at least 14 are needed"
    assert isinstance(answers[-1], MeterDataError) and "keys that are not dates" in str(answers[-1])
    answered = [(r, a) for r, a in zip(many, answers, strict=True) if isinstance(a, dict)]
    assert len(answered) == len(spans)
    for readings, answer in answered:
        frame = score.readings_frame(readings)
        alone = score.score_consumption(frame, loaded, reasons_for_top=1, with_drift=False)
        row = alone.inspection_list.iloc[0]
        assert answer["risk_score"] == row["risk_score"]  # exactly, not approximately
        assert answer["probability"] == row["probability"]
        assert answer["tier"] == row["tier"]
        reasons = [row[c] for c in ("reason_1", "reason_2", "reason_3")]
        assert answer["reasons"] == [
            r for r in reasons if r and r not in (NO_STANDOUT, NOT_EXPLAINED)
        ]
        assert answer == score.score_customer(readings, loaded)
    packed = [score.pack_readings(readings) for readings in many]  # as the web app sends them
    assert all(isinstance(readings, score.PackedReadings) for readings in packed)  # "not a date"
    for sent, answer in zip(score.score_customers(packed, loaded), answers, strict=True):
        assert type(sent) is type(answer)
        assert sent == answer if isinstance(answer, dict) else str(sent) == str(answer)
    assert len({a["risk_score"] for _, a in answered}) >= 4  # different customers, not copies
    assert score.score_customers([{"x": 1.0}], loaded)[0].args[0].startswith("readings: keys")


def test_a_booster_kept_on_one_thread_switches_only_for_large_inputs(run, monkeypatch):
    from ntl.models.bundle import booster_threads, keep_on_one_thread

    store = ArtifactStore(run)
    bundle = load_model_bundle(store)
    preprocessed = store.read_parquet("preprocessed.parquet")
    expected = bundle.score(preprocessed)
    keep_on_one_thread(bundle)
    booster = bundle.booster()  # the trees every prediction uses
    assert booster_threads(booster) == 1
    switches = []
    original = booster.set_param
    monkeypatch.setattr(booster, "set_param", lambda p: (switches.append(p), original(p))[1])
    few = bundle.score(preprocessed.iloc[:5])
    bundle.xgb_contributions(preprocessed.iloc[:5])
    assert switches == []  # nothing to switch for five customers
    pd.testing.assert_frame_equal(few, expected.iloc[:5])
    monkeypatch.setattr(bundle_module, "PARALLEL_MIN_ROWS", 100)  # 240 rows: every core
    pd.testing.assert_frame_equal(bundle.score(preprocessed), expected)
    assert switches == [{"nthread": 0}, {"nthread": 1}]  # there and back
    assert booster_threads(booster) == 1


def test_a_kept_booster_answers_its_thread_setting_without_reading_its_config(run, monkeypatch):
    """save_config costs milliseconds: a booster the app keeps on one thread is known to be there,
    also after a large input switched it to every core and back."""
    from ntl.models.bundle import booster_threads, keep_on_one_thread

    store = ArtifactStore(run)
    bundle = load_model_bundle(store)
    preprocessed = store.read_parquet("preprocessed.parquet")
    booster = bundle.booster()
    threads = json.loads(booster.save_config())["learner"]["generic_param"]["nthread"]
    assert booster_threads(booster) == int(threads)  # read from the config before
    keep_on_one_thread(bundle)
    monkeypatch.setattr(bundle_module, "PARALLEL_MIN_ROWS", 100)  # 240 rows: every core
    expected = bundle.score(preprocessed)
    config_reads = []
    original = booster.save_config
    monkeypatch.setattr(booster, "save_config", lambda: (config_reads.append(1), original())[1])
    assert booster_threads(booster) == 1
    pd.testing.assert_frame_equal(bundle.score(preprocessed.iloc[:5]), expected.iloc[:5])
    assert config_reads == []  # five customers: nothing read, nothing switched
    pd.testing.assert_frame_equal(bundle.score(preprocessed), expected)
    assert json.loads(original())["learner"]["generic_param"]["nthread"] == "1"  # back on one
    assert booster_threads(booster) == 1 and config_reads == []


def test_readings_frame_fills_the_calendar():
    frame = score.readings_frame({"2016/1/3": 2.0, "2016-01-01": 1.0, "2016-01-04": -1.0})
    assert list(frame.columns) == ["FLAG", "2016-01-01", "2016-01-02", "2016-01-03", "2016-01-04"]
    values = frame.iloc[0, 1:].to_numpy(dtype=float)
    assert values[0] == 1.0 and values[2] == 2.0
    assert np.isnan(values[1]) and np.isnan(values[3])  # absent day, negative reading


@pytest.mark.parametrize(
    "readings",
    [
        {"2016-01-03": 2.0, "2016-01-01": 1.0, "2016-01-04": -1.0, "2016-01-06": None},
        {"2016-02-28": 3.5, "2016-02-29": 0.0, "2016-03-01": 1e7, "2016-03-03": 4},
        {"2015-12-30": float("nan"), "2015-12-31": 2.25, "2016-01-01": 1.125},
        {"2016-01-01": "3.5", "2016-01-02": 1.0},  # a number as text, as the loader reads it
    ],
)
def test_iso_readings_take_numpys_path_to_the_same_calendar(readings):
    """The JSON API's YYYY-MM-DD keys are placed by numpy's parsers; the calendar and first day
    equal the general path's (the loader's parsers) exactly, NaN where absent or negative."""
    fast = score._iso_calendar(readings)
    assert fast is not None
    general = score._general_calendar(readings)
    np.testing.assert_array_equal(fast[0], general[0])
    assert fast[0].dtype == general[0].dtype == np.float32
    assert fast[1] == general[1]
    calendar, first_day = score.readings_calendar(readings)
    np.testing.assert_array_equal(calendar, score.readings_calendar(pd.Series(readings))[0])
    assert first_day == min(pd.Timestamp(day) for day in readings)


def test_iso_day_numbers_equal_numpys_date_parser_and_refuse_what_is_not_a_day():
    every_day = np.arange(np.datetime64("1899-12-25"), np.datetime64("2101-01-05"))
    keys = every_day.astype("<U10")  # leap years (1900 is not one, 2000 is) and month ends
    np.testing.assert_array_equal(score.iso_day_numbers(keys), every_day.astype(np.int64))
    for bad in ["2015-02-29", "1900-02-29", "2016-04-31", "2016-00-10", "2016-13-01",
                "2016-01-00", "2016/01/01", "2016-1-01x", " 2016-0101", "1677-12-31",
                "2262-01-01", "２０１６-01-01"]:  # fmt: skip
        assert score.iso_day_numbers(np.array(["2016-01-01", bad])) is None, bad
    assert score.iso_day_numbers(np.array(["2016-1-1"])) is None  # not written out in full
    assert score.iso_day_numbers(np.array(["1970-01-02", "2000-02-29"])).tolist() == [1, 11016]


@pytest.mark.parametrize(
    "readings",
    [
        {"2016/1/3": 2.0, "2016-01-01": 1.0},  # another date format
        {"20160103": 2.0},
        {"2016-02-30": 2.0},  # not a day
        {"0016-01-01": 2.0},  # outside pandas' dates
        {"2016-01-01": "lots"},
        {"2016-01-01": [1.0]},
        {pd.Timestamp("2016-01-01"): 1.0},
        {},
    ],
)
def test_other_readings_go_to_the_general_path(readings):
    assert score._iso_calendar(readings) is None


@pytest.mark.parametrize(
    "readings",
    [
        {"2016-01-03": 2.0, "2016-01-01": 1.0, "2016-01-04": -1.0, "2016-01-06": None},
        {"2016-02-28": 3.5, "2016-02-29": 0.0, "2016-03-01": 1e7, "2016-03-03": 4},
        {"2016-01-01": "3.5", "2016-01-02": 1.0},  # a number as text
        {"2016-01-01": float("inf"), "2016-01-02": 1.0},  # refused with its date
        {"2016-01-01": None, "2016-01-02": None},  # nothing present
        {"2016-02-30": 2.0, "2016-01-01": 1.0},  # ten characters, not a day
        {"2016/01/03": 2.0, "2016-01-01": 1.0},  # ten characters, another format
        {"2016-01-0\x00": 2.0, "2016-01-02": 1.0},  # a key exactly as sent, in the message
        {"not a date": 1.0, "2016-01-01": 2.0},
    ],
)
def test_packed_readings_give_the_dicts_calendar_or_error(readings):
    packed = score.pack_readings(readings)
    assert isinstance(packed, score.PackedReadings)
    unpacked = packed.as_dict()
    assert list(unpacked) == list(readings)  # every key exactly as sent, in order
    as_floats = [np.nan if value is None else float(value) for value in readings.values()]
    np.testing.assert_array_equal(list(unpacked.values()), as_floats)  # None packs as NaN
    try:
        expected = score.readings_calendar(readings)
    except MeterDataError as error:
        with pytest.raises(MeterDataError) as packed_error:
            score.readings_calendar(packed)
        assert str(packed_error.value) == str(error)
    else:
        calendar, first_day = score.readings_calendar(packed)
        np.testing.assert_array_equal(calendar, expected[0])
        assert first_day == expected[1]


@pytest.mark.parametrize(
    "readings",
    [{}, {"2016-1-1": 1.0, "2016-01-02": 2.0}, {pd.Timestamp("2016-01-01"): 1.0},
     {"2016-01-01": "lots"}, {"2016-01-01": [1.0]}, pd.Series({"2016-01-01": 1.0}), "text"],
)  # fmt: skip
def test_readings_that_do_not_pack_are_sent_as_they_are(readings):
    assert score.pack_readings(readings) is readings


@pytest.mark.parametrize(
    ("readings", "message"),
    [
        ({}, "no readings given"),
        ({"not a date": 1.0, "2016-01-01": 2.0}, "keys that are not dates"),
        ({"2016-01-01": "lots"}, "'lots' for 2016-01-01 is not a number"),
        (pd.Series([1.0, 2.0], index=["2016-01-01", "2016-01-01"]), "more than once"),
    ],
)
def test_readings_frame_bad_input(readings, message):
    with pytest.raises(MeterDataError, match=message):
        score.readings_frame(readings)


def test_score_customer_short_history(run):
    readings = {f"2016-01-{day:02d}": 1.0 for day in range(1, 8)}
    with pytest.raises(MeterDataError, match=r"only 7 day\(s\) of history, at least 14"):
        score.score_customer(readings, run)


def test_score_file_bad_inputs_leave_nothing_behind(run, chain, tmp_path):
    short = chain["consumption"].iloc[:5, :11]
    short.to_csv(tmp_path / "short.csv")
    out = tmp_path / "out.csv"
    with pytest.raises(MeterDataError, match=r"only 10 day\(s\) of readings, at least 14"):
        score.score_file(tmp_path / "short.csv", run, out, progress=False)
    chain["consumption"].iloc[:5].rename_axis("meter").to_csv(tmp_path / "no_id.csv")
    with pytest.raises(MeterDataError, match="no ID column 'CONS_NO'"):
        score.score_file(tmp_path / "no_id.csv", run, out, progress=False)
    chain["consumption"].iloc[:5].assign(region="north").to_csv(tmp_path / "extra.csv")
    with pytest.raises(MeterDataError, match=r"headers that are not dates: \['region'\]"):
        score.score_file(tmp_path / "extra.csv", run, out, progress=False)
    with pytest.raises(ParameterError, match=r"unknown read options \['delimiter'\]"):
        score.score_file(tmp_path / "short.csv", run, out, read_options={"delimiter": ";"})
    assert not out.exists() and not out.with_suffix(".parquet").exists()
    assert not list(tmp_path.glob("*drift*")) and not list(tmp_path.glob(".*tmp"))


def test_artifacts_from_another_version_or_missing(run, export, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["artifact_format"] = 99
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactVersionError, match="artifact format 99"):
        score.score_file(export, other, tmp_path / "x.csv", progress=False)
    with pytest.raises(MissingArtifactError, match="not an ntl artifacts folder"):
        score.score_file(export, tmp_path / "empty", tmp_path / "x.csv", progress=False)


def test_cli_score_command(run, export, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    assert (
        cli.main(["score", str(export), "--artifacts", str(run), "--out", str(out), "--quiet"]) == 0
    )
    assert out.exists() and (tmp_path / "cli_drift.json").exists()
    assert cli.main(["score", str(tmp_path / "nope.csv"), "--artifacts", str(run)]) == 2
    assert "nope.csv: file not found" in capsys.readouterr().err


def test_bundle_contributions_sum_to_the_xgboost_margin(run, chain):
    store = ArtifactStore(run)
    bundle = load_model_bundle(store)
    preprocessed = store.read_parquet("preprocessed.parquet")
    contributions = bundle.xgb_contributions(preprocessed)
    margin = contributions.sum(axis=1).to_numpy()
    probability = chain["scores"]["xgb_probability"].to_numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), probability, rtol=1e-5, atol=1e-6)


def test_read_while_loading_keeps_the_sequential_error_order(run, export, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(MissingArtifactError):  # artifacts first, even when the input is bad too
        score.read_while_loading(tmp_path / "nope.csv", missing, None)
    with pytest.raises(MissingArtifactError):
        score.read_while_loading(export, missing, {"delimiter": ";"})
    with pytest.raises(ParameterError, match="min_days=3 is below the 14 days"):
        score.read_while_loading(export, run, {"min_days": 3})
    with pytest.raises(MeterDataError, match="nope.csv: file not found"):
        score.read_while_loading(tmp_path / "nope.csv", run, None)
    loaded, consumption, report = score.read_while_loading(export, run, {"layout": "wide"})
    assert report.dropped_ids == []
    assert loaded.min_days == 14
    assert consumption.shape == (240, 101)


def test_scoring_imports_no_plotting_or_notebook_stack():
    """`python -m ntl score` starts reading before scikit-learn / XGBoost load, and never needs
    the plotting or notebook libraries."""
    code = (
        "import sys\n"
        "from ntl.cli import build_parser\n"
        "try:\n"
        "    build_parser().parse_args(['score', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "import ntl.score\n"
        "heavy = ('sklearn', 'xgboost', 'scipy', 'matplotlib', 'seaborn', 'papermill', "
        "'nbconvert', 'tqdm', 'joblib')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_predictions_on_all_cores_equal_one_core_and_leave_the_model_as_trained(run, monkeypatch):
    monkeypatch.setattr(bundle_module, "PARALLEL_MIN_ROWS", 1)  # all cores even for 240 rows
    store = ArtifactStore(run)
    bundle = load_model_bundle(store)
    preprocessed = store.read_parquet("preprocessed.parquet")
    booster = bundle.xgb.get_booster()
    matrix = xgb.DMatrix(bundle.features(preprocessed), missing=np.nan)
    rounds = (0, bundle.xgb.best_iteration + 1)
    one_core = booster.predict(matrix, pred_contribs=True, iteration_range=rounds)
    contributions = bundle.xgb_contributions(preprocessed)
    np.testing.assert_array_equal(contributions.to_numpy(), one_core.astype(np.float64))
    probability = booster.predict(matrix, iteration_range=rounds).astype(np.float64)
    np.testing.assert_array_equal(bundle.score(preprocessed)["xgb_probability"], probability)
    booster.set_param({"nthread": 1})  # as trained with n_jobs=1
    with pytest.raises(RuntimeError), on_all_cores(booster):
        assert json.loads(booster.save_config())["learner"]["generic_param"]["nthread"] == "0"
        raise RuntimeError("restored even when the prediction fails")
    assert json.loads(booster.save_config())["learner"]["generic_param"]["nthread"] == "1"


def test_the_bundle_predicts_with_the_trees_up_to_the_best_iteration_only(run):
    """bundle.booster(): the best iteration's trees as their own booster (TreeSHAP sets up every
    tree of a booster on each call), giving the numbers of the whole booster cut there."""
    store = ArtifactStore(run)
    bundle = load_model_bundle(store)
    full = bundle.xgb.get_booster()
    best = bundle.xgb.best_iteration
    assert bundle.booster().num_boosted_rounds() == best + 1
    assert bundle.booster() is bundle.booster()  # made once
    assert full.num_boosted_rounds() > best + 1  # early stopping trained past the best round
    preprocessed = store.read_parquet("preprocessed.parquet")
    matrix = xgb.DMatrix(bundle.features(preprocessed), missing=np.nan)
    rounds = (0, best + 1)
    np.testing.assert_array_equal(
        bundle.xgb_contributions(preprocessed).to_numpy(),
        full.predict(matrix, pred_contribs=True, iteration_range=rounds).astype(np.float64),
    )
    np.testing.assert_array_equal(
        bundle.xgb_probability(bundle.features(preprocessed)),
        bundle.xgb.predict_proba(bundle.features(preprocessed))[:, 1].astype(np.float64),
    )
    other = dataclasses.replace(bundle, xgb=copy.deepcopy(bundle.xgb))
    assert other.booster() is not bundle.booster()  # another classifier: its own trees


def test_a_few_customers_are_predicted_on_one_thread_with_the_same_numbers(run, monkeypatch):
    from ntl.models.bundle import ALL_CORES, PARALLEL_MIN_ROWS, prediction_threads

    assert prediction_threads(PARALLEL_MIN_ROWS - 1) == 1
    assert prediction_threads(PARALLEL_MIN_ROWS) == ALL_CORES
    assert prediction_threads(None) == ALL_CORES
    store = ArtifactStore(run)
    bundle = load_model_bundle(store)
    preprocessed = store.read_parquet("preprocessed.parquet")
    monkeypatch.setattr(bundle_module, "PARALLEL_MIN_ROWS", 1)
    batch, batch_contributions = bundle.score(preprocessed), bundle.xgb_contributions(preprocessed)
    monkeypatch.setattr(bundle_module, "PARALLEL_MIN_ROWS", 10**9)
    for row in (0, 17, len(preprocessed) - 1):
        one = preprocessed.iloc[[row]]
        pd.testing.assert_frame_equal(bundle.score(one), batch.iloc[[row]])
        pd.testing.assert_frame_equal(
            bundle.xgb_contributions(one), batch_contributions.iloc[[row]]
        )


def test_every_input_customer_is_in_the_output_unscorable_ones_with_the_reason(
    run, chain, tmp_path, capsys
):
    """A customer with no reading at all cannot be scored, but is listed, last, with the reason."""
    consumption = chain["consumption"].copy()
    days = consumption.columns[1:]
    silent = consumption.index[[3, 50, 120]]
    consumption.loc[silent, days] = np.nan
    path = tmp_path / "with_silent.csv"
    consumption.to_csv(path)
    ranked = score.score_file(path, run, tmp_path / "silent.csv", progress=False)
    assert len(ranked) == len(consumption)
    assert set(ranked["CONS_NO"]) == set(consumption.index)
    unscored = ranked[ranked["tier"] == score.NOT_SCORED_TIER]
    assert sorted(unscored["CONS_NO"]) == sorted(silent)
    assert (unscored["note"] == "not scored: no reading in the file").all()
    assert unscored["risk_score"].isna().all() and unscored["rank"].isna().all()
    assert ranked.index[-3:].tolist() == unscored.index.tolist()  # listed after the ranking
    assert ranked["rank"].dropna().tolist() == list(range(1, len(consumption) - 2))
    from_csv = pd.read_csv(tmp_path / "silent.csv", dtype={"CONS_NO": str})
    assert len(from_csv) == len(consumption)
    err = capsys.readouterr().err
    assert "3 customer(s) have no reading in the file and could not be scored" in err
    summary = json.loads((tmp_path / "silent_drift.json").read_text())["scoring"]
    assert summary == {
        "customers_in_file": 240,
        "scored": 237,
        "not_scored": 3,
        "in_sample": summary["in_sample"],
    }


def test_a_customer_with_implausible_readings_is_listed_low_quality(run, chain, tmp_path):
    """1e12 kWh a day was set missing and the customer then scored as HIGH quality."""
    consumption = chain["consumption"].copy()
    corrupt = consumption.index[7]
    consumption.loc[corrupt, consumption.columns[5]] = 1e12
    path = tmp_path / "corrupt.csv"
    consumption.to_csv(path)
    ranked = score.score_file(path, run, tmp_path / "corrupt_list.csv", progress=False)
    quality = ranked.set_index("CONS_NO")["quality_flag"]
    assert quality.loc[corrupt] == "LOW"
    clean = score.score_file(
        _export_of(chain, tmp_path, "clean", None), run, tmp_path / "clean_list.csv", progress=False
    ).set_index("CONS_NO")["quality_flag"]
    assert clean.loc[corrupt] == "HIGH"
    assert quality.drop(corrupt).equals(clean.drop(corrupt))


def test_rescoring_training_customers_warns_that_they_are_in_sample(run, chain, tmp_path, capsys):
    split = ArtifactStore(run).read_parquet("split.parquet")["split"]
    train_ids = split.index[split == "train"]
    ranked = score.score_file(
        _export_of(chain, tmp_path, "all", None),
        run,
        tmp_path / "all_list.csv",
        progress=False,
    )
    noted = ranked.set_index("CONS_NO")["note"]
    assert (noted.loc[train_ids] == score.IN_SAMPLE_NOTE).all()
    assert (noted.drop(train_ids) == "").all()
    err = capsys.readouterr().err
    assert f"warning: {len(train_ids):,} customer(s) are training customers" in err
    assert "scored in-sample" in err
    held_out = split.index[split == "test"]
    ranked = score.score_file(
        _export_of(chain, tmp_path, "test", held_out), run, tmp_path / "t.csv", progress=False
    )
    assert (ranked["note"] == "").all()
    assert "in-sample" not in capsys.readouterr().err


def _export_of(chain, tmp_path, name, ids) -> Path:
    frame = chain["consumption"] if ids is None else chain["consumption"].loc[ids]
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return path


def test_cli_summary_counts_the_customers_scored(run, chain, tmp_path, capsys):
    consumption = chain["consumption"].copy()
    consumption.iloc[0, 1:] = np.nan
    path = tmp_path / "one_silent.parquet"
    consumption.to_parquet(path)
    out = tmp_path / "nested" / "list.csv"  # a folder that does not exist yet
    assert (
        cli.main(["score", str(path), "--artifacts", str(run), "--out", str(out), "--quiet"]) == 0
    )
    assert out.exists()
    captured = capsys.readouterr()
    assert f"scored 239 of 240 customers -> {out}" in captured.out


def test_cli_scores_an_interval_export_like_its_daily_sums(run, chain, scored, tmp_path):
    """Each day as 24 hourly readings (1..24, all of it in hour 18 so the sum is exact; missing
    days are 24 x Null): the same scores as the daily export."""
    consumption = chain["consumption"]
    days = consumption.columns[1:]
    hourly = consumption[days].stack(future_stack=True).rename("kwh").reset_index()
    hourly.columns = ["meter", "date", "kwh"]
    parts = np.zeros((len(hourly), 24))
    parts[:, 17] = hourly["kwh"].to_numpy(dtype=np.float64)
    parts[np.isnan(parts[:, 17])] = np.nan
    table = pd.DataFrame(parts, columns=[str(h) for h in range(1, 25)])
    table.insert(0, "date", hourly["date"])
    table.insert(0, "meter", hourly["meter"])
    path = tmp_path / "hourly.csv"
    table.to_csv(path, index=False, na_rep="Null")
    out = tmp_path / "interval_list.csv"
    options = ["--id-column", "meter", "--timezone", "UTC", "--max-missing-share", "0", "--quiet"]
    assert cli.main(["score", str(path), "--artifacts", str(run), "--out", str(out), *options]) == 0
    daily, _ = scored
    ranked = pd.read_csv(out, dtype={"CONS_NO": str}).set_index("CONS_NO").loc[daily["CONS_NO"]]
    np.testing.assert_allclose(ranked["risk_score"], daily["risk_score"], rtol=1e-4, atol=1e-5)
    bad = [*options[:-1], "--interval-stamps", "middle"]
    with pytest.raises(SystemExit):
        cli.main(
            ["score", str(path), "--artifacts", str(run), "--out", str(tmp_path / "x.csv"), *bad]
        )
    assert cli.main(["score", str(path), "--artifacts", str(run), "--out", str(tmp_path / "y.csv"),
                     "--id-column", "meter", "--max-missing-share", "2", "--quiet"]) == 2  # fmt: skip
    assert not (tmp_path / "y.csv").exists()


def test_planted_pickles_never_run_in_ntl_score(run, export, tmp_path):
    """Pickles planted under every name the chain ever used, sha256s in the manifest: ntl score
    still works and the planted code never runs (nothing is unpickled)."""
    folder = tmp_path / "artifacts"
    shutil.copytree(run, folder)
    marker = tmp_path / "marker"
    plant_pickles(folder, marker)
    out = tmp_path / "list.csv"
    args = ["score", str(export), "--artifacts", str(folder), "--out", str(out), "--quiet"]
    assert cli.main(args) == 0
    assert out.exists()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("input_name", "out", "drift_out", "message"),
    [
        ("v.csv", "v.csv", None, r"--out \S*v\.csv is the input file"),
        ("v.parquet", "v.parquet", None, r"--out's parquet copy \S*v\.parquet is the input file"),
        ("v.csv", "list.csv", "v.csv", r"--drift-out \S*v\.csv is the input file"),
        ("v3.csv", "v3.parquet", None, r"--out \S*v3\.csv is the input file"),
        ("v.csv", "list.csv", "list.csv", r"--drift-out \S*list\.csv is also the --out output"),
        ("v.csv", "ARTIFACTS/drift_baseline.json", None, "is inside the artifacts folder"),
        ("v.csv", "d.csv", None, r"--out's parquet copy \S*d\.parquet is a directory"),
    ],
)
def test_outputs_never_land_on_inputs_or_artifacts(
    run, chain, tmp_path, capsys, input_name, out, drift_out, message
):
    """Each case wrote over the user's file (or the run) and exited 0; now: one line, exit 2,
    and not a byte written anywhere."""
    folder = tmp_path / "artifacts"
    shutil.copytree(run, folder)
    source = tmp_path / input_name
    consumption = chain["consumption"]
    if source.suffix == ".parquet":
        consumption.to_parquet(source)
    else:
        consumption.to_csv(source)
    (tmp_path / "d.parquet").mkdir()  # a folder where the parquet copy should go
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    out = out.replace("ARTIFACTS", str(folder))
    args = ["score", str(source), "--artifacts", str(folder), "--out", str(tmp_path / out)]
    if drift_out:
        args += ["--drift-out", str(tmp_path / drift_out)]
    assert cli.main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def _rehash(folder: Path, name: str) -> None:
    """Record `name`'s current bytes in the manifest, as someone editing the folder would."""
    from ntl.artifacts import sha256_file

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifacts"][name]["sha256"] = sha256_file(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("manifest_list", r"manifest\.json is not an ntl manifest \(a JSON list"),
        ("xgb_not_a_model", r"model_xgb\.json is not an XGBoost model"),
        ("interrupted_run", r"its last run \(pid \d+.*was interrupted before finishing"),
        ("mixed_runs", r"mixes runs: .* was made from preprocessed\.parquet"),
    ],
)
def test_damaged_artifact_folders_get_one_line_and_exit_2(
    run, export, tmp_path, capsys, damage, message
):
    folder = tmp_path / "artifacts"
    shutil.copytree(run, folder)
    if damage == "manifest_list":
        (folder / "manifest.json").write_text("[]")
    elif damage == "xgb_not_a_model":
        (folder / "model_xgb.json").write_text('{"learner": "not really"}')
        _rehash(folder, "model_xgb.json")
    elif damage == "interrupted_run":
        (folder / ".ntl-run.lock").write_text('{"pid": 999999999, "stage": "03_modeling"}')
    else:  # preprocessed.parquet of another run beside this run's models
        other = pd.read_parquet(folder / "preprocessed.parquet").iloc[::-1]
        other.to_parquet(folder / "preprocessed.parquet")
        _rehash(folder, "preprocessed.parquet")
    out = tmp_path / "list.csv"
    args = ["score", str(export), "--artifacts", str(folder), "--out", str(out), "--quiet"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not out.exists()


def test_one_customer_scored_alone_gets_one_drift_note_not_a_warning_per_variable(
    run, chain, tmp_path, capsys
):
    single = tmp_path / "one.csv"
    chain["consumption"].iloc[:1].to_csv(single)
    out = tmp_path / "one_list.csv"
    assert (
        cli.main(["score", str(single), "--artifacts", str(run), "--out", str(out), "--quiet"]) == 0
    )
    warnings = [line for line in capsys.readouterr().err.splitlines() if "drift" in line]
    assert warnings == [
        "warning: drift not judged: 1 customer(s) scored, PSI needs at least 200 to tell a shift "
        "from chance"
    ]
    report = json.loads((tmp_path / "one_list_drift.json").read_text())
    assert report["judged"] is False and report["alerts"] == []


def test_cli_refuses_a_bad_interval_file_and_writes_nothing(run, tmp_path, capsys):
    lines = ["meter,tstp,kwh"] + [f"A,2014-01-01 {h:02d}:00:00,1" for h in range(24)]
    lines.append("A,2014-01-01 05:00:00,2")  # a second reading at 05:00
    path = tmp_path / "twice.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "never.csv"
    argv = ["score", str(path), "--artifacts", str(run), "--out", str(out), "--quiet"]
    assert cli.main([*argv, "--id-column", "meter", "--date-column", "tstp"]) == 2
    err = capsys.readouterr().err
    assert "two readings at the same timestamp: timestamp 2014-01-01 05:00:00" in err
    assert "customer 'A'" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("never*"))
