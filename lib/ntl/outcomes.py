"""Inspection outcomes: an append-only store of what the inspectors found, and labels from it.

A revenue-protection team inspects the customers at the top of the list and comes back with an
outcome per visit: theft found or not. ``ntl outcomes add FILE`` records those results so that the
next training (``ntl retrain``) learns from them and ``ntl monitor`` can measure the hit rate of
the inspections made since training.

The store is a folder of batch files (``outcomes/outcomes-<UTC time>-<sha>.csv``), one per
accepted ``add``. A batch is written atomically and never rewritten; reading the store reads every
batch in order. A file is validated as a whole before anything is written: unknown customers,
dates that do not parse or lie in the future, outcomes other than theft / no theft and two
different outcomes for one inspection (customer and date) are errors naming the file's lines, and
the store stays as it was. Rows already recorded are dropped (deduplicated), so adding the same
file twice adds nothing.

Labels from outcomes: the newest inspection of each customer wins (an inspection is fresher
evidence than the label in the meter export, and a later visit than an earlier one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ntl.artifacts import atomic_write
from ntl.errors import MeterDataError, ParameterError
from ntl.frame import ID_COLUMN, LABEL_COLUMN

COLUMNS = ("customer", "inspection_date", "outcome", "notes")
CUSTOMER_ALIASES = ("customer", "customer_id", ID_COLUMN)
OUTCOME_WORDS = {"theft": 1, "no theft": 0}
BATCH_PATTERN = "outcomes-*.csv"
MAX_ROWS_NAMED = 10


class OutcomeError(MeterDataError):
    """An outcome file that cannot be recorded; the message names its lines."""


@dataclass
class AddResult:
    """What one ``add`` did: rows in the file, new rows recorded, duplicates dropped, batch."""

    rows_in_file: int
    added: int
    duplicates: int
    batch: Path | None


def _lines(positions: Iterable[int]) -> str:
    """File line numbers (header is line 1) of data-row positions, the first few of them."""
    numbers = [int(p) + 2 for p in positions]
    shown = ", ".join(str(n) for n in numbers[:MAX_ROWS_NAMED])
    more = f" and {len(numbers) - MAX_ROWS_NAMED} more" if len(numbers) > MAX_ROWS_NAMED else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def normalise_outcome(values: pd.Series) -> pd.Series:
    """'Theft', 'no_theft', ' No-Theft ' -> 'theft' / 'no theft'; anything else -> NA."""
    words = (
        values.astype("string").str.strip().str.lower().str.replace(r"[_\-\s]+", " ", regex=True)
    )
    return words.where(words.isin(list(OUTCOME_WORDS)))


def read_outcome_file(path: str | Path) -> pd.DataFrame:
    """An outcome file (CSV) as a frame of the four columns, every cell as text.

    Raises OutcomeError when the file is missing, unreadable, empty or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise OutcomeError(f"{path}: no such outcome file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise OutcomeError(f"{path}: not a readable CSV file ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    customer = next((c for c in CUSTOMER_ALIASES if c in raw.columns), None)
    missing = [c for c in ("inspection_date", "outcome") if c not in raw.columns]
    if customer is None:
        missing.insert(0, "customer")
    if missing:
        raise OutcomeError(
            f"{path}: missing column(s) {', '.join(missing)}; an outcome file has columns "
            "customer (or CONS_NO), inspection_date, outcome (theft / no theft) and optional notes"
        )
    if raw.empty:
        raise OutcomeError(f"{path}: no outcome rows")
    notes = raw["notes"] if "notes" in raw.columns else pd.Series("", index=raw.index)
    return pd.DataFrame(
        {
            "customer": raw[customer].str.strip(),
            "inspection_date": raw["inspection_date"].str.strip(),
            "outcome": raw["outcome"],
            "notes": notes.fillna(""),
        }
    )


def validate_outcomes(
    raw: pd.DataFrame,
    known_customers: pd.Index,
    *,
    source: str = "outcome file",
    today: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Check every row of `raw` (from ``read_outcome_file``); return the clean frame.

    Clean: customer (str), inspection_date (datetime64, day), outcome ('theft' / 'no theft'),
    notes (str). Raises OutcomeError listing each kind of bad row with its file lines.
    """
    today = (today or pd.Timestamp(datetime.now(timezone.utc).date())).normalize()
    problems = []
    blank = raw["customer"].eq("").to_numpy()
    if blank.any():
        problems.append(f"{_lines(np.flatnonzero(blank))}: no customer")
    unknown = ~blank & ~raw["customer"].isin(known_customers.astype(str)).to_numpy()
    if unknown.any():
        names = raw.loc[unknown, "customer"].unique()[:5].tolist()
        problems.append(f"{_lines(np.flatnonzero(unknown))}: unknown customer(s) {names}")
    dates = pd.to_datetime(raw["inspection_date"], errors="coerce", format="ISO8601")
    undated = dates.isna().to_numpy()
    if undated.any():
        problems.append(f"{_lines(np.flatnonzero(undated))}: inspection_date is not a date")
    dates = dates.dt.normalize()
    future = (dates > today).to_numpy()
    if future.any():
        problems.append(
            f"{_lines(np.flatnonzero(future))}: inspection_date after today ({today:%Y-%m-%d})"
        )
    outcome = normalise_outcome(raw["outcome"])
    bad_outcome = outcome.isna().to_numpy()
    if bad_outcome.any():
        problems.append(
            f"{_lines(np.flatnonzero(bad_outcome))}: outcome must be 'theft' or 'no theft'"
        )
    clean = pd.DataFrame(
        {
            "customer": raw["customer"].astype(str),
            "inspection_date": dates,
            "outcome": outcome.astype(object),
            "notes": raw["notes"].astype(str),
        }
    )
    usable = ~(blank | undated | bad_outcome)
    conflict = _conflicting(clean[usable])
    if conflict.size:
        problems.append(
            f"{_lines(np.flatnonzero(usable)[conflict])}: conflicting outcomes for the same "
            "customer and inspection_date"
        )
    if problems:
        raise OutcomeError(f"{source}: " + "; ".join(problems) + "; nothing was recorded")
    return clean.reset_index(drop=True)


def _conflicting(frame: pd.DataFrame) -> np.ndarray:
    """Positions of rows whose (customer, date) carries more than one distinct outcome."""
    if frame.empty:
        return np.empty(0, dtype=np.int64)
    distinct = frame.groupby(["customer", "inspection_date"])["outcome"].transform("nunique")
    return np.flatnonzero(distinct.to_numpy() > 1)


def read_store(store_dir: str | Path) -> pd.DataFrame:
    """Every recorded outcome, batch by batch in the order they were added (empty when none)."""
    batches = sorted(Path(store_dir).glob(BATCH_PATTERN))
    frames = [
        pd.read_csv(batch, dtype=str, keep_default_na=False).assign(batch=batch.name)
        for batch in batches
    ]
    if not frames:
        return pd.DataFrame(
            {
                "customer": pd.Series(dtype=object),
                "inspection_date": pd.Series(dtype="datetime64[ns]"),
                "outcome": pd.Series(dtype=object),
                "notes": pd.Series(dtype=object),
                "batch": pd.Series(dtype=object),
            }
        )
    store = pd.concat(frames, ignore_index=True)
    store["inspection_date"] = pd.to_datetime(store["inspection_date"], format="%Y-%m-%d")
    return store


def add_outcomes(
    path: str | Path,
    known_customers: pd.Index,
    store_dir: str | Path,
    *,
    today: pd.Timestamp | None = None,
) -> AddResult:
    """Validate the outcome file at `path` and append its new rows to the store as one batch.

    Rows that repeat a recorded inspection with the same outcome are dropped; a different outcome
    for a recorded inspection is a conflict (OutcomeError naming the lines, nothing written).
    """
    raw = read_outcome_file(path)
    clean = validate_outcomes(raw, known_customers, source=str(path), today=today)
    recorded = read_store(store_dir)
    key = ["customer", "inspection_date"]
    merged = clean.reset_index().merge(
        recorded[[*key, "outcome"]].drop_duplicates(), on=key, how="left", suffixes=("", "_rec")
    )
    clash = merged["outcome_rec"].notna() & (merged["outcome_rec"] != merged["outcome"])
    if clash.any():
        raise OutcomeError(
            f"{path}: {_lines(merged.loc[clash, 'index'].unique())}: outcome conflicts with the "
            f"one already recorded for that customer and inspection_date in {store_dir}; "
            "nothing was recorded"
        )
    seen = set(merged.loc[merged["outcome_rec"].notna(), "index"])
    fresh = clean[~clean.index.isin(seen)].drop_duplicates(subset=["customer", "inspection_date"])
    if fresh.empty:
        return AddResult(len(clean), 0, len(clean), None)
    text = fresh.assign(inspection_date=fresh["inspection_date"].dt.strftime("%Y-%m-%d")).to_csv(
        index=False
    )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    batch = Path(store_dir) / f"outcomes-{stamp}-{digest}.csv"
    atomic_write(batch, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return AddResult(len(clean), len(fresh), len(clean) - len(fresh), batch)


def outcome_labels(store: pd.DataFrame) -> pd.Series:
    """FLAG per customer from the outcomes: the newest inspection wins (1 theft, 0 no theft)."""
    if store.empty:
        return pd.Series(dtype="Int8", name=LABEL_COLUMN, index=pd.Index([], name=ID_COLUMN))
    ordered = store.reset_index(drop=True).sort_values(
        ["inspection_date"], kind="stable"
    )  # ties keep the order of addition: the later batch wins
    newest = ordered.drop_duplicates("customer", keep="last").set_index("customer")["outcome"]
    flag = newest.map(OUTCOME_WORDS).astype("Int8").rename(LABEL_COLUMN)
    flag.index = pd.Index(flag.index.astype(str), name=ID_COLUMN)
    return flag.sort_index()


def apply_outcome_labels(
    consumption: pd.DataFrame, labels: pd.Series
) -> tuple[pd.DataFrame, dict[str, int]]:
    """`consumption` with FLAG replaced by the outcome label wherever a customer has one.

    Returns the new frame (the input is not changed) and counts: labels from inspections,
    of which changed the file's label, and labels from the file.
    """
    if labels.index.has_duplicates:
        raise ParameterError("outcome labels must have one label per customer")
    result = consumption.copy()
    file_flag = (
        result[LABEL_COLUMN].astype("Int8")
        if LABEL_COLUMN in result.columns
        else pd.Series(pd.NA, index=result.index, dtype="Int8")
    )
    from_outcomes = labels.reindex(result.index)
    inspected = from_outcomes.notna().to_numpy()
    changed = inspected & (file_flag.fillna(-1).to_numpy() != from_outcomes.fillna(-1).to_numpy())
    flag = file_flag.where(~inspected, from_outcomes).astype("Int8")
    if LABEL_COLUMN in result.columns:
        result[LABEL_COLUMN] = flag
    else:
        result.insert(0, LABEL_COLUMN, flag)
    counts = {
        "from_inspections": int(inspected.sum()),
        "changed_by_inspections": int(changed.sum()),
        "from_file": int((~inspected & file_flag.notna().to_numpy()).sum()),
    }
    return result, counts


def inspections_since(store: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """Recorded inspections dated on or after `since` (the newest per inspection)."""
    if store.empty:
        return store
    return store[store["inspection_date"] >= pd.Timestamp(since).normalize()]


def known_customers(artifacts_dir: str | Path) -> pd.Index:
    """The customers of a run (its consumption.parquet, hash checked): who may have outcomes."""
    from ntl.artifacts import ArtifactStore

    store = ArtifactStore(artifacts_dir, notebook="outcomes")
    store.check_compatible()
    if not store.exists("consumption.parquet") and store.exists("consumption_dataset.json"):
        return store.read_parquet("split.parquet").index.astype(str)  # Dask path: every customer
    return store.read_parquet("consumption.parquet", columns=[LABEL_COLUMN]).index.astype(str)
