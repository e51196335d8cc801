"""model_card.md, written from the numbers of the run (notebook 04's evaluation.json and 03's files).

The card follows the usual model-card outline (Mitchell et al., 2019): intended use, data, model,
metrics with intervals, operating point, known limits, monitoring. Every number comes from the run;
the text around them is fixed, so two runs with the same parameters give the same card.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

INTENDED_USE = (
    "Screening: rank customers so that a revenue-protection team inspects the most suspicious "
    "meters first, and tell the inspector why each customer is on the list. A high score is a "
    "reason to look, **not proof of theft**: never bill, disconnect or accuse a customer on the "
    "score alone; the inspection decides."
)
NOT_INTENDED = (
    "Not for automated decisions about customers, credit or pricing; not for populations, tariffs "
    "or metering set-ups unlike the training data without re-running the chain; not a measure of "
    "technical losses (line losses, faulty transformers)."
)
KNOWN_LIMITS = (
    "Labels are outcomes of past inspections, not the truth about every customer: customers "
    "never inspected count as normal, and past campaigns chose whom to inspect, so the model "
    "learns what earlier inspectors looked for and may miss theft of a kind nobody checked.",
    "Vacant and seasonal premises (holiday homes, empty flats, moves) show the same falls and "
    "zero readings as theft; so do new efficient appliances, solar panels behind the meter and "
    "long absences. The reasons on the list let the inspector spot these quickly.",
    "Meter and communication faults create gaps and zeros that look like tampering.",
    "Customers with short histories get fewer features (no year-over-year ratio or seasonality "
    "under one or two years) and less reliable scores.",
    "Probabilities are calibrated on the validation split's theft rate; if the share of thieves "
    "in new data differs, the probabilities shift while the ranking stays meaningful.",
    "Scores of customers in the training split are in-sample; only the test split measures "
    "performance.",
)


def _number(value: Any, digits: int = 3) -> str:
    """A metric for the card: rounded, or "n/a" when absent or not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(entry: Mapping[str, Any], name: str) -> str:
    """ "0.912 (95 % CI 0.895-0.928)" from entry[name] and entry[name + "_ci"]."""
    value = entry.get(name)
    interval = entry.get(f"{name}_ci")
    if value is None:
        return "n/a"
    if not interval or None in interval:
        return _number(value)
    return f"{_number(value)} (95 % CI {_number(interval[0])}-{_number(interval[1])})"


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """A markdown table of `rows` (dicts) restricted to `columns`."""
    if not rows:
        return ["(none)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [
            _number(row.get(c))
            if row.get(c) is None or isinstance(row.get(c), float)
            else str(row[c])
            for c in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _data_section(data: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Data",
        "",
        f"- {data.get('n_customers', 'n/a'):,} customers x {data.get('n_days', 'n/a'):,} days "
        f"of daily consumption, {data.get('first_day', '?')} to {data.get('last_day', '?')}.",
        f"- Source: {data.get('source', 'n/a')}.",
    ]
    if data.get("labelled"):
        lines.append(
            f"- Labels: {data.get('n_thieves', 0):,} thieves and {data.get('n_normal', 0):,} normal "
            f"customers (theft rate {_number(data.get('theft_rate'), 3)}); "
            f"{data.get('n_unlabeled', 0):,} unlabeled."
        )
    else:
        lines.append("- No labels: the ranking comes from the label-free anomaly score alone.")
    if data.get("split"):
        split = data["split"]
        lines.append(
            f"- Split (stratified, seeded): train {split.get('train', 0):,}, validation "
            f"{split.get('validation', 0):,}, test {split.get('test', 0):,} customers; the test "
            "split is used once, for the numbers below."
        )
    return [*lines, ""]


def _model_section(metadata: Mapping[str, Any]) -> list[str]:
    features = metadata.get("feature_names", [])
    lines = ["## Model", ""]
    if metadata.get("supervised"):
        lines += [
            "- XGBoost on per-customer consumption features, combined with per-cluster Isolation "
            f"Forest anomaly scores (XGBoost weight {_number(metadata.get('ensemble_weight'), 2)}, "
            "chosen on validation PR-AUC) into `risk_score`, which ranks the list.",
            f"- `probability`: `risk_score` calibrated on validation ({metadata.get('calibration')}).",
        ]
    else:
        lines.append(
            "- Per-cluster Isolation Forests (label-free): `risk_score` is the anomaly score; "
            "there is no calibrated probability."
        )
    lines += [
        f"- {len(features)} features: {', '.join(features)}.",
        f"- Library versions: {metadata.get('versions', {})}.",
        "",
    ]
    return lines


def _metrics_section(evaluation: Mapping[str, Any]) -> list[str]:
    lines = ["## Metrics (test split)", ""]
    if not evaluation.get("labelled"):
        return [
            *lines,
            "No labelled test customers with both classes: ranking metrics, calibration and "
            "cost-benefit could not be measured. Treat the list as unvalidated until inspection "
            "outcomes are available.",
            "",
        ]
    test = evaluation.get("test", {})
    lines += [
        f"Test split: {test.get('n_customers', 'n/a'):,} customers, {test.get('n_thieves', 'n/a'):,} "
        f"thieves. Intervals: stratified bootstrap, {evaluation.get('n_bootstrap', 'n/a')} resamples.",
        "",
        f"- ROC-AUC: {_interval(evaluation, 'roc_auc')}",
        f"- PR-AUC (average precision): {_interval(evaluation, 'pr_auc')} "
        f"(a random ranking scores the theft rate, {_number(test.get('theft_rate'))})",
        f"- Brier score {_number(test.get('calibration', {}).get('brier'))}, expected calibration "
        f"error {_number(test.get('calibration', {}).get('ece'))}",
        "",
        "Precision and recall at the top of the ranking:",
        "",
        *_table(test.get("at_k", []), ["k", "n_inspected", "thieves_found", "precision", "recall"]),
        "",
        ", ".join(f"MAP@{k} {_number(v)}" for k, v in test.get("map_at_k", {}).items())
        + f". {test.get('map_definition', '')}",
        "",
        "Models compared on the same test customers:",
        "",
        *_table(test.get("models", []), ["model", "roc_auc", "pr_auc"]),
        "",
    ]
    return lines


def _operating_section(evaluation: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[str]:
    expected = thresholds.get("expected", {})
    capacity = thresholds.get("capacity", {})
    lines = [
        "## Operating point and tiers",
        "",
        f"- Operational threshold on `risk_score`: {_number(thresholds.get('operational_threshold'), 4)} "
        f"(inspection capacity: share {capacity.get('inspection_share')}, count "
        f"{capacity.get('inspection_count')}).",
        f"- Expected on validation: precision {_number(expected.get('precision'))}, recall "
        f"{_number(expected.get('recall'))}.",
        f"- Tiers: {thresholds.get('rule', '')}. Cut-offs: high >= "
        f"{_number(thresholds.get('high_cutoff'), 4)}, medium >= {_number(thresholds.get('medium_cutoff'), 4)}.",
    ]
    at_threshold = evaluation.get("test", {}).get("threshold")
    if at_threshold:
        lines.append(
            f"- Measured on test at the threshold: precision {_number(at_threshold.get('precision'))}, "
            f"recall {_number(at_threshold.get('recall'))}, {at_threshold.get('true_positive')} "
            f"thieves found among {at_threshold.get('true_positive', 0) + at_threshold.get('false_positive', 0)} flagged."
        )
    tiers = evaluation.get("test", {}).get("tiers") or evaluation.get("tiers_all", [])
    columns = ["tier", "customers", "share"] + (
        ["hit_rate"] if tiers and "hit_rate" in tiers[0] else []
    )
    lines += ["", *_table(tiers, columns), ""]
    cost = evaluation.get("test", {}).get("cost_benefit")
    if cost:
        optimum = cost.get("optimum", {})
        lines += [
            f"Cost-benefit on the test split (inspection {cost.get('inspection_cost')}, recovery per "
            f"theft {cost.get('recovery_per_theft')}): best net value {_number(optimum.get('net_value'), 0)} "
            f"at {_number(optimum.get('n_inspections'), 0)} inspections ({_number(optimum.get('share'), 3)} of the "
            "test customers).",
            "",
        ]
    return lines


def _weak_spots_section(evaluation: Mapping[str, Any]) -> list[str]:
    test = evaluation.get("test", {})
    groups = test.get("groups", {})
    if not groups:
        return []
    lines = ["## Where the model is weaker (test split, at the threshold)", ""]
    for name, rows in groups.items():
        lines += [
            f"By {name}:",
            "",
            *_table(rows, ["group", "n", "thieves", "precision", "recall", "pr_auc"]),
            "",
        ]
    for name in ("attack_recall", "onset_recall"):
        if test.get(name):
            lines += [f"Recall by {name.split('_')[0]} (synthetic ground truth):", ""]
            lines += [*_table(test[name], ["group", "thieves", "found", "recall"]), ""]
    return lines


def model_card(
    *,
    evaluation: Mapping[str, Any],
    metadata: Mapping[str, Any],
    thresholds: Mapping[str, Any],
    parameters: Mapping[str, Any],
) -> str:
    """The model card as markdown, from evaluation.json, metadata.json, thresholds.json and the
    notebook parameters."""
    lines = [
        "# Model card: ntl electricity-theft screening",
        "",
        f"ntl {evaluation.get('ntl_version', '?')} · run parameters: "
        + ", ".join(f"{k}={v}" for k, v in sorted(parameters.items())),
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        NOT_INTENDED,
        "",
        *_data_section(evaluation.get("data", {})),
        *_model_section(metadata),
        *_metrics_section(evaluation),
        *_operating_section(evaluation, thresholds),
        *_weak_spots_section(evaluation),
        "## Known limits",
        "",
        *[f"- {limit}" for limit in KNOWN_LIMITS],
        "",
        "## Monitoring",
        "",
        "`ntl score` writes a drift report with the Population Stability Index of every feature "
        "and of the score against `drift_baseline.json`; PSI above 0.2 is printed as a warning. "
        "Investigate before trusting a list with shifted scores, re-run the chain when key "
        "features shift for good, and feed inspection outcomes back as labels.",
        "",
    ]
    return "\n".join(lines)
