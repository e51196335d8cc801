"""The papermill runner: parameters, notebook selection, fail-fast, run folders."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from ntl.errors import ParameterError
from ntl.run import (
    ChainError,
    check_known,
    load_params,
    parse_overrides,
    run_chain,
    select_notebooks,
)

STEMS = ["01_alpha", "02_beta", "03_gamma"]


def write_notebook(path, parameters: str, body: str) -> None:
    """A two-cell notebook: a tagged parameters cell, then `body`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, str(path))


@pytest.fixture
def chain_dir(tmp_path):
    """Three notebooks; 02 raises when asked to, 03 writes a marker file."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_alpha.ipynb", "seed = 1\nartifacts_dir = ''", "x = seed * 2")
    write_notebook(
        folder / "02_beta.ipynb",
        "fail = False\nartifacts_dir = ''",
        "if fail:\n    raise ValueError('forced failure in beta')",
    )
    write_notebook(
        folder / "03_gamma.ipynb",
        "artifacts_dir = ''\nreports_dir = ''",
        "import pathlib\npathlib.Path(artifacts_dir, 'gamma.txt').write_text('ran')",
    )
    return folder


def test_overrides_are_typed_like_yaml():
    assert parse_overrides(["seed=7", "share=0.05", "name=abc", "none=null", "flag=true"]) == {
        "seed": 7,
        "share": 0.05,
        "name": "abc",
        "none": None,
        "flag": True,
    }


def test_override_without_equals_is_an_error():
    with pytest.raises(ParameterError, match="--set expects key=value, got 'seed'"):
        parse_overrides(["seed"])


def test_load_params_applies_overrides_on_top(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("seed: 1\nn_customers: 500\n")
    assert load_params(path, {"seed": 9}) == {"seed": 9, "n_customers": 500}
    with pytest.raises(ParameterError, match="does not exist"):
        load_params(tmp_path / "missing.yaml")
    path.write_text("- a list\n")
    with pytest.raises(ParameterError, match="expected a mapping"):
        load_params(path)


def test_select_notebooks_by_number_or_name():
    assert select_notebooks("02", None, STEMS) == ["02_beta", "03_gamma"]
    assert select_notebooks(None, "02_beta", STEMS) == ["01_alpha", "02_beta"]
    assert select_notebooks("02", "02", STEMS) == ["02_beta"]
    with pytest.raises(ParameterError, match="no notebook '07'"):
        select_notebooks("07", None, STEMS)
    with pytest.raises(ParameterError, match="--from 03 comes after --to 01"):
        select_notebooks("03", "01", STEMS)


def test_unknown_parameter_is_an_error_listing_known_ones():
    declared = {"01_alpha": {"seed": 1}, "02_beta": {"fail": False}}
    check_known({"seed": 3, "run_name": "x"}, declared)
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) sede; .*declare: fail, seed"):
        check_known({"sede": 3}, declared)


def test_chain_runs_in_order_and_writes_reports(chain_dir, tmp_path):
    lines: list[str] = []
    result = run_chain(
        {"artifacts_dir": str(tmp_path / "a"), "reports_dir": str(tmp_path / "r")},
        notebooks_dir=chain_dir,
        echo=lines.append,
    )
    assert [s.notebook for s in result.stages] == STEMS
    assert all((tmp_path / "r" / f"{s}.html").exists() for s in STEMS)
    assert (tmp_path / "a" / "gamma.txt").read_text() == "ran"
    assert lines[0] == "[1/3] 01_alpha running ..."  # said before the notebook's silence
    assert lines[1].startswith("[1/3] 01_alpha done in ")
    executed = json.loads((tmp_path / "r" / "01_alpha.ipynb").read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert "artifacts_dir" in "".join(injected[0]["source"])


def test_chain_fails_fast_and_keeps_the_partial_notebook(chain_dir, tmp_path):
    lines: list[str] = []
    with pytest.raises(ChainError, match="02_beta failed") as failure:
        run_chain(
            {
                "fail": True,
                "artifacts_dir": str(tmp_path / "a"),
                "reports_dir": str(tmp_path / "r"),
            },
            notebooks_dir=chain_dir,
            echo=lines.append,
        )
    assert "ValueError: forced failure in beta" in str(failure.value)
    assert lines[-1].startswith("[2/3] 02_beta FAILED")
    partial = (tmp_path / "r" / "02_beta.ipynb").read_text()
    assert "forced failure in beta" in partial
    assert (tmp_path / "r" / "02_beta.html").exists()
    assert not (tmp_path / "r" / "03_gamma.ipynb").exists()


def test_cli_exits_non_zero_on_unknown_parameter(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "ntl", "run", "--set", "no_such_knob=1", "--no-html"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "unknown parameter(s) no_such_knob" in completed.stderr


def test_kernels_start_in_the_notebooks_folder_without_log_noise(tmp_path, capfd):
    """As JupyterLab starts them: cwd notebooks/; the kernel's TCP warning is not printed."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(
        folder / "01_cwd.ipynb",
        "artifacts_dir = ''\nreports_dir = ''",
        "import os, pathlib\npathlib.Path(artifacts_dir, 'cwd.txt').write_text(os.getcwd())",
    )
    run_chain(
        {"artifacts_dir": str(tmp_path / "a"), "reports_dir": str(tmp_path / "r")},
        notebooks_dir=folder,
        html=False,
        echo=lambda line: None,
    )
    assert (tmp_path / "a" / "cwd.txt").read_text() == str(folder)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out


