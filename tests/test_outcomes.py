"""ntl.outcomes: validation naming the lines, an append-only deduplicated store, labels from it."""

from __future__ import annotations

import pandas as pd
import pytest

from ntl import cli
from ntl.artifacts import ArtifactStore
from ntl.outcomes import (
    OutcomeError,
    add_outcomes,
    apply_outcome_labels,
    inspections_since,
    known_customers,
    normalise_outcome,
    outcome_labels,
    read_store,
)

KNOWN = pd.Index(["A1", "A2", "A3", "A4"])
TODAY = pd.Timestamp("2026-03-15")


def _write(path, rows: str, header: str = "customer,inspection_date,outcome,notes"):
    path.write_text(header + "\n" + rows)
    return path


def _store_files(store):
    return sorted(p.name for p in store.glob("*")) if store.exists() else []


def test_normalise_outcome_accepts_spellings_and_rejects_the_rest():
    words = pd.Series(["Theft", " no_theft ", "No-Theft", "NO THEFT", "maybe", ""])
    assert normalise_outcome(words).tolist()[:4] == ["theft", "no theft", "no theft", "no theft"]
    assert normalise_outcome(words).isna().tolist() == [False] * 4 + [True, True]


def test_add_records_a_batch_and_dedups_a_second_add(tmp_path):
    store = tmp_path / "outcomes"
    file = _write(tmp_path / "o.csv", "A1,2026-03-01,theft,meter bypass\nA2,2026-03-02,no theft,\n")
    first = add_outcomes(file, KNOWN, store, today=TODAY)
    assert (first.rows_in_file, first.added, first.duplicates) == (2, 2, 0)
    recorded = read_store(store)
    assert recorded["customer"].tolist() == ["A1", "A2"]
    assert recorded["notes"].tolist() == ["meter bypass", ""]
    assert recorded["inspection_date"].tolist() == [
        pd.Timestamp("2026-03-01"),
        pd.Timestamp("2026-03-02"),
    ]
    batch_text = first.batch.read_text()
    second = add_outcomes(file, KNOWN, store, today=TODAY)
    assert (second.added, second.duplicates, second.batch) == (0, 2, None)
    assert first.batch.read_text() == batch_text  # never rewritten
    assert len(_store_files(store)) == 1


def test_a_file_repeating_a_row_records_it_once(tmp_path):
    file = _write(tmp_path / "o.csv", "A1,2026-03-01,theft,\nA1,2026-03-01,Theft,\n")
    result = add_outcomes(file, KNOWN, tmp_path / "s", today=TODAY)
    assert result.added == 1
    assert len(read_store(tmp_path / "s")) == 1


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("A1,2026-03-01,theft,\nZZ9,2026-03-01,theft,\n", "line 3: unknown customer(s) ['ZZ9']"),
        ("A1,2026-04-01,theft,\n", "line 2: inspection_date after today (2026-03-15)"),
        ("A1,yesterday,theft,\n", "line 2: inspection_date is not a date"),
        ("A1,2026-03-01,perhaps,\n", "line 2: outcome must be 'theft' or 'no theft'"),
        (",2026-03-01,theft,\n", "line 2: no customer"),
        (
            "A1,2026-03-01,theft,\nA2,2026-03-01,theft,\nA1,2026-03-01,no theft,\n",
            "lines 2, 4: conflicting outcomes for the same customer and inspection_date",
        ),
    ],
)
def test_each_kind_of_bad_row_is_named_and_nothing_changes(tmp_path, rows, message):
    store = tmp_path / "outcomes"
    add_outcomes(_write(tmp_path / "good.csv", "A3,2026-01-01,theft,\n"), KNOWN, store, today=TODAY)
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    with pytest.raises(OutcomeError) as raised:
        add_outcomes(_write(tmp_path / "bad.csv", rows), KNOWN, store, today=TODAY)
    assert message in str(raised.value)
    assert "nothing was recorded" in str(raised.value)
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before


