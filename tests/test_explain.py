"""Reason codes and SHAP contributions of ntl.explain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from ntl import explain
from ntl.preprocess import PreprocessConfig

LAST_DAY = pd.Timestamp("2016-10-31")


@pytest.fixture
def three_customers() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and hand-made contributions of three customers with known top reasons."""
    index = pd.Index(["a", "b", "c"], name="CONS_NO")
    features = pd.DataFrame(
        {
            "drop_largest": [0.634, 0.2, np.nan],
            "drop_days_ago": [200.0, 10.0, np.nan],
            "drop_position": [0.5, 0.9, np.nan],
            "zero_days": [41.0, 0.0, 3.0],
            "zero_share": [0.05, 0.0, 0.01],
            "mean_kwh": [2.137, 8.0, 5.5],
            "trend_slope": [-0.12, 0.3, 0.0],
            "gap_count": [1.0, 2.0, 3.0],
        },
        index=index,
    ).astype(np.float32)
    contributions = pd.DataFrame(
        [
            # drop group: 0.5 + 0.2 + 0.1 = 0.8 ; zero group: 0.3 + 0.1 = 0.4
            [0.5, 0.2, 0.1, 0.3, 0.1, -0.2, 0.05, 0.01],
            [-0.1, 0.0, 0.0, 0.0, 0.0, 0.3, 0.2, 0.4],
            [0.9, 0.0, 0.0, -1.0, -1.0, -1.0, -1.0, -1.0],
        ],
        index=index,
        columns=features.columns,
    )
    contributions["bias"] = -2.0
    return contributions, features


def test_reason_codes_top_groups_as_plain_phrases(three_customers):
    contributions, features = three_customers
    reasons = explain.reason_codes(contributions, features, LAST_DAY)
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3"]
    # drop day = 2016-10-31 - 200 days = 2016-04-14
    assert reasons.loc["a"].tolist() == [
        "consumption down 63 % since 2016-04-14",
        "41 days with zero readings",
        "consumption trending down 12 % a year",
    ]
    assert reasons.loc["b"].tolist() == [
        "number of separate runs of missing days: 2",
        "average use 8.0 kWh/day",
        "consumption trending up 30 % a year",
    ]


def test_reason_codes_missing_value_and_too_few_positive_reasons(three_customers):
    contributions, features = three_customers
    reasons = explain.reason_codes(contributions, features, LAST_DAY)
    # the drop is not measurable for c (NaN) and nothing else counts for it: no reason at all
    assert reasons.loc["c"].tolist() == ["", "", ""]


def test_reason_codes_options(three_customers):
    contributions, features = three_customers
    two = explain.reason_codes(contributions, features, LAST_DAY, n=2, min_contribution=0.35)
    assert two.loc["a"].tolist() == [
        "consumption down 63 % since 2016-04-14",
        "41 days with zero readings",
    ]
    assert two.loc["b"].tolist() == ["number of separate runs of missing days: 2", ""]
    typical = explain.reason_codes(
        contributions, features, LAST_DAY, typical={"mean_kwh": 7.94, "zero_days": 0.0}
    )
    assert typical.loc["a", "reason_2"] == "41 days with zero readings (typical: 0)"
    assert typical.loc["b", "reason_2"] == "average use 8.0 kWh/day (typical: 7.9 kWh/day)"


def test_reason_codes_follow_contribution_index(three_customers):
    contributions, features = three_customers
    shuffled = explain.reason_codes(contributions, features.iloc[::-1], LAST_DAY)
    assert shuffled.equals(explain.reason_codes(contributions, features, LAST_DAY))


def test_reason_codes_bad_input(three_customers):
    contributions, features = three_customers
    with pytest.raises(ValueError, match=r"features lacks columns.*'mean_kwh'"):
        explain.reason_codes(contributions, features.drop(columns="mean_kwh"), LAST_DAY)
    with pytest.raises(ValueError, match="n must be at least 1"):
        explain.reason_codes(contributions, features, LAST_DAY, n=0)


