"""Errors of the released-weights registry (all are ``Pose3DBenchError``: printed without traceback)."""
from __future__ import annotations

from ..errors import Pose3DBenchError


class WeightsError(Pose3DBenchError):
    """A released checkpoint or data file cannot be found, fetched or verified."""


class DownloadError(WeightsError):
    """A transfer failed (offline, refused, timed out, HTTP error, connection dropped)."""


class IntegrityError(WeightsError):
    """A file is not what it should be: wrong size, wrong sha256, or an HTML page instead of the file."""
