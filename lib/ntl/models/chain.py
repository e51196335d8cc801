"""The chain's own scores: every customer scored out of sample, with the split it belongs to.

`ModelBundle.score` is right for new data (``ntl score``): nobody there was trained on. For the
customers of the run itself it is not: XGBoost was fitted on the training customers' labels, so
their scores are in-sample -- inflated, known thieves on top of the list, and more of them above a
threshold fitted on unseen validation customers than capacity allows. `chain_scores` swaps in the
out-of-fold scores notebook 03 wrote for them (``oof_scores.parquet``), so the whole list is ranked
on scores of one kind, and adds the ``split`` column so a reader can tell the groups apart.
"""

from __future__ import annotations

import pandas as pd

from ntl.artifacts import ArtifactStore
from ntl.errors import ArtifactIntegrityError, MeterDataError
from ntl.frame import ID_COLUMN
from ntl.models.bundle import SCORE_COLUMNS, ModelBundle
from ntl.models.split import SPLIT_COLUMN

OOF_ARTIFACT = "oof_scores.parquet"
SPLIT_ARTIFACT = "split.parquet"


def chain_scores(
    bundle: ModelBundle, preprocessed: pd.DataFrame, store: ArtifactStore
) -> pd.DataFrame:
    """``bundle.score(preprocessed)`` with training customers' rows out-of-fold, plus ``split``.

    The out-of-fold scores come from ``oof_scores.parquet`` when the bundle is supervised and the
    artifact exists (metadata saying it was written but the file missing raises
    MissingArtifactError); unlabelled runs have none and keep the bundle's scores. Raises
    MeterDataError for a customer without a split, ArtifactIntegrityError when the out-of-fold
    scores name a customer that is not in the training split (a stale file from another run).
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
        not_training = oof.index[(split.reindex(oof.index) != "train").to_numpy()]
        if len(not_training):
            raise ArtifactIntegrityError(
                f"{store.path(OOF_ARTIFACT)}: {len(not_training)} customers are not in the "
                f"training split of {SPLIT_ARTIFACT} (e.g. {not_training[:3].tolist()}); "
                "re-run notebook 03_modeling"
            )
        rows = scores.index.intersection(oof.index)
        scores.loc[rows, list(SCORE_COLUMNS)] = oof.loc[rows, list(SCORE_COLUMNS)]
    scores[SPLIT_COLUMN] = customer_split.astype("str")
    return scores
