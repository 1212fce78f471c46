"""The exceptions ocrlab raises for bad input. Each message names the file or sample at fault."""

from __future__ import annotations


class OcrlabError(Exception):
    """Base class of every error ocrlab raises on purpose."""


class DataError(OcrlabError, ValueError):
    """A file, sample or label that cannot be used: unreadable, empty, malformed, missing."""


class CharsetError(DataError):
    """A label holds characters the charset cannot encode."""


class SkipSample(CharsetError):
    """Raised by ``Charset.encode(policy="skip")``: the caller drops the sample and counts it."""
