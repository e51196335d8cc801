"""Where the project lives, so that a notebook finds its files whatever its working directory.

JupyterLab starts a notebook's kernel in ``notebooks/``; papermill in the folder it is told. The
parameters name paths relative to the project folder (``artifacts/default``, ``data/sgcc.csv``), so
every notebook resolves them here instead of against the kernel's working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def project_path(path: str | os.PathLike, root: Path = PROJECT_ROOT) -> Path:
    """`path` as an absolute path: absolute ones unchanged, relative ones under the project root.

    ``~`` is expanded first, so ``~/exports/meter.csv`` means the user's home folder.
    """
    if not str(path).strip():
        raise ValueError("an empty path cannot name a file or folder")
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else root / expanded