def test_phrases_of_every_known_feature_are_short_plain_and_carry_the_value():
    from ntl.features import FEATURE_NAMES

    values = pd.DataFrame([[0.5] * len(FEATURE_NAMES)], columns=list(FEATURE_NAMES))
    typical = dict.fromkeys(FEATURE_NAMES, 0.25) | {"acf_7": 0.75, "acf_30": 0.75}  # weaker rhythm
    for name, (members, build, formatter) in explain.reason_groups(list(FEATURE_NAMES)).items():
        text = explain.phrase_values(
            name, members, build, formatter, values, LAST_DAY, typical
        ).iloc[0]
        assert 5 < len(text) <= 80, (name, text)
        assert any(token in text for token in ("50 %", "0.5", "0 days", "2.0 times")), (
            name,
            text,
        )
        assert "typical" in text or "usual" in text, (name, text)
        for jargon in ("std", "autocorrelation", "distance", "not measurable", "recent "):
            assert jargon not in text, (name, text)


def test_zero_values_of_count_features_say_nothing():
    values = pd.DataFrame({"zero_days": [0.0, 2.0], "gap_longest": [0.0, 1.0]})
    for name in ("zero_days", "gaps"):
        members, build, formatter = explain.reason_groups(["zero_days", "gap_longest"])[name]
        phrases = explain.phrase_values(name, members, build, formatter, values, LAST_DAY)
        assert phrases.iloc[0] is None
    assert phrases.iloc[1] == "longest gap in readings: 1 day"


def test_formatters_work_on_arrays_and_round_half_to_even():
    assert explain.as_kwh_single_day(np.array([24.307, 1.75])).tolist() == ["24.3 kWh", "1.8 kWh"]
    assert explain.as_percent(np.array([0.634, -0.001, 0.125, 0.135])).tolist() == [
        "63 %",
        "0 %",  # no "-0 %"
        "12 %",  # 12.5 rounds to even
        "14 %",
    ]
    assert explain.as_days(np.array([1.0, 2.0, 0.4, 41.0])).tolist() == [
        "1 day",
        "2 days",
        "0 days",
        "41 days",
    ]
    assert explain.as_kwh(np.array([2.137, 8.0, 0.05])).tolist() == [
        "2.1 kWh/day",
        "8.0 kWh/day",
        "0.0 kWh/day",
    ]
    assert explain.as_number(np.array([0.04567, 1234.5])).tolist() == ["0.0457", "1.23e+03"]


def test_group_weights_add_members_left_to_right_like_pandas():
    rng = np.random.default_rng(3)
    contributions = pd.DataFrame(
        rng.normal(scale=0.3, size=(500, 6)),
        columns=["drop_largest", "drop_days_ago", "drop_position", "zero_days", "zero_share", "cv"],
    )
    contributions.iloc[::7, 1] = np.nan
    groups = explain.reason_groups(list(contributions.columns))
    summed = pd.DataFrame(explain.group_weights(contributions, groups, "sum"), columns=list(groups))
    assert list(summed.columns) == ["zero_days", "cv", "drop"]
    members = ["drop_largest", "drop_days_ago", "drop_position"]
    expected = contributions[members].sum(axis=1).to_numpy()
    np.testing.assert_array_equal(summed["drop"].to_numpy(), expected)  # bit for bit
    highest = explain.group_weights(contributions, groups, "max")
    np.testing.assert_array_equal(highest[:, 2], contributions[members].max(axis=1))
    with pytest.raises(ValueError, match="how must be 'sum' or 'max'"):
        explain.group_weights(contributions, groups, "mean")


def test_deviation_contributions_rank_unusual_values():
    baseline = {
        "mean_kwh": {"quantiles": {"p25": 4.0, "p50": 6.0, "p75": 8.0}},
        "zero_days": {"quantiles": {"p25": 0.0, "p50": 0.0, "p75": 0.0}},
    }
    features = pd.DataFrame(
        {"mean_kwh": [6.0, 1.0, np.nan], "zero_days": [0.0, 3.0, 10.0]},
        index=pd.Index(["a", "b", "c"], name="CONS_NO"),
    )
    scores = explain.deviation_contributions(features, baseline)
    assert scores["mean_kwh"].tolist() == pytest.approx([0.0, 1.25, 0.0])
    assert scores["zero_days"].tolist() == pytest.approx([0.0, 3.0, 10.0])  # no spread: scale 1
    assert (scores["bias"] == 0).all()
    reasons = explain.reason_codes(
        scores, features, LAST_DAY, n=2, combine="max", typical=explain.typical_values(baseline)
    )
    assert reasons.loc["b"].tolist() == [
        "3 days with zero readings (typical: 0)",
        "average use 1.0 kWh/day (typical: 6.0 kWh/day)",
    ]
    assert reasons.loc["a"].tolist() == ["", ""]


