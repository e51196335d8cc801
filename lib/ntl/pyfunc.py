"""The MLflow ``pyfunc`` face of a run: score a consumption frame as ``ntl score`` does.

``mlflow.pyfunc.load_model(uri).predict(frame)`` takes a canonical consumption frame (customers
as rows, ``CONS_NO`` as index or column, optional ``FLAG``, one column per day ``YYYY-MM-DD``)
and returns the ranked inspection list of ``ntl.score.score_consumption`` on the run's artifacts
(logged with the model). Kept apart from ``ntl.tracking`` so that importing it costs MLflow's
import only where a model is logged or loaded.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from ntl.frame import ID_COLUMN


class NtlScoringModel(mlflow.pyfunc.PythonModel):
    """Scores through ``ntl.score.score_consumption`` with the run folder logged as ``run``."""

    def load_context(self, context: Any) -> None:
        """Load the run's scoring artifacts once (hashes checked)."""
        from ntl.score import load_scoring_artifacts

        self.loaded = load_scoring_artifacts(context.artifacts["run"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """The ranked inspection list of `model_input`."""
        from ntl.score import score_consumption

        frame = model_input
        if ID_COLUMN in frame.columns:
            frame = frame.set_index(ID_COLUMN)
        frame.index = frame.index.astype(str).rename(ID_COLUMN)
        return score_consumption(frame, self.loaded).inspection_list
