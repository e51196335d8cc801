"""Metrics of a theft score on labelled customers, one room per job.

- ``ranking``: the one ranking rule (``rank_order``), metrics at k, ROC-AUC and PR-AUC;
- ``intervals``: Wilson intervals for rates, the stratified (paired) bootstrap for curve areas,
  ``model_comparison``;
- ``tables``: at-k, threshold, lift and per-group tables, each rate with its n and interval;
- ``calibration``: reliability table, ECE, Brier score;
- ``value``: cost-benefit, break-even, the optimum and the value at capacity;
- ``verdicts``: what an interval or a multiple of capacity means, in sentences;
- ``formatting``: tables for the eye and records for JSON;
- ``record`` (imported on its own, it uses the models): notebook 04's evaluation as functions,
  and ``evaluation_record``, the one builder of ``evaluation.json``.

The names below are re-exported so that ``from ntl import evaluate; evaluate.roc_auc`` works.
"""

from ntl.evaluate.calibration import brier_score, expected_calibration_error, reliability_table
from ntl.evaluate.formatting import (
    baseline_quantile_table,
    format_probability,
    readable,
    to_records,
)
from ntl.evaluate.intervals import (
    add_wilson_columns,
    bootstrap_resamples,
    model_comparison,
    percentile_interval,
    wilson_interval,
)
from ntl.evaluate.ranking import (
    MAP_DEFINITION,
    average_precision_at_k,
    pr_auc,
    precision_at_k,
    rank_order,
    resolve_k,
    roc_auc,
)
from ntl.evaluate.tables import (
    ONSET_AGE_EDGES,
    at_k_table,
    group_table,
    lift_table,
    onset_age_groups,
    recall_by_group,
    recall_by_group_per_model,
    threshold_summary,
)
from ntl.evaluate.value import (
    break_even_rate,
    cost_benefit,
    cost_benefit_optimum,
    marginal_value,
    optimum_share,
    value_at,
)
from ntl.evaluate.verdicts import (
    capacity_multiple,
    capacity_relation,
    cost_benefit_summary,
    difference_verdict,
    interval_verdict,
    threshold_lines,
)

__all__ = [
    "MAP_DEFINITION",
    "ONSET_AGE_EDGES",
    "add_wilson_columns",
    "at_k_table",
    "average_precision_at_k",
    "baseline_quantile_table",
    "bootstrap_resamples",
    "break_even_rate",
    "brier_score",
    "capacity_multiple",
    "capacity_relation",
    "cost_benefit",
    "cost_benefit_optimum",
    "cost_benefit_summary",
    "difference_verdict",
    "expected_calibration_error",
    "format_probability",
    "group_table",
    "interval_verdict",
    "lift_table",
    "marginal_value",
    "model_comparison",
    "onset_age_groups",
    "optimum_share",
    "percentile_interval",
    "pr_auc",
    "precision_at_k",
    "rank_order",
    "readable",
    "recall_by_group",
    "recall_by_group_per_model",
    "reliability_table",
    "resolve_k",
    "roc_auc",
    "threshold_lines",
    "threshold_summary",
    "to_records",
    "value_at",
    "wilson_interval",
]
