"""reason_codes and customer_reasons against the algorithm they replaced (kept here, only here,
as the reference): a phrase for every group of every row, silenced, then the top n sorted out.

The fast version builds phrases only for the groups that can still make a row's top n; its
output must be the reference's, phrase for phrase, in the same order and with the same ties.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from ntl import explain
from ntl.preprocess import PreprocessConfig
from tests.test_explain import _FakeSupervisedBundle

# --------------------------------------------------------------------------- the reference


def _reference_float_columns(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(names))
    matrix = frame[unique].to_numpy(dtype=np.float64, na_value=np.nan)
    return {name: matrix[:, position] for position, name in enumerate(unique)}


def _reference_group_weights(
    contributions: pd.DataFrame, groups: Mapping[str, tuple], how: str
) -> np.ndarray:
    weights = np.empty((len(contributions), len(groups)), dtype=np.float64)
    members = [m for ms, *_ in groups.values() for m in ms]
    columns = _reference_float_columns(contributions, members)
    for position, (members, _build, _formatter) in enumerate(groups.values()):
        for rank, member in enumerate(members):
            values = columns[member]
            if how == "sum":
                values = np.where(np.isnan(values), 0.0, values)
                weights[:, position] = values if rank == 0 else weights[:, position] + values
            else:
                weights[:, position] = (
                    values if rank == 0 else np.fmax(weights[:, position], values)
                )
    return weights


def _reference_silence(texts: np.ndarray, groups: Mapping[str, tuple], unusual: pd.DataFrame):
    flags = unusual.to_numpy(dtype=bool)
    column_of = {name: position for position, name in enumerate(unusual.columns)}
    for position, (members, _build, _formatter) in enumerate(groups.values()):
        said = np.zeros(len(texts), dtype=bool)
        for member in members:
            if member not in column_of:
                said[:] = True
                break
            said |= flags[:, column_of[member]]
        texts[~said, position] = None


def reference_reason_codes(
    contributions: pd.DataFrame,
    features: pd.DataFrame,
    last_day,
    n: int = 3,
    *,
    min_contribution: float = 0.0,
    typical: Mapping[str, float] | None = None,
    combine: str = "sum",
    config: PreprocessConfig | None = None,
    unusual: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """reason_codes as it was: every group's phrase for every row above min_contribution."""
    config = PreprocessConfig() if config is None else config
    per_row = np.ndim(last_day) > 0
    feature_names = [column for column in contributions.columns if column != explain.BIAS_COLUMN]
    if not contributions.index.equals(features.index):
        features = features.reindex(contributions.index)
    groups = explain.reason_groups(feature_names)
    weights = _reference_group_weights(contributions, groups, combine)
    if explain.MISSING_GROUP not in groups and explain.MISSING_GROUP in features.columns:
        groups[explain.MISSING_GROUP] = (
            ["missing_share"],
            *explain.PHRASES[explain.MISSING_GROUP][1:],
        )
        weights = np.column_stack([weights, np.full(len(weights), -np.inf)])
    values = _reference_float_columns(
        features, [m for members, *_ in groups.values() for m in members]
    )
    explain._hand_unmeasurable_to_missing_share(
        weights, groups, values, min_contribution, explain.missing_share_to_report(config)
    )
    texts = np.full(weights.shape, None, dtype=object)
    for position, (members, build, formatter) in enumerate(groups.values()):
        rows = np.flatnonzero(weights[:, position] > min_contribution)
        if rows.size:
            day = np.asarray(last_day)[rows] if per_row else last_day
            context = explain._context(members[0], day, config.recent_days, typical)
            columns = {member: values[member][rows] for member in members}
            texts[rows, position] = explain._phrases(members, build, formatter, columns, context)
    if unusual is not None:
        _reference_silence(texts, groups, unusual.reindex(contributions.index))
    speakable = np.where(pd.notna(texts), weights, -np.inf)
    order = np.argsort(-speakable, axis=1, kind="stable")[:, :n]
    chosen = np.take_along_axis(speakable, order, axis=1) > min_contribution
    result = np.where(chosen, np.take_along_axis(texts, order, axis=1), "").astype(object)
    columns = [f"reason_{slot + 1}" for slot in range(result.shape[1])]
    frame = pd.DataFrame(result, index=contributions.index, columns=columns)
    for slot in range(result.shape[1], n):
        frame[f"reason_{slot + 1}"] = ""
    return frame


