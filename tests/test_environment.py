"""environment.yml (conda) and pyproject.toml (uv) must name the same packages and minimums."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ.
CONDA_NAME = {"xgboost-cpu": "xgboost"}
CONDA_ONLY = {"python", "pip"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9.]*))?")


def parse(requirement: str) -> tuple[str, str | None]:
    """'numpy>=1.24; marker' -> ('numpy', '1.24')."""
    match = REQUIREMENT.match(requirement.split(";")[0])
    assert match, f"cannot parse requirement {requirement!r}"
    name = match.group(1).lower()
    return CONDA_NAME.get(name, name), match.group(2)


def pyproject_requirements() -> dict[str, str | None]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = project["project"]["dependencies"] + project["dependency-groups"]["dev"]
    return dict(parse(r) for r in requirements)


def conda_requirements() -> dict[str, str | None]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    entries = [d for d in environment["dependencies"] if isinstance(d, str)]
    return {name: minimum for name, minimum in map(parse, entries) if name not in CONDA_ONLY}


def test_same_packages_and_minimum_versions():
    assert conda_requirements() == pyproject_requirements()


def test_every_conda_line_says_why():
    text = (ROOT / "environment.yml").read_text()
    lines = text.split("dependencies:", 1)[1].splitlines()
    packages = [line for line in lines if line.strip().startswith("- ")]
    assert packages, "environment.yml lists no packages"
    undocumented = [line.strip() for line in packages if "#" not in line]
    assert undocumented == []


def test_parse_understands_markers_and_renames():
    assert parse("xgboost-cpu>=2.1; sys_platform != 'darwin'") == ("xgboost", "2.1")
    assert parse("tomli>=2.0; python_version < '3.11'") == ("tomli", "2.0")
    assert parse("jupyterlab") == ("jupyterlab", None)
