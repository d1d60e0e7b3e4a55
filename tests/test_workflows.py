"""The Snakemake workflows: config validation, a dry run of every pipeline, every rule's seqformer command,
GPU resources and torchrun, the SLURM profile, and a real run of the tiny config (with its HTML report)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import unknown_cli_flags

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflows" / "Snakefile"
TEST_CONFIG = ROOT / "workflows" / "config" / "test.yaml"
PATH_KEYS = ("genome", "tss", "sequences", "peaks", "vcf", "fasta", "config")


def snakemake(*args, cwd):
    """Run snakemake (the one beside this Python) with the seqformer of this environment on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-s", str(SNAKEFILE), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True)


def absolute(node):
    """The test config with every input path made absolute (the run happens in a temporary folder)."""
    if isinstance(node, dict):
        return {k: ([str(ROOT / p) for p in v] if isinstance(v, list) else str(ROOT / v))
                if k in PATH_KEYS and isinstance(v, (str, list)) else absolute(v) for k, v in node.items()}
    return node


@pytest.fixture
def work(tmp_path):
    config = absolute(yaml.safe_load(TEST_CONFIG.read_text()))
    config["outdir"] = "results"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def with_training(work, **training):
    """A copy of the work config with other `training` settings; returns its file name."""
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["training"].update(training)
    (work / "changed.yaml").write_text(yaml.safe_dump(config))
    return "changed.yaml"


