"""Reason codes and SHAP contributions of ntl.explain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from ntl import explain

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
        "consumption fell 63 % after 2016-04",
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
    assert reasons.loc["c"].tolist() == [
        "largest drop not measurable (history too short or too gappy)",
        "",
        "",
    ]


def test_reason_codes_options(three_customers):
    contributions, features = three_customers
    two = explain.reason_codes(contributions, features, LAST_DAY, n=2, min_contribution=0.35)
    assert two.loc["a"].tolist() == [
        "consumption fell 63 % after 2016-04",
        "41 days with zero readings",
    ]
    assert two.loc["b"].tolist() == ["number of separate runs of missing days: 2", ""]
    typical = explain.reason_codes(
        contributions, features, LAST_DAY, typical={"mean_kwh": 7.94, "zero_days": 0.0}
    )
    assert typical.loc["a", "reason_2"] == "41 days with zero readings (typical 0)"
    assert typical.loc["b", "reason_2"] == "average use 8.0 kWh/day (typical 7.9 kWh/day)"


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


def test_phrases_of_every_known_feature_are_short_and_carry_the_value():
    from ntl.features import FEATURE_NAMES

    values = pd.DataFrame([[0.5] * len(FEATURE_NAMES)], columns=list(FEATURE_NAMES))
    for name, (members, build, formatter) in explain.reason_groups(list(FEATURE_NAMES)).items():
        text = explain.phrase_values(name, members, build, formatter, values, LAST_DAY).iloc[0]
        assert 5 < len(text) <= 80, (name, text)
        assert any(token in text for token in ("50 %", "0.5", "1 day", "0 days", "1 days")), (
            name,
            text,
        )


def test_formatters_work_on_arrays_and_round_half_to_even():
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


def test_group_contributions_add_members_left_to_right_like_pandas():
    rng = np.random.default_rng(3)
    contributions = pd.DataFrame(
        rng.normal(scale=0.3, size=(500, 6)),
        columns=["drop_largest", "drop_days_ago", "drop_position", "zero_days", "zero_share", "cv"],
    )
    contributions.iloc[::7, 1] = np.nan
    groups = explain.reason_groups(list(contributions.columns))
    summed = explain.group_contributions(contributions, groups, "sum")
    assert list(summed.columns) == ["zero_days", "cv", "drop"]
    members = ["drop_largest", "drop_days_ago", "drop_position"]
    expected = contributions[members].sum(axis=1).to_numpy()
    np.testing.assert_array_equal(summed["drop"].to_numpy(), expected)  # bit for bit
    highest = explain.group_contributions(contributions, groups, "max")
    np.testing.assert_array_equal(highest["drop"], contributions[members].max(axis=1))
    with pytest.raises(ValueError, match="how must be 'sum' or 'max'"):
        explain.group_contributions(contributions, groups, "mean")


def test_global_importance_is_mean_absolute_contribution(three_customers):
    contributions, _ = three_customers
    importance = explain.global_importance(contributions)
    assert "bias" not in importance.index
    assert importance.index[0] == "drop_largest"
    assert importance["drop_largest"] == pytest.approx((0.5 + 0.1 + 0.9) / 3)
    assert importance.is_monotonic_decreasing


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
        "3 days with zero readings (typical 0)",
        "average use 1.0 kWh/day (typical 6.0 kWh/day)",
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
