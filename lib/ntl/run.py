"""Run the notebook chain 01 -> 04 in one process through papermill's API.

One process saves the seconds the papermill CLI spends importing for every notebook. Each notebook
gets only the parameters its ``parameters`` cell declares; a name no notebook declares is an error
(papermill itself would only warn). The first notebook that raises stops the chain: its partial
executed copy, with the error visible, stays in the reports folder.

Each kernel starts in ``notebooks/``, as JupyterLab starts it, so the chain exercises exactly what
an analyst re-running a cell meets; the notebooks resolve their paths from the project root
(``ntl.paths.project_path``). While a notebook runs, a progress bar counts its cells on a terminal
(a line per notebook elsewhere). The HTML copies leave the code out unless asked to keep it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntl.artifacts import NOTEBOOKS
from ntl.errors import NtlError, ParameterError
from ntl.paths import PROJECT_ROOT, project_path

ROOT = PROJECT_ROOT
NOTEBOOKS_DIR = ROOT / "notebooks"
RUNNER_KEYS = (
    "run_name",
    "show_code",
    "tracking",
)  # consumed by the runner, never passed to a notebook
# The kernel's own log (e.g. "running over TCP without encryption") is noise on every run; cell
# errors still arrive through the notebook's outputs and stop the chain.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


class ChainError(NtlError):
    """A notebook of the chain raised; the message carries the failing cell's error."""


@dataclass
class StageResult:
    """What one notebook of the chain did."""

    notebook: str
    seconds: float
    output: Path
    html: Path | None = None


@dataclass
class ChainResult:
    """The run as a whole: where it wrote and how long each notebook took."""

    artifacts_dir: Path
    reports_dir: Path
    stages: list[StageResult] = field(default_factory=list)


def parse_value(text: str) -> Any:
    """A ``--set`` value typed as YAML would type it (7 -> int, 0.5 -> float, null -> None)."""
    return yaml.safe_load(text) if text.strip() else ""


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["seed=7", "source=file"]`` -> ``{"seed": 7, "source": "file"}``."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = parse_value(value)
    return overrides


