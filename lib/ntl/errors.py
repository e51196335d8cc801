"""Exceptions `ntl` raises on purpose, so callers and the CLI can tell bad input from bugs."""

from __future__ import annotations


class NtlError(Exception):
    """Base of every error `ntl` raises deliberately; the CLI prints these without a traceback."""


class MeterDataError(NtlError, ValueError):
    """Meter data that cannot be read or does not make sense (names the file, column or row)."""


class ArtifactError(NtlError):
    """An artifact that cannot be trusted or used."""


class MissingArtifactError(ArtifactError, FileNotFoundError):
    """An artifact that is not there yet: the message names the notebook that makes it."""


class ArtifactIntegrityError(ArtifactError):
    """An artifact whose bytes no longer match the hash recorded when it was written."""


class ArtifactLineageError(ArtifactError):
    """Artifacts of one folder that come from different runs (a stale file beside newer ones)."""


class ArtifactVersionError(ArtifactError):
    """Artifacts written by an incompatible version of `ntl`."""


class ParameterError(NtlError, ValueError):
    """A run parameter that no notebook declares, or a value of the wrong kind."""