def test_progress_bar_counts_the_cells_of_each_notebook(chain_dir, tmp_path, capfd):
    run_chain(
        {"artifacts_dir": str(tmp_path / "a"), "reports_dir": str(tmp_path / "r")},
        notebooks_dir=chain_dir,
        html=False,
        echo=lambda line: None,
        progress=True,
    )
    err = capfd.readouterr().err
    for number, stem in enumerate(STEMS, start=1):
        assert f"[{number}/3] {stem}" in err
    assert "cell" in err


def test_html_reports_hide_code_unless_asked(chain_dir, tmp_path):
    params = {"artifacts_dir": str(tmp_path / "a"), "reports_dir": str(tmp_path / "r")}
    run_chain(params, notebooks_dir=chain_dir, stop="01", echo=lambda line: None)
    hidden = (tmp_path / "r" / "01_alpha.html").read_text()
    assert "x = seed * 2" not in hidden and "x </span>" not in hidden
    executed = (tmp_path / "r" / "01_alpha.ipynb").read_text()
    assert "x = seed * 2" in executed  # the executed notebook keeps the code
    run_chain(
        {**params, "show_code": True}, notebooks_dir=chain_dir, stop="01", echo=lambda line: None
    )
    shown = (tmp_path / "r" / "01_alpha.html").read_text()
    assert "seed" in shown and "2" in shown and len(shown) > len(hidden)
    with pytest.raises(ParameterError, match="show_code must be true or false, got 'yes'"):
        run_chain({**params, "show_code": "yes"}, notebooks_dir=chain_dir, stop="01")


def test_relative_run_folders_are_under_the_project_root(tmp_path, monkeypatch):
    from ntl.paths import PROJECT_ROOT
    from ntl.run import resolve_run_dirs

    monkeypatch.chdir(tmp_path)
    artifacts, reports = resolve_run_dirs({"artifacts_dir": "artifacts/x"}, "x")
    assert artifacts == PROJECT_ROOT / "artifacts" / "x"
    assert reports == PROJECT_ROOT / "reports" / "x"


