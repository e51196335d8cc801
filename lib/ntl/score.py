"""Score new meter data with a finished run's artifacts: the ranked list and a drift report.

The path is the chain's own: ``ntl.io.read_meter_data`` reads the file, the saved
``Preprocessor.transform`` (02) makes the features, the saved ``ModelBundle.score`` (03) scores,
``ntl.thresholds.assign_tiers`` sets the tiers and ``ntl.risk.build_inspection_list`` (04) explains
and ranks. Nothing is re-fitted, so the same customers get the same scores as in the chain.

Reasons use exact TreeSHAP, which costs about a millisecond per customer: by default the high tier
(the customers to inspect this period) and the medium tier (the watch list) get reason codes and
the list says so for the others; ``reasons_for_top`` changes that.

Speed (42k customers x 1,035 days in under 10 s on two cores): scikit-learn and XGBoost take
seconds to import, so this module imports them (through ``ntl.models``, ``ntl.risk``,
``ntl.artifacts``) only inside the functions that need them, and ``score_file`` loads the artifacts
on a worker thread while the main thread parses the input file.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ntl._version import __version__
from ntl.drift import ALERT_PSI, drift_messages, drift_report, too_few_message
from ntl.errors import MeterDataError, NtlError, ParameterError
from ntl.frame import ID_COLUMN, LABEL_COLUMN, build_frame, day_index
from ntl.io import (
    MAX_DAILY_KWH,
    LoadReport,
    check_history_length,
    handle_negative_readings,
    parse_day_labels,
    place_on_calendar,
    read_meter_data,
    set_implausible_missing,
)
from ntl.tables import write_safe_csv
from ntl.thresholds import TIERS, assign_tiers, tier_codes

if TYPE_CHECKING:
    from tqdm import tqdm

    from ntl.artifacts import ArtifactStore
    from ntl.explain import BaselineReference
    from ntl.models import ModelBundle
    from ntl.preprocess import Preprocessor

READ_OPTIONS = (
    "layout",
    "id_column",
    "label_column",
    "date_column",
    "value_column",
    "negative_readings",
    "min_days",
    "period_column",
    "day_code_origin",
    "timezone",
    "interval_stamps",
    "max_missing_share",
    "max_daily_kwh",
)
CHUNK_ROWS = 10_000  # customers preprocessed per progress step
NOTE_COLUMN = "note"  # why a row of the scored list needs a second look (empty: nothing to say)
NOT_SCORED_TIER = "not scored"
NO_READING_NOTE = "not scored: no reading in the file"
IN_SAMPLE_NOTE = (
    "in-sample: a training customer of these models; its chain score (out-of-fold) is in the "
    "run's inspection_list.csv"
)


@dataclass
class ScoringArtifacts:
    """What scoring needs from a run folder, loaded once (hashes and versions checked)."""

    store: ArtifactStore
    preprocessor: Preprocessor
    bundle: ModelBundle
    thresholds: dict[str, Any]
    drift_baseline: dict[str, Any] | None
    training_ids: pd.Index | None = None  # the customers the final models were fitted on

    @functools.cached_property
    def baseline_reference(self) -> BaselineReference | None:
        """The drift baseline's typical values and middle halves, read once for every request."""
        from ntl.explain import BaselineReference

        if not self.drift_baseline:
            return None
        return BaselineReference.of(self.drift_baseline["features"])

    @property
    def min_days(self) -> int:
        """The shortest history the preprocessing accepts."""
        return int(self.preprocessor.config.min_history_days)


def load_scoring_artifacts(artifacts_dir: str | Path) -> ScoringArtifacts:
    """Load preprocessing, models, thresholds and (when 04 ran) the drift baseline.

    Raises MissingArtifactError for a folder the chain has not filled, ArtifactVersionError for
    artifacts written by an incompatible ``ntl``, RunLockedError while a run writes the folder or
    when its last run did not finish, and ArtifactLineageError for a folder that mixes runs.
    """
    from ntl.artifacts import ArtifactStore
    from ntl.models import load_model_bundle
    from ntl.persist import load_preprocessor
    from ntl.runlock import check_folder_settled

    store = ArtifactStore(artifacts_dir, notebook="score")
    check_folder_settled(artifacts_dir)
    store.check_compatible()
    preprocessor = load_preprocessor(store)
    bundle = load_model_bundle(store, baselines=False)
    thresholds = store.read_json("thresholds.json")
    baseline = (
        store.read_json("drift_baseline.json") if store.exists("drift_baseline.json") else None
    )
    return ScoringArtifacts(
        store, preprocessor, bundle, thresholds, baseline, training_customers(store)
    )


