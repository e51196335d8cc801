"""ntl.preprocess: quality flags, gap filling, capping, and the fitted stage 02 end to end."""

from __future__ import annotations

import io
import math

import joblib
import numpy as np
import pandas as pd
import pytest

from ntl.artifacts import ArtifactStore
from ntl.errors import MeterDataError, ParameterError
from ntl.features import FEATURE_NAMES
from ntl.frame import LABEL_COLUMN, build_frame
from ntl.persist import load_preprocessor, save_preprocessor
from ntl.preprocess import (
    IMPLAUSIBLE_REASON,
    PreprocessConfig,
    Preprocessor,
    clean_readings,
    describe_customers,
    fit_preprocessor,
    fit_transform,
    frame_of_columns,
    quality_flags,
)

NAN = np.nan
SMALL = PreprocessConfig(cluster_sample_size=200, silhouette_sample_size=100, k_range=(2, 4))


def consumption(n_customers: int = 40, n_days: int = 120, seed: int = 0, start: str = "2015-01-05"):
    """A hand-made canonical frame: three profile shapes, missing readings, one of each edge case."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_days, freq="D")
    weekend = np.asarray(dates.day_of_week >= 5)
    patterns = np.stack([np.where(weekend, 2.0, 1.0), np.where(weekend, 0.5, 1.0), np.ones(n_days)])
    level = rng.uniform(1, 20, size=(n_customers, 1))
    readings = (
        level * patterns[np.arange(n_customers) % 3] * rng.normal(1, 0.1, (n_customers, n_days))
    )
    readings[rng.random(readings.shape) < 0.05] = NAN
    readings[0] = NAN  # all missing
    readings[1, n_days // 2 :] = 0.0  # zeroed half way
    readings[2, 10:80] = NAN  # a long gap
    flag = (np.arange(n_customers) % 4 == 0).astype(int)
    return build_frame([f"C{i:03d}" for i in range(n_customers)], readings, start, flag=flag)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return consumption()


@pytest.fixture(scope="module")
def fitted(frame) -> tuple[Preprocessor, pd.DataFrame]:
    return fit_transform(frame, SMALL, seed=11)


# ---------------------------------------------------------------- gaps and outliers


def fill_short_gaps(matrix: np.ndarray, limit: int) -> np.ndarray:
    """The chain's cleaning with capping off: gap filling alone."""
    config = PreprocessConfig(interpolation_limit_days=limit, outlier_sigma=math.inf)
    return clean_readings(matrix, config).cleaned


