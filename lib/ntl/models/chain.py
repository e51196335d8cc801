"""The chain's own scores: no customer scored by a model fitted on its label, with its split.

`ModelBundle.score` is right for new data (``ntl score``): nobody there was trained on. For the
customers of the run itself it is not: XGBoost was fitted on the training customers' labels, so
their scores are in-sample -- inflated, known thieves on top of the list, and more of them above a
threshold fitted on unseen validation customers than capacity allows -- and the calibrator was
fitted on the labelled validation customers, so their ``probability`` is in-sample too.
Notebook 03 writes ``oof_scores.parquet`` (`out_of_sample_rows`): out-of-fold scores for the
labelled training customers and, for the labelled validation customers, the final models' scores
with the cross-fitted probability (each from a calibrator that never saw the customer).
`chain_scores` swaps those rows in and adds the ``split`` column so a reader can tell the groups
apart. What remains in-sample is stated where the list is read: validation customers chose
XGBoost's early-stopping round, the ensemble weight and the thresholds.
"""

from __future__ import annotations

import pandas as pd

from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactIntegrityError, MeterDataError
from ntl.frame import ID_COLUMN
from ntl.models.bundle import SCORE_COLUMNS, ModelBundle
from ntl.split import SPLIT_COLUMN

OOF_ARTIFACT = "oof_scores.parquet"
SPLIT_ARTIFACT = "split.parquet"
FITTED_ON = ("train", "validation")  # the splits whose labels some fitted step used


def out_of_sample_rows(report: dict) -> pd.DataFrame | None:
    """What notebook 03 writes to ``oof_scores.parquet`` from `train_models`' report.

    The labelled training customers' out-of-fold scores, then the labelled validation customers'
    scores with ``probability`` replaced by the cross-fitted one. None without supervision.
    """
    parts = []
    if report.get("oof_scores") is not None:
        parts.append(report["oof_scores"][list(SCORE_COLUMNS)])
    validation = report.get("validation_scores")
    if validation is not None and "probability_out_of_fold" in validation.columns:
        crossfitted = validation["probability_out_of_fold"].notna()
        rows = validation.loc[crossfitted, list(SCORE_COLUMNS)].copy()
        rows["probability"] = validation.loc[crossfitted, "probability_out_of_fold"]
        parts.append(rows)
    return pd.concat(parts) if parts else None


def chain_scores(
    bundle: ModelBundle, preprocessed: pd.DataFrame, store: ArtifactStore
) -> pd.DataFrame:
    """``bundle.score(preprocessed)`` with the rows of ``oof_scores.parquet`` swapped in (see
    the module), plus ``split``.

    The rows come from ``oof_scores.parquet`` when the bundle is supervised and the artifact
    exists (metadata saying it was written but the file missing raises MissingArtifactError);
    unlabelled runs have none and keep the bundle's scores. Raises MeterDataError for a customer
    without a split, ArtifactIntegrityError when the file names a customer outside the training
    and validation splits (a stale file from another run).
    """
    scores = bundle.score(preprocessed)
    split = store.read_parquet(SPLIT_ARTIFACT)[SPLIT_COLUMN]
    customer_split = split.reindex(scores.index)
    if customer_split.isna().any():
        missing = scores.index[customer_split.isna().to_numpy()][:5].tolist()
        raise MeterDataError(f"{store.path(SPLIT_ARTIFACT)}: no split for {ID_COLUMN} {missing}")
    recorded = bool(bundle.training_info.get("out_of_fold"))
    if bundle.supervised and (recorded or store.exists(OOF_ARTIFACT)):
        oof = store.read_parquet(OOF_ARTIFACT)
        outside = oof.index[~split.reindex(oof.index).isin(FITTED_ON).to_numpy()]
        if len(outside):
            raise ArtifactIntegrityError(
                f"{store.path(OOF_ARTIFACT)}: {len(outside)} customers are not in the "
                f"training or validation split of {SPLIT_ARTIFACT} (e.g. {outside[:3].tolist()}); "
                "re-run notebook 03_modeling"
            )
        rows = scores.index.intersection(oof.index)
        scores.loc[rows, list(SCORE_COLUMNS)] = oof.loc[rows, list(SCORE_COLUMNS)]
    scores[SPLIT_COLUMN] = customer_split.astype("str")
    return scores
