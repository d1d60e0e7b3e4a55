"""``seqformer evaluate scan``: promoter calls (BED) against annotated TSSs in a region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli.evaluate import evaluate_app


@evaluate_app.command("scan")
def scan(
    calls: Path = typer.Option(..., "--calls", help="Promoter calls, BED3+ (e.g. from `seqformer predict promoters`)."),
    tss: Path = typer.Option(..., "--tss", help="Annotated TSSs, BED3+; each row's start is the TSS."),
    region: str = typer.Option(..., "--region", help="The scanned region, 1-based inclusive, e.g. chr20:1-4000000."),
    distance: int = typer.Option(500, "--distance", min=0, help="Bases allowed between a call and a TSS."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the metrics to this JSON file."),
) -> None:
    """Sensitivity (TSSs with a call nearby), precision and false calls per 100 kb."""
    from seqformer.evaluation.scan import evaluate_calls
    from seqformer.io import atomic_open, parse_region, read_bed

    target = parse_region(region)
    metrics = evaluate_calls(read_bed(calls, allow_empty=True), read_bed(tss, allow_empty=True), target, distance,
                             calls_source=calls.name, tss_source=tss.name)
    if out is not None:
        with atomic_open(out) as handle:
            json.dump(metrics.to_dict(), handle, indent=2)
            handle.write("\n")
    if json_out:
        typer.echo(json.dumps(metrics.to_dict()))
        return
    table = Table(title=f"evaluate scan: {calls.name} vs {tss.name} in {target} (within {distance:,} bp)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("sensitivity", f"{metrics.sensitivity:.2%} ({metrics.tss_found:,} of {metrics.tss:,} TSSs)")
    table.add_row("precision", f"{metrics.precision:.2%} ({metrics.calls_near_tss:,} of {metrics.calls:,} calls)")
    table.add_row("false calls per 100 kb", f"{metrics.false_per_100kb:.2f} ({metrics.false_calls:,} calls)")
    Console().print(table)
