# Shared helpers: output folders, the seqformer command, training launch and resources.

import shlex
from pathlib import Path

OUT = config["outdir"]
SF = config["seqformer"]


def out(*parts):
    """A path under the configured output folder."""
    return "/".join([OUT, *parts])


def opts(mapping):
    """`--key value` flags of a config mapping (None values left out, True as a bare flag, lists repeated)."""
    words = []
    for key, value in (mapping or {}).items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def train_launcher():
    """The command that starts a training run: seqformer itself, or torchrun over N processes (one
    per GPU; DDP with NCCL on CUDA, gloo on the CPU). torchrun is taken from beside the seqformer
    command when that is a path (e.g. .venv/bin/seqformer), else from PATH."""
    n = config["training"]["gpus_per_run"]
    if n == 1:
        return SF
    beside = Path(SF).parent / "torchrun"
    torchrun = str(beside) if "/" in SF and beside.exists() else "torchrun"
    return f"{shlex.quote(torchrun)} --standalone --nproc_per_node {n} --no-python {SF}"


def gpus():
    """GPUs a job that runs a model may use: none with `device: cpu`, else one."""
    return 0 if config["training"]["device"] == "cpu" else 1


def train_resources(distributed=False):
    """Cluster resources of a training rule (GPUs, memory, minutes). Only pretraining runs under
    torchrun (`distributed`), so only it asks for training.gpus_per_run GPUs; fine-tuning is one process."""
    training = config["training"]
    return {"gpu": gpus() * (training["gpus_per_run"] if distributed else 1),
            "mem_mb": training["mem_mb"], "runtime": training["runtime_minutes"]}


def pipeline_targets():
    """The final files of every enabled pipeline."""
    targets = []
    if "promoters" in config["pipelines"]:
        targets += [out("promoters", "evaluation", "metrics.json"), out("promoters", "scan_metrics.json"),
                    out("promoters", "scan_report.txt"), out("promoters", "promoter.bedgraph")]
    if "chromatin" in config["pipelines"]:
        targets += [out("chromatin", "evaluation", "metrics.json")]
        if config.get("tf_binding"):
            targets += [out("tf_binding", "evaluation", "metrics.json")]
        if config.get("variants"):
            targets += [out("variants", "scores.tsv")]
    if "protein" in config["pipelines"]:
        targets += [out("protein", "evaluation.json"), out("protein", "blosum", "summary.json")]
    return targets
