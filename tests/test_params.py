"""Every parameter validated before 01 starts; bad parameter files and folders get one line, exit 2."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ntl import cli
from ntl.errors import ParameterError
from ntl.params import declared_defaults, validate_params
from ntl.run import NOTEBOOKS, ROOT, declared_parameters, notebook_path
from tests.test_outputs import shared_tmp, unprivileged  # noqa: F401 (fixture)

SMOKE = ROOT / "params" / "smoke.yaml"


@pytest.fixture(scope="module")
def declared() -> dict:
    return {stem: declared_parameters(notebook_path(stem)) for stem in NOTEBOOKS}


def test_defaults_are_read_as_python_values(declared):
    defaults = declared_defaults(declared)
    assert defaults["n_customers"] == 10000 and defaults["split_fractions"] == [0.6, 0.2, 0.2]
    assert defaults["n_clusters"] is None and defaults["source"] == "synthetic"
    validate_params({}, declared)  # the notebooks' own defaults are valid
    validate_params({"seed": 7, "n_customers": 400, "outlier_sigma": float("inf")}, declared)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_customers": "abc"}, "n_customers must be an integer, got 'abc' (str)"),
        ({"n_customers": 0}, "n_customers must be >= 1, got 0"),
        ({"n_customers": True}, "n_customers must be an integer, got True"),
        ({"seed": -1}, "seed must be an integer in [0, 2**32), got -1"),
        ({"seed": 1.5}, "seed must be an integer, got 1.5"),
        ({"split_fractions": [0.5, 0.5]}, "split_fractions: split fractions must be"),
        ({"split_fractions": [0.6, 0.2, 0.3]}, "split fractions must sum to 1"),
        ({"split_fractions": "0.6,0.2,0.2"}, "split_fractions must be a list"),
        ({"split_fractions": [0.6, "a", 0.4]}, "split_fractions must be a list of three numbers"),
        ({"inspection_share": 0}, "inspection_share must be in (0, 1], got 0"),
        ({"inspection_share": 1.5}, "inspection_share must be in (0, 1], got 1.5"),
        ({"inspection_share": float("nan")}, "inspection_share must be a finite number"),
        ({"theft_rate": -0.1}, "theft_rate must be in [0, 1]"),
        ({"source": "database"}, "source must be one of 'synthetic', 'file'"),
        ({"start_date": "someday"}, "start_date must be a date (YYYY-MM-DD)"),
        ({"k_min": 5, "k_max": 3}, "k_max (3) must be >= k_min (5)"),
        ({"calibration": "magic"}, "calibration must be one of 'isotonic', 'sigmoid'"),
        ({"top_k": []}, "top_k must be a non-empty list"),
        ({"source": "file", "data_path": "/nowhere.csv"}, "data_path /nowhere.csv does not exist"),
        ({"max_zero_share": 2.0}, "max_zero_share must be in [0, 1]"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(declared, params, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        validate_params(params, declared)


def test_a_bad_value_never_touches_a_finished_folder(tmp_path, capsys):
    """`n_customers=abc` used to run 01 into the folder and fail with "invalid literal for int()"."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "keep.txt").write_text("a finished run")
    code = cli.main(
        [
            "run",
            "--params",
            str(SMOKE),
            "--set",
            "n_customers=abc",
            "--set",
            f"artifacts_dir={artifacts}",
            "--set",
            f"reports_dir={tmp_path / 'reports'}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: invalid parameter(s): n_customers must be an integer, got 'abc' (str)"]
    assert sorted(p.name for p in artifacts.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "reports").exists()


def _params_file(tmp_path, content: bytes | None, name: str = "p.yaml"):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "sets", "message"),
    [
        (
            b"seed: [1,\n",
            [],
            r"parameter file \S+p\.yaml is not valid YAML: .* line \d+, column \d+",
        ),
        (b"seed: 1\n\tbad: 2\n", [], r"parameter file \S+p\.yaml is not valid YAML"),
        (b"seed: 7\n", ["split_fractions=[1,"], r"--set split_fractions=\[1,: not a valid YAML"),
        (None, [], r"parameter file \S+p\.yaml is a directory; give a YAML file"),
        (
            b"seed: 7\nname: caf\xe9\n",
            [],
            r"parameter file \S+p\.yaml is not UTF-8 text \(at byte offset 17\)",
        ),
        (b"- 1\n- 2\n", [], r"p\.yaml: expected a mapping of parameter names to values"),
    ],
)
def test_bad_parameter_files_get_one_line_and_exit_2(tmp_path, capsys, content, sets, message):
    path = _params_file(tmp_path, content)
    args = ["run", "--params", str(path)]
    for pair in sets:
        args += ["--set", pair]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err


@pytest.mark.parametrize("which", ["artifacts_dir", "reports_dir"])
def test_a_run_folder_that_is_a_file_is_named(tmp_path, capsys, which):
    (tmp_path / "plain").write_text("not a folder")
    other = "reports_dir" if which == "artifacts_dir" else "artifacts_dir"
    args = [
        "run",
        "--params",
        str(SMOKE),
        "--set",
        f"{which}={tmp_path / 'plain'}",
        "--set",
        f"{other}={tmp_path / 'other'}",
    ]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {which} {tmp_path / 'plain'} is not a directory"]


def test_a_read_only_reports_dir_is_refused_before_01(shared_tmp):  # noqa: F811
    read_only = shared_tmp / "reports"
    read_only.mkdir()
    read_only.chmod(0o555)
    artifacts = shared_tmp / "artifacts"
    artifacts.mkdir()
    artifacts.chmod(0o777)
    completed = subprocess.run(
        unprivileged(
            [
                sys.executable,
                "-m",
                "ntl",
                "run",
                "--set",
                f"artifacts_dir={artifacts}",
                "--set",
                f"reports_dir={read_only}",
                "--set",
                "n_customers=50",
            ]
        ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=shared_tmp,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"error: reports_dir {read_only} is not writable ({read_only})"
    ]
    assert list(artifacts.iterdir()) == []
