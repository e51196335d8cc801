"""model_card.md, written from the numbers of the run (04's evaluation.json and 03's files).

The card follows the usual model-card outline (Mitchell et al., 2019): intended use, data, model,
metrics with intervals, operating point, known limits, monitoring. Every number comes from the run;
the text around them is fixed, so two runs with the same parameters give the same card.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ntl.evaluate.verdicts import capacity_relation, few_cases_note, next_batch_pays
from ntl.models.ensemble import MOSTLY
from ntl.risk import KNOWN_TIER

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
WEAK_RECALL = 0.3  # attack types found less often than this at the threshold are weak spots
SYNTHETIC_NOTE = (
    "**All numbers on this card come from synthetic data** (`ntl.synth`: simulated customers "
    "and injected theft attacks). They show that the chain works and where it is weaker; they "
    "are not an estimate of how it performs on real meters. Re-run the chain on real meter data "
    "with real inspection outcomes before relying on any number here."
)
KNOWN_LIMITS = (
    "With real inspection labels (not the synthetic ones of a test run): labels are outcomes of "
    "past inspections, not the truth about every customer. Customers never inspected count as "
    "normal, and past campaigns chose whom to inspect, so the model learns what earlier "
    "inspectors looked for and may miss theft of a kind nobody checked.",
    "Vacant and seasonal premises (holiday homes, empty flats, moves) show the same falls and "
    "zero readings as theft; so do new efficient appliances, solar panels behind the meter and "
    "long absences. The reasons on the list let the inspector spot these quickly.",
    "Meter and communication faults create gaps and zeros that look like tampering.",
    "Customers with short histories get fewer features (no year-over-year ratio or seasonality "
    "under one or two years) and less reliable scores.",
    "Probabilities are calibrated on the validation split's theft rate: a probability is the "
    "theft rate among customers scored alike, never a certainty. If the share of thieves in new "
    "data differs, the probabilities shift while the ranking stays meaningful.",
)
TRAINING_SCORES = {
    "out-of-fold": (
        "On the chain's inspection list, training customers carry out-of-fold scores (from "
        "models that did not see them), so they neither crowd the top as known thieves nor "
        "overfill the high tier, and validation customers a cross-fitted probability. Validation "
        "customers chose the stopping round, the ensemble weight and the thresholds. `ntl score` "
        "scores everyone with the final models; there, customers of the training split score "
        "in-sample. Only the test split measures performance."
    ),
    "in-sample": (
        "Scores of customers in the training split are in-sample (the model saw their labels); "
        "only the test split measures performance."
    ),
    "label-free": (
        "Without labels every customer is scored by the same label-free Isolation Forests; no "
        "customer's score profits from a known label."
    ),
}


def _number(value: Any, digits: int = 3) -> str:
    """A metric for the card: rounded, or "n/a" when absent or not a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _count(value: Any) -> str:
    """A count with thousands separators, or "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{int(value):,}"


def _found(value: Any) -> str:
    """ "1 thief", "3 thieves" (the plural of thief is not thiefs)."""
    if value is None:
        return "n/a thieves"
    return f"{_count(round(value))} " + ("thief" if round(value) == 1 else "thieves")


def _plural(value: Any, word: str) -> str:
    """ "1 theft", "12 thefts", "n/a thefts"."""
    if value is None:
        return f"n/a {word}s"
    return f"{_count(round(value))} {word}" + ("" if round(value) == 1 else "s")


def _rate_with_interval(entry: Mapping[str, Any], name: str, digits: int = 3) -> str:
    """ "0.726 (0.681-0.767)" from entry[name], entry[name + "_low"], entry[name + "_high"]."""
    value = entry.get(name)
    low, high = entry.get(f"{name}_low"), entry.get(f"{name}_high")
    if value is None or low is None or high is None:
        return _number(value, digits)
    separator = " to " if low < 0 else "-"
    return f"{_number(value, digits)} ({_number(low, digits)}{separator}{_number(high, digits)})"


def _interval(entry: Mapping[str, Any], name: str) -> str:
    """ "0.912 (95 % CI 0.895-0.928)" from entry[name] and entry[name + "_ci"]."""
    value = entry.get(name)
    interval = entry.get(f"{name}_ci")
    if value is None:
        return "n/a"
    if not interval or None in interval:
        return _number(value)
    return f"{_number(value)} (95 % CI {_number(interval[0])}-{_number(interval[1])})"


def _cell(row: Mapping[str, Any], column: str) -> str:
    """One table cell: a rate with its interval when the row has `{column}_low/_high`, a float
    rounded, a count with separators, anything else as text."""
    value = row.get(column)
    if f"{column}_low" in row and f"{column}_high" in row:
        return _rate_with_interval(row, column)
    if value is None or isinstance(value, float):
        return _number(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _count(value)
    return str(value)


def _table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """A markdown table of `rows` (dicts) restricted to `columns`; rates with an interval read
    "value (low-high)". `headers` renames columns in the header line."""
    if not rows:
        return ["(none)"]
    names = [(headers or {}).get(c, c) for c in columns]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, c) for c in columns) + " |")
    return lines


def is_synthetic(evaluation: Mapping[str, Any]) -> bool:
    """Whether the run's data were generated by ntl.synth (as evaluation.json records it)."""
    return str(evaluation.get("data", {}).get("source", "")).startswith("synthetic")