def test_a_conflict_with_the_store_is_an_error(tmp_path):
    store = tmp_path / "outcomes"
    add_outcomes(_write(tmp_path / "a.csv", "A1,2026-03-01,theft,\n"), KNOWN, store, today=TODAY)
    with pytest.raises(OutcomeError, match="line 3: outcome conflicts with the one already"):
        add_outcomes(
            _write(tmp_path / "b.csv", "A2,2026-03-01,theft,\nA1,2026-03-01,no theft,\n"),
            KNOWN,
            store,
            today=TODAY,
        )
    assert len(read_store(store)) == 1


def test_missing_columns_empty_and_absent_files(tmp_path):
    with pytest.raises(OutcomeError, match="missing column.s. outcome"):
        add_outcomes(
            _write(tmp_path / "a.csv", "A1,2026-03-01\n", header="CONS_NO,inspection_date"),
            KNOWN,
            tmp_path / "s",
        )
    with pytest.raises(OutcomeError, match="no outcome rows"):
        add_outcomes(_write(tmp_path / "b.csv", ""), KNOWN, tmp_path / "s")
    with pytest.raises(OutcomeError, match="no such outcome file"):
        add_outcomes(tmp_path / "none.csv", KNOWN, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_newest_outcome_per_customer_wins(tmp_path):
    store = tmp_path / "outcomes"
    add_outcomes(
        _write(tmp_path / "a.csv", "A1,2026-02-01,no theft,\nA2,2026-02-01,theft,\n"),
        KNOWN,
        store,
        today=TODAY,
    )
    add_outcomes(
        _write(tmp_path / "b.csv", "A1,2026-03-01,theft,\nA2,2026-01-01,no theft,\n"),
        KNOWN,
        store,
        today=TODAY,
    )
    labels = outcome_labels(read_store(store))
    assert labels.to_dict() == {"A1": 1, "A2": 1}  # A2: the older visit came in later
    assert len(inspections_since(read_store(store), pd.Timestamp("2026-02-01"))) == 3


def test_apply_outcome_labels_counts_and_leaves_the_input_alone():
    consumption = pd.DataFrame(
        {"FLAG": pd.array([0, 1, pd.NA, 0], dtype="Int8"), "2026-01-01": [1.0, 2.0, 3.0, 4.0]},
        index=pd.Index(["A1", "A2", "A3", "A4"], name="CONS_NO"),
    )
    labels = pd.Series([1, 1, 0], index=pd.Index(["A1", "A2", "A3"]), dtype="Int8")
    labelled, counts = apply_outcome_labels(consumption, labels)
    assert labelled["FLAG"].tolist() == [1, 1, 0, 0]
    assert counts == {"from_inspections": 3, "changed_by_inspections": 2, "from_file": 1}
    assert consumption["FLAG"].iloc[0] == 0


def test_cli_outcomes_add_names_rows_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NTL_PROJECT_DIR", str(tmp_path / "project"))
    run = tmp_path / "run"
    frame = pd.DataFrame(
        {"FLAG": pd.array([0, 1], dtype="Int8"), "2026-01-01": [1.0, 2.0]},
        index=pd.Index(["A1", "A2"], name="CONS_NO"),
    )
    ArtifactStore(run, notebook="01_data_generation_eda").write_parquet(
        "consumption.parquet", frame
    )
    assert known_customers(run).tolist() == ["A1", "A2"]
    bad = _write(tmp_path / "bad.csv", "A1,2020-01-01,theft,\nB7,2020-01-01,theft,\n")
    assert cli.main(["outcomes", "add", str(bad), "--artifacts", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 3: unknown customer(s) ['B7']" in err
    assert not (tmp_path / "project" / "outcomes").exists()
    good = _write(tmp_path / "good.csv", "A1,2020-01-01,theft,\n")
    assert cli.main(["outcomes", "add", str(good), "--artifacts", str(run)]) == 0
    assert "1 outcome(s) recorded" in capsys.readouterr().out
    assert cli.main(["outcomes", "show"]) == 0
    assert "1 outcomes recorded" in capsys.readouterr().out
    from ntl import champion

    monkeypatch.setattr(champion, "DEFAULT_RUN", str(tmp_path / "no_run"))
    assert cli.main(["outcomes", "add", str(good)]) == 2  # no champion, no --artifacts
    assert f"error: {tmp_path / 'no_run'}" in capsys.readouterr().err
