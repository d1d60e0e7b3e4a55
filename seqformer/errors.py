"""User-facing input errors.

Every problem with a user's files or options is raised as :class:`InputError`, which names the
file, the record and the 1-based position where it is known. The CLI turns it into one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input from the user: a file, a record in it, a position, or an option."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        record: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.record = record
        self.position = position

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.record is not None:
            where.append(f"record {self.record!r}")
        if self.position is not None:
            where.append(f"position {self.position}")
        return (": ".join([", ".join(where), self.message])) if where else self.message
