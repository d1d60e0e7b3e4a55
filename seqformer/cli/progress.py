"""Progress of long CLI verbs on stderr: a live rich bar on a terminal, plain lines in logs.

Outside a terminal (a log file, CI, Snakemake) a live display would either vanish or wrap at 80
columns; there, :class:`LogProgress` writes one unwrapped line each time the work crosses another
tenth (when the total is known) or every ``every_s`` seconds (when it is not).
"""

from __future__ import annotations

import time

from seqformer.training.progress import log_line


class LogProgress:
    """Plain progress lines: ``report(done, text)`` writes when a tenth (or ``every_s`` seconds) has passed."""

    def __init__(self, name: str, total: int | None = None, every_s: float = 30.0) -> None:
        self.name, self.total, self.every_s = name, total, every_s
        self.start = time.perf_counter()
        self._tenth, self._last = 0, self.start

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.start

    def report(self, done: int, text: str) -> None:
        """Write ``NAME: text`` if the work crossed another tenth of ``total`` (or ``every_s`` seconds went by)."""
        now = time.perf_counter()
        if self.total:
            tenth = min(10 * done // self.total, 10)
            if tenth <= self._tenth:
                return
            self._tenth = tenth
            log_line(f"{self.name}: {10 * tenth}%  {text}")
        elif now - self._last >= self.every_s:
            self._last = now
            log_line(f"{self.name}: {text}")
