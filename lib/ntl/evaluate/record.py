"""Notebook 04's evaluation as functions, and the one builder of ``evaluation.json``.

Notebook 04 calls these, shows their tables and figures and explains them; it computes nothing of
its own. `evaluate_test_split` measures the held-out test split once (every label-based section of
the notebook), `tiers_by_split`, `data_summary` and `inspection_list_summary` describe the run, and
`evaluation_record` assembles them into the dict written as ``evaluation.json``, the schema that
``ntl.model_card`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report

from ntl._version import __version__
from ntl.errors import ParameterError
from ntl.evaluate.calibration import brier_score, expected_calibration_error, reliability_table
from ntl.evaluate.formatting import baseline_quantile_table, to_records
from ntl.evaluate.intervals import add_wilson_columns, model_comparison
from ntl.evaluate.ranking import MAP_DEFINITION, average_precision_at_k
from ntl.evaluate.tables import (
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
from ntl.evaluate.verdicts import capacity_multiple, difference_verdict, interval_verdict
from ntl.frame import LABEL_COLUMN, day_index, has_both_classes
from ntl.models.ensemble import MOSTLY
from ntl.models.metrics import compared_scores
from ntl.risk import NOT_EXPLAINED, tier_table
from ntl.split import SPLIT_COLUMN, SPLITS

if TYPE_CHECKING:
    from ntl.models import ModelBundle
    from ntl.preprocess import PreprocessConfig

GROUP_COLUMNS = ("cluster", "quality_flag")  # the weaker-spot breakdowns of the test split


@dataclass(frozen=True)
class EvaluationSettings:
    """Notebook 04's knobs of the label-based evaluation.

    No defaults here: the notebook's ``parameters`` cell is the one source of them.
    """

    n_bootstrap: int
    seed: int
    top_k: Sequence[int | float]
    map_k: Sequence[int | float]
    calibration_bins: int
    lift_groups: int
    inspection_cost: float
    recovery_per_theft: float
    currency: str
    marginal_batch_share: float

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> EvaluationSettings:
        """The settings among a notebook's parameters (other names are ignored)."""
        return cls(**{spec.name: parameters[spec.name] for spec in fields(cls)})

    def __post_init__(self) -> None:
        if self.n_bootstrap < 1:
            raise ParameterError(f"n_bootstrap must be at least 1, got {self.n_bootstrap}")
        if self.calibration_bins < 1 or self.lift_groups < 1:
            raise ParameterError("calibration_bins and lift_groups must be at least 1")
        if not 0 < self.marginal_batch_share < 1:
            raise ParameterError(
                f"marginal_batch_share must lie in (0, 1), got {self.marginal_batch_share}"
            )


@dataclass
class TestEvaluation:
    """Every label-based table of notebook 04, measured once on the labelled test customers.

    ``labelled`` is False when the test split lacks either class; everything else is then empty.
    """

    labelled: bool
    calibrated: bool = False
    ids: pd.Index = field(default_factory=lambda: pd.Index([]))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    compared: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    at_k: pd.DataFrame | None = None
    map_at_k: dict[str, float] = field(default_factory=dict)
    at_threshold: dict[str, Any] = field(default_factory=dict)
    classification_report: dict[str, Any] = field(default_factory=dict)
    reliability: pd.DataFrame | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    tiers: pd.DataFrame | None = None
    lift: pd.DataFrame | None = None
    costs: pd.DataFrame | None = None
    cost_benefit: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    attack_recall: pd.DataFrame | None = None
    onset_recall: pd.DataFrame | None = None
    attack_recall_by_model: pd.DataFrame | None = None

    __test__ = False  # not a pytest class

    @property
    def n_capacity(self) -> int:
        """Test customers at or above the operational threshold."""
        return int(self.at_threshold.get("flagged", 0))

    def shown_optimum(self) -> Mapping[str, Any] | pd.Series:
        """The optimum the cost-benefit figure marks: chosen on validation, else the test's own."""
        return self.cost_benefit.get("optimum") or cost_benefit_optimum(self.costs)

    def record(self) -> dict[str, Any]:
        """The ``test`` section of evaluation.json (empty without labels)."""
        if not self.labelled:
            return {}
        record: dict[str, Any] = {
            "n_customers": len(self.y),
            "n_thieves": int(self.y.sum()),
            "theft_rate": float(self.y.mean()),
            "models": to_records(self.comparison),
            "at_k": to_records(self.at_k),
            "map_at_k": self.map_at_k,
            "map_definition": MAP_DEFINITION,
            "threshold": self.at_threshold,
            "classification_report": self.classification_report,
            "tiers": to_records(self.tiers),
            "lift": to_records(self.lift),
            "cost_benefit": self.cost_benefit,
            "groups": {name: to_records(table) for name, table in self.groups.items()},
        }
        if self.calibrated:
            record["calibration"] = {
                **self.calibration,
                "reliability": to_records(self.reliability),
            }
        for name in ("attack_recall", "onset_recall", "attack_recall_by_model"):
            table = getattr(self, name)
            if table is not None:
                record[name] = to_records(table)
        return record