def load_params(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> dict:
    """Parameters from a flat YAML file, with `overrides` applied on top."""
    params: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ParameterError(f"parameter file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ParameterError(f"{path}: expected a mapping of parameter names to values")
        params.update(loaded)
    params.update(overrides or {})
    return params


def notebook_path(stem: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """The file of notebook `stem` (e.g. ``02_preprocessing_clustering``)."""
    return notebooks_dir / f"{stem}.ipynb"


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """The names and defaults a notebook's ``parameters`` cell declares."""
    import papermill

    return {
        name: spec["default"] for name, spec in papermill.inspect_notebook(str(notebook)).items()
    }


def notebook_defaults(stem: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Any]:
    """The defaults of notebook `stem`'s ``parameters`` cell as Python values (the one source of
    every notebook parameter's default; tests read them here instead of copying them)."""
    import ast

    declared = declared_parameters(notebook_path(stem, notebooks_dir))
    return {name: ast.literal_eval(text) for name, text in declared.items()}


def select_notebooks(
    start: str | None, stop: str | None, notebooks: Iterable[str] = NOTEBOOKS
) -> list[str]:
    """The notebooks from `start` to `stop` inclusive, each given by number (``02``) or stem."""
    stems = list(notebooks)

    def position(ref: str | None, default: int) -> int:
        if ref is None:
            return default
        matches = [i for i, stem in enumerate(stems) if stem == ref or stem.split("_")[0] == ref]
        if not matches:
            raise ParameterError(f"no notebook {ref!r}; choose from {', '.join(stems)}")
        return matches[0]

    first, last = position(start, 0), position(stop, len(stems) - 1)
    if first > last:
        raise ParameterError(f"--from {start} comes after --to {stop}")
    return stems[first : last + 1]


def resolve_run_dirs(params: dict[str, Any], run_name: str) -> tuple[Path, Path]:
    """Absolute artifacts and reports folders: given ones, or ``artifacts/<run>``, ``reports/<run>``.

    Relative folders are relative to the project root, as in the notebooks themselves.
    """
    artifacts = project_path(params.get("artifacts_dir") or Path("artifacts") / run_name)
    reports = project_path(params.get("reports_dir") or Path("reports") / run_name)
    return artifacts.resolve(), reports.resolve()


def check_known(params: Mapping[str, Any], declared: Mapping[str, dict[str, Any]]) -> None:
    """Raise ParameterError for any parameter no notebook of the chain declares."""
    known = set(RUNNER_KEYS).union(*[set(d) for d in declared.values()])
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; the notebooks declare: "
            f"{', '.join(sorted(known - set(RUNNER_KEYS)))}"
        )


def export_html(notebook: Path, show_code: bool = False) -> Path:
    """A self-contained HTML copy of an executed notebook, beside it.

    Reviewers read the argument, not the code: code cells are left out unless `show_code` (the
    executed ``.ipynb`` beside it always keeps them).
    """
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(embed_images=True, exclude_input=not show_code)
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def _failure_message(stem: str, output: Path, exc: Exception) -> str:
    lines = [f"{stem} failed; the partial notebook with the error is {output}"]
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    lines.append(f"{ename}: {evalue}")
    cell = getattr(exc, "exec_count", None)
    if cell is not None:
        lines.append(f"(cell [{cell}])")
    return "\n".join(lines)


def run_chain(
    params: Mapping[str, Any],
    *,
    start: str | None = None,
    stop: str | None = None,
    run_name: str = "default",
    notebooks_dir: Path = NOTEBOOKS_DIR,
    html: bool = True,
    echo: Callable[[str], None] = print,
    progress: bool | None = None,
) -> ChainResult:
    """Execute the chain with `params`; raise ChainError at the first notebook that fails.

    `progress`: a bar of the cells per notebook on stderr; None shows it on a terminal only.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    all_stems = sorted(p.stem for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    declared = {stem: declared_parameters(notebook_path(stem, notebooks_dir)) for stem in all_stems}
    params = dict(params)
    run_name = str(params.pop("run_name", run_name))
    show_code = params.pop("show_code", False)
    if not isinstance(show_code, bool):
        raise ParameterError(f"show_code must be true or false, got {show_code!r}")
    params.pop("tracking", None)  # main_run and ntl retrain log to MLflow after the chain
    check_known(params, declared)
    artifacts_dir, reports_dir = resolve_run_dirs(params, run_name)
    params.update(artifacts_dir=str(artifacts_dir), reports_dir=str(reports_dir))
    reports_dir.mkdir(parents=True, exist_ok=True)
    artifacts_dir.mkdir(parents=True, exist_ok=True)

    result = ChainResult(artifacts_dir, reports_dir)
    chosen = select_notebooks(start, stop, all_stems)
    for number, stem in enumerate(chosen, start=1):
        given = {k: v for k, v in params.items() if k in declared[stem]}
        output = reports_dir / f"{stem}.ipynb"
        label = f"[{number}/{len(chosen)}] {stem}"
        show_bar = sys.stderr.isatty() if progress is None else progress
        if not show_bar:
            echo(f"{label} running ...")
        started = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook_path(stem, notebooks_dir)),
                str(output),
                parameters=given,
                kernel_name="python3",
                cwd=str(notebooks_dir),
                progress_bar=progress_bar(label) if show_bar else False,
                log_output=False,
                extra_arguments=KERNEL_ARGUMENTS,
            )
        except PapermillExecutionError as exc:
            if html:
                export_html(output, show_code)
            echo(
                f"[{number}/{len(chosen)}] {stem} FAILED after {time.perf_counter() - started:.1f} s"
            )
            raise ChainError(_failure_message(stem, output, exc)) from None
        seconds = time.perf_counter() - started
        page = export_html(output, show_code) if html else None
        result.stages.append(StageResult(stem, seconds, output, page))
        echo(f"[{number}/{len(chosen)}] {stem} done in {seconds:.1f} s -> {output}")
    echo(f"artifacts: {artifacts_dir}\nreports:   {reports_dir}")
    return result


def progress_bar(label: str) -> dict[str, Any]:
    """papermill's tqdm settings for one notebook: its label, counting cells, on stderr."""
    return {"desc": label, "unit": "cell", "file": sys.stderr, "leave": False, "ncols": 80}


def main_run(
    params_file: str | None,
    sets: list[str],
    start: str | None,
    stop: str | None,
    html: bool = True,
) -> int:
    """CLI entry: run the chain, print progress, return the process exit code."""
    params = load_params(params_file, parse_overrides(sets))
    run_name = Path(params_file).stem if params_file else "default"
    try:
        result = run_chain(params, start=start, stop=stop, run_name=run_name, html=html)
    except ChainError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if stop is None:  # the chain ran to 04: one MLflow run (a tracking failure only warns)
        from ntl.tracking import track_chain_run

        track_chain_run(result.artifacts_dir, result.reports_dir, params)
    return 0