def _data_section(data: Mapping[str, Any], synthetic: bool) -> list[str]:
    lines = ["## Data", ""]
    if synthetic:
        lines += [SYNTHETIC_NOTE, ""]
    lines += [
        f"- {_count(data.get('n_customers'))} customers x {_count(data.get('n_days'))} days "
        f"of daily consumption, {data.get('first_day', '?')} to {data.get('last_day', '?')}.",
        f"- Source: {data.get('source', 'n/a')}.",
    ]
    if data.get("labelled"):
        lines.append(
            f"- Labels: {_count(data.get('n_thieves', 0))} thieves and "
            f"{_count(data.get('n_normal', 0))} normal customers (theft rate "
            f"{_number(data.get('theft_rate'), 3)}); {_count(data.get('n_unlabeled', 0))} "
            "unlabeled."
        )
    else:
        lines.append("- No labels: the ranking comes from the label-free anomaly score alone.")
    if data.get("split"):
        split = data["split"]
        lines.append(
            f"- Split (stratified, seeded): train {_count(split.get('train', 0))}, validation "
            f"{_count(split.get('validation', 0))}, test {_count(split.get('test', 0))} "
            "customers"
            + (
                "; the test split is used once, for the numbers below."
                if data.get("labelled")
                else "."
            )
        )
    return [*lines, ""]


def _weight_sentence(metadata: Mapping[str, Any]) -> str:
    """How the ensemble weight was chosen (metadata.json's ``ensemble_weight_source``, written by
    the training) and what it means for the ranking."""
    weight = metadata.get("ensemble_weight")
    source = metadata.get("ensemble_weight_source")
    sentence = (
        f"`risk_score` = {_number(weight, 2)} x XGBoost probability + "
        f"{_number(1 - weight, 2) if weight is not None else 'n/a'} x anomaly score"
        + (f"; the weight was {source}." if source else ".")
    )
    if weight is not None and weight >= MOSTLY:
        sentence += (
            f" With a weight of {_number(weight, 2)} the ranking is in effect XGBoost's: the "
            "anomaly score only reorders customers XGBoost scores almost alike."
        )
    return sentence


def _trainer_lines(trained_with: Mapping[str, Any] | None) -> list[str]:
    """Where the models were fitted, for a run on the Dask path (metadata.json's
    ``trained_with``); nothing for the in-memory path."""
    if not trained_with or trained_with.get("path") != "dask":
        return []
    workers = trained_with.get("workers")
    trainer = trained_with.get("xgboost") or "no XGBoost (no labels)"
    line = (
        f"- Trained on a Dask cluster ({_plural(workers, 'worker')}): XGBoost with `{trainer}` "
        "on the partitioned features; the Isolation Forests on a seeded sample of "
        f"{_count(trained_with.get('isolation_sample_size'))} training customers."
        if workers is not None
        else f"- Trained on a Dask cluster: XGBoost with `{trainer}` on the partitioned features."
    )
    skipped = [
        f"{name.replace('_', ' ')} {text}"
        for name in ("random_search", "raw_readings_baseline")
        if isinstance(text := trained_with.get(name), str)
    ]
    return [line] + [f"- {sentence[0].upper()}{sentence[1:]}." for sentence in skipped]