def reference_outside_middle_half(
    features: pd.DataFrame, baseline_features: Mapping[str, dict]
) -> pd.DataFrame:
    columns = {}
    for name, values in _reference_float_columns(features, list(features.columns)).items():
        quantiles = baseline_features.get(name, {}).get("quantiles", {})
        low, high = (quantiles.get(key) for key in ("p25", "p75"))
        if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
            columns[name] = np.ones(len(values), dtype=bool)
            continue
        columns[name] = np.isnan(values) | (values < low) | (values > high)
    return pd.DataFrame(columns, index=features.index)


# --------------------------------------------------------------------------- hand-made frames

LAST_DAY_ALONE = pd.Timestamp("2016-10-31")
EVERY_MEMBER = list(dict.fromkeys(m for members, *_ in explain.PHRASES.values() for m in members))


def _values(rng: np.random.Generator, name: str, rows: int) -> np.ndarray:
    """Values that hit every phrase's branches: zeros (neutral), ones (a flat week), whole days,
    NaN (missing), and ordinary spread."""
    if name == "drop_days_ago" or name.startswith(("gap_", "zero_days", "zero_run")):
        values = rng.integers(0, 400, rows).astype(np.float64)
    elif name.startswith(("recent_day_", "profile_")):
        values = rng.choice([0.0, 0.5, 0.79, 0.8, 0.97, 1.0, 1.02, 1.3], rows)
    elif name == "missing_share":
        values = rng.choice([0.0, 0.1, 0.49, 0.5, 0.89], rows)
    else:
        values = np.round(rng.normal(0.3, 0.6, rows), 2)
    values[rng.random(rows) < 0.12] = 0.0
    values[rng.random(rows) < 0.15] = np.nan
    return values


