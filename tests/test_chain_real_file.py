"""The chain as an analyst meets it: a short real-style meter file, notebooks run from notebooks/.

JupyterLab starts kernels in ``notebooks/``; the parameters name paths relative to the project
root. Each notebook is executed here exactly so (papermill, cwd ``notebooks/``, relative
``data_path`` and ``artifacts_dir``) on a 300-customer x 60-day export written in the loader's
wide layout, and the reports are then read the way a reviewer reads them: nothing written for
synthetic data, no verdict the numbers contradict, "too few cases" said, a list a team can use.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.run import NOTEBOOKS_DIR, ROOT, declared_parameters, load_params, prune_report
from ntl.synth import generate_consumption

pytestmark = pytest.mark.chain
STEMS = sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


CORRUPT_METER = "C000004"  # one implausible reading: the loader sets it missing, 02 flags LOW


def write_export(path: Path) -> None:
    """300 customers x 60 days as a utility would send them: SGCC wide layout, dates 2016/3/1."""
    consumption, _ = generate_consumption(300, n_days=60, start="2016-03-01", seed=11)
    days = consumption.columns[1:]
    consumption[days] = consumption[days].where(consumption[days] >= 0)
    consumption.loc[CORRUPT_METER, days[9]] = 1e12  # a meter's garbage reading, kWh a day
    consumption.columns = ["FLAG", *pd.to_datetime(days).strftime("%Y/%-m/%-d")]
    consumption.to_csv(path)


def report_text(notebook: Path) -> str:
    """What a reviewer reads: markdown cells and the text of every output."""
    parts = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                parts.append(f"ERROR {output.get('ename')}: {output.get('evalue')}")
            parts.append("".join(output.get("text", "")))
            data = output.get("data", {})
            parts.append("".join(data.get("text/markdown", "")))
            parts.append("".join(data.get("text/plain", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> tuple[Path, Path]:
    """The four notebooks run in notebooks/ with project-relative paths; (artifacts, reports)."""
    import papermill

    tmp = tmp_path_factory.mktemp("real_file")
    export = tmp / "meter_export.csv"
    write_export(export)
    artifacts, reports = tmp / "artifacts", tmp / "reports"
    reports.mkdir()
    relative = {  # resolvable from the project root only, not from notebooks/
        "source": "file",
        "data_path": os.path.relpath(export, ROOT),
        "artifacts_dir": os.path.relpath(artifacts, ROOT),
        "reports_dir": os.path.relpath(reports, ROOT),
    }
    params = load_params(ROOT / "params" / "smoke.yaml") | relative
    params.pop("run_name")
    for stem in STEMS:
        notebook = NOTEBOOKS_DIR / f"{stem}.ipynb"
        declared = declared_parameters(notebook)
        papermill.execute_notebook(
            str(notebook),
            str(reports / f"{stem}.ipynb"),
            parameters={k: v for k, v in params.items() if k in declared},
            kernel_name="python3",
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
        prune_report(reports / f"{stem}.ipynb", synthetic=False)
    return artifacts, reports


def test_every_notebook_runs_from_the_notebooks_folder(real_run):
    artifacts, reports = real_run
    assert not (NOTEBOOKS_DIR / "artifacts").exists()
    for stem in STEMS:
        assert "ERROR" not in report_text(reports / f"{stem}.ipynb"), stem
    for name in ("consumption.parquet", "model_card.md", "inspection_list.csv"):
        assert (artifacts / name).exists(), name


def test_no_synthetic_only_text_in_a_meter_files_reports(real_run):
    _, reports = real_run
    for stem in STEMS:
        text = report_text(reports / f"{stem}.ipynb")
        synthetic_only = ("Spring Festival", "generator builds", "move-out", "Jokar", "ntl.synth")
        for phrase in (r"\bh[1-6]\b", *synthetic_only):
            assert not re.search(phrase, text), (stem, phrase)
        assert not re.search(r"\d\.\d+e[-+]\d\d", text), stem  # no share printed as 7.197e-01
    assert "This run reads a utility's own export" in report_text(reports / f"{STEMS[0]}.ipynb")


def test_small_data_is_said_and_no_verdict_contradicts_its_numbers(real_run):
    artifacts, reports = real_run
    text = report_text(reports / "04_evaluation_risk.ipynb")
    evaluation = ArtifactStore(artifacts).read_json("evaluation.json")
    card = (artifacts / "model_card.md").read_text()
    assert "Too few cases: the test split has" in text and "Too few cases" in card
    modelling = report_text(reports / "03_modeling.ipynb")
    assert "Too few cases: the validation split has 5 thieves among 60 customers" in modelling
    batch = evaluation["test"]["cost_benefit"]["next_batch"]
    if batch["net_value"] <= 0:
        assert "more inspections would pay" not in text + card
    assert "/tmp" not in card and "rf_max_depth" not in card and "{'" not in card


def test_the_list_is_one_a_team_can_act_on(real_run):
    artifacts, _ = real_run
    ranked = pd.read_csv(artifacts / "inspection_list.csv", dtype={"CONS_NO": str})
    assert len(ranked) == 300
    known = ranked["known_case"].to_numpy(dtype=bool)
    assert known.sum() == (ranked["label"] == 1).sum() > 0
    assert not known[: (~known).sum()].any()  # the leads first, known thieves last
    assert (ranked["tier"] == "high").sum() == 15  # 5 % of 300, all of them leads
    assert (ranked["probability"] < 1.0).all() and (ranked["probability"] > 0.0).all()
    assert ranked["last_reading"].notna().any()
    reasons = ranked.filter(like="reason_").fillna("").to_numpy().ravel().astype(str)
    assert not any("last 90 days" in reason for reason in reasons)  # a 60-day file
    assert not any("steady weekly rhythm" in reason for reason in reasons)
    assert np.all(pd.to_datetime(ranked["last_reading"].dropna()) <= pd.Timestamp("2016-04-29"))


def test_implausible_readings_reach_the_quality_flags(real_run):
    """The 1e12 kWh reading is set missing by the loader, named in 01's summary, and makes the
    customer LOW quality in 02 (it was HIGH: a set-missing reading looks like any gap)."""
    artifacts, _ = real_run
    store = ArtifactStore(artifacts)
    summary = store.read_json("data_summary.json")
    assert summary["implausible_readings"] == {CORRUPT_METER: 1}
    assert any("implausible reading(s)" in line for line in summary["messages"])
    quality = store.read_parquet("preprocessed.parquet")["quality_flag"]
    assert quality.loc[CORRUPT_METER] == "LOW"
