"""Stage 03 on a cluster: the split from FLAG alone, Isolation Forests on a seeded sample per
cluster, XGBoost with ``xgboost.dask``, ensemble and calibration on gathered validation scores.
Notebook 03 calls it on the Dask path (``ntl.distributed.chain.train_run``); its report has the
keys of ``ntl.models.train_models``' report, so the notebook's cells serve both paths.

What travels to the client, and how big at 10 million customers (57 features):
- FLAG with each customer's ID for the split, the sizes and the out-of-fold table (``split_codes``,
  the in-memory rule; the IDs are the bulk: ~600 MB as a pandas index);
- the Isolation Forest sample: `isolation_sample_size` training customers x 57 float32
  (200,000 -> 46 MB) for ``fit_isolation`` (equal to the in-memory fit when the training split is
  no larger than the sample), on which the One-Class SVM and the autoencoder are fitted too;
- the baseline sample, `baseline_sample_size` labelled training customers (46 MB at 200,000);
- three numbers and the ID of every validation customer (XGBoost probability, anomaly score,
  label; 2 million -> ~150 MB) for ``choose_weight``, ``ScoreCalibrator.fit``, the cross-fitted
  validation probability (``out_of_fold_probability``) and the thresholds;
- the rows of a seeded sample of `validation_sample_size` validation customers (46 MB at
  200,000) for the comparison table and notebook 03's figures;
- the out-of-fold and in-sample scores of the labelled training customers (four numbers and the
  ID each, twice: 6 million -> about 1 GB), from one ``xgboost.dask`` model per fold
  (``fold_ids``, the in-memory folds, sent back as 1 byte a customer), each fitted on the
  workers' other folds, and from the final model.
XGBoost itself trains on the workers' partitions (``xgboost.dask``: each worker builds its
histograms on its own rows, the trees are agreed through the Rabit allreduce). The fitted
booster is converted to a plain ``XGBClassifier``, so the bundle scores, explains and saves
exactly as one trained in memory.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ntl.distributed.partitions import PartitionedDataset, read_part
from ntl.distributed.preprocess import sample_positions
from ntl.distributed.scoring import for_scoring
from ntl.errors import MeterDataError
from ntl.frame import ID_COLUMN, feature_columns, labels

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client, Future

    from ntl.models import ModelBundle

ISOLATION_SAMPLE = 200_000  # training customers the Isolation Forests are fitted on
BASELINE_SAMPLE = 200_000  # labelled training customers the two baselines are fitted on
VALIDATION_SAMPLE = 200_000  # validation customers whose rows come back for the comparison
TRAIN, VALIDATION = 0, 1  # positions in ntl.models.SPLITS


@dataclass
class PartArrays:
    """One preprocessed part as the models read it (kept on its worker)."""

    features: np.ndarray  # customers x features, float32, NaN allowed
    clusters: np.ndarray  # int64, -1 unassigned
    flag: np.ndarray  # int8: 1 theft, 0 normal, -1 unlabelled
    split: np.ndarray | None = None  # int8 positions in SPLITS, set once the split is drawn
    ids: np.ndarray | None = None  # CONS_NO of each row
    fold: np.ndarray | None = None  # int8 out-of-fold fold of labelled training rows, else -1


def part_arrays(root: str, part: Mapping[str, Any], feature_names: list[str]) -> PartArrays:
    """Features, clusters and labels of one preprocessed part (``ModelBundle``'s own readers)."""
    from ntl.models.bundle import cluster_ids, feature_matrix

    frame = read_part(root, part)
    flag = labels(frame).fillna(-1).to_numpy(dtype=np.int8)
    ids = frame.index.to_numpy(dtype=object)
    return PartArrays(feature_matrix(frame, feature_names), cluster_ids(frame), flag, ids=ids)


def with_split(arrays: PartArrays, codes: np.ndarray) -> PartArrays:
    """The part with its customers' split positions attached."""
    return dataclasses.replace(arrays, split=codes.astype(np.int8))


def with_folds(arrays: PartArrays, folds: np.ndarray) -> PartArrays:
    """The part with the out-of-fold fold of its labelled training customers (-1 elsewhere)."""
    return dataclasses.replace(arrays, fold=folds.astype(np.int8))


def rows_of(arrays: PartArrays, split: int, labelled: bool) -> np.ndarray:
    """Mask of the part's customers in `split` (and labelled, if asked)."""
    mask = arrays.split == split
    return mask & (arrays.flag >= 0) if labelled else mask


def sample_rows(
    arrays: PartArrays, positions: np.ndarray, split: int, labelled: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, clusters and labels at `positions` among the part's rows of `split`."""
    rows = np.flatnonzero(rows_of(arrays, split, labelled))[positions]
    return arrays.features[rows], arrays.clusters[rows], arrays.flag[rows]


def count_rows(arrays: PartArrays, split: int, labelled: bool) -> int:
    """Customers of the part in `split` (and labelled, if asked)."""
    return int(rows_of(arrays, split, labelled).sum())


def labelled_rows(arrays: PartArrays, split: int) -> np.ndarray:
    """Mask of the part's labelled customers of `split`."""
    return rows_of(arrays, split, labelled=True)


def fold_fit_rows(arrays: PartArrays, fold: int) -> np.ndarray:
    """Mask of the labelled training customers a fold model is fitted on (the other folds)."""
    return (arrays.fold >= 0) & (arrays.fold != fold)


def count_mask(arrays: PartArrays, mask: Callable[..., np.ndarray], **where: Any) -> int:
    """How many of the part's customers `mask(arrays, **where)` selects."""
    return int(mask(arrays, **where).sum())


def masked_features(arrays: PartArrays, mask: Callable[..., np.ndarray], **where: Any):
    """Features of the selected customers (an XGBoost input block)."""
    return arrays.features[mask(arrays, **where)]


def masked_labels(arrays: PartArrays, mask: Callable[..., np.ndarray], **where: Any):
    """Labels of the selected customers (an XGBoost label block)."""
    return arrays.flag[mask(arrays, **where)].astype(np.int64)


def validation_outputs(arrays: PartArrays, bundle: ModelBundle) -> pd.DataFrame:
    """XGBoost probability (NaN without supervision), anomaly score and label (NaN unlabelled)
    of the part's validation customers, by CONS_NO."""
    from ntl.distributed.scoring import own_copy

    rows = rows_of(arrays, VALIDATION, labelled=False)
    features = arrays.features[rows]
    probability = (
        own_copy(bundle).xgb_probability(features)  # own booster: no thread-setting race
        if bundle.supervised
        else np.full(len(features), np.nan)
    )
    flag = arrays.flag[rows].astype(np.float64)
    return pd.DataFrame(
        {
            "xgb_probability": probability,
            "anomaly_score": bundle.isolation.score(features, arrays.clusters[rows]),
            "FLAG": np.where(flag >= 0, flag, np.nan),
        },
        index=pd.Index(arrays.ids[rows], name=ID_COLUMN),
    )


def part_flags(arrays: PartArrays) -> pd.Series:
    """The part's labels by CONS_NO (-1 unlabelled)."""
    return pd.Series(arrays.flag, index=pd.Index(arrays.ids, name=ID_COLUMN))


def gather_sample(
    client: Client, parts: list[Future], split: int, labelled: bool, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded sample of `size` customers of `split` over all parts (all when fewer), in order."""
    counts = client.gather(client.map(count_rows, parts, split=split, labelled=labelled))
    positions = sample_positions(counts, size, seed)
    pieces = client.gather(
        client.map(sample_rows, parts, positions, split=split, labelled=labelled)
    )
    return tuple(np.concatenate([p[i] for p in pieces]) for i in range(3))  # type: ignore[return-value]


def dask_blocks(
    client: Client,
    parts: list[Future],
    n_features: int,
    mask: Callable[..., np.ndarray] = labelled_rows,
    **where: Any,
) -> tuple[Any, Any]:
    """Dask arrays of the customers `mask(arrays, **where)` selects (by default the labelled
    customers of ``split=``): features and labels, one block a part."""
    import dask
    import dask.array as da

    sizes = client.gather(client.map(count_mask, parts, mask=mask, **where))
    features = client.map(masked_features, parts, mask=mask, **where)
    flags = client.map(masked_labels, parts, mask=mask, **where)
    keep = [i for i, size in enumerate(sizes) if size]
    x = da.concatenate(
        [
            da.from_delayed(dask.delayed(features[i]), (sizes[i], n_features), np.float32)
            for i in keep
        ]
    )
    y = da.concatenate(
        [da.from_delayed(dask.delayed(flags[i]), (sizes[i],), np.int64) for i in keep]
    )
    return x, y


def fit_xgb_dask(
    client: Client,
    train: tuple[Any, Any],
    validation: tuple[Any, Any] | None,
    hyperparameters: Mapping[str, Any],
    scale_pos_weight: float,
    *,
    early_stopping_rounds: int = 50,
    seed: int = 42,
    n_jobs: int = 1,
) -> xgb.XGBClassifier:
    """The in-memory recipe (``xgb_settings``) trained with ``xgboost.dask`` on dask arrays,
    stopping early on validation PR-AUC (without `validation`: all ``n_estimators`` rounds, as
    the fold models), returned as a plain ``XGBClassifier``. With `validation` its
    ``evals_result()`` holds PR-AUC per round on train and on validation, as in memory
    (``ntl.models.supervised.learning_curve`` reads it)."""
    import xgboost as xgb
    import xgboost.dask

    from ntl.models.supervised import xgb_settings

    settings = xgb_settings(
        hyperparameters,
        scale_pos_weight,
        early_stopping_rounds=early_stopping_rounds if validation is not None else None,
        seed=seed,
        n_jobs=n_jobs,
    )
    model = xgb.dask.DaskXGBClassifier(**settings)
    model.client = client
    # train first (the same arrays: xgboost reuses the training matrix), validation last: early
    # stopping watches the last set
    evaluation = {"eval_set": [train, validation]} if validation is not None else {}
    with client.as_current(), xgb.config_context(verbosity=0):  # xgboost.dask asks get_client()
        model.fit(*train, verbose=False, **evaluation)
    plain = xgb.XGBClassifier(**settings)
    plain.load_model(bytearray(model.get_booster().save_raw(raw_format="json")))
    if validation is not None:
        plain.evals_result_ = model.evals_result()  # what an in-memory fit keeps
    return plain


def fold_probabilities(arrays: PartArrays, model: xgb.XGBClassifier, fold: int) -> np.ndarray:
    """XGBoost probability of the part's labelled training customers of `fold` from the model
    fitted without them; NaN for the other labelled training customers."""
    labelled = arrays.fold[arrays.fold >= 0]
    result = np.full(len(labelled), np.nan)
    held_out = labelled == fold
    if held_out.any():
        own = copy.deepcopy(model)  # a private booster: no thread-setting race between tasks
        rows = np.flatnonzero(arrays.fold >= 0)[held_out]
        result[held_out] = own.predict_proba(arrays.features[rows])[:, 1]
    return result


def out_of_fold_part(
    arrays: PartArrays, bundle: ModelBundle, *per_fold: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The part's labelled training customers' out-of-fold scores (``ModelBundle.scores_from``
    with each customer's fold-model probability, as ``ntl.models.training`` does in memory),
    and their in-sample scores from the final model (what the out-of-fold ones are set against)."""
    from ntl.distributed.scoring import own_copy

    rows = arrays.fold >= 0
    probability = np.full(int(rows.sum()), np.nan)
    for predicted in per_fold:  # folds
        probability = np.where(np.isnan(probability), predicted, probability)
    features = arrays.features[rows]
    anomaly = bundle.isolation.score(features, arrays.clusters[rows])
    index = pd.Index(arrays.ids[rows], name=ID_COLUMN)
    in_sample = own_copy(bundle).xgb_probability(features)
    return bundle.scores_from(anomaly, probability, index), bundle.scores_from(
        anomaly, in_sample, index
    )


def out_of_fold_scores(
    client: Client,
    parts: list[Future],
    bundle: ModelBundle,
    codes: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    edges: np.ndarray,
    options: Any,
    n_features: int,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, int]:
    """Cross-fitted scores of the labelled training customers: ``fold_ids`` (the in-memory
    folds) over them, one ``xgboost.dask`` model per fold on the other folds with the main
    model's rounds and its own class weight, each customer predicted by the model that left it
    out. Returns the scores and the same customers' in-sample scores (None, None when too few
    thieves for two folds) and the folds used."""
    from ntl.models.crossfit import fold_count, fold_ids
    from ntl.models.supervised import weight_from_counts

    fit_rows = known & (codes == TRAIN)
    k = fold_count(y[fit_rows], options.oof_folds)
    if k < 2:
        return None, None, k
    folds = np.full(len(codes), -1, dtype=np.int8)
    folds[fit_rows] = fold_ids(y[fit_rows], options.oof_folds, seed=options.seed)
    per_part = [folds[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]  # parts
    parts = client.map(with_folds, parts, per_part)
    rounds = {**options.xgb_params, "n_estimators": int(bundle.xgb.best_iteration) + 1}
    predictions = []
    for fold in range(k):  # a handful of folds
        fitted_on = fit_rows & (folds != fold)
        weight = weight_from_counts(int((y[fitted_on] == 0).sum()), int((y[fitted_on] == 1).sum()))
        model = fit_xgb_dask(
            client,
            dask_blocks(client, parts, n_features, fold_fit_rows, fold=fold),
            None,
            rounds,
            weight,
            seed=options.seed,
            n_jobs=options.n_jobs,
        )
        shared = client.scatter(model, broadcast=True)
        predictions.append(client.map(fold_probabilities, parts, model=shared, fold=fold))
    shared_bundle = client.scatter(for_scoring(bundle), broadcast=True)
    pieces = client.gather(
        client.map(out_of_fold_part, parts, [shared_bundle] * len(parts), *predictions)
    )
    return pd.concat([p[0] for p in pieces]), pd.concat([p[1] for p in pieces]), k


@dataclass
class DistributedTraining:
    """What the Dask stage 03 produced."""

    bundle: ModelBundle
    split_codes: list[np.ndarray]  # per part, positions in SPLITS
    validation: pd.DataFrame  # labelled validation customers: model outputs, FLAG, risk_score
    report: dict[str, Any]  # the keys of ``train_models``' report, plus ``validation_rows``
    oof_scores: pd.DataFrame | None = None  # labelled training customers, out-of-fold scores


TRAINER = "xgboost.dask"  # what metadata.json records as the trainer on this path


def train_partitions(
    client: Client,
    preprocessed: PartitionedDataset,
    *,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    split: Sequence[np.ndarray] | None = None,
    isolation_sample_size: int = ISOLATION_SAMPLE,
    baseline_sample_size: int = BASELINE_SAMPLE,
    validation_sample_size: int = VALIDATION_SAMPLE,
    **params: Any,
) -> DistributedTraining:
    """Fit the model bundle on a partitioned preprocessed dataset.

    `split` is stage 02's split (per part, positions in SPLITS, from
    ``ntl.distributed.preprocess.split_partitions``); without it the split is drawn here by the
    same rule from `split_fractions` and the seed. `params` are ``ntl.models.ModelParameters``
    fields (the random search is not run on this path: ``search_seconds`` is ignored). The
    labelled training customers get out-of-fold scores (``DistributedTraining.oof_scores``,
    what notebook 03 writes to ``oof_scores.parquet``) and the validation customers a
    cross-fitted probability. The label-free One-Class SVM and autoencoder are fitted on the
    Isolation Forests' sample, the baselines on their own sample, and the comparison table is
    computed on a seeded sample of `validation_sample_size` validation customers (all when
    fewer), whose rows come back as ``report["validation_rows"]``.
    """
    from ntl.models import SPLITS, ModelBundle, ModelParameters
    from ntl.models.detectors import DETECTOR_KINDS, fit_detector
    from ntl.models.training import (
        isolation_with,
        out_of_fold_table,
        size_summary,
        supervision_decision,
    )
    from ntl.split import split_codes

    options = ModelParameters.from_mapping(params)
    times: dict[str, float] = {}
    started = time.perf_counter()
    names = feature_columns(preprocessed.read_part(0).iloc[:0])
    root = str(preprocessed.root)
    n_parts = len(preprocessed.parts)
    loaded = client.map(
        part_arrays, [root] * n_parts, list(preprocessed.parts), feature_names=names
    )
    flags = client.gather(client.map(part_flags, loaded))
    flag = pd.concat(flags).astype("Int8").where(lambda f: f >= 0)
    edges = np.cumsum([0, *(len(f) for f in flags)])
    if split is None:
        codes = split_codes(flag.reset_index(drop=True), split_fractions, options.seed)
    else:
        if [len(s) for s in split] != [len(f) for f in flags]:
            raise MeterDataError(
                f"split: {[len(s) for s in split]} customers per part, the preprocessed "
                f"dataset has {[len(f) for f in flags]}"
            )
        codes = np.concatenate([np.asarray(s, dtype=np.int64) for s in split])
    per_part = [codes[a:b].astype(np.int8) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    parts = client.map(with_split, loaded, per_part)
    del loaded
    times["split"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    features, clusters, _ = gather_sample(
        client, parts, TRAIN, False, isolation_sample_size, options.seed
    )
    if len(features) < 2 or not (codes == VALIDATION).any():
        raise MeterDataError(
            f"split: need >= 2 training and >= 1 validation customers, got "
            f"{int((codes == TRAIN).sum())} and {int((codes == VALIDATION).sum())}"
        )
    isolation = isolation_with(options, features, clusters, names)
    times["isolation_forests"] = round(time.perf_counter() - started, 3)
    detectors = {}
    for kind in DETECTOR_KINDS:  # label-free, beside the forests, on the forests' sample
        started = time.perf_counter()
        detectors[kind] = fit_detector(
            kind,
            features,
            clusters,
            names,
            min_cluster_size=options.min_cluster_size,
            seed=options.seed,
        )
        times[kind] = round(time.perf_counter() - started, 3)
    supervised, reason = supervision_decision(flag, codes == TRAIN, codes == VALIDATION)
    bundle = ModelBundle(names, supervised, None, isolation, detectors=detectors)
    report: dict[str, Any] = {"supervised": supervised, "reason": reason, "times": times}
    oof_scores = None
    if supervised:
        report.update(
            _supervised_on_cluster(
                client, parts, bundle, flag, codes, options, names, baseline_sample_size, times
            )
        )
    started = time.perf_counter()
    shared = client.scatter(for_scoring(bundle), broadcast=True)
    outputs = pd.concat(client.gather(client.map(validation_outputs, parts, bundle=shared)))
    times["scoring_validation"] = round(time.perf_counter() - started, 3)
    rows = _validation_sample(client, preprocessed, codes, validation_sample_size, options.seed)
    validation_scores, validation = _validation_report(bundle, outputs, rows, options, report)
    if supervised:
        started = time.perf_counter()
        oof_scores, in_sample, folds_used = out_of_fold_scores(
            client,
            parts,
            bundle,
            codes,
            flag.fillna(0).to_numpy(dtype=np.int64),
            flag.notna().to_numpy(),
            edges,
            options,
            len(names),
        )
        times["out_of_fold"] = round(time.perf_counter() - started, 3)
        report.update(
            oof_scores=oof_scores, oof_folds_used=folds_used, train_scores_in_sample=in_sample
        )
        if oof_scores is not None:
            report["oof_table"] = out_of_fold_table(report, flag, validation_scores)
    masks = {name: codes == position for position, name in enumerate(SPLITS)}
    report.update(
        sizes=size_summary(flag, masks),
        times=dict(times),
        validation_scores=validation_scores,
        validation_rows=rows,
        search=pd.DataFrame(),  # no random search on this path
        isolation_members=pd.Series(
            {k: m.n_train for k, m in isolation.members.items()}, name="training_customers"
        ),
    )
    bundle.training_info = _distributed_info(
        options, reason, report, isolation_sample_size, baseline_sample_size, len(rows)
    )
    return DistributedTraining(bundle, per_part, validation, report, oof_scores)


def _supervised_on_cluster(
    client: Client,
    parts: list[Future],
    bundle: ModelBundle,
    flag: pd.Series,
    codes: np.ndarray,
    options: Any,
    names: list[str],
    baseline_sample_size: int,
    times: dict[str, float],
) -> dict[str, Any]:
    """XGBoost with ``xgboost.dask`` stopped early on validation, the baselines on a sample of
    the labelled training customers; fills `bundle` in place and returns the report's XGBoost
    keys (learning curve, stopping, chosen parameters) as ``train_models`` does; the seconds
    of each step go into `times`."""
    from ntl.models.supervised import (
        check_xgb_params,
        fit_baselines,
        learning_curve,
        weight_from_counts,
    )
    from ntl.models.training import stopping_summary

    started = time.perf_counter()
    known = flag.notna().to_numpy()
    y = flag.fillna(0).to_numpy(dtype=np.int64)
    train_known = known & (codes == TRAIN)
    weight = weight_from_counts(int((y[train_known] == 0).sum()), int((y[train_known] == 1).sum()))
    train = dask_blocks(client, parts, len(names), split=TRAIN)
    tune = dask_blocks(client, parts, len(names), split=VALIDATION)
    bundle.xgb = fit_xgb_dask(
        client,
        train,
        tune,
        options.xgb_params,
        weight,
        early_stopping_rounds=options.early_stopping_rounds,
        seed=options.seed,
        n_jobs=options.n_jobs,
    )
    times["xgboost_dask"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    sample_x, _, sample_y = gather_sample(
        client, parts, TRAIN, True, baseline_sample_size, options.seed
    )
    bundle.baselines = fit_baselines(
        sample_x,
        sample_y.astype(np.int64),
        rf_n_estimators=options.rf_n_estimators,
        rf_max_depth=options.rf_max_depth,
        seed=options.seed,
        n_jobs=options.n_jobs,
    )
    times["baselines"] = round(time.perf_counter() - started, 3)
    curve = learning_curve(bundle.xgb)
    chosen = check_xgb_params(options.xgb_params)
    cap = int(chosen["n_estimators"])
    best = int(bundle.xgb.best_iteration)
    return {
        "learning_curve": curve,
        "best_iteration": best,
        "best_validation_aucpr": float(bundle.xgb.best_score),
        "rounds_trained": len(curve),
        "round_cap": cap,
        "stopping": stopping_summary(best, len(curve), cap, options.early_stopping_rounds),
        "xgb_params": chosen,
    }


def _validation_sample(
    client: Client, preprocessed: PartitionedDataset, codes: np.ndarray, size: int, seed: int
) -> pd.DataFrame:
    """The preprocessed rows of a seeded sample of `size` validation customers (all when
    fewer), in part order: what the comparison table and notebook 03's figures read."""
    from ntl.distributed.chain import sample_rows, take_rows

    positions = np.flatnonzero(codes == VALIDATION)
    return take_rows(client, preprocessed, positions[sample_rows(len(positions), size, seed)])


def _validation_report(
    bundle: ModelBundle,
    outputs: pd.DataFrame,
    rows: pd.DataFrame,
    options: Any,
    report: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ensemble weight and calibrator chosen on the labelled validation customers (set on
    `bundle`), their scores as ``train_models`` reports them (every validation customer, FLAG,
    the cross-fitted probability) and the labelled ones' frame; fills `report`'s ensemble and
    comparison keys (the comparison on the sample `rows`)."""
    from ntl.models.ensemble import (
        WEIGHT_SOURCE,
        ScoreCalibrator,
        choose_weight,
        combine,
        out_of_fold_probability,
    )
    from ntl.models.training import ensemble_sentence, validation_table

    known = outputs["FLAG"].notna().to_numpy()
    labelled = outputs.loc[known].copy()
    if bundle.supervised:
        started = time.perf_counter()
        y_valid = labelled["FLAG"].to_numpy(dtype=np.int64)
        probability = labelled["xgb_probability"].to_numpy()
        anomaly = labelled["anomaly_score"].to_numpy()
        weight, weight_curve = choose_weight(y_valid, probability, anomaly)
        bundle.ensemble_weight = weight
        risk = combine(probability, anomaly, weight)
        bundle.calibrator = ScoreCalibrator.fit(risk, y_valid, options.calibration)
        report["times"]["ensemble_and_calibration"] = round(time.perf_counter() - started, 3)
        report.update(
            weight_curve=weight_curve, ensemble_weight=weight, ensemble_weight_source=WEIGHT_SOURCE
        )
    scores = bundle.scores_from(
        outputs["anomaly_score"].to_numpy(),
        outputs["xgb_probability"].to_numpy() if bundle.supervised else None,
        outputs.index,
    )
    scores.insert(0, "FLAG", outputs["FLAG"].astype("Int8"))
    labelled["risk_score"] = scores.loc[known, "risk_score"].to_numpy()
    if bundle.supervised:
        crossfitted = out_of_fold_probability(
            labelled["risk_score"].to_numpy(),
            labelled["FLAG"].to_numpy(dtype=np.int64),
            options.calibration,
            folds=options.oof_folds,
            seed=options.seed,
        )  # each validation customer's calibrator never saw it, as in memory
        labelled["probability_out_of_fold"] = crossfitted
        scores["probability_out_of_fold"] = np.nan
        scores.loc[known, "probability_out_of_fold"] = crossfitted
        shown = scores.loc[rows.index]
        table = validation_table(bundle, rows, shown, np.ones(len(rows), dtype=bool), None)
        report["validation_table"] = table
        report["ensemble_description"] = ensemble_sentence(bundle, table)
    return scores, labelled


def _distributed_info(
    options: Any,
    reason: str,
    report: dict[str, Any],
    isolation_sample_size: int,
    baseline_sample_size: int,
    validation_sample: int,
) -> dict[str, Any]:
    """What metadata.json records: the in-memory record (``training_info``) and how this
    path trained (``trained_with``: the trainer and the samples the client fitted on)."""
    from ntl.models.training import training_info

    return {
        **training_info(options, reason, report),
        "trained_with": {
            "path": "dask",
            "xgboost": TRAINER if report["supervised"] else None,
            "random_search": "not run on the Dask path (the given hyperparameters)",
            "isolation_sample_size": isolation_sample_size,
            "baseline_sample_size": baseline_sample_size,
            "validation_sample_for_comparison": validation_sample,
            "raw_readings_baseline": "not fitted on the Dask path (the readings stay on the "
            "workers)",
        },
    }
