"""The GPU measurements of docs/benchmarks.md, as one prepared, time-boxed run on a lent GPU machine.

Each check is one command (``python -m seqformer ...`` or ``pytest -m gpu``) with its own time
limit, run in order until an overall deadline; later checks get what time is left, or are reported
as skipped. Everything a check writes goes under a work folder; the output folder receives three
files: ``summary.json`` and ``summary.md`` (per check: the docs/benchmarks.md section its figures
belong in, status, wall seconds, headline figures) and ``gpu_checks.tar.gz`` (logs, benchmark JSON,
run configs and ``metrics.csv`` files; no weights).

The checks (:func:`build_checks`), by the docs/benchmarks.md section they fill:

- ``tests`` (Attention benchmark): the ``gpu``-marked tests (FlexAttention vs the gather path, CUDA
  benchmark rows).
- ``flex`` (Attention benchmark): ``bench flex``, BigBird's FlexAttention TFLOP/s against dense
  FlashAttention at blocks of 64 and 128 (target: ≥ 0.6 of dense on the blocks computed).
- ``attention`` (Attention benchmark): ``bench attention --device cuda --dtype bf16`` of the kinds
  in ``GPU_ATTENTION_IMPLS`` (dense, bigbird, performer-softmax and performer-relu; not longformer,
  nystromformer or reformer-lsh) and both peers up to 262,144 tokens: time, GPU peak memory, and the
  longest length each fits (every length is run; lengths after an out-of-memory or a time-out are
  reported as such).
- ``pretrain-dna`` (Pretraining) / ``pretrain-protein`` (Protein masked LM and attention vs
  BLOSUM62): bf16 masked-LM pretraining of a BERT-base-sized encoder at 4,096 tokens on hg19 chr20
  (6-mers; BigBird, Performer-ReLU, dense) and at 1,024 on Swiss-Prot (Performer-ReLU), each stopped
  after ``PRETRAIN_SECONDS``: tokens/s, MFU, peak memory, validation every 100 steps.
  (``pretrain-protein-all`` adds BigBird and Performer-softmax.)
- ``variants`` (Variant-effect scoring) / ``scan`` (Genome scan throughput): ``bench variants`` and
  ``bench scan`` on CUDA.

Data: every file the checks read is in the ``--data`` folder (``DATA_FILES``; ``make gpu-prep``
fills ``.gpu-data`` with them): ``hg19_chr20.fa.gz`` with its ``.fai``/``.gzi``,
``swissprot2014_100k.fasta.gz``, ``mutationalpatterns_chr20_snvs.vcf`` and the demo slice
``hg19_chr20_0-4Mb.fa.gz`` (hg19 chr20:1-4,000,000, which ``scan`` reads) with its ``.fai``/``.gzi``
beside it. A 15-minute device budget fits two calls (docs/benchmarks.md, "GPU checks"):
``--checks tests,flex,attention`` (about 6.5 min) and ``--checks pretrain-dna,pretrain-protein,variants,scan``
(about 5 min), after about 1.5 min of machine start.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from seqformer.errors import InputError

#: The files of the ``--data`` folder (each .fa.gz with its .fai and .gzi beside it).
GENOME = "hg19_chr20.fa.gz"
PROTEINS = "swissprot2014_100k.fasta.gz"
VCF = "mutationalpatterns_chr20_snvs.vcf"
DEMO_GENOME = "hg19_chr20_0-4Mb.fa.gz"  # the demo slice, hg19 chr20:1-4,000,000
DATA_FILES = (GENOME, PROTEINS, VCF, DEMO_GENOME)
PRETRAIN_SECONDS = 55  # wall limit of each pretraining run (start-up, then steps until it is stopped)

#: The encoder of every GPU pretraining run: BERT-base shape (about 86 M parameters besides embeddings).
GPU_MODEL = {"hidden_size": 768, "num_layers": 12, "num_heads": 12, "ffn_size": 3072}
DNA_RUN = {"data": {"max_length": 4096, "kmer": 6, "regions": ["chr20:1-50000000"], "val_windows": 16},
           "train": {"batch_size": 8, "eval_every": 100, "log_every": 20, "checkpoint_every": 100000}}
PROTEIN_RUN = {"data": {"max_length": 1024, "val_windows": 256},
               "train": {"batch_size": 32, "eval_every": 100, "log_every": 20, "checkpoint_every": 100000}}
OPTIM = {"lr": 3.0e-4, "warmup_steps": 100}
#: What ``attention`` runs: dense, bigbird, performer-softmax and performer-relu (not longformer, nystromformer
#: or reformer-lsh), then both peers.
GPU_ATTENTION_IMPLS = "dense,bigbird,performer-softmax,performer-relu,hf-bigbird,performer-pytorch"

#: The docs/benchmarks.md sections the checks' figures belong in.
ATTENTION, PRETRAINING, PROTEIN = "Attention benchmark", "Pretraining", "Protein masked LM and attention vs BLOSUM62"
VARIANTS, SCAN = "Variant-effect scoring", "Genome scan throughput"


@dataclass
class Check:
    """One command with a time limit, the docs/benchmarks.md section it fills, and how to read its figures."""

    name: str  # the check group it belongs to (``--checks``), e.g. "pretrain-dna"
    label: str  # unique name of this command, used for its log and outputs
    argv: list[str]
    timeout: float  # seconds at most
    section: str  # the docs/benchmarks.md section its figures belong in, e.g. "Attention benchmark"
    headline: Callable[[Path], dict[str, Any]] | None = None  # figures read from the work folder afterwards
    files: dict[str, Any] = field(default_factory=dict)  # files to write first: name -> YAML-able content


def _seqformer(*args: str) -> list[str]:
    return [sys.executable, "-m", "seqformer", *args]


def _flex_headline(name: str) -> Callable[[Path], dict[str, Any]]:
    def read(work: Path) -> dict[str, Any]:
        rows = json.loads((work / name).read_text())["rows"]
        return {str(row["length"]): {key: row[key] for key in ("efficiency", "flex_tflops", "dense_tflops",
                                                                 "max_abs_diff_vs_gather", "status")}
                for row in rows}
    return read


def _attention_headline(work: Path) -> dict[str, Any]:
    rows = json.loads((work / "attention_gpu.json").read_text())["rows"]
    out: dict[str, Any] = {}
    for row in rows:
        mine = out.setdefault(row["impl"], {"longest_ok": None, "rows": []})
        if row["status"] == "ok":
            mine["longest_ok"] = row["length"]
        mine["rows"].append([row["length"], row["seconds"], row["peak_gpu_mb"], row["status"]])
    return out


def _run_headline(run: str) -> Callable[[Path], dict[str, Any]]:
    def read(work: Path) -> dict[str, Any]:
        from seqformer.training.metrics import read_metrics

        rows = read_metrics(work / run / "metrics.csv")
        steady = rows[10:] or rows  # the first steps compile, warm the allocator and the loaders
        def median(key: str) -> float | None:
            values = [row[key] for row in steady if row[key] is not None]
            return statistics.median(values) if values else None
        return {"steps": len(rows), "median_tokens_per_s": median("tokens_per_s"), "median_mfu": median("mfu"),
                "peak_mem_mb": max((row["peak_mem_mb"] or 0) for row in rows) if rows else None,
                "validation": [[row["step"], row["val_loss"], row["val_perplexity"]]
                               for row in rows if row["val_loss"] is not None]}
    return read


def _pretrain(alphabet: str, arch: str, corpus: str, run: dict[str, Any], group: str | None = None) -> Check:
    label = f"pretrain-{alphabet}-{arch}"
    config = {**run, "model": {**GPU_MODEL, "arch": arch}, "optim": OPTIM}
    return Check(group or f"pretrain-{alphabet}", label,
                 _seqformer("pretrain", "--fasta", corpus, "--alphabet", alphabet, "--arch", arch, "--device", "cuda",
                            "--config", f"{label}.yaml", "--max-steps", "100000", "--out", label, "--quiet"),
                 PRETRAIN_SECONDS, PRETRAINING if alphabet == "dna" else PROTEIN, _run_headline(label),
                 {f"{label}.yaml": config})


def build_checks(data: Path, repo: Path) -> list[Check]:
    """Every check, in running order, reading every data file from ``data`` and the tests from ``repo``."""
    genome, demo = str(data / GENOME), str(data / DEMO_GENOME)
    checks = [
        Check("tests", "tests", [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
                                 str(repo / "tests")], 120, ATTENTION),
        *(Check("flex", f"flex-b{block}",
                _seqformer("bench", "flex", "--lengths", "16384,65536", "--block-size", str(block),
                           "--repeats", "3", "--json", f"flex_b{block}.json"), 45, ATTENTION,
                _flex_headline(f"flex_b{block}.json"))
          for block in (64, 128)),
        Check("attention", "attention",
              _seqformer("bench", "attention", "--device", "cuda", "--dtype", "bf16", "--impl", GPU_ATTENTION_IMPLS,
                         "--lengths", "4096,16384,65536,262144", "--repeats", "1", "--timeout", "45",
                         "--json", "attention_gpu.json"), 180, ATTENTION, _attention_headline),
        *(_pretrain("dna", arch, genome, DNA_RUN) for arch in ("bigbird", "performer-relu", "dense")),
        _pretrain("protein", "performer-relu", str(data / PROTEINS), PROTEIN_RUN),
        *(_pretrain("protein", arch, str(data / PROTEINS), PROTEIN_RUN, group="pretrain-protein-all")
          for arch in ("bigbird", "performer-softmax")),
        Check("variants", "variants",
              _seqformer("bench", "variants", "--vcf", str(data / VCF), "--genome", genome,
                         "--random-model", "--device", "cuda", "--repeats", "3", "--json"), 45, VARIANTS),
        Check("scan", "scan",
              _seqformer("bench", "scan", "--genome", demo, "--random-model", "--region", "chr20:1000001-1500000",
                         "--device", "cuda", "--repeats", "3", "--json"), 45, SCAN),
    ]
    return checks


def select(checks: list[Check], names: list[str] | None) -> list[Check]:
    """The checks of the named groups (all but ``pretrain-protein-all`` when ``names`` is None); an unknown
    name is an InputError."""
    if names is None:
        return [check for check in checks if check.name != "pretrain-protein-all"]
    known = list(dict.fromkeys(check.name for check in checks))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(f"unknown check(s) {unknown}; choose from {known}")
    return [check for check in checks if check.name in names]


def run_checks(checks: list[Check], work: Path, out: Path, *, deadline: float, min_seconds: float = 20,
               on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``checks`` in ``work`` until ``deadline`` seconds have passed (a check is skipped when fewer than
    ``min_seconds`` are left); summaries and a tarball into ``out``."""
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    start, results = time.monotonic(), []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for check in checks:
        left = deadline - (time.monotonic() - start)
        result: dict[str, Any] = {"label": check.label, "check": check.name, "section": check.section}
        if left < min_seconds:
            result.update(status="skipped", detail=f"deadline of {deadline:g} s reached")
        else:
            for name, content in check.files.items():
                (work / name).write_text(yaml.safe_dump(content, sort_keys=False))
            limit = min(check.timeout, left)
            began = time.monotonic()
            with open(work / f"{check.label}.log", "w") as log:
                result["status"] = _run(check.argv, work, log, env, limit)
            result["seconds"] = round(time.monotonic() - began, 1)
            result["log_tail"] = (work / f"{check.label}.log").read_text(errors="replace")[-1500:]
            if check.headline is not None:
                try:
                    result["figures"] = check.headline(work)
                except (OSError, ValueError, KeyError, TypeError) as err:
                    result["figures"] = {"unreadable": f"{type(err).__name__}: {err}"}
        results.append(result)
        if on_result is not None:
            on_result(result)
    write_outputs(results, work, out)
    return results