def _model_section(metadata: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[str]:
    features = metadata.get("feature_names", [])
    lines = ["## Model", ""]
    if metadata.get("supervised"):
        xgb_params = metadata.get("xgb_params") or metadata.get("parameters", {}).get(
            "xgb_params", {}
        )
        early_stopping = metadata.get("parameters", {}).get("early_stopping_rounds")
        best = metadata.get("best_iteration")
        lines += [
            "- XGBoost on per-customer consumption features, combined with per-cluster Isolation "
            "Forest anomaly scores into `risk_score`, which ranks the list. "
            + _weight_sentence(metadata),
            "- XGBoost settings: "
            + ", ".join(f"{key}={value}" for key, value in sorted(xgb_params.items()))
            + (
                f"; early stopping after {early_stopping} rounds without gain"
                if early_stopping
                else ""
            )
            + (f"; best round {best + 1}" if isinstance(best, int) else "")
            + ".",
            f"- `probability`: `risk_score` calibrated on validation ({metadata.get('calibration')}"
            "): the theft rate among customers scored alike, never a certainty.",
        ]
    else:
        lines.append(
            "- Per-cluster Isolation Forests (label-free): `risk_score` is the anomaly score; "
            "there is no calibrated probability."
        )
    lines += _trainer_lines(metadata.get("trained_with"))
    capacity = thresholds.get("capacity", {})
    if capacity:
        share, count = capacity.get("inspection_share"), capacity.get("inspection_count")
        lines.append(
            "- Inspection capacity (03): "
            + (
                f"{_count(count)} inspections per period over "
                f"{_count(capacity.get('population_size'))} customers"
                if count
                else f"{_number(share, 3)} of the customers per period"
            )
            + f" ({_count(capacity.get('target_on_validation'))} validation customers)."
        )
    lines += [
        f"- {len(features)} features: {', '.join(features)}.",
        "- Library versions: "
        + ", ".join(f"{name} {version}" for name, version in metadata.get("versions", {}).items())
        + ".",
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
        f"Test split: {_count(test.get('n_customers'))} customers, "
        f"{_count(test.get('n_thieves'))} thieves. Intervals are 95 %: stratified bootstrap "
        f"({evaluation.get('n_bootstrap', 'n/a')} resamples) for the curve areas, Wilson for "
        "rates (n beside each).",
        "",
    ]
    few = few_cases_note(int(test.get("n_thieves") or 0), int(test.get("n_customers") or 0))
    if few:
        lines += [f"**{few}**", ""]
    lines += [
        f"- ROC-AUC: {_interval(evaluation, 'roc_auc')}",
        f"- PR-AUC (average precision): {_interval(evaluation, 'pr_auc')} "
        f"(a random ranking scores the theft rate, {_number(test.get('theft_rate'))})",
        f"- Brier score {_number(test.get('calibration', {}).get('brier'))}, expected calibration "
        f"error {_number(test.get('calibration', {}).get('ece'))}",
        "",
        "Precision and recall at the top of the ranking (precision n = inspected, recall n = "
        "all test thieves):",
        "",
        *_table(
            test.get("at_k", []),
            ["k", "n_inspected", "thieves_found", "precision", "thieves_total", "recall"],
        ),
        "",
        ", ".join(f"MAP@{k} {_number(v)}" for k, v in test.get("map_at_k", {}).items())
        + f". {test.get('map_definition', '')}",
        "",
        "Models compared on the same test customers; the difference is the headline ensemble "
        "minus each model on shared bootstrap resamples (an interval excluding 0 is a real "
        "difference):",
        "",
        *_model_table(test.get("models", [])),
        "",
        *_comparison_legend(test.get("models", [])),
    ]
    return lines


COMPARED_ONLY = {
    "raw_readings_xgboost": "XGBoost on the daily readings alone, no features (the bar the "
    "headline model must clear)",
    "one_class_svm": "label-free One-Class SVM per cluster",
    "autoencoder": "label-free autoencoder per cluster (reconstruction error)",
}


def _comparison_legend(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line naming the compared models that do not rank the list, when the table has any."""
    named = [row.get("model") for row in rows if row.get("model") in COMPARED_ONLY]
    if not named:
        return []
    return [
        "Compared only, none of them ranks the list: "
        + "; ".join(f"`{name}`: {COMPARED_ONLY[name]}" for name in named)
        + ".",
        "",
    ]


def _model_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per-model ROC-AUC / PR-AUC with intervals and the paired differences."""
    shown = []
    for row in rows:
        entry = dict(row)
        for metric in ("roc_auc", "pr_auc"):
            interval = (entry.get(f"{metric}_low"), entry.get(f"{metric}_high"))
            entry[metric] = (
                _number(entry.get(metric))
                if None in interval
                else f"{_number(entry.get(metric))} ({_number(interval[0])}-{_number(interval[1])})"
            )
            entry[f"{metric}_diff"] = (
                "reference"
                if entry.get(f"{metric}_diff") is None and f"{metric}_diff" in row
                else _rate_with_interval(row, f"{metric}_diff")
            )
        shown.append({k: v for k, v in entry.items() if not k.endswith(("_low", "_high"))})
    columns = ["model", "roc_auc", "pr_auc"]
    if rows and "pr_auc_diff" in rows[0]:
        columns += ["roc_auc_diff", "pr_auc_diff"]
    return _table(
        shown,
        columns,
        headers={"roc_auc_diff": "ROC-AUC difference", "pr_auc_diff": "PR-AUC difference"},
    )


def _cost_lines(cost: Mapping[str, Any]) -> list[str]:
    """Cost-benefit in sentences: net value at capacity, the next batch, the chosen optimum."""
    currency = cost.get("currency", "")
    unit = f" {currency}" if currency else ""

    def money(value: Any) -> str:
        return "n/a" if value is None else f"{value:,.0f}{unit}"

    lines = [
        f"Cost-benefit on the test split (inspection {money(cost.get('inspection_cost'))}, "
        f"recovery per theft {money(cost.get('recovery_per_theft'))}; an inspection pays when "
        f"the hit rate exceeds {_number(cost.get('break_even_hit_rate'), 3)}):",
        "",
    ]
    capacity = cost.get("at_threshold") or {}
    if capacity:
        lines.append(
            f"- At capacity ({_count(capacity.get('n_inspections'))} inspections at the "
            f"operational threshold): {_plural(capacity.get('hits'), 'theft')}, net value "
            f"{money(capacity.get('net_value'))} (95 % CI {money(capacity.get('net_value_low'))}"
            f" to {money(capacity.get('net_value_high'))})."
        )
    batch = cost.get("next_batch") or {}
    if batch:
        lines.append(
            f"- The next {_plural(batch.get('n_inspections'), 'inspection')} beyond capacity: "
            f"{_plural(batch.get('hits'), 'theft')} (hit rate "
            f"{_rate_with_interval(batch, 'hit_rate')}), adding {money(batch.get('net_value'))}."
        )
    optimum = cost.get("optimum") or {}
    if optimum:
        chosen_on = optimum.get("chosen_on", "test")
        lines.append(
            f"- Best share of inspections chosen on the {chosen_on} split: "
            f"{_number(optimum.get('share'), 3)} of the customers "
            f"({_count(optimum.get('n_inspections'))} test customers"
            + (
                f", {_number(optimum.get('capacity_multiple'), 1)} x capacity"
                if optimum.get("capacity_multiple") is not None
                else ""
            )
            + f"); on test it nets {money(optimum.get('net_value'))}. "
            + capacity_relation(
                optimum.get("capacity_multiple"),
                next_batch_pays(batch, cost.get("break_even_hit_rate") or 0.0),
            )
        )
    return [*lines, ""]


def _list_section(evaluation: Mapping[str, Any]) -> list[str]:
    """How the inspection list was built: known cases apart, tiers sized to the capacity."""
    summary = evaluation.get("inspection_list") or {}
    tiers = summary.get("tiers") or {}
    if not tiers:
        return []
    known = int(tiers.get(KNOWN_TIER, 0))
    return [
        "## The inspection list",
        "",
        f"- Customers already labelled thieves are known cases, not leads: {_count(known)} of "
        f'{_count(summary.get("customers"))} customers, tier "{KNOWN_TIER}", listed last '
        "(`known_case` true).",
        "- The customers still to inspect come first, by `risk_score`: the first "
        f"{_count(tiers.get('high', 0))} of them (the inspection capacity) are high, the next "
        f"{_count(tiers.get('medium', 0))} (the watch list) medium, the other "
        f"{_count(tiers.get('low', 0))} low.",
        "- Reasons are written for the high and medium tiers. Every score on the list is "
        "out-of-sample (training customers carry out-of-fold scores).",
        "",
    ]


def _operating_section(evaluation: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[str]:
    expected = thresholds.get("expected", {})
    capacity = thresholds.get("capacity", {})
    lines = [
        "## Operating point and tiers",
        "",
        f"- Operational threshold on `risk_score`: "
        f"{_number(thresholds.get('operational_threshold'), 4)} (the score the inspection "
        f"capacity reaches on validation: {_count(capacity.get('target_on_validation'))} "
        "customers).",
        f"- Tiers: {thresholds.get('rule', '')}. Cut-offs: high >= "
        f"{_number(thresholds.get('high_cutoff'), 4)}, medium >= "
        f"{_number(thresholds.get('medium_cutoff'), 4)}.",
    ]
    if expected.get("precision") is not None:
        lines.append(
            f"- Expected on validation: precision {_number(expected.get('precision'))}, recall "
            f"{_number(expected.get('recall'))}."
        )
    at_threshold = evaluation.get("test", {}).get("threshold")
    if at_threshold:
        flagged = at_threshold.get(
            "flagged",
            at_threshold.get("true_positive", 0) + at_threshold.get("false_positive", 0),
        )
        lines.append(
            f"- Measured on test at the threshold: precision "
            f"{_rate_with_interval(at_threshold, 'precision')} (n = {_count(flagged)} flagged), "
            f"recall {_rate_with_interval(at_threshold, 'recall')} (n = "
            f"{_count(at_threshold.get('thieves'))} thieves); "
            f"{_found(at_threshold.get('true_positive'))} found."
        )
        verdicts = [
            f"validation {rate} {_number(at_threshold[f'validation_{rate}'])}: "
            f"{at_threshold[f'validation_{rate}_verdict']}"
            for rate in ("precision", "recall")
            if at_threshold.get(f"validation_{rate}") is not None
        ]
        if verdicts:
            lines.append("- " + "; ".join(verdicts) + ".")
    test_tiers = evaluation.get("test", {}).get("tiers")
    tiers = test_tiers or evaluation.get("tiers_all", [])
    columns = ["tier", "customers", "share"]
    if tiers and "hit_rate" in tiers[0]:
        columns += ["thieves", "hit_rate"]
    lines += [
        "",
        "Tiers of the test customers (hit rate n = customers):"
        if test_tiers
        else "Tiers of all customers:",
        "",
        *_table(tiers, columns),
        "",
    ]
    cost = evaluation.get("test", {}).get("cost_benefit")
    if cost:
        lines += _cost_lines(cost)
    return lines


def weak_attacks(evaluation: Mapping[str, Any], limit: float = WEAK_RECALL) -> list[str]:
    """Attack types the test split finds less often than `limit`, each with what it does:
    "h6 (readings reversed within each week: ...): 0 of 37 found (recall ...)"."""
    from ntl.synth import ATTACK_DESCRIPTIONS

    rows = evaluation.get("test", {}).get("attack_recall") or []

    def named(code: str) -> str:
        description = ATTACK_DESCRIPTIONS.get(str(code))
        return f"{code} ({description})" if description else str(code)

    return [
        f"{named(row['group'])}: {_count(row.get('found'))} of {_count(row.get('thieves'))} found "
        f"(recall {_rate_with_interval(row, 'recall', 2)})"
        for row in rows
        if row.get("recall") is not None and row["recall"] < limit
    ]


def _isolation_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Attack types the isolation forest alone finds more often than XGBoost alone, both
    flagging as many test customers as the ensemble does at the threshold."""
    if not rows or "found_isolation_forest" not in rows[0]:
        return []
    better = [
        f"{row['group']} ({row['found_isolation_forest']} vs {row['found_xgboost']} of "
        f"{row['thieves']})"
        for row in rows
        if row["found_isolation_forest"] > row["found_xgboost"]
    ]
    return [
        "With the same number of inspections, the isolation forest alone finds more thieves "
        "than XGBoost alone for: " + ("; ".join(better) if better else "no attack type") + ".",
        "",
    ]


def _weak_spots_section(evaluation: Mapping[str, Any]) -> list[str]:
    test = evaluation.get("test", {})
    groups = test.get("groups", {})
    weak = weak_attacks(evaluation)
    if not groups and not test.get("attack_recall"):
        return []
    lines = ["## Where the model is weaker (test split, at the threshold)", ""]
    if test.get("attack_recall"):
        lines += [
            f"Attack types caught less than {WEAK_RECALL:.0%} of the time: "
            + ("; ".join(weak) if weak else "none")
            + ". An inspector should not read a short list as the absence of these attacks.",
            "",
        ]
    lines += _isolation_lines(test.get("attack_recall_by_model") or [])
    for name, rows in groups.items():
        lines += [
            f"By {name} (precision n = flagged, recall n = thieves):",
            "",
            *_table(rows, ["group", "n", "thieves", "flagged", "precision", "recall", "pr_auc"]),
            "",
        ]
    for name in ("attack_recall", "onset_recall"):
        if test.get(name):
            lines += [f"Recall by {name.split('_')[0]} (synthetic ground truth):", ""]
            lines += [*_table(test[name], ["group", "thieves", "found", "recall"]), ""]
    return lines


PATH_PARAMETERS = ("artifacts_dir", "reports_dir", "data_path")  # where, not how: not listed


def _parameter_text(value: Any) -> str:
    """A parameter value as a reader writes it: a mapping as ``a: 1, b: 2``, not a Python dict."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_parameter_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _parameter_lines(
    parameters: Mapping[str, Any],
    metadata: Mapping[str, Any],
    thresholds: Mapping[str, Any],
    preprocessing: Mapping[str, Any],
    modelling_parameters: Mapping[str, Any] | None = None,
) -> list[str]:
    """The run's parameters: this notebook's (04), the modelling notebook's (03) and the fitted
    preprocessing's (02, as evaluation.json records them).

    `modelling_parameters` are the ones 03 was run with (its ``parameters`` cell, as the artifact
    manifest records them): every name listed can be set. Without them, the settings recorded in
    metadata.json are listed. Folders are left out: they name a machine, not a setting.
    """
    recorded = (
        modelling_parameters if modelling_parameters is not None else metadata.get("parameters", {})
    )
    modelling = {
        key: value
        for key, value in recorded.items()
        if key != "xgb_params" and key not in PATH_PARAMETERS
    }
    capacity = thresholds.get("capacity", {})
    modelling |= {
        key: capacity[key]
        for key in ("inspection_share", "inspection_count")
        if capacity.get(key) is not None
    }
    if "watchlist_multiple" in thresholds:
        modelling["watchlist_multiple"] = thresholds["watchlist_multiple"]
    shown = {k: v for k, v in parameters.items() if k not in PATH_PARAMETERS}
    lines = [
        "- Evaluation (04): "
        + ", ".join(f"{k}={_parameter_text(v)}" for k, v in sorted(shown.items())),
    ]
    if modelling:
        lines.append(
            "- Modelling (03): "
            + ", ".join(f"{k}={_parameter_text(v)}" for k, v in sorted(modelling.items()))
        )
    if preprocessing:
        lines.append(
            "- Preprocessing (02): "
            + ", ".join(f"{k}={v}" for k, v in sorted(preprocessing.items()))
        )
    return lines


def model_card(
    *,
    evaluation: Mapping[str, Any],
    metadata: Mapping[str, Any],
    thresholds: Mapping[str, Any],
    parameters: Mapping[str, Any],
    modelling_parameters: Mapping[str, Any] | None = None,
) -> str:
    """The model card as markdown, from evaluation.json, metadata.json, thresholds.json and the
    notebook parameters (04's, and 03's as the manifest records them)."""
    synthetic = is_synthetic(evaluation)
    training_scores = TRAINING_SCORES.get(
        evaluation.get("scores", {}).get("training_customers", "in-sample"),
        TRAINING_SCORES["in-sample"],
    )
    lines = [
        "# Model card: ntl electricity-theft screening",
        "",
        f"ntl {evaluation.get('ntl_version', '?')}"
        + (" · **synthetic data**" if synthetic else ""),
        "",
        "Run parameters:",
        "",
        *_parameter_lines(
            parameters,
            metadata,
            thresholds,
            evaluation.get("preprocessing", {}),
            modelling_parameters,
        ),
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        NOT_INTENDED,
        "",
        *_data_section(evaluation.get("data", {}), synthetic),
        *_model_section(metadata, thresholds),
        *_metrics_section(evaluation),
        *_operating_section(evaluation, thresholds),
        *_list_section(evaluation),
        *_weak_spots_section(evaluation),
        "## Known limits",
        "",
        *[f"- {limit}" for limit in (*KNOWN_LIMITS, training_scores)],
        "",
        "## Monitoring",
        "",
        "`ntl score` writes a drift report with the Population Stability Index of every feature "
        "and of the score against `drift_baseline.json`; PSI above 0.2 is printed as a warning. "
        "Features that move with the calendar (the position of the largest drop) are reported, "
        "never alerted, and a file with a much shorter or longer history than training gets one "
        "warning that drift cannot be checked. "
        "Investigate before trusting a list with shifted scores. `ntl monitor` checks each new "
        "month against this run (drift, missing and zero readings, new customers, the high tier "
        "against capacity and, from recorded inspection outcomes, the hit rate against the "
        "precision above) and exits 3 when retraining is recommended; `ntl outcomes add` records "
        "inspection results, which the next `ntl retrain` uses as labels. A retrained model "
        "replaces this one only when it is not worse on the same held-out customers.",
        "",
    ]
    return "\n".join(lines)
