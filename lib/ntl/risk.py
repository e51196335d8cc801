"""Risk tiers in numbers and the ranked inspection list an analyst takes to the field.

The list is sorted by ``risk_score`` from highest to lowest; ties keep the input order (the same
rule as every ranking metric in ``ntl.evaluate``), so the hit rate of its first k rows is the
precision@k reported for the same customers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.evaluate import rank_order
from ntl.explain import customer_reasons
from ntl.frame import ID_COLUMN, last_reading_dates

if TYPE_CHECKING:
    from ntl.models import ModelBundle
    from ntl.preprocess import PreprocessConfig

TIER_ORDER = ("high", "medium", "low")
KNOWN_TIER = "known theft"  # the list's tier for customers already labelled thieves
KNOWN_COLUMN = "known_case"
NOT_EXPLAINED = "(not explained: reasons are computed for the top of the list only)"
NO_STANDOUT = "(no single feature stands out)"
REASON_TIERS = ("high", "medium")  # tiers explained by default: the list and the watch list
INSPECTION_COLUMNS = (
    "rank",
    ID_COLUMN,
    "risk_score",
    "probability",
    "tier",
    "cluster",
    "quality_flag",
)


def tier_table(tiers: pd.Series, y_true: pd.Series | None = None) -> pd.DataFrame:
    """Customers per tier (high, medium, low, and the list's known thefts when there are any) with
    their share and, given labels, hit rate.

    `y_true` (aligned with `tiers`; 1 theft, 0 normal, <NA> unlabeled) adds ``labelled``,
    ``thieves`` and ``hit_rate`` (thieves / labelled customers in the tier) and
    ``share_of_thieves`` (the tier's share of all known thieves).
    """
    tier_names = tiers.astype(str)
    order = [*TIER_ORDER, KNOWN_TIER] if (tier_names == KNOWN_TIER).any() else list(TIER_ORDER)
    unknown = sorted(set(tier_names) - set(order))
    if unknown:
        raise ValueError(f"unknown tier names {unknown}; expected {order}")
    counts = tier_names.value_counts().reindex(order, fill_value=0)
    table = pd.DataFrame({"customers": counts, "share": counts / max(len(tiers), 1)})
    table.index.name = "tier"
    if y_true is not None:
        flag = pd.Series(y_true).astype("Int8")
        if not flag.index.equals(tiers.index):
            raise ValueError("y_true and tiers must have the same index")
        known = flag.notna()
        thief = flag.fillna(0).eq(1) & known
        labelled = known.groupby(tier_names).sum().reindex(order, fill_value=0)
        thieves = thief.groupby(tier_names).sum().reindex(order, fill_value=0)
        table["labelled"] = labelled.astype(np.int64)
        table["thieves"] = thieves.astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["hit_rate"] = np.where(labelled > 0, thieves / labelled.clip(lower=1), np.nan)
        total_thieves = int(thief.sum())
        table["share_of_thieves"] = thieves / total_thieves if total_thieves else np.nan
    return table.reset_index()


def inspection_list(
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    tiers: pd.Series,
    reasons: pd.DataFrame,
) -> pd.DataFrame:
    """The ranked list: rank, CONS_NO, risk_score, probability, tier, cluster, quality_flag,
    reason_1 .. reason_n.

    All inputs are indexed by CONS_NO. `reasons` may cover only part of the customers (e.g. the
    top of the ranking when explaining everyone would be too slow): the list says so in
    reason_1 (NOT_EXPLAINED); an explained customer without any reason gets NO_STANDOUT. The
    probability is NaN when the model had no labels. FLAG is not copied: the list is for
    inspection, not a record of outcomes.
    """
    for name, frame in (("scores", scores), ("tiers", tiers)):
        if not frame.index.equals(preprocessed.index):
            raise ValueError(
                f"{name} must have the same customers, in the same order, as preprocessed"
            )
    for column in ("risk_score", "probability"):
        if column not in scores.columns:
            raise ValueError(f"scores has no {column!r} column")
    reason_columns = [column for column in reasons.columns if column.startswith("reason_")]
    order = rank_order(scores["risk_score"])
    ids = preprocessed.index.to_numpy()[order]
    ranked = pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            ID_COLUMN: ids,
            "risk_score": scores["risk_score"].to_numpy(dtype=np.float64)[order],
            "probability": scores["probability"].to_numpy(dtype=np.float64)[order],
            "tier": tiers.astype(str).to_numpy()[order],
            "cluster": preprocessed["cluster"].to_numpy()[order],
            "quality_flag": preprocessed["quality_flag"].astype(str).to_numpy()[order],
        }
    )
    # Only the explained rows carry text: place them by position instead of reindexing a frame.
    texts = reasons[reason_columns].astype(object).fillna("").astype(str)
    row_of = reasons.index.get_indexer(ids)  # -1: not explained
    explained = row_of >= 0
    for slot, column in enumerate(reason_columns):
        column_texts = np.full(len(ids), "", dtype=object)
        column_texts[explained] = texts[column].to_numpy(dtype=object)[row_of[explained]]
        if slot == 0:
            column_texts[explained & (column_texts == "")] = NO_STANDOUT
            column_texts[~explained] = NOT_EXPLAINED
        ranked[column] = column_texts
    return ranked


def rows_to_explain(
    scores: pd.DataFrame, tiers: pd.Series, reasons_for_top: int | None
) -> pd.Index:
    """Customers who get reason codes: the REASON_TIERS (None) or the top N of the list.

    The list's order is by risk with the known cases (KNOWN_TIER) after everyone still to
    inspect, so the top N are the first N rows a team reads. Exact SHAP costs about a
    millisecond per customer, so scoring tens of thousands explains the customers the team
    inspects this period rather than everyone (the 10-second budget for 42k customers); pass a
    count >= the population to explain all.
    """
    if reasons_for_top is None:
        return tiers.index[tiers.astype(str).isin(REASON_TIERS).to_numpy()]
    if reasons_for_top < 0:
        raise ParameterError(f"reasons_for_top must be >= 0 or None, got {reasons_for_top}")
    order = rank_order(scores["risk_score"])
    known = tiers.astype(str).to_numpy()[order] == KNOWN_TIER
    order = np.concatenate([order[~known], order[known]])
    return scores.index[np.sort(order[:reasons_for_top])]


def build_inspection_list(
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    tiers: pd.Series,
    bundle: ModelBundle,
    last_day: pd.Timestamp,
    *,
    config: PreprocessConfig,
    baseline_features: Mapping[str, dict] | None = None,
    reasons_for_top: int | None = None,
    n_reasons: int = 3,
    consumption: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reasons for the customers picked by rows_to_explain, then the ranked inspection list.

    The one builder behind notebook 04 and ``ntl score``, so both lists agree. `config` is the
    fitted preprocessing's (its settings name the windows in the phrases). With the customers'
    `consumption`, the list gets ``last_reading`` (the date of each customer's last reading) and
    the reasons name the recent window as long as the history allows.
    """
    explained = rows_to_explain(scores, tiers, reasons_for_top)
    reasons = customer_reasons(
        bundle,
        preprocessed.loc[explained],
        last_day,
        config=phrase_config(config, history_days(consumption)),
        baseline_features=baseline_features,
        n=n_reasons,
    )
    ranked = inspection_list(preprocessed, scores, tiers, reasons)
    if consumption is not None:
        ranked = with_last_reading(ranked, last_reading_dates(consumption))
    return ranked


LAST_READING_COLUMN = "last_reading"


def with_last_reading(ranked: pd.DataFrame, last_readings: pd.Series) -> pd.DataFrame:
    """The list with ``last_reading`` (YYYY-MM-DD, empty without any reading) after
    ``quality_flag``; `last_readings` by CONS_NO, from ``ntl.frame.last_reading_dates``."""
    shown = ranked.copy()
    last = pd.to_datetime(last_readings.reindex(shown[ID_COLUMN]))
    position = shown.columns.get_loc("quality_flag") + 1
    shown.insert(position, LAST_READING_COLUMN, last.dt.strftime("%Y-%m-%d").to_numpy())
    return shown


def history_days(consumption: pd.DataFrame | None) -> int | None:
    """Days of readings in a consumption frame (FLAG, then one column a day); None without one."""
    return None if consumption is None else int(consumption.shape[1] - 1)


def phrase_config(config: PreprocessConfig, days: int | None) -> PreprocessConfig:
    """The fitted preprocessing settings as the phrases should name them: the recent window, or
    the whole history of `days` when it is shorter (a 60-day file has no "last 90 days")."""
    if days is None:
        return config
    return replace(config, recent_days=int(min(config.recent_days, days)))


def known_thieves(flag: pd.Series) -> pd.Series:
    """True for customers already labelled thieves (FLAG 1): cases the team knows, not leads."""
    return pd.Series(flag, copy=False).astype("Int8").fillna(0).eq(1).astype(bool)


def inspection_tiers(
    risk_score: pd.Series, known: pd.Series, capacity: int, watchlist_multiple: float = 1.0
) -> pd.Series:
    """The list's tiers, sized to the capacity among the customers still to inspect.

    Known thieves (`known`) get KNOWN_TIER: a team cannot use a list whose top is cases it
    already has. Of the others, in risk order, the first `capacity` are **high** (inspect this
    period), the next ``ceil(watchlist_multiple x capacity)`` **medium** (the watch list) and the
    rest **low**. Ties keep the input order, as everywhere in the ranking.
    """
    if capacity < 0:
        raise ParameterError(f"capacity must be >= 0, got {capacity}")
    if watchlist_multiple < 0:
        raise ParameterError(f"watchlist_multiple must be >= 0, got {watchlist_multiple}")
    known = pd.Series(known, copy=False)
    if not known.index.equals(risk_score.index):
        raise ValueError("known and risk_score must have the same index")
    is_known = known.to_numpy(dtype=bool)
    order = rank_order(risk_score)
    candidates = order[~is_known[order]]
    watch = int(np.ceil(watchlist_multiple * capacity - 1e-9))
    tiers = np.full(len(order), "low", dtype=object)
    tiers[candidates[:capacity]] = "high"
    tiers[candidates[capacity : capacity + watch]] = "medium"
    tiers[is_known] = KNOWN_TIER
    return pd.Series(tiers, index=risk_score.index, name="tier")


def list_capacity(n_customers: int, thresholds: Mapping[str, object]) -> int:
    """Inspections per period for a list of `n_customers`, from the capacity 03 was given."""
    from ntl.thresholds import capacity_count

    capacity = thresholds.get("capacity") or {}
    return capacity_count(
        n_customers,
        inspection_share=capacity.get("inspection_share") or 0.05,
        inspection_count=capacity.get("inspection_count"),
        population_size=capacity.get("population_size"),
    )


def with_known_cases(ranked: pd.DataFrame, known: pd.Series) -> pd.DataFrame:
    """The ranked list with ``known_case`` after ``tier``, customers to inspect first.

    The default view of the list is the customers still to inspect, in risk order; known cases
    follow, also in risk order, so nothing is dropped. ``rank`` is renumbered in that order.
    """
    shown = ranked.copy()
    flags = known.reindex(shown[ID_COLUMN]).fillna(False).to_numpy(dtype=bool)
    shown.insert(shown.columns.get_loc("tier") + 1, KNOWN_COLUMN, flags)
    shown = shown.iloc[np.argsort(flags, kind="stable")].reset_index(drop=True)
    shown["rank"] = np.arange(1, len(shown) + 1)
    return shown


def with_split_and_label(ranked: pd.DataFrame, split: pd.Series, flag: pd.Series) -> pd.DataFrame:
    """The chain's list with ``split`` and ``label`` (FLAG) right after ``quality_flag``.

    Notebook 04 adds them so that known thieves of the training split can be filtered out when
    planning new inspections; ``ntl score`` has neither.
    """
    shown = ranked.copy()
    after = shown.columns.get_loc("quality_flag") + 1
    ids = shown[ID_COLUMN]
    shown.insert(after, "split", split.reindex(ids).to_numpy())
    shown.insert(after + 1, "label", flag.reindex(ids).to_numpy())
    return shown


def explain_examples(
    examples: pd.DataFrame,
    preprocessed: pd.DataFrame,
    bundle: ModelBundle,
    last_day: pd.Timestamp,
    *,
    config: PreprocessConfig,
    baseline_features: Mapping[str, dict] | None = None,
    n_reasons: int = 3,
    consumption: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rows of the list with reasons filled in for those below the explained tiers.

    The figure of the highest-risk test customers needs every shown customer's reasons, also
    when the list explained only the top tiers.
    """
    shown = examples.copy()
    missing = shown["reason_1"].eq(NOT_EXPLAINED).to_numpy()
    if not missing.any():
        return shown
    reason_columns = [column for column in shown.columns if column.startswith("reason_")]
    extra = customer_reasons(
        bundle,
        preprocessed.loc[shown.loc[missing, ID_COLUMN]],
        last_day,
        config=phrase_config(config, history_days(consumption)),
        baseline_features=baseline_features,
        n=n_reasons,
    )
    extra = extra.reindex(columns=reason_columns)
    shown.loc[missing, reason_columns] = extra.fillna("").astype(str).to_numpy()
    return shown
