"""``ntl serve``: the web app and JSON API over a finished run's models.

``create_app`` (app.py) builds the FastAPI app; ``serve`` (main.py) checks the options, loads
the run and runs it under uvicorn. Pages and API call ``ntl.score`` for every number, so they
agree with ``ntl score`` to the last digit.
"""

from ntl.serve.app import create_app
from ntl.serve.config import ServeConfig, build_config

__all__ = ["ServeConfig", "build_config", "create_app"]