def test_xgboost_contributions_plus_bias_equal_the_margin():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    y = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) + rng.normal(0, 0.5, 300) > 0.8
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, random_state=0)
    model.fit(x, y.astype(int))
    matrix = xgb.DMatrix(x, missing=np.nan)
    contributions = model.get_booster().predict(matrix, pred_contribs=True)
    margin = model.get_booster().predict(matrix, output_margin=True)
    assert contributions.shape == (300, 5)
    assert contributions.sum(axis=1) == pytest.approx(margin, abs=1e-4)
    probability = model.predict_proba(x)[:, 1]
    assert 1 / (1 + np.exp(-contributions.sum(axis=1))) == pytest.approx(probability, abs=1e-5)


def test_neutral_and_unmeasurable_top_reasons_are_skipped():
    index = pd.Index(["flat", "short"], name="CONS_NO")
    features = pd.DataFrame(
        {
            # flat: no fall at all and a flat trend, nothing to say; short: acf not measurable
            "drop_largest": [0.0, 0.3],
            "trend_slope": [0.001, -0.2],
            "zero_days": [0.0, 5.0],
            "acf_30": [np.nan, np.nan],
            "cv": [0.9, 0.4],
            "weekend_weekday_ratio": [1.0, 0.8],
            "missing_share": [0.0, 0.2],  # too little missing to stand in for the acf
        },
        index=index,
    )
    contributions = pd.DataFrame(
        {
            "drop_largest": [3.0, 0.1],
            "trend_slope": [2.0, -1.0],
            "zero_days": [1.5, 0.2],
            "acf_30": [1.2, 5.0],
            "cv": [1.0, -1.0],
            "weekend_weekday_ratio": [0.5, -1.0],
            "missing_share": [0.0, 0.0],
        },
        index=index,
    )
    reasons = explain.reason_codes(contributions, features, LAST_DAY)
    assert reasons.loc["flat"].tolist() == [
        "day-to-day swings of 90 % of average use",
        "weekend use at 100 % of weekday use",
        "",
    ]
    assert reasons.loc["short"].tolist() == [
        "5 days with zero readings",
        "consumption down 30 %",  # no drop date among the features
        "",
    ]
    said = reasons.to_numpy().ravel().astype(str)
    assert not any("not measurable" in text or "no lasting" in text for text in said)


def test_typical_value_follows_each_phrase_in_its_unit():
    baseline = {
        "weekend_weekday_ratio": {"quantiles": {"p25": 0.9, "p50": 1.068, "p75": 1.2}},
        "month_min_ratio": {"quantiles": {"p25": 0.5, "p50": 0.641, "p75": 0.8}},
        "max_kwh": {"quantiles": {"p25": 10.0, "p50": 24.31, "p75": 40.0}},
        "mean_kwh": {"quantiles": {"p25": 5.0, "p50": 10.15, "p75": 15.0}},
        "trend_slope": {"quantiles": {"p25": -0.1, "p50": -0.021, "p75": 0.05}},
    }
    features = pd.DataFrame(
        {
            "weekend_weekday_ratio": [1.0],
            "month_min_ratio": [0.84],
            "max_kwh": [1.8],
            "mean_kwh": [275.7],
            "trend_slope": [-0.33],
        },
        index=pd.Index(["x"], name="CONS_NO"),
    )
    contributions = pd.DataFrame(
        [[0.5, 0.4, 0.3, 0.2, 0.1]], index=features.index, columns=features.columns
    )
    typical = explain.typical_values(baseline)
    reasons = explain.reason_codes(contributions, features, LAST_DAY, n=5, typical=typical)
    assert reasons.loc["x"].tolist() == [
        "weekend use at 100 % of weekday use (typical: 107 %)",
        "lowest month at 84 % of average use (typical: 64 %)",
        "highest single day 1.8 kWh (typical: 24.3 kWh)",
        "average use 275.7 kWh/day (typical: 10.2 kWh/day)",
        "consumption trending down 33 % a year (typical: -2 % a year)",
    ]


