"""ntl.io: every accepted layout and every bad input, with the message checked."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntl.errors import MeterDataError
from ntl.frame import consumption_matrix, validate_canonical
from ntl.io import (
    LoadReport,
    _float_block,
    check_history_length,
    parse_day_labels,
    place_on_calendar,
    read_meter_data,
)

N_DAYS = 16
DATES = pd.date_range("2014-01-01", periods=N_DAYS, freq="D")
IDS = ["A1", "B2", "C3"]
FLAGS = [1, 0, 0]
# Reading of customer i on day j: 10 * (i + 1) + j / 10, easy to check after any reordering.
VALUES = np.array([[10 * (i + 1) + j / 10 for j in range(N_DAYS)] for i in range(3)])


def sgcc_header(date: pd.Timestamp) -> str:
    return f"{date.year}/{date.month}/{date.day}"


def write_wide_csv(
    path: Path,
    headers: list[str] | None = None,
    values: np.ndarray = VALUES,
    ids: list[str] = IDS,
    flags: list | None = FLAGS,
    flag_first: bool = False,
    cells: dict[tuple[int, int], str] | None = None,
) -> Path:
    """A small SGCC-layout CSV; `cells` overrides the text of (row, day) cells."""
    headers = headers or [sgcc_header(d) for d in DATES]
    lines = []
    head = ["CONS_NO", *headers]
    if flags is not None:
        head = ["FLAG", *head] if flag_first else [*head, "FLAG"]
    lines.append(",".join(head))
    for row, customer in enumerate(ids):
        texts = [f"{v:g}" for v in values[row]]
        for (cell_row, cell_day), text in (cells or {}).items():
            if cell_row == row:
                texts[cell_day] = text
        fields = [customer, *texts]
        if flags is not None:
            flag_text = "" if flags[row] is None else str(flags[row])
            fields = [flag_text, *fields] if flag_first else [*fields, flag_text]
        lines.append(",".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_values(frame: pd.DataFrame, expected: np.ndarray = VALUES) -> None:
    np.testing.assert_allclose(consumption_matrix(frame), expected, rtol=1e-6, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Wide layout


def test_wide_csv_id_first_flag_last(tmp_path):
    frame, report = read_meter_data(write_wide_csv(tmp_path / "m.csv"))
    validate_canonical(frame)
    assert frame.index.tolist() == IDS
    assert frame["FLAG"].tolist() == FLAGS
    assert frame.columns[1] == "2014-01-01" and frame.columns[-1] == "2014-01-16"
    assert_values(frame)
    assert (report.layout, report.file_format) == ("wide", "csv")
    assert (report.n_customers, report.n_days, report.n_theft, report.n_normal) == (3, 16, 1, 2)
    assert not report.day_columns_reordered and report.calendar_days_inserted == 0


def test_wide_csv_flag_first_id_last_with_mixed_shuffled_dates(tmp_path):
    formats = [
        lambda d: f"{d.year}/{d.month}/{d.day}",
        lambda d: d.strftime("%Y-%m-%d"),
        lambda d: f"{d.month}/{d.day}/{d.year}",
        lambda d: d.strftime("%m/%d/%Y"),
    ]
    headers = [formats[j % 4](d) for j, d in enumerate(DATES)]
    order = np.random.default_rng(0).permutation(N_DAYS)
    path = tmp_path / "m.csv"
    lines = ["FLAG," + ",".join(headers[j] for j in order) + ",CONS_NO"]
    for row, customer in enumerate(IDS):
        values = ",".join(f"{VALUES[row, j]:g}" for j in order)
        lines.append(f"{FLAGS[row]},{values},{customer}")
    path.write_text("\n".join(lines) + "\n")
    frame, report = read_meter_data(path)
    validate_canonical(frame)
    assert frame.index.tolist() == IDS
    assert_values(frame)
    assert report.day_columns_reordered
    assert set(report.date_formats) == {"year-month-day", "month/day/year"}
    assert any("sorted" in message for message in report.messages())


def test_month_day_year_headers_are_not_read_as_day_month(tmp_path):
    headers = [d.strftime("%m/%d/%Y") for d in DATES]  # 01/02/2014 is 2 January
    frame, _ = read_meter_data(write_wide_csv(tmp_path / "m.csv", headers=headers))
    assert frame.columns[2] == "2014-01-02"
    assert_values(frame)


def test_calendar_gap_becomes_all_missing_column(tmp_path):
    keep = [j for j in range(N_DAYS) if j not in (5, 6)]
    headers = [sgcc_header(DATES[j]) for j in keep]
    path = write_wide_csv(tmp_path / "m.csv", headers=headers, values=VALUES[:, keep])
    frame, report = read_meter_data(path)
    validate_canonical(frame)
    expected = VALUES.copy()
    expected[:, [5, 6]] = np.nan
    assert_values(frame, expected)
    assert report.calendar_days_inserted == 2
    assert "2 calendar day(s) absent" in " ".join(report.messages())


def test_empty_cells_are_missing_and_counted(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", cells={(0, 3): "", (2, 0): ""})
    frame, report = read_meter_data(path)
    matrix = consumption_matrix(frame)
    assert np.isnan(matrix[0, 3]) and np.isnan(matrix[2, 0])
    assert np.isnan(matrix).sum() == 2
    assert report.missing_fraction == pytest.approx(2 / (3 * N_DAYS))


def test_gzip_csv_reads_like_plain_csv(tmp_path):
    plain = write_wide_csv(tmp_path / "m.csv")
    zipped = tmp_path / "m.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    frame, report = read_meter_data(zipped)
    assert report.file_format == "csv.gz"
    pd.testing.assert_frame_equal(frame, read_meter_data(plain)[0])


def test_wide_parquet_with_integer_ids_and_float_labels(tmp_path):
    table = pd.DataFrame(VALUES, columns=[sgcc_header(d) for d in DATES])
    table.insert(0, "CONS_NO", [101, 102, 103])
    table["FLAG"] = [1.0, 0.0, np.nan]
    path = tmp_path / "m.parquet"
    table.to_parquet(path)
    frame, report = read_meter_data(path)
    validate_canonical(frame)
    assert frame.index.tolist() == ["101", "102", "103"]
    assert frame["FLAG"].tolist()[:2] == [1, 0] and pd.isna(frame["FLAG"].iloc[2])
    assert (report.file_format, report.n_unlabeled) == ("parquet", 1)
    assert_values(frame)


def test_no_label_column_gives_unlabeled_frame(tmp_path):
    frame, report = read_meter_data(write_wide_csv(tmp_path / "m.csv", flags=None))
    validate_canonical(frame)
    assert frame["FLAG"].isna().all()
    assert not report.labeled and report.label_column is None
    assert any("No labels" in message for message in report.messages())


def test_partly_labeled_frame_keeps_missing_labels(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", flags=[1, None, 0])
    frame, report = read_meter_data(path)
    assert frame["FLAG"].isna().tolist() == [False, True, False]
    assert (report.n_theft, report.n_normal, report.n_unlabeled) == (1, 1, 1)


def test_configurable_id_and_label_columns(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv")
    path.write_text(path.read_text().replace("CONS_NO", "meter").replace("FLAG", "fraud"))
    frame, report = read_meter_data(path, id_column="meter", label_column="fraud")
    assert frame.index.name == "CONS_NO" and frame["FLAG"].tolist() == FLAGS
    assert (report.id_column, report.label_column) == ("meter", "fraud")


def test_negative_readings_become_missing_and_are_counted(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", cells={(1, 2): "-3.5", (1, 4): "-1"})
    frame, report = read_meter_data(path)
    assert np.isnan(consumption_matrix(frame)[1, [2, 4]]).all()
    assert report.negative_readings_set_missing == 2
    assert "2 negative readings set to missing." in report.messages()


def test_negative_readings_can_be_an_error(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", cells={(1, 2): "-3.5"})
    with pytest.raises(MeterDataError, match=r"1 negative reading.*-3\.5.*'B2' on 2014-01-03"):
        read_meter_data(path, negative_readings="error")


def test_all_missing_customer_is_dropped_and_counted(tmp_path):
    cells = {(1, j): "" for j in range(N_DAYS)}
    frame, report = read_meter_data(write_wide_csv(tmp_path / "m.csv", cells=cells))
    assert frame.index.tolist() == ["A1", "C3"]
    assert frame["FLAG"].tolist() == [1, 0]
    assert report.all_missing_customers_dropped == 1
    assert_values(frame, VALUES[[0, 2]])


def test_missing_fraction_counts_only_the_customers_kept(tmp_path):
    cells = {(1, j): "" for j in range(N_DAYS)} | {(2, 4): "", (2, 5): "-1"}
    frame, report = read_meter_data(write_wide_csv(tmp_path / "m.csv", cells=cells))
    assert frame.index.tolist() == ["A1", "C3"]
    assert report.negative_readings_set_missing == 1
    assert report.missing_fraction == pytest.approx(2 / (2 * N_DAYS))  # C3's empty + negative


@pytest.mark.parametrize("source", ["wide csv", "wide parquet", "long csv", "calendar gap"])
def test_readings_are_one_row_major_block_shared_with_the_frame(tmp_path, source):
    """consumption_matrix of a loaded frame is the frame's own memory, customers x days in C
    order: per-customer feature code reads it without a copy."""
    if source == "wide csv":
        path = write_wide_csv(tmp_path / "m.csv")
    elif source == "wide parquet":
        table = pd.DataFrame(VALUES, columns=[sgcc_header(d) for d in DATES])
        table.insert(0, "CONS_NO", IDS)
        path = tmp_path / "m.parquet"
        table.to_parquet(path)
    elif source == "long csv":
        path = tmp_path / "long.csv"
        long_table().to_csv(path, index=False)
    else:
        keep = [j for j in range(N_DAYS) if j != 7]
        headers = [sgcc_header(DATES[j]) for j in keep]
        path = write_wide_csv(tmp_path / "m.csv", headers=headers, values=VALUES[:, keep])
    frame, _ = read_meter_data(path)
    matrix = consumption_matrix(frame)
    assert matrix.flags.c_contiguous and matrix.shape == (3, N_DAYS)
    assert np.shares_memory(matrix, consumption_matrix(frame))
    expected = VALUES[[IDS.index(customer) for customer in frame.index]]  # long: first-seen order
    if source == "calendar gap":
        expected[:, 7] = np.nan
    np.testing.assert_allclose(matrix, expected, rtol=1e-6)


def test_float_block_joins_record_batches_row_major_with_nan_for_nulls():
    import pyarrow as pa

    batches = [
        pa.record_batch({"d1": pa.array([1.5, None], pa.float32()), "d2": [2.5, 3.5]}),
        pa.record_batch(
            {"d1": pa.array([4.0], pa.float32()), "d2": pa.array([None], pa.float64())}
        ),
    ]
    table = pa.Table.from_batches(
        [batch.cast(pa.schema({"d1": pa.float32(), "d2": pa.float32()})) for batch in batches]
    )
    block = _float_block(table, ["d2", "d1"])
    assert block.dtype == np.float32 and block.flags.c_contiguous
    np.testing.assert_array_equal(block, [[2.5, 1.5], [3.5, np.nan], [np.nan, 4.0]])
    assert _float_block(table.slice(0, 0), ["d1"]).shape == (0, 1)


def test_days_in_file_and_history_length_check(tmp_path):
    keep = [j for j in range(N_DAYS) if j not in (2, 3)]
    headers = [sgcc_header(DATES[j]) for j in keep]
    path = write_wide_csv(tmp_path / "m.csv", headers=headers, values=VALUES[:, keep])
    _, report = read_meter_data(path)
    assert (report.days_in_file, report.n_days) == (14, 16)
    check_history_length(path, report.days_in_file, 14)
    with pytest.raises(MeterDataError, match=r"m.csv: only 14 day\(s\) of readings, at least 15"):
        check_history_length(path, report.days_in_file, 15)


def test_load_report_messages_describe_the_data():
    report = LoadReport(source="x.csv", layout="wide", file_format="csv", n_customers=5, n_days=20)
    report.first_day, report.last_day, report.n_theft, report.n_normal = "a", "b", 1, 4
    assert report.messages()[0].startswith("Read 5 customers x 20 days (a to b) from x.csv")
    assert "Labels: 1 theft, 4 normal, 0 unlabeled." in report.messages()


# ---------------------------------------------------------------------------------------------
# Long layout


def long_table(label: bool = True) -> pd.DataFrame:
    rows = [
        {"customer_id": customer, "date": date.strftime("%Y-%m-%d"), "kwh": VALUES[i, j]}
        | ({"label": FLAGS[i]} if label else {})
        for i, customer in enumerate(IDS)
        for j, date in enumerate(DATES)
    ]
    # Shuffle the rows: the pivot must not depend on their order.
    return pd.DataFrame(rows).sample(frac=1, random_state=0)


def test_long_csv_is_pivoted(tmp_path):
    path = tmp_path / "long.csv"
    long_table().to_csv(path, index=False)
    frame, report = read_meter_data(path)
    validate_canonical(frame)
    assert report.layout == "long"
    assert sorted(frame.index) == IDS
    frame = frame.loc[IDS]
    assert frame["FLAG"].tolist() == FLAGS
    assert_values(frame)


def test_long_parquet_with_custom_names_and_a_gap(tmp_path):
    table = long_table(label=False).rename(
        columns={"customer_id": "meter", "date": "day", "kwh": "energy"}
    )
    table = table[table["day"] != "2014-01-05"]
    path = tmp_path / "long.parquet"
    table.to_parquet(path)
    frame, report = read_meter_data(
        path, layout="long", id_column="meter", date_column="day", value_column="energy"
    )
    validate_canonical(frame)
    expected = VALUES.copy()
    expected[:, 4] = np.nan
    assert_values(frame.loc[IDS], expected)
    assert frame["FLAG"].isna().all() and report.calendar_days_inserted == 1


def test_long_duplicate_customer_day_is_an_error(tmp_path):
    table = long_table()
    path = tmp_path / "long.csv"
    pd.concat([table, table.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(MeterDataError, match="several readings for the same customer and day"):
        read_meter_data(path)


def test_long_conflicting_labels_are_an_error(tmp_path):
    table = long_table()
    table.loc[table["customer_id"].eq("B2") & table["date"].eq("2014-01-03"), "label"] = 1
    path = tmp_path / "long.csv"
    table.to_csv(path, index=False)
    with pytest.raises(MeterDataError, match=r"both labels 0 and 1 in 'label': \['B2'\]"):
        read_meter_data(path)


def test_long_non_numeric_value_is_named(tmp_path):
    table = long_table().astype({"kwh": object})
    table.iloc[4, table.columns.get_loc("kwh")] = "n/a?"
    path = tmp_path / "long.csv"
    table.to_csv(path, index=False)
    with pytest.raises(MeterDataError, match=r"non-numeric reading 'n/a\?' in column 'kwh'"):
        read_meter_data(path)


def test_long_bad_dates_are_named(tmp_path):
    table = long_table()
    table.iloc[0, table.columns.get_loc("date")] = "yesterday"
    path = tmp_path / "long.csv"
    table.to_csv(path, index=False)
    with pytest.raises(
        MeterDataError, match=r"values in 'date' that are not dates: \['yesterday'\]"
    ):
        read_meter_data(path)


# ---------------------------------------------------------------------------------------------
# Bad input


def test_missing_file(tmp_path):
    with pytest.raises(MeterDataError, match=r"nope\.csv: file not found"):
        read_meter_data(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(MeterDataError, match=r"empty\.csv: file is empty"):
        read_meter_data(path)


def test_header_without_rows(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("CONS_NO," + ",".join(sgcc_header(d) for d in DATES) + "\n")
    with pytest.raises(MeterDataError, match="has a header but no customer rows"):
        read_meter_data(path)


def test_no_id_column_lists_the_columns_seen(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv")
    path.write_text(path.read_text().replace("CONS_NO", "customer"))
    with pytest.raises(MeterDataError, match=r"no ID column 'CONS_NO'; columns seen: \['customer'"):
        read_meter_data(path)


def test_duplicate_ids_are_listed(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", ids=["A1", "B2", "A1"])
    with pytest.raises(MeterDataError, match=r"duplicate customer IDs in 'CONS_NO': \['A1'\]"):
        read_meter_data(path)


def test_empty_id_is_an_error(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", ids=["A1", "", "C3"])
    with pytest.raises(MeterDataError, match=r"empty 'CONS_NO' in data row\(s\) \[2\]"):
        read_meter_data(path)


@pytest.mark.parametrize("bad_label", ["2", "-1", "yes", "0.5"])
def test_labels_outside_zero_one(tmp_path, bad_label):
    path = write_wide_csv(tmp_path / "m.csv", flags=[1, bad_label, 0])
    with pytest.raises(MeterDataError, match=rf"must be 0, 1 or empty.*'B2': '{bad_label}'"):
        read_meter_data(path)


def test_non_numeric_reading_names_column_row_and_value(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv", cells={(2, 7): "12,5kWh".replace(",", ".")})
    with pytest.raises(
        MeterDataError,
        match=r"non-numeric reading '12\.5kWh' in column '2014/1/8', data row 3 \(customer 'C3'\)",
    ):
        read_meter_data(path)


def test_non_numeric_reading_in_parquet(tmp_path):
    table = pd.DataFrame(VALUES.astype(str), columns=[d.strftime("%Y-%m-%d") for d in DATES])
    table.iloc[1, 3] = "oops"
    table.insert(0, "CONS_NO", IDS)
    path = tmp_path / "m.parquet"
    table.to_parquet(path)
    with pytest.raises(MeterDataError, match=r"non-numeric reading 'oops' in column '2014-01-04'"):
        read_meter_data(path)


def test_no_day_columns(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("CONS_NO,FLAG\nA1,1\n")
    with pytest.raises(MeterDataError, match="no day columns"):
        read_meter_data(path)


def test_headers_that_are_not_dates(tmp_path):
    headers = [sgcc_header(d) for d in DATES[:-2]] + ["region", "2014/13/1"]
    with pytest.raises(
        MeterDataError, match=r"headers that are not dates: \['region', '2014/13/1'\]"
    ):
        read_meter_data(write_wide_csv(tmp_path / "m.csv", headers=headers))


def test_same_day_twice_in_headers(tmp_path):
    headers = [sgcc_header(d) for d in DATES[:-1]] + ["2014-01-01"]
    with pytest.raises(MeterDataError, match=r"same day appears in several columns"):
        read_meter_data(write_wide_csv(tmp_path / "m.csv", headers=headers))


def test_duplicate_column_names(tmp_path):
    headers = [sgcc_header(d) for d in DATES[:-1]] + [sgcc_header(DATES[0])]
    with pytest.raises(MeterDataError, match=r"duplicate column names \['2014/1/1'\]"):
        read_meter_data(write_wide_csv(tmp_path / "m.csv", headers=headers))


def test_fewer_than_min_days(tmp_path):
    path = write_wide_csv(tmp_path / "m.csv")
    with pytest.raises(MeterDataError, match=r"only 16 day\(s\) of readings, at least 20"):
        read_meter_data(path, min_days=20)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "m.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(MeterDataError, match=r"m\.parquet: unreadable or corrupt parquet"):
        read_meter_data(path)


@pytest.mark.parametrize("text", ["inf", "1e39"])
def test_infinite_or_float32_overflow_reading_is_named_with_its_date(tmp_path, text):
    """1e39 overflows float32; it was reported as "infinite reading on calendar day 2"."""
    path = write_wide_csv(tmp_path / "m.csv", cells={(0, 1): text})
    with pytest.raises(
        MeterDataError,
        match=r"reading for customer 'A1' on 2014-01-02 is infinite or beyond float32's range",
    ):
        read_meter_data(path)


def test_implausible_readings_are_set_missing_and_reported_with_dates(tmp_path):
    """1e12 kWh a day loaded silently as a HIGH-quality customer and wrecked the ranking."""
    path = write_wide_csv(
        tmp_path / "m.csv", cells={(1, 3): "1e12", (1, 4): "2e5", (2, 0): "99999"}
    )
    frame, report = read_meter_data(path)
    matrix = consumption_matrix(frame)
    assert np.isnan(matrix[1, 3]) and np.isnan(matrix[1, 4])
    assert matrix[2, 0] == pytest.approx(99999)  # at the ceiling's side: kept
    assert report.implausible_readings_set_missing == 2 and report.implausible_customers == 1
    assert report.implausible_by_customer == {"B2": 2}  # stage 02 flags B2's quality from it
    text = " ".join(report.messages())
    assert "2 implausible reading(s) of 1 customer(s) above 100,000 kWh/day (max_daily_kwh)" in text
    assert "e.g. 1e+12 kWh for customer 'B2' on 2014-01-04" in text
    assert report.missing_fraction == pytest.approx(2 / (3 * N_DAYS))
    _, lenient = read_meter_data(path, max_daily_kwh=1e13)
    assert lenient.implausible_readings_set_missing == 0
    assert lenient.implausible_by_customer == {}
    with pytest.raises(MeterDataError, match="max_daily_kwh must be a number > 0, got 0"):
        read_meter_data(path, max_daily_kwh=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"layout": "diagonal"}, "layout must be one of"), ({"negative_readings": "x"}, "negative")],
)
def test_bad_options(tmp_path, options, message):
    with pytest.raises(MeterDataError, match=message):
        read_meter_data(write_wide_csv(tmp_path / "m.csv"), **options)


def test_long_layout_without_value_column(tmp_path):
    path = tmp_path / "long.csv"
    long_table().drop(columns="kwh").to_csv(path, index=False)
    with pytest.raises(MeterDataError, match=r"long layout needs a 'kwh' column"):
        read_meter_data(path, layout="long")


# ---------------------------------------------------------------------------------------------
# Helpers


def test_parse_day_labels_formats_and_failures():
    dates, formats = parse_day_labels(
        ["2014/1/2", "2014-01-03", "1/26/2014", "02/01/2014", "20140105", "2014-02-30", "x"]
    )
    expected = ["2014-01-02", "2014-01-03", "2014-01-26", "2014-02-01", "2014-01-05"]
    assert [d.strftime("%Y-%m-%d") for d in dates[:5]] == expected
    assert dates[5:].isna().all()
    assert formats == ["year-month-day", "month/day/year", "yyyymmdd"]


def test_place_on_calendar_sorts_and_fills_gaps():
    readings = np.array([[3.0, 1.0, 4.0]], dtype=np.float32)
    dates = pd.DatetimeIndex(["2014-01-04", "2014-01-01", "2014-01-05"])
    calendar, first, inserted = place_on_calendar(readings, dates)
    np.testing.assert_array_equal(calendar, [[1.0, np.nan, np.nan, 3.0, 4.0]])
    assert first == pd.Timestamp("2014-01-01") and inserted == 2


def test_long_parquet_with_datetime_dates(tmp_path):
    table = long_table()
    table["date"] = pd.to_datetime(table["date"])
    path = tmp_path / "long.parquet"
    table.to_parquet(path)
    frame, _ = read_meter_data(path)
    validate_canonical(frame)
    assert frame.columns[1] == "2014-01-01"
    assert_values(frame.loc[IDS])


def test_consumption_summary_values():
    from ntl.frame import build_frame
    from ntl.io import consumption_summary

    readings = np.arange(28, dtype=float).reshape(2, 14)
    readings[0, :2] = np.nan
    frame = build_frame(["a", "b"], readings, "2014-01-01", flag=[1, None])
    summary = consumption_summary(frame)["value"]
    assert summary["customers"] == 2 and summary["days"] == 14
    assert summary["first day"] == "2014-01-01" and summary["last day"] == "2014-01-14"
    assert summary["readings present"] == 26
    assert summary["missing share"] == pytest.approx(2 / 28)
    assert summary["zero share (of present readings)"] == 0
    assert summary["median daily reading (kWh)"] == pytest.approx(np.median(np.arange(2, 28)))
    assert (summary["theft customers"], summary["unlabeled customers"]) == (1, 1)
    assert summary["theft share of labeled"] == 1.0


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_separated_exports(tmp_path, delimiter):
    path = write_wide_csv(tmp_path / "m.csv")
    path.write_text(path.read_text().replace(",", delimiter))
    frame, _ = read_meter_data(path)
    assert frame.index.tolist() == IDS
    assert_values(frame)


def test_gzip_without_gz_suffix_is_detected(tmp_path):
    zipped = tmp_path / "export.dat"
    zipped.write_bytes(gzip.compress(write_wide_csv(tmp_path / "m.csv").read_bytes()))
    frame, report = read_meter_data(zipped)
    assert report.file_format == "csv.gz"
    assert_values(frame)


def test_long_empty_reading_is_missing(tmp_path):
    table = long_table()
    first = (table["customer_id"] == "A1") & (table["date"] == "2014-01-02")
    table.loc[first, "kwh"] = np.nan
    path = tmp_path / "long.csv"
    table.to_csv(path, index=False)
    frame, _ = read_meter_data(path)
    expected = VALUES.copy()
    expected[0, 1] = np.nan
    assert_values(frame.loc[IDS], expected)


def test_count_missing_per_customer_across_blocks(monkeypatch):
    import ntl.io

    readings = np.ones((7, 4), dtype=np.float32)
    readings[1] = np.nan
    readings[[0, 0, 5, 6], [0, 3, 2, 2]] = np.nan
    monkeypatch.setattr(ntl.io, "MISSING_BLOCK_ROWS", 3)  # blocks of 3, 3 and 1 customers
    assert ntl.io.count_missing(readings).tolist() == [2, 4, 0, 0, 0, 1, 1]
    assert ntl.io.count_missing(readings[:0]).tolist() == []


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_gzip_file_is_named_not_a_traceback(tmp_path, keep):
    """A .csv.gz cut off mid-transfer raised pyarrow's bare OSError."""
    rows = np.tile(VALUES, (400, 1))
    ids = [f"c{i}" for i in range(len(rows))]
    plain = write_wide_csv(tmp_path / "m.csv", values=rows, ids=ids, flags=[0] * len(rows))
    whole = gzip.compress(plain.read_bytes())
    truncated = tmp_path / "m.csv.gz"
    truncated.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(MeterDataError, match=r"m\.csv\.gz: cannot read the file: the gzip file is"):
        read_meter_data(truncated)


def test_validate_canonical_names_the_day_columns_that_are_not_float32(tmp_path):
    frame, _ = read_meter_data(write_wide_csv(tmp_path / "m.csv"))
    validate_canonical(frame)
    wrong = frame.astype({"2014-01-03": "float64", "2014-01-09": "int64"}, errors="ignore")
    wrong["2014-01-09"] = wrong["2014-01-09"].fillna(0).astype("int64")
    with pytest.raises(
        MeterDataError, match=r"day columns must be float32, e\.g\. \['2014-01-03', '2014-01-09'\]"
    ):
        validate_canonical(wrong, "m")
