"""Track-model (tile) scan throughput against the window scanner, and scan memory against region length.

``run_track_scan_benchmark`` scans the same region end to end (fetch, tokenizing, both strands,
stitching, calls and bedGraph) with a track model (:mod:`seqformer.predict.tiles`: one pass per tile
per strand) and with a window classifier (:mod:`seqformer.predict.scan`: overlapping windows, both
strands); with ``repeats`` > 1 the two alternate and the best of each is reported, so load from other
processes biases neither side. ``speedup`` = window seconds / track seconds.

``run_memory_benchmark`` scans regions of growing length, each in a fresh Python process, and
records the process's peak resident memory (``ru_maxrss``): flat peaks mean the scan streams.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from seqformer.io.regions import Region
from seqformer.predict.scan import scan_genome


def random_track_model(seed: int = 0, **overrides: dict[str, Any]):
    """A randomly initialised promoter track model of the recipe's shape (:data:`seqformer.tasks.track.PRESETS`;
    speed does not depend on the weights). ``overrides``: config sections, e.g.
    ``finetune={"tile": 1024}, model={"arch": "dense"}``."""
    from seqformer.tasks.track import build_track_model, track_config

    config = track_config(None, {**overrides, "train": {"seed": seed, **overrides.get("train", {})}})
    return build_track_model(config).eval()


def _parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    embedding = model.encoder.embed.weight.numel() if hasattr(model.encoder, "embed") else 0
    return {"parameters": total, "parameters_without_embedding": total - embedding}


def _scan_seconds(model, genome, region: Region, **options) -> tuple[float, Any]:
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        result = scan_genome(model, genome, region, Path(tmp) / "calls.bed", bedgraph=Path(tmp) / "track.bedgraph",
                             **options)
    return result.seconds, result


def machine_line(device: torch.device) -> str:
    return (f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}")


def run_track_scan_benchmark(track_model, window_model, genome, region: Region, *, repeats: int = 1,
                             track_batch: int = 8, window_batch: int = 64,
                             device: torch.device | str = "cpu") -> dict[str, Any]:
    """Best-of-``repeats`` end-to-end scan seconds of both models over ``region`` (see the module docstring)."""
    device = torch.device(device)
    track_model, window_model = track_model.to(device).eval(), window_model.to(device).eval()
    runs: dict[str, list[float]] = {"track": [], "window": []}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, model, options in (("track", track_model, {"batch_size": track_batch}),
                                     ("window", window_model, {"batch_size": window_batch})):
            seconds, results[name] = _scan_seconds(model, genome, region, **options)
            runs[name].append(seconds)
    bases = len(region)
    track, window = min(runs["track"]), min(runs["window"])
    return {
        "region": str(region), "bases": bases, "repeats": repeats, "device": str(device),
        "track": {"seconds": track, "seconds_runs": runs["track"], "bases_per_s": bases / track,
                  "tile": results["track"].window, "core": results["track"].stride, "tiles": results["track"].scored,
                  "batch_size": track_batch, "attention": track_model.config.encoder.attention,
                  "k": track_model.config.k, **_parameters(track_model)},
        "window": {"seconds": window, "seconds_runs": runs["window"], "bases_per_s": bases / window,
                   "window": results["window"].window, "stride": results["window"].stride,
                   "windows": results["window"].scored, "batch_size": window_batch,
                   "attention": window_model.config.encoder.attention, **_parameters(window_model)},
        "speedup": window / track,
        "load_average": os.getloadavg(), "machine": machine_line(device),
    }


_CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
import torch
from seqformer.bench.track_scan import random_track_model
from seqformer.bench.scan import random_classifier
from seqformer.io import Genome
from seqformer.predict.scan import scan_genome
kind, genome, region, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
model = random_track_model() if kind == "track" else random_classifier()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with Genome(genome) as ref, tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
    result = scan_genome(model, ref, ref.region(region), Path(tmp) / "c.bed", bedgraph=Path(tmp) / "t.bedgraph")
print(json.dumps({"seconds": result.seconds, "bases": result.bases, "rss_before_mb": before / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_memory_benchmark(genome: str | Path, regions: list[str], *, kind: str = "track",
                         threads: int | None = None) -> list[dict[str, Any]]:
    """Peak resident memory of a scan of each region (random model of ``kind``), each in a fresh process."""
    rows = []
    for region in regions:
        out = subprocess.run([sys.executable, "-c", _CHILD, kind, str(genome), region,
                              str(threads or torch.get_num_threads())], capture_output=True, text=True, check=True)
        rows.append({"region": region, "kind": kind, **json.loads(out.stdout.strip().splitlines()[-1])})
    return rows
