"""Errors that the ``blendmask`` command reports as one line (exit code 2) instead of a traceback.

A :class:`UsageError` names the file, field, id or option at fault and says what to do. It is a
``ValueError``, so library callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations

import os


class UsageError(ValueError):
    """Bad input from the user: a file, field, id or option, named in the message."""


class ImageReadError(UsageError):
    """An image file that cannot be decoded; ``path`` names it."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: cannot read the image ({reason})")


class DiskFullError(UsageError):
    """A write stopped because its folder's file system is full; what was there before is intact."""
