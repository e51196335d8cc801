"""Small-data honesty: no verdict its own numbers contradict, and "too few cases" said."""

from __future__ import annotations

import numpy as np

from ntl.evaluate import at_k_table, cost_benefit_summary
from ntl.evaluate.verdicts import FEW_CASES, capacity_relation, few_cases_note, next_batch_pays


def test_more_inspections_would_pay_is_never_said_beside_a_batch_that_loses_money():
    """Observed: "more inspections would pay" next to a marginal batch worth -100 EUR."""
    capacity = {"n_inspections": 15, "hits": 9, "net_value": 12000.0}
    capacity |= {"net_value_low": 6000.0, "net_value_high": 15000.0}
    losing = {"n_inspections": 3, "hits": 0, "hit_rate": 0.0, "net_value": -300.0}
    losing |= {"hit_rate_low": 0.0, "hit_rate_high": 0.56}
    chosen = {"n_inspections": 45, "share": 0.15, "net_value": 15000.0}
    text = cost_benefit_summary(capacity, losing, chosen, 100 / 1500)
    assert "more inspections would pay" not in text
    assert "this batch would not pay" in text
    assert "the data cannot tell whether inspecting beyond capacity pays" in text
    assert next_batch_pays(losing, 100 / 1500) is False
    paying = losing | {"hits": 2, "hit_rate": 0.67, "net_value": 2700.0}
    assert next_batch_pays(paying, 100 / 1500) is True
    assert "more inspections would pay" in cost_benefit_summary(capacity, paying, chosen, 0.07)
    assert next_batch_pays({"n_inspections": 0}, 0.1) is None
    assert capacity_relation(3.0, None).endswith("more inspections would pay.")


def test_too_few_cases_is_said():
    """Observed: ROC-AUC 1.000 (1.000-1.000) on 5 test thieves, with no word of warning."""
    note = few_cases_note(5, 60)
    assert note.startswith("Too few cases: the test split has 5 thieves among 60 customers")
    assert "1.000-1.000" in note
    assert few_cases_note(FEW_CASES, 10_000) is None


def test_k_beyond_the_test_split_says_how_many_were_inspected():
    """Observed: a row "k = 100" that inspected 60 customers."""
    rng = np.random.default_rng(0)
    y = (rng.random(60) < 0.2).astype(int)
    table = at_k_table(y, rng.random(60), [100, 10, 0.5])
    assert table["k"].tolist() == ["100 (all 60)", "10", "50%"]
    assert table["n_inspected"].tolist() == [60, 10, 30]


def test_recall_by_onset_age_follows_the_bands_not_the_alphabet():
    """Observed: onset bands sorted as text: 0-89, 180-364, 365+, 90-179."""
    import pandas as pd

    from ntl.evaluate import onset_age_groups, recall_by_group

    last = pd.Timestamp("2016-10-31")
    onset = pd.Series(last - pd.to_timedelta([10, 100, 200, 400, 50, 120], unit="D"))
    table = recall_by_group([True, False, True, True, False, True], onset_age_groups(onset, last))
    assert table["group"].tolist() == ["0-89 days", "90-179 days", "180-364 days", "365+ days"]
    assert table["thieves"].tolist() == [2, 2, 1, 1]
    assert table["found"].tolist() == [1, 1, 1, 1]
    plain = recall_by_group([True, False], ["h2", "h1"])
    assert plain["group"].tolist() == ["h1", "h2"]