def training_customers(store: ArtifactStore) -> pd.Index | None:
    """CONS_NO of the run's training split (None when the run kept no split)."""
    from ntl.models.chain import SPLIT_ARTIFACT
    from ntl.split import SPLIT_COLUMN

    if not store.exists(SPLIT_ARTIFACT):
        return None
    split = store.read_parquet(SPLIT_ARTIFACT)[SPLIT_COLUMN]
    return split.index[split.astype(str).to_numpy() == "train"]


def mark_in_sample(ranked: pd.DataFrame, training_ids: pd.Index | None) -> int:
    """Note, in place, the rows that are training customers scored in-sample; return how many.

    The final models saw those customers' labels, so their scores are inflated (a known thief
    scores near 1) and they crowd the high tier; the chain's list gives them out-of-fold scores.
    """
    if NOTE_COLUMN not in ranked.columns:
        ranked[NOTE_COLUMN] = ""
    if training_ids is None or len(training_ids) == 0:
        return 0
    in_sample = ranked["CONS_NO"].astype(str).isin(training_ids.astype(str)).to_numpy()
    ranked.loc[in_sample, NOTE_COLUMN] = IN_SAMPLE_NOTE
    return int(in_sample.sum())


def with_unscored(ranked: pd.DataFrame, ids: list[str], note: str) -> pd.DataFrame:
    """The ranked list with one row per customer in `ids` appended: no score, tier "not scored".

    Every customer of the input appears in the output; these come last, without a rank.
    """
    if NOTE_COLUMN not in ranked.columns:
        ranked = ranked.assign(**{NOTE_COLUMN: ""})
    if not ids:
        return ranked
    missing = pd.DataFrame({column: pd.Series(dtype=ranked[column].dtype) for column in ranked})
    missing = missing.reindex(range(len(ids)))
    missing["CONS_NO"] = ids
    missing["tier"] = NOT_SCORED_TIER
    missing[NOTE_COLUMN] = note
    for column in ranked.columns:
        if column.startswith("reason_"):
            missing[column] = ""
    ranked = ranked.astype({"rank": "Int64"}) if "rank" in ranked.columns else ranked
    return pd.concat([ranked, missing.astype({"rank": "Int64"})], ignore_index=True)


def _artifacts(artifacts: str | Path | ScoringArtifacts) -> ScoringArtifacts:
    return (
        artifacts if isinstance(artifacts, ScoringArtifacts) else load_scoring_artifacts(artifacts)
    )


def _unknown_read_options(read_options: Mapping[str, Any] | None) -> list[str]:
    return sorted(set(read_options or {}) - set(READ_OPTIONS))


def _check_read_options(read_options: Mapping[str, Any] | None, min_days: int) -> dict[str, Any]:
    options = dict(read_options or {})
    unknown = _unknown_read_options(options)
    if unknown:
        raise ParameterError(f"unknown read options {unknown}; known: {list(READ_OPTIONS)}")
    options.setdefault("min_days", min_days)
    if options["min_days"] < min_days:
        raise ParameterError(
            f"min_days={options['min_days']} is below the {min_days} days the preprocessing needs"
        )
    return options


