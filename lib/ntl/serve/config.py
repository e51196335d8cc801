"""How the web app is started: which run, which address, which token, which limits.

Everything here is checked before the server binds a port, so a bad start ends with one line
naming the option and what is wrong (exit code 2), never a half-started server.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from ntl.errors import ParameterError

TOKEN_ENV = "NTL_API_TOKEN"
MIN_TOKEN_LENGTH = 16
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_MB = 250
MAX_SCORING_PROCESSES = 16  # each holds the models: more is memory without a core to use it
DEFAULT_KEEP_RESULTS = 3  # scored uploads kept for browsing (each holds its consumption matrix)


@dataclass(frozen=True)
class ServeConfig:
    """The app's settings. `token` None means no authentication (allowed on loopback only)."""

    artifacts_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1_000_000
    keep_results: int = DEFAULT_KEEP_RESULTS
    scoring_processes: int = 0  # worker processes for single customers (0: the app's own)

    def __repr__(self) -> str:  # the token never appears in logs or tracebacks
        token = "set" if self.token else "none"
        return (
            f"ServeConfig(artifacts_dir={str(self.artifacts_dir)!r}, host={self.host!r}, "
            f"port={self.port}, token={token}, max_upload_bytes={self.max_upload_bytes}, "
            f"keep_results={self.keep_results}, scoring_processes={self.scoring_processes})"
        )

    __str__ = __repr__


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: str | Path | None, environ: dict[str, str] | None = None) -> str | None:
    """The API token from `token_file` (its first line) or else the NTL_API_TOKEN variable.

    Raises ParameterError for an unreadable or empty file and for a token shorter than
    MIN_TOKEN_LENGTH characters (never quoting the token itself).
    """
    environ = os.environ if environ is None else environ
    if token_file is not None:
        path = Path(token_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError(
                f"--token-file {path}: cannot be read ({exc.__class__.__name__})"
            ) from exc
        token = lines[0].strip() if lines else ""
        where = f"--token-file {path}"
        if not token:
            raise ParameterError(f"{where}: the file is empty (put the token on its first line)")
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        where = TOKEN_ENV
        if not token:
            return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ParameterError(
            f"{where}: the token has {len(token)} characters, at least {MIN_TOKEN_LENGTH} are "
            "needed (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def build_config(
    artifacts_dir: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token_file: str | Path | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    keep_results: int = DEFAULT_KEEP_RESULTS,
    scoring_processes: int = 0,
    environ: dict[str, str] | None = None,
) -> ServeConfig:
    """Check the start options and return the app's config; ParameterError names what is wrong.

    Binding to anything but loopback requires a token: the app refuses to start without one.
    """
    if not 0 < port < 65536:
        raise ParameterError(f"--port must be between 1 and 65535, got {port}")
    if not max_upload_mb > 0:
        raise ParameterError(f"--max-upload-mb must be positive, got {max_upload_mb}")
    if keep_results < 1:
        raise ParameterError(f"--keep-results must be at least 1, got {keep_results}")
    if not 0 <= scoring_processes <= MAX_SCORING_PROCESSES:
        raise ParameterError(
            f"--scoring-processes must be between 0 and {MAX_SCORING_PROCESSES}, "
            f"got {scoring_processes}"
        )
    token = read_token(token_file, environ)
    if token is None and not is_loopback(host):
        raise ParameterError(
            f"--host {host} is reachable from other machines: set an API token first "
            f"({TOKEN_ENV}=... or --token-file FILE); without one the app only binds to loopback"
        )
    return ServeConfig(
        artifacts_dir=Path(artifacts_dir),
        host=host,
        port=port,
        token=token,
        max_upload_bytes=int(max_upload_mb * 1_000_000),
        keep_results=keep_results,
        scoring_processes=scoring_processes,
    )
