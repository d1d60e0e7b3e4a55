"""Progress on stderr: a rich bar (loss, tokens/s, ETA) on a terminal, plain lines otherwise.

:class:`ProgressReport` reports training steps; :class:`LogProgress` writes plain lines for long
scans (``predict promoters`` and ``score-variants`` outside a terminal, calibration scans).

With ``quiet`` (or when stderr is not a terminal, e.g. a log file, CI or Snakemake) no bar is
drawn; one plain line is written every ``log_every`` steps and at each validation, never wrapped
(:func:`log_line`: no rich rendering, which wraps at 80 columns outside a terminal).
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def log_line(text: str) -> None:
    """One unwrapped line on stderr, flushed (for logs, not terminals' live displays)."""
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


class ProgressReport:
    """Shows steps ``first..total``; :meth:`update` after each step, :meth:`note` for other lines."""

    def __init__(self, first: int, total: int, *, quiet: bool = False, log_every: int = 10,
                 enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.log_every = log_every
        self.total = total
        self._start, self._first = time.perf_counter(), first
        self._bar = None
        if enabled and not quiet and self.console.is_terminal:
            self._bar = Progress(TextColumn("step"), MofNCompleteColumn(), BarColumn(),
                                 TextColumn("loss {task.fields[loss]:.4f}"),
                                 TextColumn("{task.fields[tps]:,.0f} tok/s"), TimeRemainingColumn(),
                                 console=self.console)
            self._task = self._bar.add_task("train", total=total, completed=first, loss=float("nan"), tps=0.0)
            self._bar.start()

    def update(self, step: int, loss: float, tokens_per_s: float, lr: float) -> None:
        """Report step ``step``."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=step, loss=loss, tps=tokens_per_s)
        elif step % self.log_every == 0 or step == self.total:
            done = step - self._first
            eta = (time.perf_counter() - self._start) / max(done, 1) * (self.total - step)
            log_line(f"step {step}/{self.total}  loss {loss:.4f}  lr {lr:.2e}  "
                     f"{tokens_per_s:,.0f} tok/s  eta {_clock(eta)}")

    def note(self, text: str) -> None:
        """A line of its own (validation results, checkpoints): above the bar on a terminal, plain otherwise."""
        if not self.enabled:
            return
        if self._bar is not None:
            self.console.print(text, highlight=False, soft_wrap=True)
        else:
            log_line(text)

    def close(self) -> None:
        """Stop the bar."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


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
