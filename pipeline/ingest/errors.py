"""One exception type for every ingest failure, carrying the RejectReason it becomes."""

from __future__ import annotations

from schemas.reject import RejectReason


class IngestError(Exception):
    """An item could not be ingested; the caller turns it into a Reject row and carries on."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class InputFolderError(ValueError):
    """The input folder itself is unusable (absent, not a folder, nothing to ingest): the run cannot start."""
