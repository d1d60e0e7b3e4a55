"""The Snakemake workflows: config validation, a dry run of every pipeline, a real run of the tiny config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

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
    ({"unknown_key": 1}, "Additional properties are not allowed"),
])
def test_bad_configs_are_refused_before_anything_runs(work, change, message):
    config = yaml.safe_load((work / "config.yaml").read_text())
    config.update(change)
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", "bad.yaml", cwd=work)
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (work / "results").exists()


@pytest.mark.slow
def test_real_run_of_the_tiny_config(work):
    result = snakemake("--configfile", "config.yaml", "--cores", "2", cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = work / "results"
    promoter = json.loads((out / "promoters" / "evaluation" / "metrics.json").read_text())
    assert sorted(promoter["metrics"]) == ["4-mer logistic regression", "model"]
    finetune = json.loads((out / "promoters" / "model" / "finetune.json").read_text())
    assert finetune["init"] == str((out / "promoters" / "pretrain" / "model").resolve())  # fine-tuned from pretraining
    scan = json.loads((out / "promoters" / "scan_metrics.json").read_text())
    assert scan["region"] == "chr20:4001-6000" and scan["tss"] == 2
    assert (out / "promoters" / "promoter.bedgraph").read_text().startswith("track type=bedGraph")
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
    for rule in ("promoter_data", "chromatin_data", "protein_pretrain", "protein_blosum", "score_variants"):
        assert (out / "logs" / f"{rule}.log").exists()
    shutil.rmtree(work / ".snakemake", ignore_errors=True)