def test_steep_trends_are_capped_in_words():
    features = pd.DataFrame(
        {"trend_slope": [-1.5, -0.5, 2.0, 1.0, -0.004]}, index=pd.Index(list("abcde"))
    )
    contributions = pd.DataFrame({"trend_slope": [1.0] * 5}, index=features.index)
    reasons = explain.reason_codes(contributions, features, LAST_DAY, n=1)
    assert reasons["reason_1"].tolist() == [
        "consumption falling fast: down over 50 % a year",
        "consumption trending down 50 % a year",
        "consumption rising fast: up over 100 % a year",
        "consumption trending up 100 % a year",
        "",  # flat: not a reason
    ]


def test_plain_words_instead_of_statistics_jargon():
    features = pd.DataFrame(
        {
            "cv": [0.92],
            "acf_30": [0.05],
            "acf_7": [0.6],
            "peer_deviation": [0.192],
            "zero_recent_share": [0.4],
            "recent_vs_past": [0.3],
        },
        index=pd.Index(["x"]),
    )
    contributions = pd.DataFrame(
        [[0.6, 0.5, 0.4, 0.3, 0.2, 0.1]], index=features.index, columns=features.columns
    )
    typical = {"cv": 0.4336, "acf_30": 0.1366, "acf_7": 0.2966, "peer_deviation": 0.1096}
    reasons = explain.reason_codes(contributions, features, LAST_DAY, n=6, typical=typical)
    assert reasons.loc["x"].tolist() == [
        "day-to-day swings of 92 % of average use (typical: 43 %)",
        "use no longer repeats from month to month (months 5 % alike, typical: 14 %)",
        # a steadier weekly rhythm than usual (60 % vs 30 %) is not suspicious: never a reason
        "usage shape unlike similar customers (1.8 times the usual difference)",
        "40 % of readings in the last 90 days are zero",
        "use in the last 90 days at 30 % of earlier use",
        "",
    ]
    shorter = explain.reason_codes(
        contributions, features, LAST_DAY, n=6, config=PreprocessConfig(recent_days=60)
    )
    assert shorter.loc["x", "reason_4"] == "40 % of readings in the last 60 days are zero"
    assert shorter.loc["x", "reason_3"] == "usage shape unlike similar customers"
    assert (
        shorter.loc["x", "reason_2"]
        == "use no longer repeats from month to month (months 5 % alike)"
    )
    said = shorter.to_numpy().ravel().astype(str)
    assert not any("week" in text for text in said)  # 60 % alike week to week: nothing to say


def test_mostly_missing_customer_is_told_its_missing_share():
    features = pd.DataFrame(
        {
            "drop_largest": [np.nan, np.nan],
            "yoy_ratio": [np.nan, 1.2],
            "cv": [0.5, 0.5],
            "missing_share": [0.89, 0.3],
        },
        index=pd.Index(["gappy", "short"]),
    )
    contributions = pd.DataFrame(
        {
            "drop_largest": [2.0, 2.0],
            "yoy_ratio": [1.0, 1.0],
            "cv": [0.5, 0.5],
            "missing_share": [-0.1, -0.1],
        },
        index=features.index,
    )
    reasons = explain.reason_codes(
        contributions, features, LAST_DAY, typical={"missing_share": 0.137}
    )
    assert reasons.loc["gappy"].tolist() == [
        "89 % of days have no reading (typical: 14 %)",
        "day-to-day swings of 50 % of average use",
        "",
    ]
    assert reasons.loc["short"].tolist() == [  # 30 % missing: the drop is just skipped
        "last 12 months at 120 % of the year before",
        "day-to-day swings of 50 % of average use",
        "",
    ]
    # missing_share not a model feature but among the features: still reported
    without = explain.reason_codes(contributions.drop(columns="missing_share"), features, LAST_DAY)
    assert without.loc["gappy", "reason_1"] == "89 % of days have no reading"
    assert without.loc["short"].tolist() == reasons.loc["short"].tolist()
    # the line is the fitted preprocessing's LOW-quality line: 1 - min_present_share
    strict = PreprocessConfig(min_present_share=0.8)  # 30 % missing is now too much to measure
    assert explain.missing_share_to_report(strict) == pytest.approx(0.2)
    told = explain.reason_codes(contributions, features, LAST_DAY, config=strict)
    assert told.loc["short", "reason_1"] == "30 % of days have no reading"


