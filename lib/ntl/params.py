"""Every run parameter checked before notebook 01 starts, so a bad value never half-runs a chain.

Two layers: the type each notebook's ``parameters`` cell declares (its default's type: an integer
stays an integer, a number a finite number, a list a list), then the range or set of values each
parameter accepts (`RULES`), and the checks of the stage configurations themselves (split
fractions, the preprocessing settings, the XGBoost settings). Every problem names the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from ntl.errors import NtlError, ParameterError
from ntl.io import LAYOUTS, NEGATIVE_POLICIES
from ntl.paths import project_path

Rule = tuple[Callable[[Any], bool], str]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _at_least(low: float) -> Rule:
    return (lambda v: _number(v) and v >= low, f"must be >= {low:g}")


def _share(low_open: bool = False, high_open: bool = False) -> Rule:
    low, high = ("(" if low_open else "["), (")" if high_open else "]")

    def inside(v: Any) -> bool:
        if not _number(v):
            return False
        above = v > 0 if low_open else v >= 0
        below = v < 1 if high_open else v <= 1
        return above and below

    return (inside, f"must be in {low}0, 1{high}")


def _one_of(*choices: str) -> Rule:
    return (lambda v: v in choices, f"must be one of {', '.join(map(repr, choices))}")


def _optional(rule: Rule) -> Rule:
    check, text = rule
    return (lambda v: v is None or check(v), f"must be null or {text.removeprefix('must be ')}")


def _date(value: Any) -> bool:
    try:
        return isinstance(value, str) and not pd.isna(pd.Timestamp(value))
    except (ValueError, TypeError):
        return False


def _max_samples(value: Any) -> bool:
    if value == "auto":
        return True
    if _integer(value):
        return value >= 1
    return _number(value) and 0 < value <= 1


_POSITIVE = _at_least(1)
RULES: dict[str, Rule] = {
    "seed": (lambda v: _integer(v) and 0 <= v < 2**32, "must be an integer in [0, 2**32)"),
    "source": _one_of("synthetic", "file"),
    "layout": _one_of(*LAYOUTS),
    "negative_readings": _one_of(*NEGATIVE_POLICIES),
    "max_missing_share": _share(),
    "start_date": (_date, "must be a date (YYYY-MM-DD)"),
    "max_daily_kwh": (lambda v: _number(v) and v > 0, "must be > 0 (kWh per day)"),
    "theft_rate": _share(),
    "missing_rate": _share(high_open=True),
    "min_present_share": _share(),
    "max_zero_share": _share(),
    "max_gap_days": _at_least(0),
    "interpolation_limit_days": _at_least(0),
    "outlier_sigma": (lambda v: _number(v) and v > 0, "must be > 0 (.inf disables capping)"),
    "n_clusters": _optional(_POSITIVE),
    "k_min": _at_least(2),
    "inspection_share": _share(low_open=True),
    "inspection_count": _optional(_POSITIVE),
    "watchlist_multiple": _at_least(0),
    "oof_folds": _at_least(2),
    "search_seconds": _at_least(0),
    "xgb_learning_rate": _share(low_open=True),
    "xgb_subsample": _share(low_open=True),
    "xgb_colsample_bytree": _share(low_open=True),
    "xgb_min_child_weight": _at_least(0),
    "xgb_reg_lambda": _at_least(0),
    "calibration": _one_of("isotonic", "sigmoid"),
    "if_max_samples": (_max_samples, 'must be "auto", an integer >= 1 or a share in (0, 1]'),
    "inspection_cost": _at_least(0),
    "recovery_per_theft": _at_least(0),
    "marginal_batch_share": _share(low_open=True),
    "reasons_for_top": _optional(_at_least(0)),
    "part_rows": _optional(_POSITIVE),
    "dask_workers": _optional(_POSITIVE),
    "top_k": (
        lambda v: isinstance(v, list) and bool(v) and all(_number(k) and k > 0 for k in v),
        "must be a non-empty list of counts (>= 1) or shares (0, 1]",
    ),
    "map_k": (
        lambda v: isinstance(v, list) and bool(v) and all(_integer(k) and k >= 1 for k in v),
        "must be a non-empty list of integers >= 1",
    ),
}
# Counts and sizes: an integer >= 1 (their declared default already makes them integers).
for _name in (
    "n_customers n_days min_days min_history_days recent_days drop_window_days cluster_sample_size "
    "silhouette_sample_size n_features_shown cleaning_sample_size min_cluster_size if_n_estimators "
    "xgb_n_estimators xgb_max_depth early_stopping_rounds search_max_candidates rf_n_estimators "
    "importance_sample_size n_jobs n_bootstrap calibration_bins lift_groups n_reasons "
    "n_example_customers psi_bins"
).split():
    RULES.setdefault(_name, _POSITIVE)
FINITE_EXCEPTIONS = {"outlier_sigma"}  # .inf is a documented value


def declared_defaults(declared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each parameter's default across the notebooks (``declared_parameters`` reads them as Python
    values; the first notebook that declares a name gives its default)."""
    defaults: dict[str, Any] = {}
    for names in declared.values():
        for name, value in names.items():
            defaults.setdefault(name, value)
    return defaults


