"""ntl.retrain's pieces: paired comparison (vs scikit-learn), the decision, labels, hold-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from ntl import cli
from ntl.retrain import (
    add_label_lines,
    decide,
    new_run_dir,
    paired_comparison,
    prepare_training_data,
)

COUNTS = {"from_inspections": 12, "changed_by_inspections": 3, "from_file": 300, "held_out": 80}


def _labels_and_scores(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    good = y * 1.5 + rng.normal(size=n)
    return y, good, rng


def test_paired_comparison_points_match_sklearn_and_precision_at_capacity():
    y, good, rng = _labels_and_scores()
    worse = good + rng.normal(scale=3.0, size=y.size)
    result = paired_comparison(y, good, worse, 0.05, n_boot=300, seed=1)
    pr = result["pr_auc"]
    assert pr["champion"] == pytest.approx(average_precision_score(y, good))
    assert pr["challenger"] == pytest.approx(average_precision_score(y, worse))
    assert pr["difference"] == pytest.approx(pr["challenger"] - pr["champion"])
    top = np.argsort(-good)[:20]  # 5 % of 400
    assert result["precision_at_capacity"]["champion"] == pytest.approx(y[top].mean())
    assert pr["difference_low"] < pr["difference"] < pr["difference_high"]
    assert pr["verdict"] == "worse"


def test_paired_comparison_of_a_model_with_itself_is_no_difference():
    y, good, _ = _labels_and_scores(seed=3)
    result = paired_comparison(y, good, good.copy(), 0.1, n_boot=100, seed=0)
    for entry in result.values():
        assert entry["difference"] == 0.0
        assert entry["difference_low"] == entry["difference_high"] == 0.0
        assert entry["verdict"] == "no clear difference"


def test_paired_comparison_is_deterministic_for_a_seed():
    y, good, rng = _labels_and_scores(seed=4)
    other = good + rng.normal(size=y.size)
    assert paired_comparison(y, good, other, 0.05, n_boot=50, seed=7) == paired_comparison(
        y, good, other, 0.05, n_boot=50, seed=7
    )


def _entry(verdict, value=0.5):
    return {
        "champion": value,
        "challenger": value,
        "difference": 0.0,
        "difference_low": -0.1,
        "difference_high": 0.1,
        "verdict": verdict,
    }


def test_decide_refuses_only_a_metric_worse_beyond_noise():
    calm = {"pr_auc": _entry("no clear difference"), "precision_at_capacity": _entry("better")}
    promote, reasons = decide(calm)
    assert promote and len(reasons) == 2 and reasons[0].startswith("pr_auc: challenger 0.500")
    worse = {**calm, "precision_at_capacity": _entry("worse")}
    assert decide(worse)[0] is False


def test_prepare_training_data_blanks_the_holdout_and_keeps_true_labels():
    consumption = pd.DataFrame(
        {"FLAG": pd.array([0, 1, 0, pd.NA], dtype="Int8"), "2026-01-01": [1.0, 2.0, 3.0, 4.0]},
        index=pd.Index(["A", "B", "C", "D"], name="CONS_NO"),
    )
    outcomes = pd.Series([1], index=pd.Index(["C"]), dtype="Int8")
    training, labelled, counts = prepare_training_data(
        consumption, outcomes, pd.Index(["B", "C", "Z"])
    )
    assert training["FLAG"].isna().tolist() == [False, True, True, True]
    assert labelled["FLAG"].tolist()[:3] == [0, 1, 1]  # C's inspection says theft
    assert counts["held_out"] == 2 and counts["from_inspections"] == 1


def test_add_label_lines_goes_at_the_end_of_the_data_section():
    card = "# Card\n\n## Data\n\n- 10 customers.\n\n## Model\n\ntext\n"
    lines = add_label_lines(card, COUNTS).split("\n")
    at = lines.index("## Model")
    assert lines[at - 3].startswith("- Labels from inspections: 12 customers")
    assert lines[at - 2].startswith("- Held out for the champion comparison: 80")
    assert add_label_lines("# Card\n", COUNTS).endswith(
        "whose labels this model did not train on.\n"
    )


def test_new_run_dir_never_reuses_a_folder(tmp_path):
    first = new_run_dir(tmp_path)
    first.mkdir()
    second = new_run_dir(tmp_path)
    assert second != first and second.name.startswith(first.name)


def test_cli_retrain_refuses_bad_arguments_before_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path))
    assert cli.main(["retrain", "--data", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    data = tmp_path / "d.csv"
    data.write_text("CONS_NO,FLAG\n")
    assert cli.main(["retrain", "--data", str(data), "--set", "colour=blue"]) == 2
    assert "unknown parameter(s) colour" in capsys.readouterr().err
    assert not (tmp_path / "artifacts").exists()


def test_retraining_reads_data_with_every_option_ntl_score_knows(tmp_path):
    """Interval settings and the plausibility ceiling reach the read of --data (they were
    ignored: retrain knew only seven of the options); the chain then reads the canonical
    training file, keeping only the ceiling."""
    from ntl import retrain
    from ntl.io import read_meter_data
    from ntl.score import READ_OPTIONS

    params = {"seed": 1, "max_daily_kwh": 500.0, "timezone": "Europe/London", "min_days": 3}
    params |= {"interval_stamps": "end", "max_missing_share": 0.2, "n_bootstrap": 50}
    options = retrain.read_options(params)
    assert options == {
        "timezone": "Europe/London",
        "interval_stamps": "end",
        "max_missing_share": 0.2,
        "min_days": 3,
        "max_daily_kwh": 500.0,
    }
    assert set(retrain.read_options(dict.fromkeys(READ_OPTIONS, 1))) == set(READ_OPTIONS)
    days = pd.date_range("2016-01-01", periods=4).strftime("%Y-%m-%d").tolist()
    meter = pd.DataFrame(
        [[1.0, 600.0, 2.0, 3.0]], columns=days, index=pd.Index(["a"], name="CONS_NO")
    )
    meter.to_csv(tmp_path / "meter.csv")
    read = {k: v for k, v in options.items() if k in ("max_daily_kwh", "min_days")}
    consumption, _ = read_meter_data(tmp_path / "meter.csv", **read)
    assert np.isnan(consumption.loc["a", days[1]]) and consumption.loc["a", days[2]] == 2.0
    chain = retrain._chain_params(params, tmp_path / "run", tmp_path / "reports")
    assert chain["max_daily_kwh"] == 500.0 and chain["seed"] == 1 and chain["n_bootstrap"] == 50
    assert not {"timezone", "interval_stamps", "max_missing_share", "min_days"} & set(chain)
    assert chain["layout"] == "wide" and chain["data_path"] == str(
        tmp_path / "run" / "training_data.parquet"
    )