class _FakeSupervisedBundle:
    """Stands in for a supervised ModelBundle: fixed contributions, those of the customers
    whose features were last asked for."""

    supervised = True

    def __init__(self, contributions: pd.DataFrame) -> None:
        self.contributions = contributions
        self.feature_names = [name for name in contributions.columns if name != "bias"]
        self._asked: pd.Index | None = None

    def features(self, preprocessed: pd.DataFrame) -> np.ndarray:
        self._asked = preprocessed.index
        return preprocessed[self.feature_names].to_numpy(np.float32)

    def xgb_contribution_matrix(self, features: np.ndarray) -> np.ndarray:
        assert self._asked is not None and len(self._asked) == len(features)
        rows = self.contributions.loc[self._asked]
        return rows[[*self.feature_names, "bias"]].to_numpy(np.float64)


def test_customer_reasons_supervised_quotes_the_baseline_median():
    features = pd.DataFrame({"weekend_weekday_ratio": [1.0]}, index=pd.Index(["x"]))
    contributions = pd.DataFrame(
        {"weekend_weekday_ratio": [0.7], "bias": [-1.0]}, index=features.index
    )
    bundle = _FakeSupervisedBundle(contributions)
    baseline = {"weekend_weekday_ratio": {"quantiles": {"p25": 1.02, "p50": 1.08, "p75": 1.2}}}
    quoted = explain.customer_reasons(
        bundle, features, LAST_DAY, config=PreprocessConfig(), baseline_features=baseline
    )
    assert quoted.loc["x"].tolist() == [
        "weekend use at 100 % of weekday use (typical: 108 %)",
        "",
        "",
    ]
    plain = explain.customer_reasons(bundle, features, LAST_DAY, config=PreprocessConfig())
    assert plain.loc["x", "reason_1"] == "weekend use at 100 % of weekday use"


def test_customer_reasons_never_give_a_typical_value_as_a_reason():
    """Observed: "no reading on 6 % of the last 90 days (typical: 6 %)" as a list's reason."""
    features = pd.DataFrame(
        {"missing_recent_share": [0.06, 0.4], "week_over_week": [1.04, 1.04]},
        index=pd.Index(["typical", "gappy"]),
    )
    contributions = pd.DataFrame(
        {"missing_recent_share": [0.5, 0.5], "week_over_week": [0.3, 0.3], "bias": [-1.0, -1.0]},
        index=features.index,
    )
    baseline = {
        "missing_recent_share": {"quantiles": {"p25": 0.0, "p50": 0.06, "p75": 0.1}},
        "week_over_week": {"quantiles": {"p25": 0.95, "p50": 1.06, "p75": 1.15}},
    }
    reasons = explain.customer_reasons(
        _FakeSupervisedBundle(contributions),
        features,
        LAST_DAY,
        config=PreprocessConfig(),
        baseline_features=baseline,
    )
    assert reasons.loc["typical"].tolist() == ["", "", ""]  # both values in the middle half
    assert reasons.loc["gappy"].tolist() == [
        "no reading on 40 % of the last 90 days (typical: 6 %)",
        "",
        "",
    ]


def test_outside_middle_half_against_the_baseline_quartiles():
    features = pd.DataFrame(
        {"a": [0.5, 1.0, 2.0, 3.5, np.nan], "b": [0.0] * 5, "unknown": [1.0] * 5}
    )
    baseline = {
        "a": {"quantiles": {"p25": 1.0, "p50": 2.0, "p75": 3.0}},
        "b": {"quantiles": {"p25": 0.0, "p50": 0.0, "p75": 0.0}},
    }
    unusual = explain.outside_middle_half(features, baseline)
    assert unusual["a"].tolist() == [True, False, False, True, True]  # ends of the band inside
    assert unusual["b"].tolist() == [False] * 5  # zero where everyone has zero: not a reason
    assert unusual["unknown"].tolist() == [True] * 5  # no quartiles: nothing to compare with