def planned_jobs(stdout):
    """{rule: [block of the dry run's `-p` output, one per job]} (each block: input/output/log/resources lines
    and the shell command)."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", stdout):
        match = re.match(r"(?:local)?rule (\w+):\n", block)
        if match:
            jobs.setdefault(match.group(1), []).append(block.split("\n\n")[0])
    return jobs


def field(block, name):
    match = re.search(rf"^\s*{name}: (.*)$", block, re.M)
    return match.group(1) if match else None


def resources(block):
    return dict(item.split("=", 1) for item in (field(block, "resources") or "").split(", ") if "=" in item)


def shell_command(block):
    match = re.search(r"^Shell command: (.*)$", block, re.M)
    return match.group(1) if match else None


@pytest.mark.parametrize("pipeline", ["promoters", "chromatin", "protein"])
def test_dry_run_of_each_pipeline(work, pipeline):
    result = snakemake("-n", "--configfile", "config.yaml", "--config", f"pipelines=[{pipeline}]", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {"promoters": ["promoter_data", "promoter_pretrain", "promoter_finetune", "promoter_evaluate",
                          "promoter_scan", "promoter_scan_metrics"],
            "chromatin": ["chromatin_data", "tf_binding_data", "window_finetune", "window_evaluate",
                          "score_variants"],
            "protein": ["protein_split", "protein_pretrain", "protein_evaluate", "protein_blosum"]}[pipeline]
    for job in jobs:
        assert f"rule {job}:" in result.stdout, job


def test_the_example_config_validates(tmp_path):
    """workflows/config/config.yaml (the shared real data) passes the schema; its inputs need not exist here."""
    config = yaml.safe_load((ROOT / "workflows" / "config" / "config.yaml").read_text())
    for section in ("promoters", "chromatin", "tf_binding", "variants", "protein"):
        assert section in config
    result = snakemake("-n", "--configfile", ROOT / "workflows" / "config" / "config.yaml", "--list-rules",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "promoter_scan" in result.stdout and "protein_pretrain" in result.stdout


@pytest.mark.parametrize(("change", "message"), [
    ({"pipelines": ["enhancers"]}, "'enhancers' is not one of"),
    ({"training": {"device": "tpu"}}, "'tpu' is not one of"),
    ({"promoters": {"genome": "g.fa"}}, "'tss' is a required property"),
    ({"promoters": {"genome": "g.fa", "tss": "t.bed"}}, "'scan' is a required property"),  # evaluate scan needs the region
    ({"unknown_key": 1}, "Additional properties are not allowed"),
])
def test_bad_configs_are_refused_before_anything_runs(work, change, message):
    config = yaml.safe_load((work / "config.yaml").read_text())
    config.update(change)
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", "bad.yaml", cwd=work)
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (work / "results").exists()


def test_every_rule_runs_a_valid_seqformer_command_and_declares_input_output_and_log(work):
    """All rules are in the dry run of the test config; each runs `seqformer VERB` with options that exist."""
    result = snakemake("-n", "-p", "--configfile", "config.yaml", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = planned_jobs(result.stdout)
    listed = snakemake("--list-rules", "--configfile", "config.yaml", cwd=work).stdout.split()
    assert set(jobs) == set(listed) and len(listed) >= 16
    for rule, blocks in jobs.items():
        if rule == "all":
            continue
        for block in blocks:
            for name in ("input", "output", "log"):
                assert field(block, name), f"{rule} declares no {name}"
            words = shlex.split(shell_command(block))
            assert words[0] == "seqformer", rule
            assert any(w.startswith("--") for w in words) and not unknown_cli_flags(words[1:]), \
                (rule, unknown_cli_flags(words[1:]))
            assert field(block, "log").split(", ")[0] in shell_command(block), f"{rule} does not write its log"


def test_gpu_resources_and_torchrun_over_gpus_per_run(work):
    """gpus_per_run > 1: pretraining is launched with torchrun over that many GPUs and asks for them;
    fine-tuning (one process), scans, evaluation and scoring ask for one GPU; nothing asks with device cpu."""
    result = snakemake("-n", "-p", "--configfile", with_training(work, device="cuda", gpus_per_run=2), cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = planned_jobs(result.stdout)
    for rule in ("promoter_pretrain", "protein_pretrain"):
        (block,) = jobs[rule]
        assert re.match(r"\S*torchrun --standalone --nproc_per_node 2 --no-python seqformer pretrain ",
                        shell_command(block)), shell_command(block)
        assert resources(block)["gpu"] == "2" and "mem_mb" in resources(block) and "runtime" in resources(block)
    for rule in ("promoter_finetune", "window_finetune", "promoter_scan", "promoter_evaluate", "window_evaluate",
                 "score_variants", "protein_evaluate", "protein_blosum"):
        for block in jobs[rule]:
            assert shell_command(block).startswith("seqformer "), rule
            assert "--device cuda" in shell_command(block) and resources(block)["gpu"] == "1", rule
    result = snakemake("-n", "-p", "--configfile", "config.yaml", cwd=work)  # device: cpu, gpus_per_run: 1
    jobs = planned_jobs(result.stdout)
    assert all(resources(b).get("gpu", "0") == "0" for blocks in jobs.values() for b in blocks)
    assert "torchrun" not in result.stdout


def test_the_slurm_profile_is_accepted_by_the_installed_executor_plugin(work):
    """Dry run with workflows/profiles/slurm: the executor and its options parse (an unknown option would
    not), every job has an account and a partition, GPU jobs go to the GPU partition."""
    result = snakemake("-n", "--configfile", with_training(work, device="cuda", gpus_per_run=2),
                       "--profile", ROOT / "workflows" / "profiles" / "slurm", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    for rule, blocks in planned_jobs(result.stdout).items():
        for block in blocks:
            found = resources(block)
            if rule == "all":
                continue
            assert found["slurm_account"] and "runtime" in found and "mem_mb" in found, rule
            assert found["slurm_partition"] == ("gpu" if int(found.get("gpu", 0)) else "cpu"), rule


@pytest.mark.slow
def test_real_run_of_the_tiny_config(work):
    result = snakemake("--configfile", "config.yaml", "--cores", "2", "--report-after-run", "--report", "report.html",
                       cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = work / "results"
    promoter = json.loads((out / "promoters" / "evaluation" / "metrics.json").read_text())
    assert sorted(promoter["metrics"]) == ["4-mer logistic regression", "model"]
    finetune = json.loads((out / "promoters" / "model" / "finetune.json").read_text())
    assert finetune["init"] == str((out / "promoters" / "pretrain" / "model").resolve())  # fine-tuned from pretraining
    scan = json.loads((out / "promoters" / "scan_metrics.json").read_text())
    assert scan["region"] == "chr20:4001-6000" and scan["tss"] == 2
    assert (out / "promoters" / "promoter.bedgraph").read_text().startswith("track type=bedGraph")
    assert "sensitivity" in (out / "promoters" / "scan_report.txt").read_text()  # the scan report, as a table
    chromatin = json.loads((out / "chromatin" / "evaluation" / "metrics.json").read_text())
    assert chromatin["targets"] == ["CTCF_peaks", "BEAF_peaks"]
    tf = json.loads((out / "tf_binding" / "evaluation" / "metrics.json").read_text())
    assert tf["targets"] == ["tf"]
    scores = pd.read_csv(out / "variants" / "scores.tsv", sep="\t")
    assert len(scores) == 4 and "promoter_delta_logit" in scores.columns
    assert "##INFO=<ID=" in (out / "variants" / "annotated.vcf").read_text()
    protein = json.loads((out / "protein" / "evaluation.json").read_text())
    assert protein["masked"] > 0 and protein["perplexity"] > 1
    blosum = json.loads((out / "protein" / "blosum" / "summary.json").read_text())
    assert blosum["matrix"] == "BLOSUM62" and 0 < blosum["n_sequences"] <= 4 and "control_pearson_r" in blosum
    assert (out / "protein" / "blosum" / "comparison.png").exists()
    for rule in ("promoter_data", "promoter_pretrain", "chromatin_data", "protein_pretrain", "protein_blosum",
                 "score_variants"):
        assert (out / "logs" / f"{rule}.log").exists()
    report = (work / "report.html").read_text()  # the HTML report of the run, with the report() outputs
    for name in ("roc.png", "promoter.bedgraph", "scan_report.txt", "scores.tsv", "comparison.png"):
        assert name in report, name
    shutil.rmtree(work / ".snakemake", ignore_errors=True)