def make_dry_run(*targets: str) -> str:
    """The commands `make -n` would run for `targets` in the project folder."""
    from ntl.paths import PROJECT_ROOT

    completed = subprocess.run(
        ["make", "-n", "--no-print-directory", *targets],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout


def test_make_lab_starts_as_root_too():
    import os

    lab = make_dry_run("lab")
    assert "jupyter lab" in lab
    assert ("--allow-root" in lab) == (os.getuid() == 0)


def test_make_score_writes_under_reports_by_default():
    score = make_dry_run("score", "INPUT=data/next_month.csv")
    assert '--out "reports/score/inspection_list.csv"' in score
    assert 'mkdir -p "reports/score/"' in score


def _notebook_with_parameters(path, source: str):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    nbformat.write(notebook, path)
    return path


def test_declared_parameters_are_read_as_literals_and_recorded_from_globals(tmp_path):
    from ntl.run import declared_parameters, parameter_values

    notebook = _notebook_with_parameters(
        tmp_path / "01_t.ipynb", 'seed = 42  # x\nshares = [0.6, 0.4]\nname = None\npath = "a/b"'
    )
    assert declared_parameters(notebook) == {
        "seed": 42,
        "shares": [0.6, 0.4],
        "name": None,
        "path": "a/b",
    }
    namespace = {"seed": 7, "shares": [1.0], "name": "x", "path": "c", "other": 1}
    values = parameter_values("01_t", namespace, notebooks_dir=tmp_path)
    assert values == {"seed": 7, "shares": [1.0], "name": "x", "path": "c"}
    _notebook_with_parameters(tmp_path / "02_bad.ipynb", "import os\nseed = 1")
    with pytest.raises(ParameterError, match="the parameters cell may only assign names"):
        declared_parameters(tmp_path / "02_bad.ipynb")


def test_reports_keep_only_the_cells_for_their_kind_of_data(tmp_path):
    """Observed: attack names and "Spring Festival week" in a report about a real file."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(
        "source = 'synthetic'\ndata_path = ''\nartifacts_dir = ''\nreports_dir = ''"
    )
    params.metadata["tags"] = ["parameters"]
    meter_file = tmp_path / "meters.csv"
    meter_file.write_text("CONS_NO,2014-01-01\na,1\n")
    synthetic = nbformat.v4.new_markdown_cell("attack h6 reverses the week")
    synthetic.metadata["tags"] = ["synthetic-only"]
    real = nbformat.v4.new_markdown_cell("a meter file has no onsets")
    real.metadata["tags"] = ["file-only"]
    nb.cells = [params, nbformat.v4.new_markdown_cell("for everyone"), synthetic, real]
    nbformat.write(nb, str(folder / "01_only.ipynb"))
    for source, kept, gone in (("file", "a meter file", "attack h6"), ("synthetic", "attack h6", "a meter file")):  # fmt: skip
        reports = tmp_path / source
        run_chain(
            {
                "source": source,
                "data_path": str(meter_file) if source == "file" else "",
                "artifacts_dir": str(tmp_path / "a"),
                "reports_dir": str(reports),
            },
            notebooks_dir=folder,
            echo=lambda line: None,
        )
        for suffix in (".ipynb", ".html"):
            text = (reports / f"01_only{suffix}").read_text()
            assert "for everyone" in text and kept in text and gone not in text, (source, suffix)


def test_a_run_from_02_on_keeps_the_cells_for_the_data_in_the_folder(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_data.ipynb", "source = 'synthetic'\nartifacts_dir = ''", "x = 1")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("artifacts_dir = ''\nreports_dir = ''")
    params.metadata["tags"] = ["parameters"]
    synthetic = nbformat.v4.new_markdown_cell("attack h6 reverses the week")
    synthetic.metadata["tags"] = ["synthetic-only"]
    nb.cells = [params, synthetic]
    nbformat.write(nb, str(folder / "02_model.ipynb"))
    artifacts = tmp_path / "a"
    artifacts.mkdir()
    (artifacts / "consumption.parquet").write_bytes(b"a meter file's data, no ground truth")
    run_chain(
        {"artifacts_dir": str(artifacts), "reports_dir": str(tmp_path / "r")},
        start="02",
        notebooks_dir=folder,
        html=False,
        echo=lambda line: None,
    )
    assert "attack h6" not in (tmp_path / "r" / "02_model.ipynb").read_text()
