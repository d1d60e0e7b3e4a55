"""``seqformer bench gpu-checks``: the prepared, time-boxed GPU measurements of the issues."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.console import Console

from seqformer.cli import bench_app
from seqformer.errors import InputError


@bench_app.command("gpu-checks")
def bench_gpu_checks(
    data: Path = typer.Option(Path(".gpu-data"), "--data", help="Folder from `make gpu-prep`: chr20, Swiss-Prot, a VCF."),
    out: Path = typer.Option(..., "--out", help="Where summary.json, summary.md and gpu_checks.tar.gz go."),
    work: Path = typer.Option(Path("/tmp/seqformer_gpu_checks"), "--work", help="Working folder of the checks."),
    checks: str = typer.Option(None, "--checks", help="Comma-separated groups: tests, flex, attention, pretrain-dna, "
                               "pretrain-protein, pretrain-protein-all, variants, scan (default: all but "
                               "pretrain-protein-all)."),
    deadline: float = typer.Option(560.0, min=30, help="Seconds for all of them; later checks get what is left."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands and limits; run nothing."),
) -> None:
    """Run the GPU checks of the issues in order, each time-boxed, and summarise them (docs/benchmarks.md)."""
    import torch

    from seqformer.bench.gpu_checks import DATA_FILES, build_checks, run_checks, select

    repo = Path(__file__).resolve().parents[2]
    names = [name.strip() for name in checks.split(",") if name.strip()] if checks else None
    chosen = select(build_checks(data.resolve(), repo), names)
    if dry_run:
        for check in chosen:
            typer.echo(f"[{check.label}] issue {check.issue}, at most {check.timeout:g} s: {shlex.join(check.argv)}")
        return
    if not torch.cuda.is_available():
        raise InputError(f"no CUDA device visible to torch {torch.__version__}: run this on a GPU machine")
    needed = [name for name in DATA_FILES if any(name in arg for check in chosen for arg in check.argv)]
    missing = [name for name in needed if not (data / name).is_file()]
    if missing:
        raise InputError(f"{data}: missing {', '.join(missing)} (make gpu-prep copies them from ../shared/data)")
    log = Console(stderr=True)
    results = run_checks(chosen, work, out, deadline=deadline,
                         on_result=lambda r: log.print(f"[{r['label']}] {r['status']} {r.get('seconds', '')}"))
    Console().print((out / "summary.md").read_text())
    log.print(f"{len(results)} checks -> {out}/summary.json, summary.md, gpu_checks.tar.gz")
