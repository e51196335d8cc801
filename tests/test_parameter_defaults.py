"""One source per parameter default: the notebooks' parameters cells.

Where a library function or dataclass must also have a default (a caller outside the chain, such as
``ntl score`` or a unit test, relies on it), this file keeps that copy equal to the notebook's.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields

import pytest

from ntl.drift import drift_baseline
from ntl.evaluate.record import EvaluationSettings
from ntl.io import read_meter_data
from ntl.models import XGB_DEFAULTS, ModelParameters, split_customers
from ntl.preprocess import PreprocessConfig
from ntl.risk import build_inspection_list
from ntl.run import notebook_defaults
from ntl.synth import generate_consumption
from ntl.thresholds import fit_thresholds


def signature_default(function, name: str):
    return inspect.signature(function).parameters[name].default


def dataclass_default(cls, name: str):
    spec = next(f for f in fields(cls) if f.name == name)
    return spec.default_factory() if spec.default is MISSING else spec.default


# (notebook, parameter) -> the library default that must equal it
COPIES = {
    ("01_data_generation_eda", "n_customers"): lambda: signature_default(
        generate_consumption, "n_customers"
    ),
    ("01_data_generation_eda", "n_days"): lambda: signature_default(generate_consumption, "n_days"),
    ("01_data_generation_eda", "start_date"): lambda: signature_default(
        generate_consumption, "start"
    ),
    ("01_data_generation_eda", "theft_rate"): lambda: signature_default(
        generate_consumption, "theft_rate"
    ),
    ("01_data_generation_eda", "missing_rate"): lambda: signature_default(
        generate_consumption, "missing_rate"
    ),
    ("01_data_generation_eda", "seed"): lambda: signature_default(generate_consumption, "seed"),
    **{
        ("01_data_generation_eda", name): (
            lambda name=name: signature_default(read_meter_data, name)
        )
        for name in (
            "layout",
            "id_column",
            "label_column",
            "date_column",
            "value_column",
            "negative_readings",
            "min_days",
        )
    },
    ("02_preprocessing_clustering", "split_fractions"): lambda: list(
        signature_default(split_customers, "fractions")
    ),
    ("02_preprocessing_clustering", "k_min"): lambda: PreprocessConfig().k_range[0],
    ("02_preprocessing_clustering", "k_max"): lambda: PreprocessConfig().k_range[1],
    **{
        ("02_preprocessing_clustering", spec.name): (
            lambda name=spec.name: dataclass_default(PreprocessConfig, name)
        )
        for spec in fields(PreprocessConfig)
        if spec.name != "k_range"
    },
    **{
        ("03_modeling", spec.name): (
            lambda name=spec.name: dataclass_default(ModelParameters, name)
        )
        for spec in fields(ModelParameters)
        if spec.name not in ("xgb_params", "rf_max_depth")  # not notebook parameters
    },
    **{
        ("03_modeling", f"xgb_{name}"): (lambda name=name: XGB_DEFAULTS[name])
        for name in XGB_DEFAULTS
        if name != "gamma"  # not a notebook parameter
    },
    **{
        ("03_modeling", name): (lambda name=name: signature_default(fit_thresholds, name))
        for name in ("inspection_share", "inspection_count", "watchlist_multiple")
    },
    ("04_evaluation_risk", "n_reasons"): lambda: signature_default(
        build_inspection_list, "n_reasons"
    ),
    ("04_evaluation_risk", "reasons_for_top"): lambda: signature_default(
        build_inspection_list, "reasons_for_top"
    ),
    ("04_evaluation_risk", "psi_bins"): lambda: signature_default(drift_baseline, "bins"),
}


@pytest.mark.parametrize(("notebook", "name"), sorted(COPIES))
def test_library_default_equals_the_notebooks(notebook, name):
    defaults = notebook_defaults(notebook)
    assert name in defaults, f"{notebook} declares no parameter {name!r}"
    assert COPIES[notebook, name]() == defaults[name]


def test_evaluation_settings_have_no_defaults_of_their_own():
    """Their one source is notebook 04's parameters cell."""
    assert all(spec.default is MISSING for spec in fields(EvaluationSettings))
    settings = EvaluationSettings.from_parameters(notebook_defaults("04_evaluation_risk"))
    assert settings.n_bootstrap == notebook_defaults("04_evaluation_risk")["n_bootstrap"]
