"""ntl: rank smart-meter customers by electricity-theft risk, say why, and show how far to trust it."""

from ntl._version import __version__

__all__ = ["__version__"]
