"""ntl.interval through ntl.io.read_meter_data: every interval layout, the completeness rule,
daylight saving, time zones, stamp conventions, missing strings and every bad input.

Each file is built small and by hand; the daily sums are checked against sums computed here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ntl.interval.stream as stream
from ntl.errors import MeterDataError
from ntl.frame import consumption_matrix, validate_canonical
from ntl.interval import nominal_periods, wide_interval_columns
from ntl.io import MISSING_STRINGS, read_meter_data

LONG = {"id_column": "LCLid", "date_column": "tstp", "value_column": "kwh", "min_days": 1}


def half_hours(day: str, n: int = 48, start: str = "00:00", step: str = "30min") -> list[str]:
    stamps = pd.date_range(f"{day} {start}", periods=n, freq=step)
    return [s.strftime("%Y-%m-%d %H:%M:%S") for s in stamps]


def write_long(path, rows: list[tuple], header: str = "LCLid,tstp,kwh") -> str:
    lines = [header] + [",".join(str(field) for field in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def day_rows(customer: str, stamps: list[str], values) -> list[tuple]:
    return [(customer, s, v) for s, v in zip(stamps, values, strict=True)]


def matrix(frame: pd.DataFrame) -> np.ndarray:
    return consumption_matrix(frame).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Long layout with timestamps


def test_half_hourly_long_file_sums_each_day(tmp_path):
    day1 = np.arange(48) / 10  # 0.0, 0.1, ... 4.7: sum 112.8
    day2 = np.full(48, 0.25)  # sum 12
    rows = day_rows("MAC1", half_hours("2014-01-01"), day1)
    rows += day_rows("MAC1", half_hours("2014-01-02"), day2)
    rows += day_rows("MAC2", half_hours("2014-01-02"), np.ones(48))
    frame, report = read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)
    validate_canonical(frame)
    assert list(frame.index) == ["MAC1", "MAC2"]
    assert list(frame.columns[1:]) == ["2014-01-01", "2014-01-02"]
    np.testing.assert_allclose(matrix(frame), [[112.8, 12.0], [np.nan, 48.0]], rtol=1e-6)
    summary = report.interval
    assert summary.interval_minutes == 30
    assert summary.layout == "long, timestamps"
    assert summary.readings == 144
    assert summary.complete_days == 3
    assert summary.scaled_days == summary.incomplete_days_missing == 0
    assert "interval-starting" in summary.stamps
    assert any("30-minute readings" in line for line in report.messages())


@pytest.mark.parametrize(("step", "per_day"), [("15min", 96), ("60min", 24)])
def test_interval_is_detected_per_file(tmp_path, step, per_day):
    rows = day_rows("A", half_hours("2014-01-01", per_day, step=step), np.full(per_day, 0.5))
    frame, report = read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)
    assert report.interval.interval_minutes == 1440 / per_day
    np.testing.assert_allclose(matrix(frame), [[per_day * 0.5]])


def test_missing_strings_are_missing_intervals_and_the_rule_scales_or_drops(tmp_path):
    """48 half hours; max_missing_share 0.1 allows 4 missing (8.3 %), not 5 (10.4 %)."""
    texts = list(MISSING_STRINGS)  # '', Null, null, NULL, NA, N/A, n/a, NaN, nan, -
    four_missing = ["1"] * 44 + texts[:4]
    five_missing = ["1"] * 43 + texts[4:9]
    all_but_two_missing = ["2", "2"] + ["-"] * 46
    rows = day_rows("A", half_hours("2014-01-01"), four_missing)
    rows += day_rows("A", half_hours("2014-01-02"), five_missing)
    rows += day_rows("A", half_hours("2014-01-03"), all_but_two_missing)
    frame, report = read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)
    # Day 1: 44 readings of 1 kWh, 4 of 48 missing -> 44 * 48 / 44 = 48; days 2 and 3 missing.
    np.testing.assert_allclose(matrix(frame), [[48.0, np.nan, np.nan]])
    assert report.interval.scaled_days == 1
    assert report.interval.incomplete_days_missing == 2
    assert report.interval.complete_days == 0


def test_completeness_boundary_is_inclusive_and_zero_is_strict(tmp_path):
    values = ["2"] * 42 + ["Null"] * 6  # exactly 12.5 % missing
    rows = day_rows("A", half_hours("2014-01-01"), values)
    path = write_long(tmp_path / "m.csv", rows)
    frame, _ = read_meter_data(path, **LONG, max_missing_share=0.125)
    np.testing.assert_allclose(matrix(frame), [[2 * 42 * 48 / 42]])
    with pytest.raises(MeterDataError, match="no customer has a single reading"):
        read_meter_data(path, **LONG, max_missing_share=0.0)


def test_interval_ending_stamps_with_24_00_and_next_midnight(tmp_path):
    """Ending stamps: 00:30 is the first half hour, 24:00 (or 00:00 next day) the last."""
    stamps_day1 = half_hours("2014-01-01", 47, start="00:30") + ["2014-01-01 24:00:00"]
    stamps_day2 = half_hours("2014-01-02", 48, start="00:30")  # ends 2014-01-03 00:00
    rows = day_rows("A", stamps_day1, [1] * 47 + [10])
    rows += day_rows("A", stamps_day2, [2] * 47 + [20])
    path = write_long(tmp_path / "m.csv", rows)
    frame, report = read_meter_data(path, **LONG, interval_stamps="end")
    np.testing.assert_allclose(matrix(frame), [[47 + 10, 2 * 47 + 20]])
    assert "interval-ending" in report.interval.stamps
    with pytest.raises(MeterDataError, match=r"24:00.*interval_stamps='end'"):
        read_meter_data(path, **LONG)  # the default is interval-starting


def test_starting_stamps_read_as_ending_shift_the_last_half_hour(tmp_path):
    rows = day_rows("A", half_hours("2014-01-01"), [1] * 47 + [5])
    rows += day_rows("A", half_hours("2014-01-02"), [1] * 48)
    path = write_long(tmp_path / "m.csv", rows)
    frame, _ = read_meter_data(path, **LONG, interval_stamps="end", max_missing_share=0.05)
    # As ending stamps, 2014-01-01 00:00 closes 2013-12-31 (one reading: missing day), 01-01 holds
    # 00:30..23:30 of 01-01 plus 01-02 00:00 (47 + 1 = 48 readings), 01-02 holds 47 (scaled).
    assert list(frame.columns[1:]) == ["2013-12-31", "2014-01-01", "2014-01-02"]
    np.testing.assert_allclose(matrix(frame), [[np.nan, 46 + 5 + 1, 47 * 48 / 47]])


def test_daylight_saving_days_of_46_and_50_half_hours_are_complete(tmp_path):
    """Europe/London: 2014-03-30 has 23 hours, 2014-10-26 has 25. Stamps carry offsets."""
    spring = pd.date_range(
        "2014-03-30", "2014-03-31", freq="30min", inclusive="left", tz="Europe/London"
    )
    autumn = pd.date_range(
        "2014-10-26", "2014-10-27", freq="30min", inclusive="left", tz="Europe/London"
    )
    assert (len(spring), len(autumn)) == (46, 50)
    stamps = [s.isoformat() for s in [*spring, *autumn]]
    rows = [("A", s, 1) for s in stamps]
    path = write_long(tmp_path / "m.csv", rows)
    for timezone in (None, "Europe/London"):
        frame, report = read_meter_data(path, **LONG, timezone=timezone, max_missing_share=0)
        values = matrix(frame)
        assert values[0, 0] == 46 and values[0, -1] == 50
        assert np.isnan(values[0, 1:-1]).all()  # the days between hold no reading
        assert report.interval.daylight_saving_days == 2
        assert report.interval.complete_days == 2
        expected = "Europe/London" if timezone else "own UTC offset"
        assert expected in report.interval.timezone


def test_naive_local_stamps_with_a_time_zone_know_the_short_day(tmp_path):
    spring = pd.date_range(
        "2014-03-30", "2014-03-31", freq="30min", inclusive="left", tz="Europe/London"
    )
    rows = [("A", s.strftime("%Y-%m-%d %H:%M:%S"), 1) for s in spring]  # 46 naive local stamps
    path = write_long(tmp_path / "m.csv", rows)
    frame, _ = read_meter_data(path, **LONG, timezone="Europe/London", max_missing_share=0)
    np.testing.assert_allclose(matrix(frame), [[46]])
    with pytest.raises(MeterDataError, match="no customer has a single reading"):
        read_meter_data(path, **LONG, max_missing_share=0)  # a 48-interval day: 2 missing


def test_utc_stamps_are_read_in_the_utility_time_zone(tmp_path):
    """Sydney is UTC+11 in January: 2014-01-01 13:00Z is already 2014-01-02 00:00 local."""
    stamps = pd.date_range("2014-01-01 13:00", periods=96, freq="30min", tz="UTC")
    values = [1] * 48 + [3] * 48
    rows = [("A", s.strftime("%Y-%m-%dT%H:%M:%SZ"), v) for s, v in zip(stamps, values, strict=True)]
    path = write_long(tmp_path / "m.csv", rows)
    frame, report = read_meter_data(path, **LONG, timezone="Australia/Sydney")
    assert list(frame.columns[1:]) == ["2014-01-02", "2014-01-03"]
    np.testing.assert_allclose(matrix(frame), [[48, 144]])
    frame, _ = read_meter_data(path, **LONG, max_missing_share=0.6)  # own offset: UTC
    assert list(frame.columns[1:]) == ["2014-01-01", "2014-01-02", "2014-01-03"]
    np.testing.assert_allclose(matrix(frame), [[22 * 48 / 22, 26 + 22 * 3, 26 * 3 * 48 / 26]])


def test_offsets_read_at_their_own_wall_clock_by_default(tmp_path):
    stamps = pd.date_range("2014-06-01", periods=48, freq="30min", tz="Europe/Paris")
    rows = [("A", s.isoformat(), 2) for s in stamps]
    frame, _ = read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG, max_missing_share=0)
    assert list(frame.columns[1:]) == ["2014-06-01"]
    np.testing.assert_allclose(matrix(frame), [[96]])


def test_labels_rows_in_any_order_and_many_batches(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    rows, expected = [], np.zeros((3, 4))
    for c, customer in enumerate(["A", "B", "C"]):
        for d in range(4):
            values = rng.integers(0, 9, 48) / 4
            expected[c, d] = values.sum()
            day = f"2014-02-0{d + 1}"
            rows += [(customer, s, v, c % 2) for s, v in zip(half_hours(day), values, strict=True)]
    order = rng.permutation(len(rows))
    path = write_long(tmp_path / "m.csv", [rows[i] for i in order], "LCLid,tstp,kwh,FLAG")
    whole, _ = read_meter_data(path, **LONG)
    monkeypatch.setattr(stream, "CSV_BLOCK_BYTES", 2048)  # about 50 rows a batch
    frame, _ = read_meter_data(path, **LONG)
    pd.testing.assert_frame_equal(frame, whole)
    frame = frame.loc[["A", "B", "C"]]
    np.testing.assert_allclose(matrix(frame), expected, rtol=1e-6)
    assert frame["FLAG"].tolist() == [0, 1, 0]


def test_parquet_long_interval_file_matches_csv(tmp_path, monkeypatch):
    rows = day_rows("A", half_hours("2014-01-01"), np.arange(48) / 8)
    rows += day_rows("B", half_hours("2014-01-01"), ["Null"] * 2 + ["1"] * 46)
    csv_path = write_long(tmp_path / "m.csv", rows)
    table = pd.read_csv(csv_path, keep_default_na=False, dtype=str)
    typed = table.assign(tstp=pd.to_datetime(table["tstp"]))
    typed.to_parquet(tmp_path / "typed.parquet")
    table.to_parquet(tmp_path / "text.parquet")  # every column text, 'Null' included
    expected, _ = read_meter_data(csv_path, **LONG)
    np.testing.assert_allclose(matrix(expected), [[np.arange(48).sum() / 8], [48]])
    monkeypatch.setattr(stream, "PARQUET_BATCH_ROWS", 10)
    for name in ("typed.parquet", "text.parquet"):
        frame, report = read_meter_data(tmp_path / name, **LONG)
        pd.testing.assert_frame_equal(frame, expected)
        assert report.file_format == "parquet"


def test_negative_interval_readings_follow_the_policy(tmp_path):
    rows = day_rows("A", half_hours("2014-01-01"), [1] * 47 + [-3])
    path = write_long(tmp_path / "m.csv", rows)
    frame, report = read_meter_data(path, **LONG)
    np.testing.assert_allclose(matrix(frame), [[48]])  # 47 present, scaled to 48
    assert report.interval.negative_readings_set_missing == 1
    with pytest.raises(
        MeterDataError, match=r"negative reading -3 at data row 48 \(customer 'A'\)"
    ):
        read_meter_data(path, **LONG, negative_readings="error")


# ---------------------------------------------------------------------------------------------
# Long layout with day + period


def test_day_and_period_layout_with_a_long_daylight_saving_day(tmp_path):
    rows = [("A", "2014-10-25", p, 1) for p in range(1, 49)]
    rows += [("A", "2014-10-26", p, 2) for p in range(1, 51)]  # 25 hours: periods 49 and 50
    rows += [("B", "2014-10-25", p, "NA" if p == 7 else 0.5) for p in range(1, 49)]
    path = write_long(tmp_path / "m.csv", rows, "LCLid,day,period,kwh")
    frame, report = read_meter_data(path, **{**LONG, "date_column": "day"}, period_column="period")
    np.testing.assert_allclose(matrix(frame), [[48, 100], [0.5 * 47 * 48 / 47, np.nan]])
    assert report.interval.layout == "long, day + period"
    assert report.interval.daylight_saving_days == 1
    assert report.interval.interval_minutes == 30


def test_period_numbers_beyond_a_day_are_refused(tmp_path):
    rows = [("A", "2014-10-25", p, 1) for p in range(1, 49)] + [("A", "2014-10-25", 0, 1)]
    path = write_long(tmp_path / "m.csv", rows, "LCLid,day,period,kwh")
    with pytest.raises(MeterDataError, match=r"interval number 0.*data row 49 \(customer 'A'\)"):
        read_meter_data(path, **{**LONG, "date_column": "day"}, period_column="period")


def test_fifty_periods_on_an_ordinary_day_are_more_than_it_holds(tmp_path):
    rows = [("A", "2014-06-01", p, 1) for p in range(1, 51)]
    path = write_long(tmp_path / "m.csv", rows, "LCLid,day,period,kwh")
    options = {**LONG, "date_column": "day", "period_column": "period"}
    with pytest.raises(MeterDataError, match=r"'A' has 50 readings on 2014-06-01, more intervals"):
        read_meter_data(path, **options, timezone="Europe/London")


# ---------------------------------------------------------------------------------------------
# Wide interval layout


def write_wide_interval(path, headers: list[str], rows: list[list], extra: str = "") -> str:
    lines = [",".join(["customer_id", "date", *headers]) + extra]
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def clock_headers(ending: bool) -> list[str]:
    minutes = range(30, 1441, 30) if ending else range(0, 1440, 30)
    return [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]


@pytest.mark.parametrize(
    "headers",
    [clock_headers(ending=True), clock_headers(ending=False), [str(n) for n in range(1, 49)]],
    ids=["ending-clock", "starting-clock", "numbers"],
)
def test_wide_interval_rows_sum_to_days(tmp_path, headers):
    first = list(np.arange(48) / 2)  # sum 564
    second = ["Null", "-", "NA"] + [1] * 45  # 3 of 48 missing: 45 * 48 / 45 = 48
    rows = [
        ["A", "2014-01-01", *first],
        ["A", "2014-01-02", *second],
        ["B", "2014-01-02", *[2] * 48],
    ]
    frame, report = read_meter_data(
        write_wide_interval(tmp_path / "w.csv", headers, rows), min_days=1
    )
    assert report.layout == "wide-interval"
    assert report.id_column == "customer_id"
    np.testing.assert_allclose(matrix(frame), [[564, 48], [np.nan, 96]])
    assert report.interval.interval_minutes == 30
    assert report.interval.scaled_days == 1


def test_wide_interval_numbers_1_to_50_hold_the_long_day_and_extra_columns_are_ignored(tmp_path):
    headers = [str(n) for n in range(1, 51)]
    rows = [
        ["A", "2014-10-26", *[1] * 50, "A"],
        ["A", "2014-10-27", *[1] * 48, "", "", "A"],
    ]
    path = write_wide_interval(tmp_path / "w.csv", headers, rows, extra=",quality")
    frame, report = read_meter_data(path, min_days=1, max_missing_share=0)
    np.testing.assert_allclose(matrix(frame), [[50, 48]])
    assert report.interval.daylight_saving_days == 1
    assert report.interval.ignored_columns == ("quality",)


def test_wide_interval_hourly_parquet(tmp_path):
    headers = [f"{h:02d}:00" for h in range(1, 24)] + ["24:00"]
    frame = pd.DataFrame([["A", "2014/1/1", *range(24)]], columns=["CONS_NO", "date", *headers])
    frame.to_parquet(tmp_path / "w.parquet")
    result, report = read_meter_data(tmp_path / "w.parquet", min_days=1)
    np.testing.assert_allclose(matrix(result), [[sum(range(24))]])
    assert report.interval.interval_minutes == 60


def test_wide_interval_errors_name_row_column_and_value(tmp_path):
    headers = clock_headers(ending=True)
    rows = [["A", "2014-01-01", *[1] * 47, "oops"]]
    path = write_wide_interval(tmp_path / "w.csv", headers, rows)
    with pytest.raises(
        MeterDataError,
        match=r"non-numeric reading 'oops' in column '24:00', data row 1 \(customer 'A'\)",
    ):
        read_meter_data(path, min_days=1)
    rows = [["A", "2014-01-01", *[1] * 48], ["A", "2014-01-01", *[2] * 48]]
    with pytest.raises(
        MeterDataError, match=r"several rows for the same customer and day.*'A' on 2014-01-01"
    ):
        read_meter_data(write_wide_interval(tmp_path / "w.csv", headers, rows), min_days=1)
    rows = [["A", "someday", *[1] * 48]]
    with pytest.raises(MeterDataError, match=r"'someday' in 'date' is not a date, data row 1"):
        read_meter_data(write_wide_interval(tmp_path / "w.csv", headers, rows), min_days=1)


def test_interval_header_recognition():
    ausgrid = [f"{m // 60}:{m % 60:02d}" for m in range(30, 1440, 30)] + ["0:00"]
    names, positions, stamps = wide_interval_columns(["id", *ausgrid], ["id"])
    assert names == ausgrid and stamps.startswith("interval-ending")
    assert wide_interval_columns(["id", "00:00", "00:30", "01:00", "02:00"], ["id"]) is None
    assert wide_interval_columns(["id", "1", "2", "4", "5"], ["id"]) is None
    assert [nominal_periods(n) for n in (24, 25, 46, 48, 50, 96, 100)] == [
        24,
        24,
        48,
        48,
        48,
        96,
        96,
    ]
    assert positions.tolist() == list(range(48))


# ---------------------------------------------------------------------------------------------
# Missing strings in the daily layouts too


def test_missing_strings_in_daily_wide_and_long_layouts(tmp_path):
    days = pd.date_range("2014-01-01", periods=len(MISSING_STRINGS) + 1).strftime("%Y-%m-%d")
    cells = ["5", *MISSING_STRINGS]
    wide = tmp_path / "wide.csv"
    wide.write_text("CONS_NO," + ",".join(days) + "\nA," + ",".join(cells) + "\n")
    frame, _ = read_meter_data(wide, min_days=1)
    np.testing.assert_allclose(matrix(frame), [[5] + [np.nan] * len(MISSING_STRINGS)])
    long = write_long(
        tmp_path / "long.csv",
        list(zip(["A"] * len(days), days, cells, strict=True)),
        "customer_id,date,kwh",
    )
    frame, report = read_meter_data(long, min_days=1)
    assert report.layout == "long" and report.interval is None
    np.testing.assert_allclose(matrix(frame), [[5] + [np.nan] * len(MISSING_STRINGS)])
    pd.DataFrame({"customer_id": ["A"] * len(days), "date": days, "kwh": cells}).to_parquet(
        tmp_path / "l.parquet"
    )
    frame, _ = read_meter_data(tmp_path / "l.parquet", min_days=1)
    np.testing.assert_allclose(matrix(frame), [[5] + [np.nan] * len(MISSING_STRINGS)])
    wide.write_text("CONS_NO," + ",".join(days[:2]) + "\nA,5,n.a.\n")
    with pytest.raises(MeterDataError, match=r"non-numeric reading 'n.a.' in column '2014-01-02'"):
        read_meter_data(wide, min_days=1)


# ---------------------------------------------------------------------------------------------
# Bad input


def test_irregular_interval_names_customer_and_timestamp(tmp_path):
    stamps = half_hours("2014-01-01", 10)
    rows = day_rows("A", stamps, [1] * 10)
    rows += [("B", "2014-01-01 00:00:00", 1), ("B", "2014-01-01 00:30:00", 1)]
    rows += [("B", "2014-01-01 00:47:00", 1)]  # every 30 minutes, then 17
    with pytest.raises(
        MeterDataError,
        match=r"irregular interval: timestamp 2014-01-01 00:47:00 at data row 13 \(customer 'B'\) "
        r"is not on the file's 30-minute grid",
    ):
        read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)


@pytest.mark.parametrize("block_bytes", [16 << 20, 300])
def test_two_readings_at_one_timestamp(tmp_path, monkeypatch, block_bytes):
    monkeypatch.setattr(stream, "CSV_BLOCK_BYTES", block_bytes)  # same batch, and across batches
    rows = day_rows("A", half_hours("2014-01-01"), [1] * 48)
    rows += [("A", "2014-01-01 10:00:00", 2)]
    with pytest.raises(
        MeterDataError, match=r"two readings at the same timestamp: timestamp 2014-01-01 10:00:00"
    ) as raised:
        read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)
    assert "customer 'A'" in str(raised.value) and "data row 49" in str(raised.value)


def test_unparseable_timestamp(tmp_path):
    rows = day_rows("A", half_hours("2014-01-01", 4), [1] * 4) + [("A", "2014-01-01 25:00", 1)]
    with pytest.raises(
        MeterDataError,
        match=r"timestamp '2014-01-01 25:00' in 'tstp' does not parse, data row 5 \(customer 'A'\)",
    ):
        read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)
    rows[-1] = ("A", "yesterday 10:00", 1)
    with pytest.raises(MeterDataError, match=r"'yesterday 10:00' in 'tstp' does not parse"):
        read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)


def test_more_intervals_than_the_day_holds(tmp_path):
    """Naive London stamps at 01:00 and 01:30 on 2014-03-30 do not exist: 48 in a 46-slot day."""
    rows = day_rows("A", half_hours("2014-03-30"), [1] * 48)
    with pytest.raises(
        MeterDataError,
        match=r"customer 'A' has 48 readings on 2014-03-30, more intervals than the day holds "
        r"\(46 of 30 minutes\)",
    ):
        read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG, timezone="Europe/London")


def test_non_numeric_interval_reading_names_row_column_value(tmp_path):
    rows = day_rows("A", half_hours("2014-01-01", 4), ["1", "Null", "kaputt", "2"])
    with pytest.raises(
        MeterDataError,
        match=r"m.csv: non-numeric reading 'kaputt' in column 'kwh', data row 3 \(customer 'A'\)",
    ):
        read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval_stamps": "middle"}, r"interval_stamps must be one of \('start', 'end'\)"),
        ({"max_missing_share": 1.0}, r"max_missing_share must be a number in \[0, 1\)"),
        ({"max_missing_share": "lots"}, r"max_missing_share must be a number"),
        ({"timezone": "Mars/Olympus"}, r"timezone 'Mars/Olympus' is not a time zone name"),
        ({"period_column": "slot"}, r"no period column 'slot'"),
    ],
)
def test_bad_interval_options(tmp_path, options, message):
    path = write_long(tmp_path / "m.csv", day_rows("A", half_hours("2014-01-01", 2), [1, 2]))
    with pytest.raises(MeterDataError, match=message):
        read_meter_data(path, **LONG, **options)


def test_gzip_long_interval_file_and_mixed_offsets(tmp_path):
    import gzip

    rows = day_rows("A", half_hours("2014-01-01"), [0.5] * 48)
    plain = write_long(tmp_path / "m.csv", rows)
    zipped = tmp_path / "m.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    frame, report = read_meter_data(zipped, **LONG)
    np.testing.assert_allclose(matrix(frame), [[24]])
    assert report.file_format == "csv.gz"
    rows[5] = ("A", "2014-01-01T02:30:00+00:00", 0.5)
    with pytest.raises(MeterDataError, match=r"with and without a UTC offset are mixed"):
        read_meter_data(write_long(tmp_path / "mixed.csv", rows), **LONG)


def test_london_full_export_with_padded_header_and_values(tmp_path):
    """The trial's full file: extra columns, a header name with a trailing space, ' 0.2 ' cells."""
    lines = ["LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped"]
    for stamp in half_hours("2012-10-12"):
        lines.append(f"MAC000002,Std,{stamp}.0000000, 0.25 ,ACORN-A,Affluent")
    lines[5] = lines[5].replace(" 0.25 ", "Null")
    path = tmp_path / "CC_LCL-FullData.csv"
    path.write_text("\n".join(lines) + "\n")
    frame, report = read_meter_data(
        path, id_column="LCLid", date_column="DateTime", value_column="KWH/hh (per half hour)",
        min_days=1,
    )  # fmt: skip
    np.testing.assert_allclose(matrix(frame), [[0.25 * 47 * 48 / 47]])
    assert report.interval.scaled_days == 1