def preprocess_in_chunks(
    preprocessor: Preprocessor,
    consumption: pd.DataFrame,
    progress: tqdm | None = None,
    implausible: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Preprocessor.transform over blocks of customers (every feature is per customer, so the
    result equals one transform of the whole frame); the progress bar advances per block.
    `implausible`: the load report's readings set missing per customer (quality flags)."""
    blocks = []
    for start in range(0, len(consumption), CHUNK_ROWS):
        block = consumption.iloc[start : start + CHUNK_ROWS]
        blocks.append(preprocessor.transform(block, implausible=implausible))
        if progress is not None:
            progress.update(1)
    return blocks[0] if len(blocks) == 1 else pd.concat(blocks)


def history_notes(consumption: pd.DataFrame, preprocessor: Preprocessor) -> list[str]:
    """Warnings when the new history is much shorter than the one the models learned from."""
    return history_notes_for(len(day_index(consumption)), preprocessor)


def history_notes_for(days: int, preprocessor: Preprocessor) -> list[str]:
    """`history_notes` from the number of days of the new history."""
    trained_days = int(preprocessor.fitted_on.get("days", 0) or 0)
    notes = []
    if trained_days and days < 0.5 * trained_days:
        notes.append(
            f"note: {days} days of history against {trained_days} at training; features that need "
            "long histories (year-over-year, seasonality) are missing or noisier, so scores shift"
        )
    return notes


@dataclass
class ScoredData:
    """Everything one scoring pass produces."""

    inspection_list: pd.DataFrame
    preprocessed: pd.DataFrame
    scores: pd.DataFrame
    drift: pd.DataFrame | None


def score_consumption(
    consumption: pd.DataFrame,
    artifacts: str | Path | ScoringArtifacts,
    *,
    reasons_for_top: int | None = None,
    progress: tqdm | None = None,
    with_drift: bool = True,
    implausible: Mapping[str, int] | None = None,
) -> ScoredData:
    """Preprocess, score, tier, explain and rank a canonical consumption frame; drift vs baseline
    (unless `with_drift` is False: one customer is no population to compare). `implausible`:
    the load report's implausible readings per customer, which make their quality LOW."""
    loaded = _artifacts(artifacts)
    preprocessed = preprocess_in_chunks(loaded.preprocessor, consumption, progress, implausible)
    if progress is not None:
        progress.set_postfix_str("score")
    scores = loaded.bundle.score(preprocessed)
    tiers, known = scored_tiers(preprocessed, scores, loaded)
    _step(progress, "explain")
    ranked = explain_and_rank(
        consumption, preprocessed, scores, tiers, known, loaded, reasons_for_top
    )
    _step(progress, "drift")
    drift = None
    if with_drift and loaded.drift_baseline is not None:
        n_days = len(day_index(consumption))
        drift = drift_report(loaded.drift_baseline, preprocessed, scores, n_days=n_days)
    _step(progress, "write")
    return ScoredData(ranked, preprocessed, scores, drift)


def scored_tiers(
    preprocessed: pd.DataFrame, scores: pd.DataFrame, loaded: ScoringArtifacts
) -> tuple[pd.Series, pd.Series]:
    """The tier of each customer and whether it is a known thief (the input's FLAG 1: a case,
    not a lead, tier KNOWN_TIER)."""
    from ntl.risk import KNOWN_TIER, known_thieves

    tiers = assign_tiers(scores["risk_score"], loaded.thresholds)
    known = known_thieves(preprocessed[LABEL_COLUMN])
    if known.any():
        tiers = tiers.astype(str).where(~known, KNOWN_TIER)
    return tiers, known


def explain_and_rank(
    consumption: pd.DataFrame,
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    tiers: pd.Series,
    known: pd.Series,
    loaded: ScoringArtifacts,
    reasons_for_top: int | None,
) -> pd.DataFrame:
    """Reasons and the ranked list of customers scored on one calendar (04's builder), the
    known cases last."""
    from ntl.risk import build_inspection_list, with_known_cases

    baseline_features = loaded.drift_baseline["features"] if loaded.drift_baseline else None
    ranked = build_inspection_list(
        preprocessed,
        scores,
        tiers,
        loaded.bundle,
        day_index(consumption)[-1],
        config=loaded.preprocessor.config,
        baseline_features=baseline_features,
        reasons_for_top=reasons_for_top,
        consumption=consumption,
    )
    return with_known_cases(ranked, known)


def _step(progress: tqdm | None, next_stage: str) -> None:
    """Count one finished stage on the progress bar and name the next one."""
    if progress is not None:
        progress.update(1)
        progress.set_postfix_str(next_stage)


def output_paths(out_path: str | Path, drift_path: str | Path | None) -> tuple[Path, Path, Path]:
    """CSV, parquet (beside it, same stem) and drift JSON (default <stem>_drift.json) paths."""
    out = Path(out_path)
    csv_path = out.with_suffix(".csv") if out.suffix.lower() == ".parquet" else out
    parquet_path = csv_path.with_suffix(".parquet")
    drift = Path(drift_path) if drift_path else csv_path.with_name(f"{csv_path.stem}_drift.json")
    return csv_path, parquet_path, drift


@dataclass
class ScoringSummary:
    """How many of the input's customers were scored, and which need a second look."""

    customers_in_file: int
    scored: int
    not_scored: int  # no reading at all in the file: listed last, tier "not scored"
    in_sample: int  # training customers of the models, scored in-sample

    def messages(self) -> list[str]:
        """The sentences the CLI prints: the count line, then a warning per kind of problem."""
        lines = [f"scored {self.scored:,} of {self.customers_in_file:,} customers"]
        if self.not_scored:
            lines.append(
                f"warning: {self.not_scored:,} customer(s) have no reading in the file and could "
                f"not be scored; they are listed last with tier {NOT_SCORED_TIER!r} and the reason"
            )
        if self.in_sample:
            lines.append(
                f"warning: {self.in_sample:,} customer(s) are training customers of these models "
                "and were scored in-sample: the models saw their labels, so their scores are "
                "inflated and they crowd the high tier (see the 'note' column); their honest "
                "(out-of-fold) scores are in the chain's inspection_list.csv"
            )
        return lines


def check_outputs(
    input_path: str | Path,
    artifacts_dir: str | Path,
    out_path: str | Path,
    drift_path: str | Path | None,
) -> tuple[Path, Path, Path]:
    """The three output paths, refused (ParameterError) when one would land on the input, on
    another output of this call or inside the artifacts folder, or cannot be written."""
    from ntl.outputs import check_output_paths

    csv_path, parquet_path, json_path = output_paths(out_path, drift_path)
    check_output_paths(
        [
            ("--out", csv_path),
            ("--out's parquet copy", parquet_path),
            ("--drift-out" if drift_path else "--out's drift report", json_path),
        ],
        inputs=[input_path],
        protected_folders=[artifacts_dir],
    )
    return csv_path, parquet_path, json_path


def drift_document(
    drift: pd.DataFrame | None,
    consumption: pd.DataFrame,
    source: str,
    artifacts_dir: str | Path,
    summary: ScoringSummary | None = None,
) -> dict[str, Any]:
    """The drift report as JSON-ready data, with what was scored against what."""
    dates = day_index(consumption)
    return drift_summary(
        drift,
        n_customers=len(consumption),
        first_day=dates[0].strftime("%Y-%m-%d"),
        last_day=dates[-1].strftime("%Y-%m-%d"),
        source=source,
        artifacts_dir=artifacts_dir,
        summary=summary,
    )


def drift_summary(
    drift: pd.DataFrame | None,
    *,
    n_customers: int,
    first_day: str,
    last_day: str,
    source: str,
    artifacts_dir: str | Path,
    summary: ScoringSummary | None = None,
) -> dict[str, Any]:
    """`drift_document` from the population's size and calendar (the Dask path has no frame)."""
    document: dict[str, Any] = {
        "ntl_version": __version__,
        "input": source,
        "artifacts": str(artifacts_dir),
        "n_customers": int(n_customers),
        **({"scoring": vars(summary).copy()} if summary is not None else {}),
        "first_day": first_day,
        "last_day": last_day,
        "alert_threshold": ALERT_PSI,
    }
    if drift is None:
        document |= {
            "available": False,
            "reason": "no drift_baseline.json (run 04_evaluation_risk)",
        }
        return document
    records = drift.replace({np.nan: None}).to_dict(orient="records")
    document |= {
        "available": True,
        "history": drift.attrs.get("history", {}),
        "messages": drift_messages(drift),
        "judged": too_few_message(drift) is None,
        "min_customers": drift.attrs.get("min_customers"),
        "alerts": drift.loc[drift["alert"], "variable"].tolist(),
        "variables": records,
    }
    if too_few_message(drift):
        document["reason"] = too_few_message(drift)
    return document


@dataclass
class ScoredInput:
    """One meter file scored, nothing written: the frame read, the scoring pass, the drift
    report as JSON-ready data and the notes on its history."""

    consumption: pd.DataFrame
    scored: ScoredData
    drift_document: dict[str, Any]
    notes: list[str]
    inspection_list: pd.DataFrame  # every customer of the input: the scored ones ranked, then
    summary: ScoringSummary  # the unscorable ones (tier "not scored", with the reason)


def score_input(
    input_path: str | Path,
    artifacts: str | Path | ScoringArtifacts,
    *,
    source: str | None = None,
    read_options: Mapping[str, Any] | None = None,
    reasons_for_top: int | None = None,
    progress: tqdm | None = None,
) -> ScoredInput:
    """Read and score a meter export without writing anything: the one path behind ``ntl score``
    and the web app. `source` names the input in the drift report (default: the path).
    """
    loaded, consumption, report = read_while_loading(input_path, artifacts, read_options)
    if progress is not None:
        progress.total = 5 + math.ceil(len(consumption) / CHUNK_ROWS)
    _step(progress, "preprocess")
    notes = history_notes(consumption, loaded.preprocessor)
    scored = score_consumption(
        consumption,
        loaded,
        reasons_for_top=reasons_for_top,
        progress=progress,
        implausible=report.implausible_by_customer,
    )
    ranked = scored.inspection_list
    in_sample = mark_in_sample(ranked, loaded.training_ids)
    ranked = with_unscored(ranked, report.dropped_ids, NO_READING_NOTE)
    summary = ScoringSummary(
        customers_in_file=len(ranked),
        scored=len(consumption),
        not_scored=len(report.dropped_ids),
        in_sample=in_sample,
    )
    document = drift_document(
        scored.drift, consumption, source or str(input_path), loaded.store.root, summary
    )
    return ScoredInput(consumption, scored, document, notes, ranked, summary)


def score_file(
    input_path: str | Path,
    artifacts_dir: str | Path,
    out_path: str | Path,
    *,
    drift_path: str | Path | None = None,
    read_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    reasons_for_top: int | None = None,
    dask_scheduler: str | None = None,
) -> pd.DataFrame:
    """Score a meter export with saved artifacts; write the ranked list and a drift report.

    Writes ``out_path`` (CSV, spreadsheet-safe: see ``ntl.tables``), the same table as parquet
    beside it and the drift report JSON (default ``<out stem>_drift.json``); prints a warning per
    variable with PSI > 0.2 to stderr. `read_options` go to ``ntl.io.read_meter_data`` (layout,
    id_column, label_column, ...). `reasons_for_top`: None explains the high and medium tiers,
    N the N highest-ranked customers. Returns the ranked inspection list.

    `dask_scheduler` (``local`` or a scheduler address; empty = in memory) scores on a Dask
    cluster instead (``ntl.distributed.scoring.score_file_distributed``): `input_path` may then
    also be a partitioned dataset folder, and the list returned is the top of the ranking only.
    """
    from ntl.distributed.cluster import parse_scheduler

    csv_path, parquet_path, json_path = check_outputs(
        input_path, artifacts_dir, out_path, drift_path
    )
    if parse_scheduler(dask_scheduler).distributed:
        from ntl.distributed.scoring import score_file_distributed

        return score_file_distributed(
            input_path,
            artifacts_dir,
            out_path,
            dask_scheduler=str(dask_scheduler),
            drift_path=drift_path,
            read_options=read_options,
            reasons_for_top=reasons_for_top,
        )
    from tqdm.auto import tqdm

    from ntl.outputs import write_together

    with tqdm(total=5, desc="ntl score", unit="step", disable=not progress, file=sys.stderr) as bar:
        bar.set_postfix_str("read")
        result = score_input(
            input_path,
            artifacts_dir,
            read_options=read_options,
            reasons_for_top=reasons_for_top,
            progress=bar,
        )
        for note in result.notes:
            tqdm.write(note, file=sys.stderr)
        ranked, document = result.inspection_list, result.drift_document
        text = json.dumps(document, indent=2, allow_nan=False) + "\n"
        write_together(
            [
                (csv_path, lambda tmp: write_safe_csv(ranked, tmp)),
                (parquet_path, lambda tmp: ranked.to_parquet(tmp, index=False)),
                (json_path, lambda tmp: tmp.write_text(text)),
            ]
        )
        bar.update(1)
    for line in result.summary.messages()[1:]:
        print(line, file=sys.stderr)
    if result.scored.drift is None:
        print(f"warning: {document['reason']}; no drift report", file=sys.stderr)
    else:
        for message in drift_messages(result.scored.drift):
            print(f"warning: {message}", file=sys.stderr)
    return ranked


def read_while_loading(
    input_path: str | Path,
    artifacts_dir: str | Path | ScoringArtifacts,
    read_options: Mapping[str, Any] | None,
) -> tuple[ScoringArtifacts, pd.DataFrame, LoadReport]:
    """The scoring artifacts, the input file's canonical frame and its load report, side by side.

    Loading (importing scikit-learn and XGBoost, reading the models) is seconds of mostly
    single-threaded Python; parsing the file is pyarrow C++ that releases the GIL. A worker thread
    loads while this thread reads, which fills both cores. The history length the preprocessing
    needs is only known once loaded, so it is checked after the read (same message as the
    loader's own check). Errors keep the sequential order: artifacts, read options, then the file.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ntl-load") as pool:
        loading = pool.submit(_artifacts, artifacts_dir)  # no-op when already loaded
        read_error: NtlError | None = None
        if not _unknown_read_options(read_options):
            options = {"min_days": 1, **(read_options or {})}
            try:
                consumption, report = read_meter_data(input_path, **options)
            except NtlError as exc:
                read_error = exc
        loaded = loading.result()
    options = _check_read_options(read_options, loaded.min_days)
    if read_error is not None:
        raise read_error
    check_history_length(report.source, report.days_in_file, options["min_days"])
    return loaded, consumption, report


# --------------------------------------------------------------------------- one customer


def _iso_dates(labels: pd.Index) -> pd.DatetimeIndex | None:
    """Labels that are all YYYY-MM-DD as dates in one vectorised parse (what the JSON API
    sends); None for anything else, which goes through the loader's slower general parser."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(labels.astype(str), format="%Y-%m-%d", exact=True))
    except (ValueError, TypeError):
        return None


def readings_frame(
    readings: Mapping[Any, float] | pd.Series, customer_id: str = "customer"
) -> pd.DataFrame:
    """One customer's readings (date -> kWh) as a one-row canonical consumption frame.

    Days absent from the readings become missing; negative readings and readings above the
    plausible ceiling (MAX_DAILY_KWH) become missing, as in the loader; an infinite reading is
    refused with its date. Raises MeterDataError for dates that do not parse, days given twice
    or values that are not numbers.
    """
    calendar, first_day = readings_calendar(readings, customer_id)
    return build_frame(np.array([customer_id], dtype=object), calendar, first_day)


ISO_DAY_LENGTH = 10  # "2016-01-31"


@dataclass(frozen=True)
class PackedReadings:
    """One customer's readings keyed by YYYY-MM-DD text, packed to cross a pipe: the keys end
    to end (ten characters each) and the values as float64 (None as NaN).

    A dict of a thousand days pickles as a thousand strings and numbers, ~120 µs to pickle and
    unpickle and ~60 µs more to make the keys an array; packed, it is one string and one array.
    The web app packs what it sends its scoring processes (`pack_readings`); the answer is the
    dict's (`readings_calendar` reads both alike, tested)."""

    keys: str
    values: np.ndarray

    def key_array(self) -> np.ndarray:
        """The keys as a <U10 array (one view of the packed text, no string per key)."""
        return np.array(self.keys).reshape(1).view(f"<U{ISO_DAY_LENGTH}")

    def as_dict(self) -> dict[str, float]:
        """The readings as date -> kWh (each key exactly as sent)."""
        keys = re.findall(f".{{{ISO_DAY_LENGTH}}}", self.keys, flags=re.DOTALL)
        return dict(zip(keys, self.values.tolist(), strict=True))


def pack_readings(readings: Any) -> Any:
    """`readings` as PackedReadings when every key is a ten-character string and every value
    converts to a float (what the JSON API receives); anything else as it is."""
    if not isinstance(readings, Mapping) or not readings:
        return readings
    try:
        keys = "".join(readings)  # TypeError for a key that is not text
        values = np.array(list(readings.values()), dtype=np.float64)
    except (TypeError, ValueError):
        return readings
    if set(map(len, readings)) != {ISO_DAY_LENGTH} or values.shape != (len(readings),):
        return readings
    return PackedReadings(keys, values)


def readings_calendar(
    readings: Mapping[Any, float] | pd.Series | PackedReadings, customer_id: str = "customer"
) -> tuple[np.ndarray, pd.Timestamp]:
    """`readings_frame`'s readings as a 1 x calendar-days float32 row and the first day."""
    fast = isinstance(readings, Mapping | PackedReadings)
    placed = _iso_calendar(readings) if fast else None
    if placed is None and isinstance(readings, PackedReadings):
        readings = readings.as_dict()  # the general path says what is wrong
    calendar, first_day = placed if placed is not None else _general_calendar(readings)
    ids = np.array([customer_id], dtype=object)
    calendar, _ = handle_negative_readings(calendar, ids, "missing", Path("readings"), first_day)
    calendar, _ = set_implausible_missing(calendar, ids, MAX_DAILY_KWH, first_day)
    if np.isnan(calendar).all():
        raise MeterDataError("readings: no reading is present (all missing)")
    return calendar, first_day


ISO_YEARS = (1678, 2261)  # the years pandas' dates span
DASHES = (4, 7)  # YYYY-MM-DD: where the dashes are, digits everywhere else


def iso_day_numbers(keys: np.ndarray) -> np.ndarray | None:
    """Days since 1970-01-01 of an array of "YYYY-MM-DD" strings, by integer arithmetic on their
    characters (numpy's own date parser costs ~0.3 µs a string); None unless every key is a
    real day written exactly so (digits, dashes at 4 and 7) within pandas' years."""
    if keys.dtype != np.dtype("<U10") or keys.size == 0:
        return None
    chars = keys.view(np.uint32).reshape(len(keys), 10).astype(np.int64)  # code points
    digit = np.ones(10, dtype=bool)
    digit[list(DASHES)] = False
    values = chars[:, digit] - ord("0")
    if not (np.all(chars[:, ~digit] == ord("-")) and np.all((values >= 0) & (values <= 9))):
        return None
    year = values[:, 0] * 1000 + values[:, 1] * 100 + values[:, 2] * 10 + values[:, 3]
    month = values[:, 4] * 10 + values[:, 5]
    day = values[:, 6] * 10 + values[:, 7]
    if not np.all((year >= ISO_YEARS[0]) & (year <= ISO_YEARS[1]) & (month >= 1) & (month <= 12)):
        return None
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    first = months.astype("datetime64[D]").astype(np.int64)
    length = (months + 1).astype("datetime64[D]").astype(np.int64) - first
    if not np.all((day >= 1) & (day <= length)):
        return None
    return first + day - 1


def _iso_calendar(
    readings: Mapping[Any, Any] | PackedReadings,
) -> tuple[np.ndarray, pd.Timestamp] | None:
    """The readings on their gap-free calendar (1 x days float32, absent days NaN) and the first
    day, when every key is a YYYY-MM-DD date (what the JSON API sends: `iso_day_numbers`), every
    day is given once and every value converts to a number or None (numpy's float parser).

    None for anything else, which goes to `_general_calendar` (the loader's parsers and their
    error messages); for the readings it takes, both give the same calendar (tested)."""
    if isinstance(readings, PackedReadings):
        days, values = iso_day_numbers(readings.key_array()), readings.values
    else:
        if not readings:
            return None
        days = iso_day_numbers(np.array(list(readings.keys())))
        if days is None:
            return None
        try:
            values = np.array(list(readings.values()), dtype=np.float64)
        except (ValueError, TypeError):  # a value that is not a number: the general path says so
            return None
    if days is None:
        return None
    if values.shape != days.shape:
        return None
    offsets = days - days.min()
    if np.bincount(offsets).max() > 1:  # a day given twice: the general path says so
        return None
    calendar = np.full((1, int(offsets.max()) + 1), np.nan, dtype=np.float32)
    calendar[0, offsets] = values.astype(np.float32)
    return calendar, pd.Timestamp(np.datetime64(int(days.min()), "D"))


def _general_calendar(readings: Mapping[Any, float] | pd.Series) -> tuple[np.ndarray, pd.Timestamp]:
    """`readings_calendar`'s placing of readings in any form the loader's parsers accept (keys
    as dates or day labels in its formats), with its messages for what is wrong."""
    series = pd.Series(readings, dtype=object) if not isinstance(readings, pd.Series) else readings
    if series.empty:
        raise MeterDataError("readings: no readings given")
    if isinstance(series.index, pd.DatetimeIndex):
        dates = series.index
    else:
        dates = _iso_dates(series.index)
    if dates is None:  # the loader's own date parsing: 2016-01-31, 2016/1/31, 1/31/2016, 20160131
        dates, _ = parse_day_labels([str(label) for label in series.index])
    if dates.isna().any():
        bad = [str(label) for label, date in zip(series.index, dates, strict=True) if pd.isna(date)]
        raise MeterDataError(f"readings: keys that are not dates: {bad[:5]}")
    dates = dates.normalize()
    if dates.has_duplicates:
        twice = sorted({d.strftime("%Y-%m-%d") for d in dates[dates.duplicated()]})
        raise MeterDataError(f"readings: the same day is given more than once: {twice[:5]}")
    values = pd.to_numeric(pd.Series(series.to_numpy()), errors="coerce")
    not_numbers = values.isna() & pd.Series(series.to_numpy()).notna()
    if not_numbers.any():
        first = int(np.flatnonzero(not_numbers.to_numpy())[0])
        raise MeterDataError(
            f"readings: value {series.iloc[first]!r} for {dates[first]:%Y-%m-%d} is not a number"
        )
    matrix = values.to_numpy(dtype=np.float32)[None, :]
    calendar, first_day, _ = place_on_calendar(matrix, pd.DatetimeIndex(dates))
    return calendar, first_day


def score_customer(
    readings: Mapping[Any, float] | pd.Series,
    artifacts_dir: str | Path | ScoringArtifacts,
) -> dict[str, Any]:
    """Score one customer's daily readings (date -> kWh) for integration with other systems.

    Returns ``{"risk_score", "probability" (None without labels), "tier", "reasons"}``.
    Pass a ScoringArtifacts (load_scoring_artifacts) instead of a folder to avoid reloading
    the models on every call. Raises MeterDataError for readings that cannot be scored.
    """
    (answer,) = score_customers([readings], artifacts_dir)
    if isinstance(answer, NtlError):
        raise answer
    return answer


def score_customers(
    many_readings: Sequence[Mapping[Any, float] | pd.Series | PackedReadings],
    artifacts_dir: str | Path | ScoringArtifacts,
) -> list[dict[str, Any] | NtlError]:
    """`score_customer` for several customers at once: one answer per customer, in order, each
    the dict `score_customer` returns or the NtlError it would raise for that customer.

    The web app gathers concurrent requests into one call. Customers whose readings span the
    same calendar (same first and last day) are cleaned and described as one vectorised block
    (``describe_rows``: the features are measured against the calendar, and the matrix goes in
    as it is, no frame of day columns; the answers need no quality flag); everything after that
    is one call for all blocks: the clusters and peer deviation (``Preprocessor.assign_rows``),
    the models, and the reasons (TreeSHAP and phrases, the functions 04's list uses), each
    customer's phrases dated by its own calendar's last day, on arrays rather than frames.
    Every step is per customer, so each answer equals `score_consumption` of that customer
    alone (a test checks it).
    """
    from ntl.features import FEATURE_NAMES, CalendarLayout
    from ntl.preprocess import describe_rows

    loaded = _artifacts(artifacts_dir)
    answers: list[dict[str, Any] | NtlError | None] = [None] * len(many_readings)
    blocks: dict[tuple[pd.Timestamp, int], list[tuple[int, np.ndarray]]] = {}
    for position, readings in enumerate(many_readings):  # requests, not rows of a data file
        try:
            calendar, first_day = readings_calendar(readings)
        except NtlError as exc:
            answers[position] = exc
            continue
        n_days = calendar.shape[1]
        if n_days < loaded.min_days:
            answers[position] = MeterDataError(
                f"readings: only {n_days} day(s) of history, at least {loaded.min_days} are needed"
            )
            continue
        blocks.setdefault((first_day, n_days), []).append((position, calendar))
    config = loaded.preprocessor.config
    shapes, tables, last_days, history, order = [], [], [], [], []
    for (first_day, n_days), members in blocks.items():  # one block per calendar
        matrix = np.ascontiguousarray(np.vstack([row for _, row in members]), dtype=np.float32)
        first = np.datetime64(first_day, "D")
        try:
            layout = CalendarLayout.spanning(first, n_days)
            block_shapes, block_table, _, _ = describe_rows(matrix, layout, config)
        except NtlError as exc:  # the preprocessing refuses this calendar's customers
            for position, _ in members:
                answers[position] = exc
            continue
        shapes.append(block_shapes)
        tables.append(block_table)
        order.extend(position for position, _ in members)
        last_days.append(np.full(len(members), (first + (n_days - 1)).astype("datetime64[ns]")))
        history.append(np.full(len(members), n_days))
    if not tables:
        return answers  # type: ignore[return-value]  # every customer was refused
    # Clusters, peer deviation and the models see every block at once (each step is per row).
    table = np.vstack(tables)  # FEATURE_NAMES; peer_deviation is set by assign_rows
    clusters = loaded.preprocessor.assign_rows(np.vstack(shapes), table)
    index = pd.Index([str(position) for position in order], name=ID_COLUMN, dtype=object)
    features = loaded.bundle.features_of(table, FEATURE_NAMES, index)
    scores = loaded.bundle.score_columns(features, clusters)
    risk = scores["risk_score"]
    tier_names = np.asarray(TIERS)[tier_codes(risk, loaded.thresholds)]  # no FLAG: no known case
    reasons = calendar_reasons(
        loaded.preprocessor.feature_frame(table, index),
        np.concatenate(last_days),
        np.concatenate(history),
        loaded,
        features,
    )
    probability = scores["probability"]
    for row, position in enumerate(order):  # one answer per request waiting
        answers[position] = {
            "risk_score": float(risk[row]),
            "probability": None if math.isnan(probability[row]) else float(probability[row]),
            "tier": str(tier_names[row]),
            "reasons": [text for text in reasons[row] if text],
        }
    return answers  # type: ignore[return-value]  # every position is filled above


def calendar_reasons(
    preprocessed: pd.DataFrame,
    last_days: np.ndarray,
    history_days: np.ndarray,
    loaded: ScoringArtifacts,
    features: np.ndarray | None = None,
) -> list[list[str]]:
    """Every customer's reason phrases (``ntl.explain.customer_reasons``, as 04's list and
    ``ntl score`` give them) for customers of different calendars in one call: each row's
    phrases are dated by its own `last_days` entry, and customers are grouped only by the
    recent window the phrases name (``ntl.risk.phrase_config``: shorter for a history shorter
    than the window). One list of phrases per row of `preprocessed`, "" for an empty slot.
    `features`: the bundle's feature matrix of `preprocessed`, when the caller holds it."""
    from ntl.explain import customer_reason_matrix
    from ntl.risk import phrase_config

    config = loaded.preprocessor.config
    baseline_features = loaded.drift_baseline["features"] if loaded.drift_baseline else None
    windows = np.minimum(history_days, config.recent_days)
    texts: list[list[str]] = [[] for _ in range(len(preprocessed))]
    for window in np.unique(windows):  # usually one: every history longer than the window
        rows = np.flatnonzero(windows == window)
        every = len(rows) == len(preprocessed)
        reasons = customer_reason_matrix(
            loaded.bundle,
            preprocessed if every else preprocessed.iloc[rows],
            last_days[rows],
            config=phrase_config(config, int(window)),
            baseline_features=baseline_features,
            features=None if features is None else features[rows],
            reference=loaded.baseline_reference,
        )
        for row, phrases in zip(rows, reasons, strict=True):  # one list per customer answered
            texts[row] = [str(text) if isinstance(text, str) else "" for text in phrases]
    return texts