def cap_outliers(matrix: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """The chain's cleaning with gap filling off: capping alone, and the count capped."""
    cleaned = clean_readings(
        matrix, PreprocessConfig(interpolation_limit_days=0, outlier_sigma=sigma)
    )
    return cleaned.cleaned, cleaned.counts["capped"]


def test_short_gaps_are_interpolated_linearly():
    matrix = np.array([[1.0, NAN, 3.0, NAN, NAN, 6.0, 7.0]])
    np.testing.assert_allclose(fill_short_gaps(matrix, 2), [[1, 2, 3, 4, 5, 6, 7]])
    assert fill_short_gaps(matrix, 2).dtype == np.float32


def test_long_and_edge_gaps_are_never_filled():
    matrix = np.array(
        [[NAN, 2.0, NAN, NAN, NAN, 4.0, 5.0, NAN], [1.0, NAN, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]]
    )
    filled = fill_short_gaps(matrix, 2)
    np.testing.assert_array_equal(
        np.isnan(filled[0]), [True, False, True, True, True, False, False, True]
    )
    assert filled[1, 1] == 2.0
    assert not (filled[np.isnan(matrix)] == 0).any()  # never zeros
    np.testing.assert_array_equal(fill_short_gaps(matrix, 0), matrix.astype(np.float32))
    assert np.isnan(matrix[0, 2])  # the input is not modified
    with pytest.raises(ParameterError, match="interpolation_limit_days must be >= 0, got -1"):
        fill_short_gaps(matrix, -1)


def test_cap_outliers_caps_high_readings_only():
    row = np.r_[np.ones(19), 100.0, 0.0, NAN]
    capped, count = cap_outliers(row[None, :], 2.0)
    present = row[~np.isnan(row)]
    cap = present.mean() + 2 * present.std()
    assert count == 1
    assert capped[0, 19] == pytest.approx(cap, rel=1e-6)
    assert capped[0, 20] == 0.0  # low readings stay: they may be the theft
    assert np.isnan(capped[0, 21])
    np.testing.assert_array_equal(capped[0, :19], np.ones(19))


def test_cap_outliers_edge_cases():
    constant = np.full((1, 10), 3.0)
    assert cap_outliers(constant, 2.0)[1] == 0
    spike = np.r_[np.ones(9), 50.0][None, :]
    assert cap_outliers(spike, math.inf) == (pytest.approx(spike), 0)
    assert cap_outliers(np.full((1, 5), NAN), 2.0)[1] == 0
    with pytest.raises(ParameterError, match="outlier_sigma must be > 0"):
        cap_outliers(spike, 0)
    with pytest.raises(MeterDataError, match="2-D"):
        clean_readings(np.ones(5), PreprocessConfig())


def test_cleaning_counts_what_it_changed():
    matrix = np.array([[1.0, NAN, 3.0, NAN, NAN, NAN, 1.0] + [1.0] * 13 + [90.0]])
    cleaned = clean_readings(matrix, PreprocessConfig(interpolation_limit_days=1, outlier_sigma=2))
    assert cleaned.counts == {
        "readings": 21,
        "missing": 4,
        "interpolated": 1,
        "left_missing": 3,
        "capped": 1,
    }
    assert cleaned.cleaned[0, 1] == 2.0


# ---------------------------------------------------------------- quality


def quality_table(frame: pd.DataFrame, config: PreprocessConfig) -> pd.DataFrame:
    """The quality measures and flags of the chain's one pass."""
    return describe_customers(frame, config).quality


def test_quality_table(frame):
    table = quality_table(
        frame, PreprocessConfig(min_present_share=0.7, max_gap_days=30, max_zero_share=0.4)
    )
    assert list(table.columns[:4]) == ["present_share", "gap_longest", "zero_share", "quality_flag"]
    assert list(table.index) == list(frame.index)
    assert table.loc["C000", "present_share"] == 0.0
    assert table.loc["C000", "gap_longest"] == 120
    assert table.loc["C001", "zero_share"] == pytest.approx(
        60 / (~np.isnan(frame.iloc[1, 1:].to_numpy(float))).sum()
    )
    assert table.loc["C002", "gap_longest"] >= 70
    assert (table.loc[["C000", "C001", "C002"], "quality_flag"] == "LOW").all()
    assert "zero share > 0.4" in table.loc["C001", "quality_reason"]
    assert "longest gap > 30 days" in table.loc["C002", "quality_reason"]
    assert (table.iloc[3:]["quality_flag"] == "HIGH").all()
    assert (table.iloc[3:]["quality_reason"] == "").all()


def test_implausible_readings_make_quality_low_with_their_own_reason(frame):
    """Readings the loader set missing above max_daily_kwh looked like any gap: a customer whose
    meter reported 1e12 kWh a day stayed HIGH quality. Now such a customer is LOW with a reason
    of its own; customers absent from the mapping are untouched."""
    config = PreprocessConfig(min_present_share=0.0, max_gap_days=200, max_zero_share=1.0)
    clean_id, other_id = frame.index[5], frame.index[6]
    table = describe_customers(frame, config, implausible={clean_id: 3, "not-in-file": 1}).quality
    assert table.loc[clean_id, "quality_flag"] == "LOW"
    assert table.loc[clean_id, "quality_reason"] == IMPLAUSIBLE_REASON
    assert table.loc[clean_id, "implausible_readings"] == 3
    assert table.loc[other_id, "quality_flag"] == "HIGH"
    assert table.drop(index=clean_id)["implausible_readings"].eq(0).all()
    plain = describe_customers(frame, config).quality
    assert (plain["quality_flag"] == "HIGH").all()
    # the same mapping through the fitted preprocessor's transform (the scorer's path)
    preprocessor = fit_preprocessor(frame, PreprocessConfig(n_clusters=2), seed=0)
    preprocessed = preprocessor.transform(frame, implausible={clean_id: 1})
    assert preprocessed.loc[clean_id, "quality_flag"] == "LOW"


def test_implausible_reason_joins_the_other_reasons():
    measures = np.array([0.2, 0.9]), np.array([0, 0]), np.array([0.0, 0.0])
    table = quality_flags(*measures, PreprocessConfig(), implausible_readings=np.array([2, 0]))
    assert table["quality_reason"].tolist() == [f"present share < 0.5; {IMPLAUSIBLE_REASON}", ""]
    assert table["quality_flag"].tolist() == ["LOW", "HIGH"]


def test_quality_flags_equal_the_rule_by_rule_frame():
    """quality_flags takes each reason from the 16 texts of a config and builds its frame from
    arrays: the same frame, values and dtypes, as joining the failed rules' texts row by row
    into a frame built the public way, for every combination of failed rules."""
    config = PreprocessConfig(min_present_share=0.75, max_gap_days=30, max_zero_share=0.25)
    grid = np.array(np.meshgrid(*[[0, 1]] * 4)).reshape(4, -1)  # every combination of 4 rules
    present = np.where(grid[0] == 1, 0.5, 0.9)
    present[0] = NAN  # a NaN measure fails no rule
    gap = np.where(grid[1] == 1, 31, 30)
    zero = np.where(grid[2] == 1, 0.3, 0.25)
    implausible = grid[3] * 2
    index = pd.Index([f"c{i}" for i in range(grid.shape[1])], name="CONS_NO", dtype=object)
    table = quality_flags(present, gap, zero, config, implausible, index)
    texts = [
        "present share < 0.75",
        "longest gap > 30 days",
        "zero share > 0.25",
        IMPLAUSIBLE_REASON,
    ]
    failed = grid.astype(bool)
    failed[0, 0] = False  # the NaN present share
    reasons = ["; ".join(t for t, f in zip(texts, column, strict=True) if f) for column in failed.T]
    expected = pd.DataFrame(
        {
            "present_share": present,
            "gap_longest": gap,
            "zero_share": zero,
            "quality_flag": np.where(failed.any(axis=0), "LOW", "HIGH"),
            "quality_reason": np.array(reasons, dtype=str),
            "implausible_readings": implausible.astype(np.int64),
        },
        index=index,
    )
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    assert len(set(reasons)) == 16
    unlabeled = quality_flags(present, gap, zero, config, implausible)
    pd.testing.assert_frame_equal(unlabeled, expected.reset_index(drop=True), check_exact=True)


def test_frame_of_columns_equals_the_public_constructor():
    columns = (np.array([0.5, NAN]), np.array([3, 4]), pd.array(["a", ""], dtype="str"))
    names = pd.Index(["x", "n", "s"])
    index = pd.Index(["p", "q"], name="CONS_NO", dtype=object)
    expected = pd.DataFrame(dict(zip(names, columns, strict=True)), index=index)
    pd.testing.assert_frame_equal(frame_of_columns(columns, names, index), expected)
    pd.testing.assert_frame_equal(frame_of_columns(columns, names), expected.reset_index(drop=True))


def test_thresholds_are_parameters(frame):
    lenient = quality_table(
        frame, PreprocessConfig(min_present_share=0.0, max_gap_days=200, max_zero_share=1.0)
    )
    assert (lenient["quality_flag"] == "HIGH").all()


def test_config_validation():
    with pytest.raises(ParameterError, match="min_present_share must be in"):
        PreprocessConfig(min_present_share=1.5)
    with pytest.raises(ParameterError, match="k_range"):
        PreprocessConfig(k_range=(1, 4))
    with pytest.raises(ParameterError, match="n_clusters"):
        PreprocessConfig(n_clusters=0)
    with pytest.raises(ParameterError, match="recent_days must be >= 1"):
        PreprocessConfig(recent_days=0)
    assert PreprocessConfig(k_range=[3, 5]).k_range == (3, 5)


# ---------------------------------------------------------------- the fitted stage


def test_preprocessed_layout(frame, fitted):
    preprocessor, table = fitted
    assert list(table.columns) == [LABEL_COLUMN, "quality_flag", "cluster", *FEATURE_NAMES]
    assert list(table.index) == list(frame.index) and table.index.name == "CONS_NO"
    assert str(table[LABEL_COLUMN].dtype) == "Int8"
    assert (table[list(FEATURE_NAMES)].dtypes == np.float32).all()
    assert set(table["quality_flag"]) == {"HIGH", "LOW"}
    assert table.loc["C000", "cluster"] == -1  # all missing: kept, flagged, unassigned
    assert table.loc["C000", "quality_flag"] == "LOW"
    assert table["cluster"].drop("C000").between(0, preprocessor.n_clusters - 1).all()
    assert table["peer_deviation"].drop("C000").notna().all()
    assert preprocessor.summary()["n_clusters"] == preprocessor.n_clusters


def test_fit_then_transform_equals_fit_transform(frame, fitted):
    preprocessor = fit_preprocessor(frame, SMALL, seed=11)
    pd.testing.assert_frame_equal(preprocessor.transform(frame), fitted[1])


def test_a_customer_alone_equals_the_customer_in_a_batch(frame, fitted):
    preprocessor, table = fitted
    for customer in ("C000", "C001", "C005", "C017"):
        alone = preprocessor.transform(frame.loc[[customer]])
        pd.testing.assert_frame_equal(alone, table.loc[[customer]])


def test_column_and_row_order_do_not_matter(frame, fitted):
    preprocessor, table = fitted
    rng = np.random.default_rng(0)
    days = list(frame.columns[1:])
    shuffled = frame[[days[i] for i in rng.permutation(len(days))] + [LABEL_COLUMN]]
    pd.testing.assert_frame_equal(preprocessor.transform(shuffled), table)
    reversed_rows = frame.iloc[::-1]
    pd.testing.assert_frame_equal(preprocessor.transform(reversed_rows), table.iloc[::-1])


def test_flag_is_never_used(frame, fitted):
    rng = np.random.default_rng(1)
    shuffled = frame.copy()
    shuffled[LABEL_COLUMN] = pd.array(rng.permutation(frame[LABEL_COLUMN].to_numpy()), dtype="Int8")
    _, table = fit_transform(shuffled, SMALL, seed=11)
    pd.testing.assert_frame_equal(
        table.drop(columns=LABEL_COLUMN), fitted[1].drop(columns=LABEL_COLUMN)
    )
    pd.testing.assert_series_equal(table[LABEL_COLUMN], shuffled[LABEL_COLUMN])
    unlabeled = frame.drop(columns=LABEL_COLUMN)
    table = fitted[0].transform(unlabeled)
    assert table[LABEL_COLUMN].isna().all()
    pd.testing.assert_frame_equal(
        table.drop(columns=LABEL_COLUMN), fitted[1].drop(columns=LABEL_COLUMN)
    )


def test_deterministic_and_survives_saving_without_pickles(frame, fitted, tmp_path):
    preprocessor, table = fitted
    again, table_again = fit_transform(frame, SMALL, seed=11)
    pd.testing.assert_frame_equal(table_again, table)
    store = ArtifactStore(tmp_path, notebook="02_preprocessing_clustering")
    save_preprocessor(store, preprocessor)
    back = load_preprocessor(store)
    assert back.summary() == preprocessor.summary()
    pd.testing.assert_frame_equal(back.transform(frame), table)


def test_new_data_on_another_calendar(fitted):
    preprocessor, _ = fitted
    later = consumption(n_customers=6, n_days=30, seed=4, start="2016-07-13")
    table = preprocessor.transform(later)
    assert len(table) == 6 and list(table.columns[3:]) == list(FEATURE_NAMES)
    assert table["cluster"].drop("C000").between(0, preprocessor.n_clusters - 1).all()
    assert table["yoy_ratio"].isna().all()  # a month of history has no year-over-year ratio


def test_fixed_number_of_clusters(frame):
    config = PreprocessConfig(
        n_clusters=2, k_range=(2, 3), cluster_sample_size=200, silhouette_sample_size=100
    )
    preprocessor, table = fit_transform(frame, config, seed=0)
    assert preprocessor.n_clusters == 2
    assert set(table["cluster"]) <= {-1, 0, 1}
    assert set(preprocessor.clusters.silhouette_by_k) == {2, 3}


def test_blocks_and_threads_do_not_change_the_pass(frame):
    whole = describe_customers(frame, SMALL, chunk_rows=1000, n_threads=1)
    for chunk_rows, n_threads in ((7, 1), (5, 3), (1, 2)):
        split = describe_customers(frame, SMALL, chunk_rows=chunk_rows, n_threads=n_threads)
        np.testing.assert_array_equal(split.features, whole.features)
        np.testing.assert_array_equal(split.shapes, whole.shapes)
        pd.testing.assert_frame_equal(split.quality, whole.quality)
        assert split.cleaning == whole.cleaning
    raw = frame.iloc[:, 1:].to_numpy(np.float32)
    assert whole.cleaning == clean_readings(raw, SMALL).counts  # the same as cleaning at once


def test_bad_inputs_are_named(frame):
    with pytest.raises(MeterDataError, match="at least 14 days"):
        fit_preprocessor(frame.iloc[:, :11], SMALL, seed=0)
    with pytest.raises(MeterDataError, match="no customers"):
        fit_preprocessor(frame.iloc[:0], SMALL, seed=0)
    with pytest.raises(MeterDataError, match="YYYY-MM-DD"):
        fit_preprocessor(frame.rename(columns={frame.columns[5]: "day five"}), SMALL, seed=0)
    with pytest.raises(MeterDataError, match="consecutive"):
        fit_preprocessor(frame.drop(columns=frame.columns[5]), SMALL, seed=0)
    with pytest.raises(MeterDataError, match="float32"):
        fit_preprocessor(frame.astype({frame.columns[5]: "float64"}), SMALL, seed=0)


def test_fitted_on_training_customers_only(frame):
    """Readings of customers outside `fit_on` change nothing fitted, only their own rows."""
    train = frame.index[::2]
    preprocessor, table = fit_transform(frame, SMALL, seed=11, fit_on=train)
    assert preprocessor.fitted_on["customers"] == len(train)
    others = frame.index.difference(train)
    changed = frame.copy()
    days = changed.columns[1:]
    changed.loc[others, days] = (changed.loc[others, days] * 5.0).astype(np.float32)
    changed.loc[others[:3], days[:40]] = np.float32(np.nan)
    again, changed_table = fit_transform(changed, SMALL, seed=11, fit_on=train)
    assert pickle_bytes(again) == pickle_bytes(preprocessor)
    pd.testing.assert_frame_equal(changed_table.loc[train], table.loc[train])
    assert not changed_table.loc[others].equals(table.loc[others])
    mask = frame.index.isin(train)
    assert pickle_bytes(fit_preprocessor(frame, SMALL, seed=11, fit_on=mask)) == pickle_bytes(
        preprocessor
    )
    everyone = fit_preprocessor(frame, SMALL, seed=11)
    assert everyone.fitted_on["customers"] == len(frame)
    with pytest.raises(MeterDataError, match=r"fit_on names 1 customers not in .*\['nobody'\]"):
        fit_preprocessor(frame, SMALL, seed=0, fit_on=pd.Index(["nobody"]))
    with pytest.raises(ParameterError, match="fit_on mask has 3 entries for 40 customers"):
        fit_preprocessor(frame, SMALL, seed=0, fit_on=np.ones(3, dtype=bool))


def pickle_bytes(preprocessor: Preprocessor) -> bytes:
    """The fitted preprocessor as bytes, to compare two fits exactly."""
    buffer = io.BytesIO()
    joblib.dump(preprocessor, buffer)
    return buffer.getvalue()
