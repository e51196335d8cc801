"""The package version, recorded in every artifact manifest and model card."""

__version__ = "0.1.0"
