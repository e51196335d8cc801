"""Three months of operation through the real commands, on generated data.

Each month's file is the utility's whole history so far (month 2 holds months 1-2, 150 days);
``ntl monitor`` compares its latest 120 days, the history length the champion was trained on.
Month 1 trains the first champion. Month 2 arrives with a tariff change that lowers everyone's use
and new thefts: ``ntl monitor`` exits 3 naming the shifted features; the month-1 inspections'
outcomes are recorded; a retraining is killed mid-way (the champion survives, the rerun succeeds)
and the challenger trained on months 1-2 is promoted. Month 3's challenger learns from corrupted
labels and is not promoted: the champion stays. Every step is a ``python -m ntl`` subprocess in a
project folder of its own, with MLflow tracking into that folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from ntl.project import ROOT
from ntl.synth import generate_consumption

pytestmark = pytest.mark.chain

CUSTOMERS = 600
MONTH = 30
FIRST_DAYS = 120
TARIFF = 0.6  # month 2 onwards: everyone uses 40 % less
NEW_THIEVES = 25


def _ntl(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ntl", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def _month(full: pd.DataFrame, days: int) -> pd.DataFrame:
    """The first `days` days of the generated history, the tariff cut applied after month 1."""
    frame = full.iloc[:, : 1 + days].copy()
    later = frame.columns[1 + FIRST_DAYS :]
    frame[later] = frame[later] * TARIFF
    return frame


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> dict:
    """The project folder, environment, parameter file and the three monthly files."""
    tmp = tmp_path_factory.mktemp("story")
    full, _truth = generate_consumption(CUSTOMERS, n_days=FIRST_DAYS + 2 * MONTH, seed=11)
    days = full.columns[1:]
    full[days] = full[days].where(full[days] >= 0)
    normal = full.index[full["FLAG"] == 0]
    thieves = normal[:: max(1, len(normal) // NEW_THIEVES)][:NEW_THIEVES]
    onset = 1 + FIRST_DAYS + 5
    full.loc[thieves, full.columns[onset:]] = full.loc[thieves, full.columns[onset:]] * 0.3
    full.loc[thieves, "FLAG"] = 1
    files = {}
    for number, n_days in ((1, FIRST_DAYS), (2, FIRST_DAYS + MONTH), (3, FIRST_DAYS + 2 * MONTH)):
        frame = full.iloc[:, : 1 + n_days] if number == 1 else _month(full, n_days)
        if number == 1:
            frame = frame.copy()
            frame.loc[thieves, "FLAG"] = 0  # not stealing yet in month 1
        files[number] = tmp / f"month{number}.csv"
        frame.to_csv(files[number])
    params = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    params.pop("source"), params.pop("n_customers"), params.pop("n_days"), params.pop("run_name")
    params_file = tmp / "story.yaml"
    params_file.write_text(yaml.safe_dump(params))
    project = tmp / "project"
    env = {
        **os.environ,
        "NTL_PROJECT_DIR": str(project),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    env.pop("NTL_TRACKING", None)
    return {"tmp": tmp, "project": project, "env": env, "params": params_file, "files": files}


def _retrain(story: dict, month: int) -> subprocess.CompletedProcess:
    args = ["retrain", "--data", str(story["files"][month]), "--params", str(story["params"])]
    return _ntl([*args, "--no-html"], story["env"])


def _champion(story: dict) -> dict:
    return json.loads((story["project"] / "artifacts" / "champion.json").read_text())


def _kill_mid_retrain(story: dict, month: int) -> None:
    """Start a retraining, SIGKILL it (and its notebook kernels) once the chain is running."""
    runs = story["project"] / "artifacts" / "runs"
    before = set(runs.iterdir())
    args = ["retrain", "--data", str(story["files"][month]), "--params", str(story["params"])]
    process = subprocess.Popen(
        [sys.executable, "-m", "ntl", *args, "--no-html"],
        cwd=ROOT,
        env=story["env"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            started = [run for run in set(runs.iterdir()) - before]
            if started and (started[0] / "consumption.parquet").exists():
                break
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_three_months_of_operation(story):
    env, project = story["env"], story["project"]

    # month 1: no champion yet, so the first training becomes it (the make target of the schedule)
    first = subprocess.run(
        ["make", "-s", "retrain", f"DATA={story['files'][1]}", f"PARAMS={story['params']}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    assert "promoted" in first.stdout
    champion_1 = _champion(story)["champion"]
    shown = _ntl(["champion"], env)
    assert shown.returncode == 0 and champion_1 in shown.stdout

    # month 2 arrives shifted: the monitor recommends retraining and names the features
    monitored = _ntl(["monitor", str(story["files"][2]), "--out", str(story["tmp"] / "m2")], env)
    assert monitored.returncode == 3, monitored.stderr
    assert "retraining recommended" in monitored.stderr
    report = json.loads((story["tmp"] / "m2" / "monitor.json").read_text())
    shifted = {entry["variable"] for entry in report["drift"]["shifted_features"]}
    assert {"mean_kwh", "recent_vs_past"} & shifted, shifted
    assert any(name in monitored.stderr for name in shifted)
    assert (story["tmp"] / "m2" / "monitor.md").read_text().startswith("# ntl monitoring report")

    # the month-1 inspections come back: the high tier of the champion's list, truthfully
    listed = pd.read_csv(project / champion_1 / "inspection_list.csv", dtype={"CONS_NO": str})
    inspected = listed[listed["tier"] == "high"]
    truth = pd.read_csv(story["files"][2], usecols=["CONS_NO", "FLAG"], dtype={"CONS_NO": str})
    truth = truth.set_index("CONS_NO")["FLAG"]
    today = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    outcomes = pd.DataFrame(
        {
            "customer": inspected["CONS_NO"],
            "inspection_date": today,
            "outcome": truth.loc[inspected["CONS_NO"]].map({1: "theft", 0: "no theft"}).values,
        }
    )
    outcome_file = story["tmp"] / "inspections_month1.csv"
    outcomes.to_csv(outcome_file, index=False)
    added = _ntl(["outcomes", "add", str(outcome_file)], env)
    assert added.returncode == 0, added.stderr
    assert f"{len(outcomes)} outcome(s) recorded" in added.stdout
    again = _ntl(["outcomes", "add", str(outcome_file)], env)
    assert again.returncode == 0 and "0 outcome(s) recorded" in again.stdout

    # a retraining killed mid-way leaves the champion as it was; the rerun succeeds
    pointer = project / "artifacts" / "champion.json"
    before = pointer.read_bytes()
    _kill_mid_retrain(story, 2)
    assert pointer.read_bytes() == before
    scored = _ntl(
        ["score", str(story["files"][1]), "--out", str(story["tmp"] / "s.csv"), "--quiet"], env
    )
    assert scored.returncode == 0, scored.stderr

    second = _retrain(story, 2)
    assert second.returncode == 0, second.stderr
    assert "promoted:" in second.stdout, second.stdout
    champion_2 = _champion(story)["champion"]
    assert champion_2 != champion_1
    labels = json.loads((project / champion_2 / "labels.json").read_text())
    assert labels["from_inspections"] == len(outcomes)
    card = (project / champion_2 / "model_card.md").read_text()
    assert f"Labels from inspections: {len(outcomes):,} customers" in card
    comparison = json.loads((project / champion_2 / "comparison.json").read_text())
    assert comparison["comparable"] and comparison["promote"]
    assert comparison["held_out_customers"] > 50

    # month 3: a labelling bug flips every label outside the held-out customers
    holdout = pd.read_parquet(project / champion_2 / "holdout.parquet").index.astype(str)
    month3 = pd.read_csv(story["files"][3], dtype={"CONS_NO": str}).set_index("CONS_NO")
    outside = ~month3.index.isin(holdout)
    month3.loc[outside, "FLAG"] = 1 - month3.loc[outside, "FLAG"]
    month3.to_csv(story["files"][3])
    third = _retrain(story, 3)
    assert third.returncode == 0, third.stderr
    assert "not promoted" in third.stdout
    assert _champion(story)["champion"] == champion_2
    refused = sorted((project / "artifacts" / "runs").iterdir())[-1]
    verdicts = json.loads((refused / "comparison.json").read_text())
    assert verdicts["promote"] is False
    assert "worse" in {entry["verdict"] for entry in verdicts["metrics"].values()}

    # rollback returns to month 1's champion; every training run is one registered version
    rolled = _ntl(["rollback"], env)
    assert rolled.returncode == 0 and _champion(story)["champion"] == champion_1
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    versions = client.search_model_versions("name='ntl-theft-screening'")
    assert len(versions) == 3  # months 1, 2 and 3; the killed run never reached tracking
    checks = client.search_runs([client.get_experiment_by_name("ntl-monitor").experiment_id])
    assert [run.data.tags["retrain_recommended"] for run in checks] == ["true"]
    assert {item.path for item in client.list_artifacts(checks[0].info.run_id)} == {
        "monitor.json",
        "monitor.md",
    }
