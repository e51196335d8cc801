"""Scoring on a cluster: features, scores, tiers and reasons per partition, the ranking global.

Per part, on a worker, through the in-memory path's functions: ``Preprocessor.transform`` (02),
``ModelBundle.score`` (03), ``assign_tiers`` (fixed cut-offs, so per part is exact),
``customer_reasons`` and ``inspection_list`` (04). Only the risk score travels to the client
(8 bytes a customer), where one stable sort gives every customer its global rank -- the same
order as the in-memory list, ties in input order. The list is then written in rank order, one
chunk of ranks at a time, so the client never holds more than `chunk_rows` rows of it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ntl.distributed.partitions import PartitionedDataset, read_part
from ntl.errors import MeterDataError
from ntl.frame import ID_COLUMN

if TYPE_CHECKING:
    from distributed import Client, Future

    from ntl.models import ModelBundle
    from ntl.preprocess import PreprocessConfig, Preprocessor

CHUNK_ROWS = 200_000  # rows of the list gathered to the client at a time


@dataclass
class ScoredPart:
    """One part scored on a worker: its preprocessed frame, scores and tiers."""

    preprocessed: pd.DataFrame
    scores: pd.DataFrame
    tiers: pd.Series
    last_readings: pd.Series | None = None  # by CONS_NO, when the part is consumption
    history_days: int | None = None  # days of readings in the part (the phrases' window)


def score_part(
    root: str,
    part: Mapping[str, Any],
    preprocessor: Preprocessor | None,
    bundle: ModelBundle,
    thresholds: Mapping[str, Any],
    implausible: Mapping[str, int] | None = None,
) -> ScoredPart:
    """Preprocess (unless the part already is), score and tier one part, as
    ``ntl.score.score_consumption`` does: the input's known thieves (FLAG 1) get KNOWN_TIER;
    `implausible` (CONS_NO -> readings set missing above max_daily_kwh) flags quality."""
    from ntl.frame import LABEL_COLUMN, last_reading_dates
    from ntl.risk import KNOWN_TIER, history_days, known_thieves
    from ntl.thresholds import assign_tiers

    frame = read_part(root, part)
    if preprocessor is None:
        preprocessed = frame
    else:
        preprocessed = preprocessor.transform(frame, implausible=implausible)
    scores = own_copy(bundle).score(preprocessed)
    tiers = assign_tiers(scores["risk_score"], dict(thresholds))
    known = known_thieves(preprocessed[LABEL_COLUMN])  # the input's FLAG 1: cases, not leads
    if known.any():
        tiers = tiers.astype(str).where(~known, KNOWN_TIER)
    if preprocessor is None:
        return ScoredPart(preprocessed, scores, tiers)
    return ScoredPart(preprocessed, scores, tiers, last_reading_dates(frame), history_days(frame))


def own_copy(bundle: ModelBundle) -> ModelBundle:
    """The bundle with a private copy of its XGBoost model for one task: scoring sets the
    booster's thread count for the call, which must not race with another task of the same
    worker process. Nothing else is changed by scoring, so nothing else is copied."""
    return dataclasses.replace(bundle, xgb=copy.deepcopy(bundle.xgb))


def for_scoring(bundle: ModelBundle) -> ModelBundle:
    """The bundle without its baselines (scoring never reads them): less to send to workers."""
    return dataclasses.replace(bundle, baselines={})


def rank_keys(scored: ScoredPart) -> tuple[np.ndarray, np.ndarray]:
    """The part's risk scores and known-case flags: all the client needs for the global ranking."""
    from ntl.risk import KNOWN_TIER

    known = scored.tiers.astype(str).to_numpy() == KNOWN_TIER
    return scored.scores["risk_score"].to_numpy(dtype=np.float64), known


