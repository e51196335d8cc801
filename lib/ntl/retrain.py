"""Safe retraining: a challenger in its own run folder, compared with the champion, promoted or not.

``ntl retrain --data FILE`` does five things, in this order:

1. **Labels.** Reads the meter file with the loader and replaces FLAG with the recorded inspection
   outcomes (``ntl.outcomes``; the newest per customer wins).
2. **Hold-out.** The champion's held-out customers (``holdout.parquet`` of its run, or its test
   split) keep their labels out of training: their FLAG is blanked in the challenger's training
   data, so neither model has seen their labels and both can be measured on them.
3. **Challenger.** Runs the chain 01 -> 04 on that data into a new versioned run folder
   ``artifacts/runs/<UTC time>/`` (reports in ``reports/runs/<same>/``).
4. **Comparison.** Scores the held-out customers with both models through the scorer's own path
   (each on the latest window as long as its own training history) and takes the paired bootstrap (``ntl.evaluate.bootstrap_resamples``, as notebook 04 compares
   models) of challenger minus champion for PR-AUC and for precision at the champion's capacity.
5. **Promotion.** When neither difference is below zero beyond the noise (the whole 95 % interval
   under 0), the challenger becomes the champion by one atomic rename of ``champion.json``
   (``ntl.champion``). Otherwise the champion stays and ``comparison.json`` says why.

A crash or a kill at any step leaves the champion as it was: nothing but the final rename touches
it, and the half-built challenger folder is never served. A rerun starts a new folder.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.frame import ID_COLUMN, LABEL_COLUMN
from ntl.project import outcomes_dir, project_dir, runs_dir
from ntl.score import READ_OPTIONS

TRAINING_DATA = "training_data.parquet"
HOLDOUT = "holdout.parquet"
LABELS = "labels.json"
COMPARISON = "comparison.json"
CHAIN_KEEPS = ("max_daily_kwh",)  # reading options the chain needs again on the training file
CHAIN_READ = {"layout": "wide", "id_column": ID_COLUMN, "label_column": LABEL_COLUMN}
COMPARED_METRICS = ("pr_auc", "precision_at_capacity")


@dataclass
class RetrainResult:
    """What one retraining did."""

    run_dir: Path
    promoted: bool
    comparison: dict[str, Any]


def new_run_dir(parent: Path | None = None) -> Path:
    """A fresh run folder name under ``artifacts/runs``: the UTC time, suffixed when taken."""
    parent = parent or runs_dir()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, number = parent / stamp, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{stamp}-{number}"
    return candidate


def held_out_customers(champion: Path) -> pd.Index:
    """Customers whose labels the champion never trained on: its holdout, else its test split."""
    from ntl.artifacts import ArtifactStore

    store = ArtifactStore(champion, notebook="retrain")
    if store.exists(HOLDOUT):
        return store.read_parquet(HOLDOUT).index.astype(str)
    split = store.read_parquet("split.parquet")
    return split.index[split["split"].astype(str) == "test"].astype(str)


def prepare_training_data(
    consumption: pd.DataFrame, outcome_labels: pd.Series, holdout: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Labels from outcomes, then the hold-out's labels blanked for training.

    Returns the training frame, the labelled frame (every label, for the comparison) and the
    label counts (from inspections, from the file, held out).
    """
    from ntl.outcomes import apply_outcome_labels

    labelled, counts = apply_outcome_labels(consumption, outcome_labels)
    training = labelled.copy()
    held = training.index.isin(holdout)
    counts["held_out"] = int((held & training[LABEL_COLUMN].notna().to_numpy()).sum())
    training[LABEL_COLUMN] = training[LABEL_COLUMN].mask(held)
    return training, labelled, counts


def holdout_risk_scores(consumption: pd.DataFrame, run_dir: Path) -> pd.Series:
    """``risk_score`` of `consumption` with the models of `run_dir`, by the scorer's own path,
    on the latest window as long as the history those models were trained on (features span the
    whole history, so each model sees the history length it learned from)."""
    from ntl.monitor import history_window, trained_days
    from ntl.score import load_scoring_artifacts, preprocess_in_chunks

    loaded = load_scoring_artifacts(run_dir)
    window = history_window(consumption, trained_days(loaded), str(run_dir))
    preprocessed = preprocess_in_chunks(loaded.preprocessor, window)
    return loaded.bundle.score(preprocessed)["risk_score"].reindex(consumption.index)


