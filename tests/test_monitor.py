"""ntl.monitor: each check with known answers, the decision and its reasons, the CLI's exits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ntl import cli
from ntl.errors import ParameterError
from ntl.evaluate import wilson_interval
from ntl.monitor import (
    MonitorThresholds,
    customer_changes,
    markdown_report,
    performance_check,
    promised_precision,
    reading_shares,
    reasons_to_retrain,
)


def test_reading_shares_counts_missing_over_all_and_zeros_over_present():
    frame = pd.DataFrame(
        {"FLAG": [0, 1], "2026-01-01": [0.0, np.nan], "2026-01-02": [1.0, 0.0]},
        index=pd.Index(["A", "B"], name="CONS_NO"),
    )
    assert reading_shares(frame) == {"missing_share": 0.25, "zero_share": pytest.approx(2 / 3)}


def test_customer_changes():
    changes = customer_changes(pd.Index(["A", "B", "C", "D"]), pd.Index(["A", "B", "X"]))
    assert (changes["new"], changes["vanished"]) == (2, 1)
    assert changes["new_share"] == 0.5 and changes["vanished_share"] == pytest.approx(1 / 3)
    assert changes["new_examples"] == ["C", "D"] and changes["vanished_examples"] == ["X"]


def test_performance_check_counts_inspections_since_training_with_wilson():
    outcomes = pd.DataFrame(
        {
            "customer": ["A", "B", "C", "D"],
            "inspection_date": pd.to_datetime(
                ["2026-01-01", "2026-02-01", "2026-02-02", "2026-03-01"]
            ),
            "outcome": ["theft", "theft", "no theft", "no theft"],
        }
    )
    check = performance_check(outcomes, pd.Timestamp("2026-02-01"), None)
    assert (check["inspections"], check["thefts"]) == (3, 1)
    low, high = wilson_interval(1, 3)
    assert (check["hit_rate_low"], check["hit_rate_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    empty = performance_check(outcomes.iloc[:0], pd.Timestamp("2026-02-01"), None)
    assert empty["inspections"] == 0 and empty["hit_rate"] is None


def test_promised_precision_is_the_model_cards_test_precision():
    evaluation = {
        "test": {"threshold": {"precision": 0.6, "precision_low": 0.5, "precision_high": 0.7}}
    }
    thresholds = {"expected": {"precision": 0.4}}
    promised = promised_precision(evaluation, thresholds)
    assert (promised["precision"], promised["low"], promised["high"]) == (0.6, 0.5, 0.7)
    assert promised_precision({}, thresholds)["precision"] == 0.4
    assert promised_precision({}, thresholds)["low"] is None
    assert promised_precision({}, {"expected": {"precision": None}}) is None


def _report(**changes):
    report = {
        "drift": {"shifted_features": [], "score_psi": 0.05, "variables": []},
        "readings": {
            "now": {"missing_share": 0.25, "zero_share": 0.05},
            "training": {"missing_share": 0.25, "zero_share": 0.05},
        },
        "customers": customer_changes(pd.Index(["A", "B"]), pd.Index(["A", "B"])),
        "capacity": {"high_share": 0.05, "capacity_share": 0.05, "ratio": 1.0},
        "performance": {
            "since": "2026-01-01",
            "inspections": 0,
            "thefts": 0,
            "hit_rate": None,
            "hit_rate_low": None,
            "hit_rate_high": None,
            "promised": None,
        },
    }
    for key, value in changes.items():
        report[key] = {**report[key], **value}
    return report


def test_no_reasons_when_all_is_well():
    assert reasons_to_retrain(_report(), MonitorThresholds()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "drift": {
                    "shifted_features": [{"variable": "mean_kwh", "psi": 0.8}],
                    "score_psi": 0.0,
                }
            },
            "1 feature(s) shifted (PSI > 0.2): mean_kwh (PSI 0.80)",
        ),
        (
            {"drift": {"shifted_features": [], "score_psi": 0.31}},
            "risk_score shifted: PSI 0.31 > 0.2",
        ),
        (
            {
                "readings": {
                    "now": {"missing_share": 0.40, "zero_share": 0.05},
                    "training": {"missing_share": 0.25, "zero_share": 0.05},
                }
            },
            "missing share of readings moved from 25.0% to 40.0%",
        ),
        (
            {"customers": customer_changes(pd.Index(["A", "B", "C"]), pd.Index(["A"]))},
            "2 customers (67%) were not in training",
        ),
        (
            {"capacity": {"high_share": 0.15, "capacity_share": 0.05, "ratio": 3.0}},
            "the high tier holds 15.0% of customers, 3.00 x the capacity of 5.0%",
        ),
        (
            {
                "performance": {
                    "since": "2026-01-01",
                    "inspections": 40,
                    "thefts": 4,
                    "hit_rate": 0.1,
                    "hit_rate_low": 0.04,
                    "hit_rate_high": 0.23,
                    "promised": {"precision": 0.6, "low": 0.5, "high": 0.7, "source": "t"},
                }
            },
            "found theft in 4 of 40 (10.0%, 95 % interval 4.0%-23.0%), below the promised 60.0%",
        ),
    ],
)
def test_each_check_past_its_threshold_is_a_reason(changes, expected):
    reasons = reasons_to_retrain(_report(**changes), MonitorThresholds())
    assert len(reasons) == 1 and expected in reasons[0]


def test_few_inspections_are_not_judged():
    performance = {
        "inspections": 5, "thefts": 0, "hit_rate": 0.0, "hit_rate_low": 0.0, "hit_rate_high": 0.43,
        "since": "2026-01-01", "promised": {"precision": 0.6, "low": 0.5, "high": 0.7, "source": "t"},
    }  # fmt: skip
    assert reasons_to_retrain(_report(performance=performance), MonitorThresholds()) == []


def test_thresholds_are_validated():
    with pytest.raises(ParameterError, match="--psi-alert must be >= 0"):
        MonitorThresholds(psi_alert=-1)
    with pytest.raises(ParameterError, match="must not exceed"):
        MonitorThresholds(high_tier_ratio_low=3.0)


def test_markdown_report_leads_with_the_decision():
    report = _report() | {
        "input": "m.csv", "artifacts": "run", "checked_at": "now", "ntl_version": "0",
        "retrain": True, "reasons": ["risk_score shifted"],
    }  # fmt: skip
    text = markdown_report(report)
    assert text.splitlines()[4] == "**Retraining recommended.**"
    assert "- risk_score shifted" in text and "| missing share | 25.0% | 25.0% |" in text


def test_monitor_on_a_run_exits_0_or_3_and_writes_both_reports(
    smoke_artifacts, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("NTL_TRACKING", "0")
    from ntl.artifacts import ArtifactStore

    consumption = ArtifactStore(smoke_artifacts).read_parquet("consumption.parquet")
    days = consumption.columns[1:]
    shifted = consumption.copy()
    shifted[days] = shifted[days] * 0.4
    month = tmp_path / "shifted.parquet"
    shifted.to_parquet(month)
    code = cli.main(
        ["monitor", str(month), "--artifacts", str(smoke_artifacts), "--out", str(tmp_path / "r")]
    )
    assert code == 3
    err = capsys.readouterr().err
    assert "retraining recommended" in err and "mean_kwh" in err
    report = json.loads((tmp_path / "r" / "monitor.json").read_text())
    assert report["retrain"] and "mean_kwh" in {
        v["variable"] for v in report["drift"]["shifted_features"]
    }
    assert (tmp_path / "r" / "monitor.md").exists()
    lenient = ["--psi-alert", "100", "--score-psi-alert", "100", "--high-tier-ratio-high", "100",
               "--high-tier-ratio-low", "0", "--zero-share-change", "1"]  # fmt: skip
    code = cli.main(
        [
            "monitor",
            str(month),
            "--artifacts",
            str(smoke_artifacts),
            "--out",
            str(tmp_path / "r2"),
            *lenient,
        ]
    )
    assert code == 0, capsys.readouterr().err


def test_monitor_bad_input_exits_2(smoke_artifacts, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path))
    assert (
        cli.main(["monitor", str(tmp_path / "none.csv"), "--artifacts", str(smoke_artifacts)]) == 2
    )
    assert "no such meter data file" in capsys.readouterr().err
    month = tmp_path / "m.csv"
    month.write_text("CONS_NO,FLAG,2026-01-01\nA,0,1.0\n")
    assert (
        cli.main(["monitor", str(month), "--artifacts", str(smoke_artifacts), "--psi-alert", "-2"])
        == 2
    )
    assert "--psi-alert must be >= 0" in capsys.readouterr().err
    from ntl import champion

    monkeypatch.setattr(champion, "DEFAULT_RUN", str(tmp_path / "no_run"))
    assert cli.main(["monitor", str(month)]) == 2  # no champion: the default run, absent here
    assert f"error: {tmp_path / 'no_run'}" in capsys.readouterr().err


def test_history_window_cuts_a_longer_export_and_refuses_a_short_one():
    from ntl.monitor import history_window

    days = [f"2026-01-{d:02d}" for d in range(1, 21)]
    frame = pd.DataFrame(
        np.arange(40.0).reshape(2, 20), columns=days, index=pd.Index(["A", "B"], name="CONS_NO")
    )
    frame.insert(0, "FLAG", pd.array([0, 1], dtype="Int8"))
    cut = history_window(frame, 10)
    assert list(cut.columns) == ["FLAG", *days[-10:]]
    assert cut.loc["B", "2026-01-20"] == 39.0
    assert history_window(frame, 21) is frame  # within the tolerance: compared as it is
    with pytest.raises(
        ParameterError, match="f.csv: 20 days of history, but the model was trained on 40"
    ):
        history_window(frame, 40, "f.csv")