def test_irish_day_codes_ddd_hh(tmp_path):
    """CER style: 19503 is half hour 3 of day 195; day 1 is 2009-01-01, so day 195 is 2009-07-14."""
    rows = [("1392", 19500 + p, 0.5) for p in range(1, 49)]
    rows += [("1392", 19600 + p, "-" if p == 48 else 1) for p in range(1, 49)]
    path = write_long(tmp_path / "cer.csv", rows, "meter,code,kwh")
    options = {"id_column": "meter", "date_column": "code", "value_column": "kwh", "min_days": 1}
    frame, report = read_meter_data(path, **options, day_code_origin="2009-01-01")
    assert list(frame.columns[1:]) == ["2009-07-14", "2009-07-15"]
    np.testing.assert_allclose(matrix(frame), [[24, 47 * 48 / 47]])
    assert "DDDHH" in report.interval.layout and report.interval.interval_minutes == 30
    rows.append(("1392", 19503, 2))
    with pytest.raises(
        MeterDataError, match=r"two readings at the same timestamp: 2009-07-14 interval 3"
    ):
        read_meter_data(
            write_long(tmp_path / "cer.csv", rows, "meter,code,kwh"),
            **options,
            day_code_origin="2009-01-01",
        )
    rows[-1] = ("1392", "195x3", 2)
    with pytest.raises(MeterDataError, match=r"non-numeric reading '195x3' in column 'code'"):
        read_meter_data(
            write_long(tmp_path / "cer.csv", rows, "meter,code,kwh"),
            **options,
            day_code_origin="2009-01-01",
        )
    with pytest.raises(MeterDataError, match=r"day_code_origin must be a date"):
        read_meter_data(path, **options, day_code_origin="the start")
    with pytest.raises(MeterDataError, match=r"period_column or day_code_origin, not both"):
        read_meter_data(path, **options, day_code_origin="2009-01-01", period_column="code")


def test_a_file_sorted_by_time_is_interval_data_though_it_starts_at_midnight(tmp_path):
    """250 customers' midnight readings come first: the layout is told from the file's head."""
    stamps = half_hours("2014-01-01", 24, step="60min")
    rows = [(f"C{c:03d}", stamp, c % 3) for stamp in stamps for c in range(250)]
    frame, report = read_meter_data(write_long(tmp_path / "m.csv", rows), **LONG)
    assert report.interval.interval_minutes == 60
    np.testing.assert_allclose(matrix(frame)[:, 0], [24 * (c % 3) for c in range(250)])