def test_baseline_reference_reads_typical_values_and_middle_halves_once():
    baseline = {
        "a": {"quantiles": {"p25": 1.0, "p50": 2.0, "p75": 3.0}},
        "b": {"quantiles": {"p25": float("nan"), "p50": 0.5, "p75": 1.0}},  # no lower quartile
        "c": {"quantiles": {"p50": 4.0}},
        "d": {"quantiles": {}},
    }
    reference = explain.BaselineReference.of(baseline)
    assert reference.typical == {"a": 2.0, "b": 0.5, "c": 4.0}
    assert reference.middle_half == {"a": (1.0, 3.0)}
    features = pd.DataFrame({"a": [0.5, 2.0], "b": [0.7, 0.7]})
    assert explain.outside_middle_half(features, baseline).to_dict("list") == {
        "a": [True, False],
        "b": [True, True],  # without both quartiles every value is unusual
    }


def test_neutral_shapes_are_never_reasons():
    """Observed: "a steady weekly rhythm", "usage shape close to similar customers" as reasons."""
    features = pd.DataFrame(
        {"acf_7": [0.6, 0.05], "peer_deviation": [0.05, 0.4], "cv": [0.9, 0.9]},
        index=pd.Index(["steady", "odd"]),
    )
    contributions = pd.DataFrame(
        [[0.6, 0.5, 0.1], [0.6, 0.5, 0.1]], index=features.index, columns=features.columns
    )
    typical = {"acf_7": 0.3, "peer_deviation": 0.1}
    reasons = explain.reason_codes(contributions, features, LAST_DAY, typical=typical)
    assert reasons.loc["steady"].tolist() == ["day-to-day swings of 90 % of average use", "", ""]
    assert reasons.loc["odd"].tolist() == [
        "use no longer follows a weekly rhythm (weeks 5 % alike, typical: 30 %)",
        "usage shape unlike similar customers (4.0 times the usual difference)",
        "day-to-day swings of 90 % of average use",
    ]


def _shape_phrases(group: str, columns: dict[str, list[float]]) -> list:
    members, build, formatter = explain.reason_groups(list(columns))[group]
    values = pd.DataFrame(columns)
    return explain.phrase_values(group, members, build, formatter, values, LAST_DAY).tolist()


def test_the_lowest_recent_day_is_named_with_its_date_and_weekday():
    days = {f"recent_day_{k}": [1.0, 1.0] for k in range(1, 15)}
    days["recent_day_3"] = [0.12, 0.95]  # 2016-10-29 is a Saturday
    days["recent_day_9"] = [0.5, 0.9]
    assert _shape_phrases("recent_days", days) == [
        "on Saturday 2016-10-29 used 12 % of its usual Saturday",
        None,  # no day below 80 % of its usual weekday: nothing to say
    ]


def test_weekly_profile_names_the_farthest_weekday_or_a_week_without_rhythm():
    profile = {f"profile_{day}": [1.0, 1.01] for day in ("mon", "tue", "wed", "thu", "fri")}
    profile |= {"profile_sat": [0.35, 0.99], "profile_sun": [1.65, 1.0]}
    assert _shape_phrases("weekly_profile", profile) == [
        "use on Saturdays at 35 % of its usual day",
        "the same use on every day of the week (within 1 %)",
    ]


def test_windows_and_weekday_shift_are_dated():
    assert _shape_phrases("week_over_week", {"week_over_week": [0.4]}) == [
        "the 7 days from 2016-10-25 at 40 % of the week before"
    ]
    assert _shape_phrases("month_over_month", {"month_over_month": [0.5]}) == [
        "the 28 days from 2016-10-04 at 50 % of the 28 before"
    ]
    shift = {"recent_weekday_weekend": [0.33, 1.0], "weekday_weekend_change": [0.3, 1.05]}
    assert _shape_phrases("weekday_weekend", shift) == [
        "weekdays at 33 % of weekends since 2016-10-11 (before: 110 %)",
        None,  # moved by 5 %: not said
    ]
    assert _shape_phrases("low_days_recent", {"low_days_recent": [0.25, 0.0]}) == [
        "25 % of days since 2016-10-04 below half their usual weekday use",
        None,
    ]
    assert _shape_phrases("profile_change", {"profile_change": [0.35]}) == [
        "weekly pattern since 2016-10-04 moved 35 % a day from before"
    ]


