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

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntl.artifacts import NOTEBOOKS
from ntl.errors import NtlError, ParameterError
from ntl.outputs import remove_stale_temporaries
from ntl.params import declared_defaults, validate_params
from ntl.paths import PROJECT_ROOT, project_path
from ntl.runlock import RunLock

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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what and where (line, column)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{what}{where}"


def parse_value(text: str, key: str = "value") -> Any:
    """A ``--set`` value typed as YAML would type it (7 -> int, 0.5 -> float, null -> None)."""
    if not text.strip():
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(
            f"--set {key}={text}: not a valid YAML value ({_yaml_problem(exc)})"
        ) from None


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["seed=7", "source=file"]`` -> ``{"seed": 7, "source": "file"}``."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = parse_value(value, key.strip())
    return overrides


def load_params(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> dict:
    """Parameters from a flat YAML file, with `overrides` applied on top."""
    params: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ParameterError(f"parameter file {path} does not exist")
        if path.is_dir():
            raise ParameterError(f"parameter file {path} is a directory; give a YAML file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ParameterError(
                f"parameter file {path} is not UTF-8 text (at byte offset {exc.start}); save it as UTF-8"
            ) from None
        except OSError as exc:
            raise ParameterError(f"parameter file {path} cannot be read: {exc.strerror}") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ParameterError(
                f"parameter file {path} is not valid YAML: {_yaml_problem(exc)}"
            ) from None
        if not isinstance(loaded, dict):
            raise ParameterError(f"{path}: expected a mapping of parameter names to values")
        params.update(loaded)
    params.update(overrides or {})
    return params


def notebook_path(stem: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """The file of notebook `stem` (e.g. ``02_preprocessing_clustering``)."""
    return notebooks_dir / f"{stem}.ipynb"


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """The names and default values a notebook's ``parameters`` cell declares, in its order.

    Each line of that cell is ``name = literal  # comment`` (what papermill overrides); the
    defaults are read with ``ast.literal_eval``, so reading them never runs notebook code.
    """
    import ast
    import json

    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise ParameterError(f"{notebook}: no cell is tagged 'parameters'")
    defaults: dict[str, Any] = {}
    for node in ast.parse("".join(tagged[0]["source"])).body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise ParameterError(f"{notebook}: the parameters cell may only assign names")
        defaults[node.targets[0].id] = ast.literal_eval(node.value)
    return defaults


def notebook_defaults(stem: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Any]:
    """The defaults of notebook `stem`'s ``parameters`` cell as Python values (the one source of
    every notebook parameter's default; tests read them here instead of copying them)."""
    return declared_defaults({stem: declared_parameters(notebook_path(stem, notebooks_dir))})


def parameter_values(
    stem: str, namespace: Mapping[str, Any], notebooks_dir: Path = NOTEBOOKS_DIR
) -> dict[str, Any]:
    """The values the parameters of notebook `stem` have in `namespace` (its ``globals()``), in
    the order its parameters cell declares them: what the notebook records as its PARAMETERS
    without naming every parameter a second time."""
    return {name: namespace[name] for name in notebook_defaults(stem, notebooks_dir)}


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


def check_run_dirs(artifacts_dir: Path, reports_dir: Path) -> None:
    """Raise ParameterError unless both run folders are (or can be made) writable folders."""
    for name, folder in (("artifacts_dir", artifacts_dir), ("reports_dir", reports_dir)):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            where = "" if existing == folder else f" ({existing} is a file)"
            raise ParameterError(f"{name} {folder} is not a directory{where}")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ParameterError(f"{name} {folder} is not writable ({existing})")


def check_known(params: Mapping[str, Any], declared: Mapping[str, dict[str, Any]]) -> None:
    """Raise ParameterError for any parameter no notebook of the chain declares."""
    known = set(RUNNER_KEYS).union(*[set(d) for d in declared.values()])
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; the notebooks declare: "
            f"{', '.join(sorted(known - set(RUNNER_KEYS)))}"
        )


# Cells written for one kind of data only: a report about a meter file must not speak of attack
# types or the generator's holiday calendar, nor a synthetic report of what a file lacks.
SYNTHETIC_ONLY, FILE_ONLY = "synthetic-only", "file-only"


def prune_report(notebook: Path, synthetic: bool) -> int:
    """Remove from an executed notebook the cells tagged for the other kind of data.

    Returns how many were removed; the source notebooks keep them all.
    """
    import nbformat

    drop = FILE_ONLY if synthetic else SYNTHETIC_ONLY
    executed = nbformat.read(str(notebook), as_version=4)
    kept = [cell for cell in executed.cells if drop not in cell.get("metadata", {}).get("tags", [])]
    removed = len(executed.cells) - len(kept)
    if removed:
        executed.cells = kept
        nbformat.write(executed, str(notebook))
    return removed


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


@dataclass
class StageOptions:
    """How every notebook of one chain is run and reported."""

    notebooks_dir: Path
    reports_dir: Path
    html: bool
    show_code: bool
    synthetic: bool  # which data-specific cells the reports keep
    progress: bool | None
    echo: Callable[[str], None]


def _run_stage(
    stem: str, label: str, given: Mapping[str, Any], options: StageOptions
) -> StageResult:
    """Execute one notebook with its parameters; ChainError when it raises."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = options.reports_dir / f"{stem}.ipynb"
    show_bar = sys.stderr.isatty() if options.progress is None else options.progress
    if not show_bar:
        options.echo(f"{label} running ...")
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook_path(stem, options.notebooks_dir)),
            str(output),
            parameters=dict(given),
            kernel_name="python3",
            cwd=str(options.notebooks_dir),
            progress_bar=progress_bar(label) if show_bar else False,
            log_output=False,
            extra_arguments=KERNEL_ARGUMENTS,
        )
    except PapermillExecutionError as exc:
        prune_report(output, options.synthetic)
        if options.html:
            export_html(output, options.show_code)
        options.echo(f"{label} FAILED after {time.perf_counter() - started:.1f} s")
        raise ChainError(_failure_message(stem, output, exc)) from None
    seconds = time.perf_counter() - started
    prune_report(output, options.synthetic)
    page = export_html(output, options.show_code) if options.html else None
    options.echo(f"{label} done in {seconds:.1f} s -> {output}")
    return StageResult(stem, seconds, output, page)


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
    on_start: Callable[[], object] | None = None,
) -> ChainResult:
    """Execute the chain with `params`; raise ChainError at the first notebook that fails.

    `progress`: a bar of the cells per notebook on stderr; None shows it on a terminal only.
    `on_start` is called once the parameters are valid and the run holds its lock, before the
    first notebook (the CLI starts MLflow's import there, to overlap with the notebooks).
    Every parameter is validated and both folders checked before anything is written; the run
    holds the artifacts folder's lock (``ntl.runlock``) from its first to its last notebook.
    """
    all_stems = sorted(p.stem for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    declared = {stem: declared_parameters(notebook_path(stem, notebooks_dir)) for stem in all_stems}
    params = dict(params)
    run_name = str(params.pop("run_name", run_name))
    show_code = params.pop("show_code", False)
    if not isinstance(show_code, bool):
        raise ParameterError(f"show_code must be true or false, got {show_code!r}")
    if not run_name or Path(run_name).name != run_name or run_name in (".", ".."):
        raise ParameterError(f"run_name must be a plain folder name, got {run_name!r}")
    params.pop("tracking", None)  # main_run and ntl retrain log to MLflow after the chain
    check_known(params, declared)
    validate_params(params, declared)
    chosen = select_notebooks(start, stop, all_stems)
    artifacts_dir, reports_dir = resolve_run_dirs(params, run_name)
    check_run_dirs(artifacts_dir, reports_dir)
    # the cells the reports keep: for the run's source (01's default: synthetic), or, on a run
    # from 02 on without it, for the data already in the folder
    synthetic = (
        str(params["source"]) == "synthetic"
        if "source" in params
        else chosen[0] == all_stems[0]
        or not (
            (artifacts_dir / "consumption.parquet").exists()
            or (artifacts_dir / "consumption_dataset.json").exists()
        )
        or (artifacts_dir / "ground_truth.parquet").exists()
    )
    params.update(artifacts_dir=str(artifacts_dir), reports_dir=str(reports_dir))
    reports_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(artifacts_dir).acquire()
    if lock.stale:
        echo(
            f"note: the previous run into {artifacts_dir} (pid {lock.stale.get('pid', '?')}, "
            f"in {lock.stale.get('stage') or 'its start'}) did not finish; this run replaces it"
        )
    finished = False
    try:
        if on_start is not None:
            on_start()
        remove_stale_temporaries(artifacts_dir)
        remove_stale_temporaries(reports_dir)
        result = ChainResult(artifacts_dir, reports_dir)
        for number, stem in enumerate(chosen, start=1):
            lock.update(stage=stem)
            given = {k: v for k, v in params.items() if k in declared[stem]}
            label = f"[{number}/{len(chosen)}] {stem}"
            options = StageOptions(
                notebooks_dir, reports_dir, html, show_code, synthetic, progress, echo
            )
            result.stages.append(_run_stage(stem, label, given, options))
        finished = True
    finally:
        lock.release(finished)
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
    from ntl import tracking

    params = load_params(params_file, parse_overrides(sets))
    run_name = Path(params_file).stem if params_file else "default"
    # A run to 04 is logged to MLflow afterwards: its import starts with the notebooks.
    warm_up = (lambda: tracking.start_warm_up(params)) if stop is None else None
    try:
        result = run_chain(
            params, start=start, stop=stop, run_name=run_name, html=html, on_start=warm_up
        )
    except ChainError as exc:
        tracking.wait_for_warm_up()  # never leave the store half created at exit
        print(str(exc), file=sys.stderr)
        return 1
    if stop is None:  # the chain ran to 04: one MLflow run (a tracking failure only warns)
        tracking.track_chain_run(result.artifacts_dir, result.reports_dir, params)
    return 0
