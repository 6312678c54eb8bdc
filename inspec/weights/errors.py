"""The errors of loading, porting and verifying weights: each one's text is the whole message."""

from __future__ import annotations


class WeightsError(Exception):
    """Weights that cannot be read, or do not fit: the CLI prints the message and exits 1."""


class ReferenceUnavailable(WeightsError):
    """A reference model that cannot be had here (a malformed REF, a package that is not installed,
    an unknown model): a usage error, exit 2."""
