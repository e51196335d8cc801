"""The model file MLflow logs with each run ("models from code"): no pickled Python object.

``mlflow.pyfunc.log_model(python_model=<this file>)`` stores this file's source with the model;
loading the model runs it, which declares ``ntl.pyfunc.NtlScoringModel`` as the model.
"""

from mlflow.models import set_model

from ntl.pyfunc import NtlScoringModel

set_model(NtlScoringModel())