def _type_problem(name: str, value: Any, default: Any) -> str | None:
    """What is wrong with the type of `value`, judged by the type of its declared default."""
    got = f"got {value!r} ({type(value).__name__})"
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"{name} must be true or false, {got}"
    if isinstance(default, int):
        return None if _integer(value) else f"{name} must be an integer, {got}"
    if isinstance(default, float):
        if not _number(value):
            return f"{name} must be a number, {got}"
        if not math.isfinite(value) and not (name in FINITE_EXCEPTIONS and value == math.inf):
            return f"{name} must be a finite number, {got}"
        return None
    if isinstance(default, str):
        if name in RULES and not isinstance(value, str):  # e.g. if_max_samples: "auto" or a number
            return None
        return None if isinstance(value, str) else f"{name} must be a string, {got}"
    if isinstance(default, list):
        return None if isinstance(value, list) else f"{name} must be a list, {got}"
    return None


def _stage_problems(merged: Mapping[str, Any]) -> list[str]:
    """The stage configurations' own checks, run on the merged parameters."""
    from ntl.preprocess import PreprocessConfig
    from ntl.split import check_fractions

    problems = []
    fractions = merged.get("split_fractions")
    if fractions is not None:
        if not isinstance(fractions, list) or not all(_number(f) for f in fractions):
            problems.append(f"split_fractions must be a list of three numbers, got {fractions!r}")
        else:
            try:
                check_fractions(fractions)
            except ParameterError as exc:
                problems.append(f"split_fractions: {exc}")
    if _integer(merged.get("k_min")) and _integer(merged.get("k_max")):
        if merged["k_max"] < merged["k_min"]:
            problems.append(f"k_max ({merged['k_max']}) must be >= k_min ({merged['k_min']})")
    scheduler = merged.get("dask_scheduler")
    if isinstance(scheduler, str):
        from ntl.distributed.cluster import parse_scheduler  # does not import Dask

        try:
            parse_scheduler(scheduler)
        except ParameterError as exc:
            problems.append(str(exc))
    if merged.get("source") == "file":
        data_path = merged.get("data_path")
        if not isinstance(data_path, str) or not data_path:
            problems.append("data_path must name the meter file when source is 'file'")
        elif not project_path(data_path).is_file():
            what = "is a directory" if project_path(data_path).is_dir() else "does not exist"
            problems.append(f"data_path {data_path} {what} (source is 'file')")
    fields = (
        "min_present_share max_gap_days max_zero_share interpolation_limit_days outlier_sigma "
        "n_clusters recent_days drop_window_days cluster_sample_size silhouette_sample_size "
        "min_history_days"
    ).split()
    if not problems and all(name in merged for name in fields):
        try:
            PreprocessConfig(
                **{name: merged[name] for name in fields},
                k_range=(merged.get("k_min", 2), merged.get("k_max", 8)),
            )
        except (NtlError, TypeError, ValueError) as exc:
            problems.append(str(exc))
    return problems


def validate_params(
    params: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Raise ParameterError (one line, every problem named) unless all `params` are usable.

    `declared` maps each notebook to its ``parameters`` cell (name -> default text). Returns the
    parameters merged over the declared defaults.
    """
    defaults = declared_defaults(declared)
    merged = {**defaults, **params}
    problems = []
    for name, value in params.items():
        problem = _type_problem(name, value, defaults.get(name))
        if problem is None and name in RULES:
            check, text = RULES[name]
            if not check(value):
                problem = f"{name} {text}, got {value!r}"
        if problem:
            problems.append(problem)
    if not problems:
        problems = _stage_problems(merged)
    if problems:
        raise ParameterError("invalid parameter(s): " + "; ".join(problems))
    return merged