def _case(seed: int, names: list[str], rows: int = 80):
    """Features, contributions (rounded: many ties, zeros and negatives), per-row last days,
    typical values of some features and `unusual` flags lacking some features."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"c{k}" for k in range(rows)], name="CONS_NO")
    features = pd.DataFrame({name: _values(rng, name, rows) for name in names}, index=index)
    features = features.astype(np.float32)
    contributions = pd.DataFrame(
        np.round(rng.normal(0.0, 0.3, (rows, len(names))), 1), index=index, columns=names
    )
    contributions.iloc[rng.random((rows, len(names))) < 0.1] = 0.0
    contributions["bias"] = -1.5
    last_days = np.datetime64("2016-10-31", "ns") - rng.integers(0, 800, rows).astype(
        "timedelta64[D]"
    )
    typical = {name: float(np.round(rng.normal(0.4, 0.3), 2)) for name in names[::2]}
    flagged = [name for name in names if rng.random() < 0.8]
    unusual = pd.DataFrame(rng.random((rows, len(flagged))) < 0.6, index=index, columns=flagged)
    return features, contributions, last_days, typical, unusual.iloc[::-1]


CASES = {
    "every feature": EVERY_MEMBER + ["mystery_feature"],
    # gap_count without its lead (a generic reason), the missing share without a contribution
    "members without their lead": [m for m in EVERY_MEMBER if m not in ("gap_longest",)],
    "few groups": ["drop_largest", "drop_days_ago", "trend_slope"],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_reason_codes_as_the_reference(case, seed, n):
    features, contributions, last_days, typical, unusual = _case(seed, CASES[case])
    if case == "members without their lead":
        contributions = contributions.drop(columns="missing_share")
    strict = PreprocessConfig(min_present_share=0.6, recent_days=60)
    for kwargs in (
        {},
        {"typical": typical},
        {"typical": typical, "unusual": unusual, "config": strict},
        {"min_contribution": 0.25, "unusual": unusual},
        {"min_contribution": -0.5},  # negative weights speak: more candidates than slots
    ):
        for last_day in (pd.Timestamp("2016-10-31"), last_days):
            got = explain.reason_codes(contributions, features, last_day, n, **kwargs)
            want = reference_reason_codes(contributions, features, last_day, n, **kwargs)
            pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("seed", [0, 1])
def test_label_free_max_as_the_reference(seed):
    names = CASES["every feature"]
    features, contributions, last_days, typical, _unusual = _case(seed, names)
    contributions = contributions.abs() * 4.0  # robust z-scores; NaN ones: all members unknown
    contributions.iloc[:7, :20] = np.nan
    for min_contribution in (0.0, 1.0):
        kwargs = {"min_contribution": min_contribution, "typical": typical, "combine": "max"}
        got = explain.reason_codes(contributions, features, last_days, 3, **kwargs)
        want = reference_reason_codes(contributions, features, last_days, 3, **kwargs)
        pd.testing.assert_frame_equal(got, want)


def test_reason_codes_as_the_reference_on_shuffled_features_and_no_rows():
    features, contributions, last_days, typical, unusual = _case(3, CASES["every feature"])
    shuffled = features.iloc[::-1][features.columns[::-1]]  # other row order, other column order
    got = explain.reason_codes(contributions, shuffled, last_days, typical=typical, unusual=unusual)
    want = reference_reason_codes(
        contributions, shuffled, last_days, typical=typical, unusual=unusual
    )
    pd.testing.assert_frame_equal(got, want)
    none = explain.reason_codes(contributions.iloc[:0], features.iloc[:0], LAST_DAY_ALONE)
    pd.testing.assert_frame_equal(
        none, reference_reason_codes(contributions.iloc[:0], features.iloc[:0], LAST_DAY_ALONE)
    )


def test_the_missing_share_takes_over_as_in_the_reference():
    """A gappy customer whose heaviest groups cannot be measured: the missing share speaks."""
    index = pd.Index(["gappy", "fine"], name="CONS_NO")
    features = pd.DataFrame(
        {
            "missing_share": [0.8, 0.8],
            "drop_largest": [np.nan, 0.5],
            "trend_slope": [np.nan, 0.0],  # flat: nothing to say
            "cv": [0.3, 0.3],
        },
        index=index,
    )
    contributions = pd.DataFrame(
        {"missing_share": [0.1, 0.1], "drop_largest": [0.9, 0.9], "trend_slope": [0.5, 0.5]},
        index=index,
    ).assign(cv=0.2)
    for n in (1, 2, 3):
        got = explain.reason_codes(contributions, features, LAST_DAY_ALONE, n)
        want = reference_reason_codes(contributions, features, LAST_DAY_ALONE, n)
        pd.testing.assert_frame_equal(got, want)
    assert got.loc["gappy", "reason_1"] == "80 % of days have no reading"


class _LabelFree:
    supervised = False

    def __init__(self, feature_names: list[str]) -> None:
        self.feature_names = feature_names


@pytest.mark.parametrize("seed", [0, 1])
def test_customer_reasons_as_the_reference(seed):
    names = CASES["every feature"]
    features, contributions, last_days, _typical, _unusual = _case(seed, names)
    rng = np.random.default_rng(seed)
    baseline = {}
    for name in names[:-3]:  # the last few without quartiles: always unusual
        low, middle, high = np.sort(np.round(rng.normal(0.3, 0.5, 3), 2))
        baseline[name] = {"quantiles": {"p25": low, "p50": middle, "p75": high}}
    baseline[names[0]]["quantiles"]["p75"] = float("nan")
    config = PreprocessConfig()
    preprocessed = features.copy()  # a text column after the features, or amid them
    preprocessed.insert(len(names) if seed == 0 else 5, "quality_flag", "OK")
    got = explain.customer_reasons(
        _FakeSupervisedBundle(contributions), preprocessed, last_days, config=config,
        baseline_features=baseline,
    )  # fmt: skip
    explained = [column for column in contributions.columns if column != explain.BIAS_COLUMN]
    want = reference_reason_codes(
        contributions,
        preprocessed,
        last_days,
        typical=explain.typical_values(baseline),
        config=config,
        unusual=reference_outside_middle_half(preprocessed[explained], baseline),
    )
    pd.testing.assert_frame_equal(got, want)
    assert explain.outside_middle_half(preprocessed[explained], baseline).equals(
        reference_outside_middle_half(preprocessed[explained], baseline)
    )
    label_free = explain.customer_reasons(
        _LabelFree(names), preprocessed, last_days, config=config, baseline_features=baseline
    )
    deviations = explain.deviation_contributions(preprocessed, baseline)
    want = reference_reason_codes(
        deviations,
        preprocessed,
        last_days,
        min_contribution=1.0,
        typical=explain.typical_values(baseline),
        combine="max",
        config=config,
    )
    pd.testing.assert_frame_equal(label_free, want)


# --------------------------------------------------------------------------- dates in numpy


def test_dates_as_pandas_formats_them():
    rng = np.random.default_rng(0)
    last = (
        np.datetime64("1969-12-31T23:00", "ns")
        + rng.integers(-40_000, 40_000, 500).astype("timedelta64[D]")
        + rng.integers(0, 86_400, 500).astype("timedelta64[s]")  # a time of day, before 1970 too
    )
    back = rng.integers(-30, 400, 500)
    want = (pd.DatetimeIndex(last) - pd.to_timedelta(back, unit="D")).strftime("%Y-%m-%d")
    assert explain._dates_before(last, back).tolist() == want.tolist()
    monday_first = (explain._days_before(last, back).view(np.int64) + 3) % 7
    weekdays = (pd.DatetimeIndex(last) - pd.to_timedelta(back, unit="D")).day_of_week
    assert monday_first.tolist() == weekdays.tolist()
    edge = np.array(["1677-09-22T01:00", "2262-04-10T12:00"], dtype="datetime64[ns]")
    assert explain._dates_before(edge, 0).tolist() == ["1677-09-22", "2262-04-10"]
    with pytest.raises((OverflowError, pd.errors.OutOfBoundsDatetime)):  # as pandas: out of range
        explain._dates_before(edge, 2)


def test_dated_phrases_as_pandas_dates_them():
    """The drop's start (whole and fractional days ago) and the 14 recent days, per-row days."""
    rows = 6
    last = np.datetime64("2016-10-31", "ns") - np.arange(rows).astype("timedelta64[D]") * 97
    values = {
        "drop_largest": np.full(rows, 0.5),
        "drop_days_ago": np.array([0.0, 1.0, 200.0, np.nan, 41.0, 999.0]),
    }
    context = explain.PhraseContext(last, 90)
    began = pd.DatetimeIndex(last) - pd.to_timedelta(values["drop_days_ago"], unit="D")
    expected = [
        "consumption down 50 %" + ("" if pd.isna(day) else " since " + day.strftime("%Y-%m-%d"))
        for day in began
    ]
    assert explain._drop_phrase(values, context).tolist() == expected
    fractional = {**values, "drop_days_ago": np.array([0.5, 1.25, 2.75, np.nan, 0.0, 3.5])}
    began = pd.DatetimeIndex(last) - pd.to_timedelta(fractional["drop_days_ago"], unit="D")
    assert explain._drop_phrase(fractional, context).tolist() == [
        "consumption down 50 %" + ("" if pd.isna(day) else " since " + day.strftime("%Y-%m-%d"))
        for day in began
    ]
    recent = {f"recent_day_{k}": np.full(rows, 1.0) for k in range(1, 15)}
    lowest = np.array([1, 2, 7, 8, 13, 14])
    for row, k in enumerate(lowest):
        recent[f"recent_day_{k}"][row] = 0.1
    day = pd.DatetimeIndex(last) - pd.to_timedelta(lowest - 1, unit="D")
    assert explain._recent_day_phrase(recent, context).tolist() == [
        f"on {d.day_name()} {d.strftime('%Y-%m-%d')} used 10 % of its usual {d.day_name()}"
        for d in day
    ]