def test_the_last_two_weeks_against_before_are_dated_and_said_only_when_suspicious():
    assert _shape_phrases("zero_share_change", {"zero_share_change": [0.4, 0.0, -0.1]}) == [
        "0 kWh read on 40 % more of days since 2016-10-18 than before",
        None,
        None,  # fewer zeros than before: nothing to say
    ]
    assert _shape_phrases("peak_change", {"peak_change": [0.35, 1.0]}) == [
        "highest day since 2016-10-18 at 35 % of the highest before",
        None,  # as high as ever
    ]
    assert _shape_phrases("swing_change", {"swing_change": [0.2]}) == [
        "day-to-day swings since 2016-10-18 at 20 % of those before"
    ]


def test_the_typical_value_joins_a_closing_parenthesis_instead_of_opening_a_second():
    phrases = np.array(
        ["weekdays at 139 % of weekends since 2016-04-09 (before: 102 %)", "lowest week at 6 %"],
        dtype=object,
    )
    assert explain.with_typical(phrases, "98 %").tolist() == [
        "weekdays at 139 % of weekends since 2016-04-09 (before: 102 %; typical: 98 %)",
        "lowest week at 6 % (typical: 98 %)",
    ]


def test_reason_codes_with_a_last_day_per_customer_equal_each_calendar_alone(three_customers):
    """Customers of different calendars explained in one call: each row's phrases are dated by
    its own last day, exactly as a call for its calendar alone."""
    contributions, features = three_customers
    days = np.array(["2016-10-31", "2015-03-01", "2016-10-31"], dtype="datetime64[ns]")
    together = explain.reason_codes(contributions, features, days)
    for row, day in enumerate(days):
        alone = explain.reason_codes(contributions.iloc[[row]], features.iloc[[row]], day)
        assert together.iloc[row].tolist() == alone.iloc[0].tolist()
    assert together.loc["b", "reason_1"] == "number of separate runs of missing days: 2"
    dropping = explain.reason_codes(
        contributions.assign(drop_largest=[0.5, 0.9, 0.0]),
        features,
        days,
    )
    # b's drop (20 % 10 days before its own last day, 2015-03-01) is dated 2015-02-19
    assert dropping.loc["b", "reason_1"] == "consumption down 20 % since 2015-02-19"
    assert dropping.loc["a", "reason_1"] == "consumption down 63 % since 2016-04-14"
    with pytest.raises(ValueError, match="2 last days for 3 customers"):
        explain.reason_codes(contributions, features, days[:2])


def test_dated_phrases_with_a_last_day_per_row():
    """Every phrase that names a date counts back from its own row's last day."""
    last = np.array(["2016-10-31", "2016-01-31"], dtype="datetime64[ns]")
    cases = {
        "week_over_week": {"week_over_week": [0.4, 0.4]},
        "month_over_month": {"month_over_month": [0.5, 0.5]},
        "weekday_weekend": {
            "recent_weekday_weekend": [0.33, 0.33],
            "weekday_weekend_change": [0.3, 0.3],
        },
        "low_days_recent": {"low_days_recent": [0.25, 0.25]},
        "profile_change": {"profile_change": [0.35, 0.35]},
        "recent_days": {f"recent_day_{k}": [0.5 if k == 3 else 1.0] * 2 for k in range(1, 15)},
    }
    for group, columns in cases.items():
        members, build, formatter = explain.reason_groups(list(columns))[group]
        values = pd.DataFrame(columns)
        both = explain.phrase_values(group, members, build, formatter, values, last).tolist()
        each = [
            explain.phrase_values(group, members, build, formatter, values.iloc[[i]], day).iloc[0]
            for i, day in enumerate(last)
        ]
        assert both == each, group
        assert both[0] != both[1], group  # the dates differ
    assert explain.phrase_values(
        "week_over_week",
        *explain.reason_groups(["week_over_week"])["week_over_week"],
        pd.DataFrame({"week_over_week": [0.4, 0.4]}),
        last,
    ).tolist() == [
        "the 7 days from 2016-10-25 at 40 % of the week before",
        "the 7 days from 2016-01-25 at 40 % of the week before",
    ]