def paired_comparison(
    y_true: np.ndarray,
    champion_score: np.ndarray,
    challenger_score: np.ndarray,
    capacity_share: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Challenger minus champion for PR-AUC and precision at capacity, with paired intervals.

    Both models are measured on the same stratified resamples of the same customers, so the
    interval is that of the difference itself. Verdicts: "better" (interval above 0), "worse"
    (below 0) or "no clear difference".
    """
    from ntl.evaluate import (
        bootstrap_resamples,
        difference_verdict,
        percentile_interval,
        pr_auc,
        precision_at_k,
    )

    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "pr_auc": pr_auc,
        "precision_at_capacity": functools.partial(precision_at_k, k=float(capacity_share)),
    }
    scores = {"champion": champion_score, "challenger": challenger_score}
    estimates = bootstrap_resamples(metrics, y_true, scores, n_boot=n_boot, seed=seed)
    result: dict[str, Any] = {}
    for name, metric in metrics.items():
        low, high = percentile_interval(
            estimates[name, "challenger"] - estimates[name, "champion"], confidence
        )
        champion_value = float(metric(y_true, champion_score))
        challenger_value = float(metric(y_true, challenger_score))
        result[name] = {
            "champion": champion_value,
            "challenger": challenger_value,
            "difference": challenger_value - champion_value,
            "difference_low": low,
            "difference_high": high,
            "verdict": str(difference_verdict([low], [high])[0]),
        }
    return result


def decide(metrics: Mapping[str, Mapping[str, Any]]) -> tuple[bool, list[str]]:
    """Promote unless a compared metric is worse beyond the noise; the reasons in words."""
    reasons = []
    for name in COMPARED_METRICS:
        entry = metrics[name]
        reasons.append(
            f"{name}: challenger {entry['challenger']:.3f} vs champion {entry['champion']:.3f}, "
            f"difference {entry['difference']:+.3f} (95 % interval {entry['difference_low']:+.3f}"
            f" to {entry['difference_high']:+.3f}): {entry['verdict']}"
        )
    worse = [name for name in COMPARED_METRICS if metrics[name]["verdict"] == "worse"]
    return not worse, reasons


def compare_with_champion(
    labelled: pd.DataFrame,
    holdout: pd.Index,
    champion: Path,
    challenger: Path,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Score the labelled held-out customers with both models and compare them (paired)."""
    from ntl.artifacts import ArtifactStore
    from ntl.frame import has_both_classes

    chosen = labelled[labelled.index.isin(holdout) & labelled[LABEL_COLUMN].notna().to_numpy()]
    document: dict[str, Any] = {
        "champion": str(champion),
        "challenger": str(challenger),
        "held_out_customers": int(len(chosen)),
        "held_out_thieves": int((chosen[LABEL_COLUMN] == 1).sum()),
    }
    if not has_both_classes(chosen[LABEL_COLUMN]):
        document |= {
            "comparable": False,
            "promote": False,
            "reasons": [
                f"the {len(chosen)} labelled held-out customers in the data do not hold both "
                "thieves and normal customers: no comparison is possible, the champion stays"
            ],
        }
        return document
    thresholds = ArtifactStore(champion, notebook="retrain").read_json("thresholds.json")
    share = float(thresholds["capacity"]["flagged_share"])
    y_true = chosen[LABEL_COLUMN].astype(int).to_numpy()
    metrics = paired_comparison(
        y_true,
        holdout_risk_scores(chosen, champion).to_numpy(),
        holdout_risk_scores(chosen, challenger).to_numpy(),
        share,
        n_boot=n_boot,
        seed=seed,
    )
    promote, reasons = decide(metrics)
    document |= {
        "comparable": True,
        "capacity_share": share,
        "n_bootstrap": n_boot,
        "metrics": metrics,
        "promote": promote,
        "reasons": reasons,
    }
    return document


def label_lines(counts: Mapping[str, int]) -> list[str]:
    """The model card's lines on where the labels came from."""
    return [
        f"- Labels from inspections: {counts['from_inspections']:,} customers carry the outcome "
        f"of their newest recorded inspection ({counts['changed_by_inspections']:,} of them "
        f"changed the meter file's label); {counts['from_file']:,} labels came from the file.",
        f"- Held out for the champion comparison: {counts['held_out']:,} labelled customers "
        "whose labels this model did not train on.",
    ]


def add_label_lines(card: str, counts: Mapping[str, int]) -> str:
    """The model card with `label_lines` at the end of its Data section."""
    lines = card.split("\n")
    try:
        start = lines.index("## Data")
    except ValueError:
        return card + "\n" + "\n".join(["## Labels", "", *label_lines(counts), ""])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    while end > start + 1 and lines[end - 1] == "":
        end -= 1
    return "\n".join([*lines[:end], *label_lines(counts), *lines[end:]])


def read_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The reading options among the parameters (every option ``ntl score`` knows: layout and
    columns, interval settings, the negative-reading rule, min_days, max_daily_kwh): how
    retraining reads ``--data``."""
    return {key: params[key] for key in READ_OPTIONS if key in params}


def _chain_params(params: Mapping[str, Any], run_dir: Path, reports_dir: Path) -> dict[str, Any]:
    """The chain's parameters: the file's reading options were applied when ``--data`` was
    read, so the chain reads the canonical training file with CHAIN_READ instead; the
    plausibility ceiling goes on (with the default, 01 would set missing again any reading
    between 100,000 kWh and a higher ceiling the user chose)."""
    dropped = set(READ_OPTIONS) - set(CHAIN_KEEPS)
    chain = {k: v for k, v in params.items() if k not in dropped and k != "tracking"}
    chain |= CHAIN_READ | {
        "source": "file",
        "data_path": str(run_dir / TRAINING_DATA),
        "artifacts_dir": str(run_dir),
        "reports_dir": str(reports_dir),
        "run_name": run_dir.name,
    }
    return chain


def check_chain_params(params: Mapping[str, Any]) -> None:
    """ParameterError for a parameter no notebook declares, before anything is written."""
    from ntl.run import NOTEBOOKS_DIR, check_known, declared_parameters

    declared = {
        path.stem: declared_parameters(path) for path in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")
    }
    check_known(params, declared)


def retrain(
    data_path: str | Path,
    params: Mapping[str, Any],
    *,
    html: bool = True,
    echo: Callable[[str], None] = print,
) -> RetrainResult:
    """Train a challenger on `data_path` (+ recorded outcomes), compare, promote or keep."""
    from ntl import champion as champion_state
    from ntl.artifacts import ArtifactStore
    from ntl.io import read_meter_data
    from ntl.outcomes import outcome_labels, read_store
    from ntl.run import run_chain
    from ntl.tracking import flatten_metrics, track_chain_run

    data_path = Path(data_path)
    if not data_path.is_file():
        raise ParameterError(f"--data {data_path}: no such file")
    check_chain_params(params)
    seed = int(params.get("seed", 42))
    n_boot = int(params.get("n_bootstrap", 1000))
    try:
        champion: Path | None = champion_state.champion_dir()
    except champion_state.NoChampionError:
        champion = None
    consumption, _ = read_meter_data(data_path, **read_options(params))
    holdout = held_out_customers(champion) if champion else pd.Index([], dtype=object)
    training, labelled, counts = prepare_training_data(
        consumption, outcome_labels(read_store(outcomes_dir())), holdout
    )
    run_dir = new_run_dir()
    reports = project_dir() / "reports" / "runs" / run_dir.name
    store = ArtifactStore(run_dir, notebook="retrain", parameters={"data": str(data_path)})
    store.write_parquet(TRAINING_DATA, training)
    store.write_json(LABELS, counts)
    echo(f"challenger: {run_dir} (labels from inspections: {counts['from_inspections']:,})")
    chain = _chain_params(params, run_dir, reports)
    from ntl.tracking import start_warm_up, wait_for_warm_up

    try:  # MLflow's import and store start with the notebooks; the run is logged below
        run_chain(chain, html=html, echo=echo, on_start=lambda: start_warm_up(params))
    except BaseException:
        wait_for_warm_up()  # never leave the store half created at exit
        raise

    # the card gets its label lines through a store of its own: what the card was made from is
    # not an input of the files written after it
    card = ArtifactStore(run_dir, notebook="retrain", parameters={"data": str(data_path)})
    card.write_text("model_card.md", add_label_lines(card.read_text("model_card.md"), counts))
    split = store.read_parquet("split.parquet")
    own_test = split.index[split["split"].astype(str) == "test"].astype(str)
    next_holdout = labelled.loc[labelled.index.isin(holdout.union(own_test)), [LABEL_COLUMN]]
    store.write_parquet(HOLDOUT, next_holdout)
    if champion is None:
        comparison: dict[str, Any] = {
            "champion": None,
            "challenger": str(run_dir),
            "comparable": False,
            "promote": True,
            "reasons": ["no champion yet: the first trained run becomes the champion"],
        }
    else:
        comparison = compare_with_champion(
            labelled, holdout, champion, run_dir, n_boot=n_boot, seed=seed
        )
    store.write_json(COMPARISON, comparison)
    for reason in comparison["reasons"]:
        echo(f"  {reason}")
    track_chain_run(
        run_dir,
        reports,
        {**chain, "tracking": params.get("tracking", True)},
        kind="retrain",
        extra_metrics=flatten_metrics({"comparison": comparison.get("metrics", {})}),
        extra_tags={"promoted": str(bool(comparison["promote"])).lower()},
    )
    if comparison["promote"]:
        champion_state.promote(run_dir, reason="; ".join(comparison["reasons"]))
        echo(f"promoted: {run_dir} is the champion")
    else:
        echo(f"not promoted: the champion stays {champion}")
    return RetrainResult(run_dir, bool(comparison["promote"]), comparison)


def main_retrain(data: str, params_file: str | None, sets: list[str], html: bool = True) -> int:
    """CLI entry for ``ntl retrain``: 0 when the run finished (promoted or not), 1 on a chain
    failure (the champion is unchanged)."""
    from ntl.run import ChainError, load_params, parse_overrides

    params = load_params(params_file, parse_overrides(sets))
    try:
        retrain(data, params, html=html)
    except ChainError as exc:
        print(f"{exc}\nnot promoted: the champion is unchanged", file=sys.stderr)
        return 1
    return 0