def _run(argv: list[str], work: Path, log, env: dict[str, str], limit: float) -> str:
    """Run ``argv`` in its own process group; past ``limit`` seconds the whole group is killed."""
    process = subprocess.Popen(argv, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    try:
        code = process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its data-loader workers too
        process.wait()
        return f"stopped at {limit:.0f} s"  # pretraining runs are meant to be stopped
    return "ok" if code == 0 else f"exit {code}"


def write_outputs(results: list[dict[str, Any]], work: Path, out: Path) -> None:
    """summary.json, summary.md and gpu_checks.tar.gz (work folder without weights or checkpoints)."""
    (out / "summary.json").write_text(json.dumps({"machine": _machine(), "checks": results}, indent=2) + "\n")
    lines = ["| check | section | status | seconds | figures |", "| --- | --- | --- | --- | --- |"]
    for result in results:
        figures = json.dumps(result.get("figures", {}))
        lines.append(f"| {result['label']} | {result['section']} | {result['status']} | {result.get('seconds', '')} "
                     f"| {figures[:600]} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        dropped = ("checkpoints", "model.safetensors", "tensorboard")
        return None if any(part in dropped for part in Path(info.name).parts) else info

    with tarfile.open(out / "gpu_checks.tar.gz", "w:gz") as tar:
        tar.add(work, arcname="gpu_checks", filter=keep)


def _machine() -> dict[str, Any]:
    import torch

    from seqformer.bench.machine import gpu_name, machine_info

    return machine_info() | {"gpu": gpu_name("cuda" if torch.cuda.is_available() else "cpu"),
                             "cuda": torch.version.cuda}