def global_ranks(keys_per_part: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Per part, each customer's 1-based rank in the whole list: the customers to inspect by
    risk (``rank_order``: highest first, ties in part then row order, as in one concatenated
    frame), then the known cases by risk (``ntl.risk.with_known_cases``' order)."""
    from ntl.evaluate import rank_order

    order = rank_order(np.concatenate([keys[0] for keys in keys_per_part]))
    known = np.concatenate([keys[1] for keys in keys_per_part])[order]
    order = np.concatenate([order[~known], order[known]])
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    edges = np.cumsum([0, *(len(keys[0]) for keys in keys_per_part)])
    return [ranks[start:stop] for start, stop in zip(edges[:-1], edges[1:], strict=True)]


def list_part(
    scored: ScoredPart,
    ranks: np.ndarray,
    bundle: ModelBundle,
    last_day: pd.Timestamp,
    reasons_for_top: int | None,
    baseline_features: Mapping[str, dict] | None,
    config: PreprocessConfig,
) -> pd.DataFrame:
    """The part's rows of the inspection list (``ntl.risk.inspection_list``) with global ranks;
    `config` is the fitted preprocessing's (the phrases name its windows).

    Reasons for the REASON_TIERS by default, or for customers ranked within `reasons_for_top`
    of the whole population (``rows_to_explain``'s rule, applied to global ranks).
    """
    from ntl.explain import customer_reasons
    from ntl.frame import LABEL_COLUMN
    from ntl.risk import (
        inspection_list,
        known_thieves,
        phrase_config,
        rows_to_explain,
        with_known_cases,
        with_last_reading,
    )

    if reasons_for_top is None:
        explained = rows_to_explain(scored.scores, scored.tiers, None)
    else:
        explained = scored.scores.index[ranks <= reasons_for_top]
    reasons = customer_reasons(
        own_copy(bundle),
        scored.preprocessed.loc[explained],
        last_day,
        config=phrase_config(config, scored.history_days),
        baseline_features=baseline_features,
    )
    ranked = inspection_list(scored.preprocessed, scored.scores, scored.tiers, reasons)
    if scored.last_readings is not None:  # as build_inspection_list gives the in-memory list
        ranked = with_last_reading(ranked, scored.last_readings)
    ranked = with_known_cases(ranked, known_thieves(scored.preprocessed[LABEL_COLUMN]))
    ranked["rank"] = np.sort(ranks)  # a part's own order is the global order restricted to it
    return ranked


def rows_in_ranks(ranked: pd.DataFrame, first: int, stop: int) -> pd.DataFrame:
    """The part's list rows ranked first .. stop - 1."""
    rank = ranked["rank"].to_numpy()
    return ranked.iloc[np.searchsorted(rank, first) : np.searchsorted(rank, stop)]


def drift_columns(
    scored: ScoredPart, baseline_columns: tuple[list[str], list[str], list[str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The part's values of the drift baseline's variables only (its features as float32, its
    categories, its scores): about 35 values a customer, all the report reads."""
    features, scores, categories = baseline_columns
    categories = [name for name in categories if name in scored.preprocessed.columns]
    numbers = scored.preprocessed[features].astype(np.float32)
    labels = scored.preprocessed[categories].astype("category")
    return pd.concat([numbers, labels], axis=1), scored.scores[scores]


def drift_report_of_parts(
    client: Client, scored: list[Future], baseline: Mapping[str, Any], n_days: int
) -> pd.DataFrame:
    """``ntl.drift.drift_report`` on every scored customer (no sample): each part sends only the
    baseline's variables (``drift_columns``; ~160 B a customer, 1.6 GB at 10 million)."""
    from ntl.drift import drift_report

    columns = (
        list(baseline["features"]),
        list(baseline["scores"]),
        list(baseline.get("categories", {})),
    )
    pieces = client.gather(client.map(drift_columns, scored, baseline_columns=columns))
    preprocessed = pd.concat([p[0] for p in pieces])
    for name in preprocessed.columns[len(columns[0]) :]:  # the categories, joined as objects
        preprocessed[name] = preprocessed[name].astype(object)
    return drift_report(
        dict(baseline), preprocessed, pd.concat([p[1] for p in pieces]), n_days=n_days
    )


@dataclass
class DistributedScores:
    """What a scoring pass on the cluster produced (the list stays on the workers)."""

    lists: list[Future]
    n_customers: int
    tier_counts: dict[str, int]
    last_day: pd.Timestamp
    drift: pd.DataFrame | None


def score_partitions(
    client: Client,
    dataset: PartitionedDataset,
    bundle: ModelBundle,
    thresholds: Mapping[str, Any],
    *,
    preprocessor: Preprocessor | None = None,
    reasons_for_top: int | None = None,
    drift_baseline: Mapping[str, Any] | None = None,
    preprocessing: PreprocessConfig | None = None,
    implausible: Mapping[str, int] | None = None,
) -> DistributedScores:
    """Score every customer of `dataset` (consumption with `preprocessor`, or preprocessed).

    The reasons' phrases follow the fitted preprocessing settings: `preprocessing`, else the
    preprocessor's, else PreprocessConfig's defaults (an already preprocessed dataset).

    The drift report (when a baseline is given) is ``ntl.drift.drift_report`` on every customer
    (``drift_report_of_parts``), as in memory.
    """
    from ntl.preprocess import PreprocessConfig

    root = str(dataset.root)
    n_parts = len(dataset.parts)
    shared_bundle = client.scatter(for_scoring(bundle), broadcast=True)
    shared_preprocessor = (
        None if preprocessor is None else client.scatter(preprocessor, broadcast=True)
    )
    scored = client.map(
        score_part,
        [root] * n_parts,
        list(dataset.parts),
        [shared_preprocessor] * n_parts,
        [shared_bundle] * n_parts,
        [dict(thresholds)] * n_parts,
        implausible=dict(implausible or {}),
    )
    ranks = global_ranks(client.gather(client.map(rank_keys, scored)))
    last_day = pd.Timestamp(dataset.info["last_day"])
    baseline_features = drift_baseline["features"] if drift_baseline else None
    phrase_config = preprocessing or (
        preprocessor.config if preprocessor is not None else PreprocessConfig()
    )
    lists = client.map(
        list_part,
        scored,
        ranks,
        [shared_bundle] * n_parts,
        [last_day] * n_parts,
        [reasons_for_top] * n_parts,
        [baseline_features] * n_parts,
        [phrase_config] * n_parts,
    )
    tiers = client.gather(client.map(lambda part: part.tiers.value_counts().to_dict(), scored))
    drift = None
    if drift_baseline is not None:
        drift = drift_report_of_parts(client, scored, drift_baseline, int(dataset.info["n_days"]))
    del scored
    counts: dict[str, int] = {}
    for part_counts in tiers:  # parts
        for tier, count in part_counts.items():
            counts[str(tier)] = counts.get(str(tier), 0) + int(count)
    return DistributedScores(lists, int(sum(len(r) for r in ranks)), counts, last_day, drift)


def ranked_chunks(
    client: Client,
    result: DistributedScores,
    chunk_rows: int = CHUNK_ROWS,
    *,
    training_ids: pd.Index | None = None,
    unscored_ids: Sequence[str] = (),
) -> Iterator[tuple[pd.DataFrame, int]]:
    """The list in rank order, `chunk_rows` rows at a time gathered from the parts, each chunk
    with the in-memory list's notes (``mark_in_sample``) and how many it marked; customers
    without any reading (``with_unscored``) close the last chunk."""
    from ntl.score import NO_READING_NOTE, mark_in_sample, with_unscored

    starts = range(1, result.n_customers + 1, chunk_rows)  # chunks of ranks
    for first in starts:
        pieces = client.gather(
            client.map(
                rows_in_ranks,
                result.lists,
                [first] * len(result.lists),
                pure=False,
                stop=first + chunk_rows,
            )
        )
        chunk = pd.concat([p for p in pieces if len(p)] or pieces[:1], ignore_index=True)
        chunk = chunk.sort_values("rank", kind="stable", ignore_index=True)
        marked = mark_in_sample(chunk, training_ids)
        if first == starts[-1]:
            chunk = with_unscored(chunk, list(unscored_ids), NO_READING_NOTE)
        yield chunk, marked


def write_ranked_list(
    client: Client,
    result: DistributedScores,
    csv_path: Path,
    parquet_path: Path,
    chunk_rows: int = CHUNK_ROWS,
    *,
    training_ids: pd.Index | None = None,
    unscored_ids: Sequence[str] = (),
) -> tuple[pd.DataFrame, int]:
    """Write the whole list in rank order as spreadsheet-safe CSV and as parquet, chunk by chunk,
    each file complete or not at all; returns the first chunk (the top of the list) and how many
    training customers were marked as scored in-sample."""
    from ntl.artifacts import atomic_write
    from ntl.tables import spreadsheet_safe

    top: list[pd.DataFrame] = []
    in_sample = 0

    def write_both(csv_tmp: Path) -> None:
        def write_parquet(parquet_tmp: Path) -> None:
            nonlocal in_sample
            writer = None
            chunks = ranked_chunks(
                client, result, chunk_rows, training_ids=training_ids, unscored_ids=unscored_ids
            )
            with csv_tmp.open("w", newline="") as handle:
                for chunk, marked in chunks:
                    in_sample += marked
                    if not top:
                        top.append(chunk)
                    spreadsheet_safe(chunk).to_csv(handle, index=False, header=writer is None)
                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(parquet_tmp, table.schema)
                    writer.write_table(table.cast(writer.schema))
            if writer is not None:
                writer.close()

        atomic_write(parquet_path, write_parquet)

    atomic_write(csv_path, write_both)
    return (top[0] if top else pd.DataFrame(columns=[ID_COLUMN])), in_sample


def score_file_distributed(
    input_path: str | Path,
    artifacts_dir: str | Path,
    out_path: str | Path,
    *,
    dask_scheduler: str,
    drift_path: str | Path | None = None,
    read_options: Mapping[str, Any] | None = None,
    reasons_for_top: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """``ntl score`` on a Dask cluster: the same list, tiers, reasons and drift report files.

    `input_path` is a partitioned consumption dataset folder, or a wide export that is first
    written as one beside the output (in pieces; removed afterwards; on a cluster of several
    machines the output folder must be on storage every worker reads). Arguments, artifacts and
    the input are checked before anything is written. Returns the top `chunk_rows` rows of the
    list (``attrs["n_customers"]`` holds how many were scored).
    """
    import json
    import shutil
    import sys
    import uuid

    from ntl.artifacts import atomic_write
    from ntl.distributed.cluster import dask_client, parse_scheduler, worker_losses_as_errors
    from ntl.distributed.partitions import convert_meter_file, is_dataset, open_dataset
    from ntl.drift import drift_messages
    from ntl.io import check_history_length
    from ntl.score import (
        ScoringSummary,
        _check_read_options,
        drift_summary,
        history_notes_for,
        load_scoring_artifacts,
        output_paths,
    )

    parse_scheduler(dask_scheduler)
    csv_path, parquet_path, json_path = output_paths(out_path, drift_path)
    loaded = load_scoring_artifacts(artifacts_dir)
    options = _check_read_options(read_options, loaded.min_days)
    input_path = Path(input_path)
    if not input_path.exists():
        raise MeterDataError(f"{input_path}: file not found")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    converted = None
    unscored: list[str] = []
    try:
        with dask_client(dask_scheduler) as client, worker_losses_as_errors("ntl score"):
            if is_dataset(input_path):
                dataset = open_dataset(input_path, "consumption")
                check_history_length(input_path, int(dataset.info["n_days"]), options["min_days"])
            else:
                converted = csv_path.parent / f".{csv_path.stem}.parts-{uuid.uuid4().hex[:8]}"
                dataset, _ = convert_meter_file(input_path, converted, **options)
            unscored = list(dataset.info.get("dropped_ids", []))
            for note in history_notes_for(int(dataset.info["n_days"]), loaded.preprocessor):
                print(note, file=sys.stderr)
            result = score_partitions(
                client,
                dataset,
                loaded.bundle,
                loaded.thresholds,
                preprocessor=loaded.preprocessor,
                reasons_for_top=reasons_for_top,
                drift_baseline=loaded.drift_baseline,
                implausible=dataset.info.get("implausible_by_customer", {}),
            )
            top, in_sample = write_ranked_list(
                client,
                result,
                csv_path,
                parquet_path,
                chunk_rows,
                training_ids=loaded.training_ids,
                unscored_ids=unscored,
            )
    finally:
        if converted is not None:
            shutil.rmtree(converted, ignore_errors=True)
    summary = ScoringSummary(
        customers_in_file=result.n_customers + len(unscored),
        scored=result.n_customers,
        not_scored=len(unscored),
        in_sample=in_sample,
    )
    document = drift_summary(
        result.drift,
        n_customers=result.n_customers,
        first_day=dataset.info["first_day"],
        last_day=dataset.info["last_day"],
        source=str(input_path),
        artifacts_dir=loaded.store.root,
        summary=summary,
    )
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    atomic_write(json_path, lambda tmp: tmp.write_text(text))
    for line in summary.messages()[1:]:
        print(line, file=sys.stderr)
    if result.drift is None:
        print(f"warning: {document['reason']}; no drift report", file=sys.stderr)
    else:
        for message in drift_messages(result.drift):
            print(f"warning: {message}", file=sys.stderr)
    top.attrs["n_customers"] = result.n_customers
    return top