def compare_models(
    y_true: np.ndarray, compared: pd.DataFrame, n_bootstrap: int, seed: int
) -> pd.DataFrame:
    """ROC-AUC / PR-AUC per model with intervals, the paired difference from the first column,
    and each difference's verdict ("better", "worse", "no clear difference", "reference")."""
    comparison = model_comparison(y_true, compared, n_boot=n_bootstrap, seed=seed)
    for metric in ("roc_auc", "pr_auc"):
        comparison[f"{metric}_verdict"] = difference_verdict(
            comparison[f"{metric}_diff_low"], comparison[f"{metric}_diff_high"]
        )
    return comparison


def threshold_check(
    y_true: np.ndarray, risk_score: np.ndarray, thresholds: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The test split at 03's operational threshold, and scikit-learn's classification report.

    Adds ``validation_precision`` / ``validation_recall`` (what 03 expected on validation) and
    whether each lies inside the test's Wilson interval.
    """
    threshold = float(thresholds["operational_threshold"])
    at_threshold: dict[str, Any] = threshold_summary(y_true, risk_score, threshold)
    for rate in ("precision", "recall"):
        expected = thresholds.get("expected", {}).get(rate)
        at_threshold[f"validation_{rate}"] = expected
        at_threshold[f"validation_{rate}_verdict"] = interval_verdict(
            expected, at_threshold[f"{rate}_low"], at_threshold[f"{rate}_high"]
        )
    report = classification_report(
        y_true,
        (risk_score >= threshold).astype(int),
        labels=[0, 1],
        target_names=["normal", "theft"],
        output_dict=True,
        zero_division=0,
    )
    return at_threshold, report


def calibration_check(
    y_true: np.ndarray, probability: np.ndarray, n_bins: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Reliability table (observed rate with Wilson interval per bin), Brier score and ECE."""
    reliability = reliability_table(y_true, probability, n_bins)
    reliability = add_wilson_columns(reliability, "observed_rate", "thieves", "n")
    summary = {
        "brier": brier_score(y_true, probability),
        "ece": expected_calibration_error(y_true, probability, n_bins),
        "n_bins": n_bins,
    }
    return reliability, summary


def tier_hit_rates(tiers: pd.Series, flag: pd.Series) -> pd.DataFrame:
    """Customers, thieves and hit rate (Wilson interval, n = customers) per tier of labelled
    customers."""
    table = add_wilson_columns(tier_table(tiers, flag), "hit_rate", "thieves", "labelled")
    return table.drop(columns="labelled")  # every customer here is labelled


def business_value(
    y_true: np.ndarray,
    risk_score: np.ndarray,
    n_capacity: int,
    validation: tuple[pd.Series, pd.Series] | None,
    settings: EvaluationSettings,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The test's cost-benefit curve and its summary: value at capacity, the next batch, and
    the optimum chosen on validation (`validation` = its labels and risk scores; None or one
    class: no choice, the figure then marks the test's own optimum in hindsight)."""
    amounts = {
        "inspection_cost": settings.inspection_cost,
        "recovery_per_theft": settings.recovery_per_theft,
    }
    costs = cost_benefit(y_true, risk_score, **amounts)
    at_capacity = value_at(costs, n_capacity, **amounts)
    batch = max(1, round(settings.marginal_batch_share * len(y_true)))
    chosen = None
    if validation is not None and has_both_classes(validation[0]):
        share = optimum_share(validation[0].astype(int), validation[1], **amounts)
        chosen = value_at(costs, round(share * len(y_true)), **amounts)
        chosen |= {
            "share": share,
            "chosen_on": "validation",
            "capacity_multiple": capacity_multiple(chosen["n_inspections"], n_capacity),
        }
    summary = {
        **amounts,
        "currency": settings.currency,
        "break_even_hit_rate": break_even_rate(**amounts),
        "optimum": chosen,
        "at_threshold": at_capacity,
        "next_batch": marginal_value(costs, n_capacity, batch, **amounts),
    }
    return costs, summary


def attack_recall_tables(
    thief_scores: pd.Series,
    truth: pd.DataFrame,
    threshold: float,
    last_day: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recall at the threshold per attack type and per onset age, over the test thieves
    (`thief_scores`: their risk scores; `truth`: the generator's attack and onset)."""
    found = thief_scores.to_numpy() >= threshold
    thieves = truth.loc[thief_scores.index]
    attack = recall_by_group(found, thieves["attack"])
    onset = recall_by_group(found, onset_age_groups(thieves["onset"], last_day))
    return attack, onset


def isolation_better(attack_recall_by_model: pd.DataFrame) -> list[str]:
    """Attack types the isolation forest alone finds more often than XGBoost alone."""
    table = attack_recall_by_model
    better = table["recall_isolation_forest"] > table["recall_xgboost"]
    return [str(group) for group in table.loc[better, "group"]]


def ensemble_sentence(weight: float, isolation_finds_more: Sequence[str]) -> str:
    """The ensemble's mix in words, and the attack types the isolation forest adds."""
    dominated = " (the ranking is in effect XGBoost's)" if weight >= MOSTLY else ""
    return (
        f"ensemble = {weight:.2f} x XGBoost + {1 - weight:.2f} x anomaly score{dominated}; "
        "attack types the isolation forest finds more often than XGBoost: "
        + (", ".join(isolation_finds_more) if isolation_finds_more else "none")
    )


def labelled_test_mask(preprocessed: pd.DataFrame, split: pd.Series) -> np.ndarray:
    """Test customers with a label: the only customers scored against the truth."""
    return (split == "test").to_numpy() & preprocessed[LABEL_COLUMN].notna().to_numpy()


def evaluate_test_split(
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    tiers: pd.Series,
    thresholds: Mapping[str, Any],
    bundle: ModelBundle,
    settings: EvaluationSettings,
    *,
    truth: pd.DataFrame | None = None,
    last_day: pd.Timestamp | None = None,
    consumption: pd.DataFrame | None = None,
) -> TestEvaluation:
    """Measure the held-out test split once: every label-based section of notebook 04.

    `scores` are ``ntl.models.chain_scores`` (with ``split``) for the customers of
    `preprocessed`, `tiers` their tiers; with their `consumption` the raw-readings baseline
    joins the model comparison. With synthetic `truth` (attack and onset per customer)
    and `last_day`, recall per attack type and onset age is added.
    """
    split = scores[SPLIT_COLUMN]
    test = labelled_test_mask(preprocessed, split)
    flag = preprocessed.loc[test, LABEL_COLUMN]
    if not has_both_classes(flag):
        return TestEvaluation(labelled=False)
    y_true = flag.astype(int).to_numpy()
    test_scores = scores.loc[test]
    risk_score = test_scores["risk_score"].to_numpy()
    calibrated = bool(test_scores["probability"].notna().all())
    compared = compared_scores(bundle, test_scores, preprocessed.loc[test], consumption)
    result = TestEvaluation(
        labelled=True,
        calibrated=calibrated,
        ids=preprocessed.index[test],
        y=y_true,
        compared=compared,
        comparison=compare_models(y_true, compared, settings.n_bootstrap, settings.seed),
        at_k=at_k_table(y_true, risk_score, settings.top_k),
        map_at_k={str(k): average_precision_at_k(y_true, risk_score, k) for k in settings.map_k},
    )
    result.at_threshold, result.classification_report = threshold_check(
        y_true, risk_score, thresholds
    )
    if calibrated:
        result.reliability, result.calibration = calibration_check(
            y_true, test_scores["probability"].to_numpy(), settings.calibration_bins
        )
    result.tiers = tier_hit_rates(tiers[test], flag)
    result.lift = lift_table(y_true, risk_score, n_bins=min(settings.lift_groups, len(y_true)))
    validation = (split == "validation").to_numpy() & preprocessed[LABEL_COLUMN].notna().to_numpy()
    result.costs, result.cost_benefit = business_value(
        y_true,
        risk_score,
        result.n_capacity,
        (preprocessed.loc[validation, LABEL_COLUMN], scores.loc[validation, "risk_score"]),
        settings,
    )
    threshold = float(thresholds["operational_threshold"])
    result.groups = {
        name: group_table(y_true, risk_score, preprocessed.loc[test, name], threshold)
        for name in GROUP_COLUMNS
    }
    if truth is not None and last_day is not None:
        thieves = result.ids[y_true == 1]
        result.attack_recall, result.onset_recall = attack_recall_tables(
            scores.loc[thieves, "risk_score"], truth, threshold, last_day
        )
        if bundle.supervised:
            result.attack_recall_by_model = recall_by_group_per_model(
                pd.DataFrame(
                    {
                        "ensemble": test_scores["risk_score"],
                        "xgboost": test_scores["xgb_probability"],
                        "isolation_forest": test_scores["anomaly_score"],
                        **{kind: compared[kind] for kind in bundle.detectors},
                    }
                ),
                y_true == 1,
                truth["attack"].reindex(test_scores.index).astype(object),
                max(1, result.n_capacity),
            )
    return result


def tiers_by_split(tiers: pd.Series, split: pd.Series) -> pd.DataFrame:
    """Customers per tier (with share) and per split ("in train", "in validation", ...)."""
    per_split = pd.crosstab(tiers.astype(str), split.astype(str))
    order = (*SPLITS, *sorted(set(per_split.columns) - set(SPLITS)))
    per_split = per_split[[name for name in order if name in per_split.columns]]
    per_split = per_split.add_prefix("in ").rename_axis("tier").reset_index()
    return tier_table(tiers).merge(per_split, on="tier", how="left")


def data_summary(
    consumption: pd.DataFrame, preprocessed: pd.DataFrame, split: pd.Series, synthetic: bool
) -> dict[str, Any]:
    """The ``data`` section of evaluation.json: size, period, source, labels and split."""
    days = day_index(consumption)
    flag = preprocessed[LABEL_COLUMN]
    return {
        "n_customers": len(preprocessed),
        "n_days": len(days),
        "first_day": f"{days[0]:%Y-%m-%d}",
        "last_day": f"{days[-1]:%Y-%m-%d}",
        "source": "synthetic (ntl.synth)" if synthetic else "meter file",
        "labelled": bool(has_both_classes(flag)),
        "n_thieves": int((flag == 1).sum()),
        "n_normal": int((flag == 0).sum()),
        "n_unlabeled": int(flag.isna().sum()),
        "theft_rate": float(flag.mean()) if flag.notna().any() else None,
        "split": {str(k): int(v) for k, v in split.value_counts().items()},
    }


def inspection_list_summary(ranked: pd.DataFrame) -> dict[str, Any]:
    """The ``inspection_list`` section: customers, how many explained, tiers, high tier by split."""
    high = ranked.loc[ranked["tier"] == "high", SPLIT_COLUMN].astype(str)
    tiers = tier_table(ranked["tier"])
    return {
        "customers": len(ranked),
        "explained": int(ranked["reason_1"].ne(NOT_EXPLAINED).sum()),
        "tiers": dict(zip(tiers["tier"], tiers["customers"].astype(int).tolist(), strict=True)),
        "high_tier_by_split": {str(k): int(v) for k, v in high.value_counts().items()},
    }


def drift_baseline_tables(
    baseline: Mapping[str, Any], score_columns: Sequence[str], top_features: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quantiles of the scores and of the most important features in the drift baseline."""
    return (
        baseline_quantile_table(baseline, "scores", list(score_columns)),
        baseline_quantile_table(baseline, "features", list(top_features)),
    )


def evaluation_record(
    *,
    data: Mapping[str, Any],
    scores: pd.DataFrame,
    supervised: bool,
    tiers_all: pd.DataFrame,
    test: TestEvaluation,
    n_bootstrap: int,
    importance: pd.Series,
    importance_measure: str,
    ranked: pd.DataFrame,
    drift_tables: tuple[pd.DataFrame, pd.DataFrame],
    preprocessing: PreprocessConfig,
) -> dict[str, Any]:
    """Everything notebook 04 reports, as the dict written to ``evaluation.json``.

    The one place that defines the schema ``ntl.model_card`` reads: headline ROC-AUC / PR-AUC
    with their intervals (None without labels), the data, the fitted preprocessing settings
    (`preprocessing`, 02's ``PreprocessConfig``), how the scores were made, the tiers,
    the ``test`` section (`TestEvaluation.record`), the importance, the list and the drift
    baseline's tables.
    """
    headline = test.comparison.iloc[0] if test.labelled else None

    def interval(metric: str) -> list[float] | None:
        if headline is None:
            return None
        return [float(headline[f"{metric}_low"]), float(headline[f"{metric}_high"])]

    score_quantiles, feature_quantiles = drift_tables
    return {
        "ntl_version": __version__,
        "labelled": test.labelled,
        "n_bootstrap": n_bootstrap,
        "roc_auc": None if headline is None else float(headline["roc_auc"]),
        "roc_auc_ci": interval("roc_auc"),
        "pr_auc": None if headline is None else float(headline["pr_auc"]),
        "pr_auc_ci": interval("pr_auc"),
        "data": dict(data),
        "preprocessing": {  # as JSON holds it, so a card built before writing reads the same
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(preprocessing).items()
        },
        "scores": {
            "source": "ntl.models.chain_scores",
            "training_customers": "out-of-fold" if supervised else "label-free",
            "split": {
                str(k): int(v) for k, v in scores[SPLIT_COLUMN].astype(str).value_counts().items()
            },
        },
        "tiers_all": to_records(tiers_all),
        "test": test.record(),
        "importance": {
            "measure": importance_measure,
            "values": {str(k): float(v) for k, v in importance.items()},
        },
        "inspection_list": inspection_list_summary(ranked),
        "drift_baseline": {
            "scores": to_records(score_quantiles),
            "top_features": to_records(feature_quantiles),
        },
    }
