"""Progress of a long verb on stderr: a rich bar on a terminal, plain log lines elsewhere, nothing when quiet."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def counted_progress(label: str, total: int, unit: str, rate_unit: str,
                     quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """Yield ``report(done, rated)`` (None when quiet): ``done`` of ``total`` ``unit`` so far, and
    ``rated`` ``rate_unit`` so far, shown as a rate (e.g. records done, tokens per second)."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from seqformer.training.progress import LogProgress

    if not Console(stderr=True).is_terminal:
        log = LogProgress(label, total)
        yield lambda done, rated: log.report(
            done, f"{done:,}/{total:,} {unit}  {rated / max(log.elapsed, 1e-9):,.0f} {rate_unit}/s")
        return
    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} " + unit),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=Console(stderr=True),
                   transient=True)
    with bar:
        task = bar.add_task(label, total=total, rate="")

        def report(done: int, rated: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(task, completed=done, rate=f"{rated / elapsed:,.0f} {rate_unit}/s" if elapsed else "")

        yield report
