"""``seqformer bench gpu-checks``: the prepared GPU run, its commands, time limits and summaries (on the CPU)."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import yaml
from helpers import cli_error, cli_ok, unknown_cli_flags

from seqformer.bench import gpu_checks
from seqformer.bench.gpu_checks import Check, build_checks, run_checks, select
from seqformer.training.config import load_run_config

REPO = Path(__file__).resolve().parents[1]


def test_every_check_is_a_valid_command_with_a_run_config_that_loads(tmp_path):
    checks = build_checks(tmp_path, REPO)
    assert [c.name for c in select(checks, None)] == [
        "tests", "flex", "flex", "attention", "pretrain-dna", "pretrain-dna", "pretrain-dna", "pretrain-protein",
        "variants", "scan"]
    assert len({c.label for c in checks}) == len(checks)
    for check in checks:
        if check.argv[1:3] == ["-m", "seqformer"]:
            assert not unknown_cli_flags(check.argv[3:]), (check.label, unknown_cli_flags(check.argv[3:]))
        for name, content in check.files.items():  # the YAML each pretraining run is given
            config = load_run_config(overrides=content)
            assert config.model.hidden_size == 768 and config.model.arch in check.label
    dna = next(c for c in checks if c.label == "pretrain-dna-dense").files["pretrain-dna-dense.yaml"]
    assert dna["data"]["max_length"] == 4096 and dna["data"]["regions"] == ["chr20:1-50000000"]  # held out past 50 Mb


def test_every_file_read_is_in_the_data_folder_and_every_check_names_its_section(tmp_path):
    checks = {c.label: c for c in build_checks(tmp_path, REPO)}
    scan = checks["scan"].argv
    assert scan[scan.index("--genome") + 1] == str(tmp_path / "hg19_chr20_0-4Mb.fa.gz")  # the demo slice travels too
    assert gpu_checks.DATA_FILES[-1] == "hg19_chr20_0-4Mb.fa.gz"
    read = [arg for c in checks.values() for arg in c.argv if arg.endswith((".fa.gz", ".fasta.gz", ".vcf"))]
    assert read and all(arg.startswith(str(tmp_path)) for arg in read)
    assert {arg.rsplit("/", 1)[1] for arg in read} == set(gpu_checks.DATA_FILES)
    headings = {line.lstrip("#").strip() for line in (REPO / "docs/benchmarks.md").read_text().splitlines()
                if line.startswith("#")}
    assert {c.section for c in checks.values()} <= headings
    assert checks["scan"].section == "Genome scan throughput" and checks["flex-b64"].section == "Attention benchmark"


def test_limits_deadline_summary_and_tarball(tmp_path):
    python = sys.executable
    checks = [
        Check("quick", "quick", [python, "-c", "import json; json.dump({'x': 1}, open('x.json', 'w')); print('done')"],
              10, "Attention benchmark", headline=lambda work: json.loads((work / "x.json").read_text()),
              files={"a.yaml": {"k": 1}}),
        Check("fails", "fails", [python, "-c", "raise SystemExit(3)"], 10, "Genome scan throughput"),
        Check("slow", "slow", [python, "-c", "import time, pathlib; p = pathlib.Path('run/checkpoints');"
                               "p.mkdir(parents=True); (p / 'c.pt').write_text('w'); time.sleep(60)"], 30,
              "Pretraining"),
        Check("late", "late", [python, "-c", "pass"], 10, "Variant-effect scoring"),
    ]
    work, out = tmp_path / "work", tmp_path / "out"
    results = run_checks(checks, work, out, deadline=8, min_seconds=2)  # slow takes what is left of 8 s
    by = {r["label"]: r for r in results}
    assert by["quick"]["status"] == "ok" and by["quick"]["figures"] == {"x": 1} and "done" in by["quick"]["log_tail"]
    assert yaml.safe_load((work / "a.yaml").read_text()) == {"k": 1}
    assert by["fails"]["status"] == "exit 3"
    assert by["slow"]["status"].startswith("stopped at") and by["slow"]["seconds"] < 8.5
    assert by["late"]["status"] == "skipped"  # under 2 s of the deadline were left
    summary = json.loads((out / "summary.json").read_text())
    assert [r["label"] for r in summary["checks"]] == ["quick", "fails", "slow", "late"] and summary["machine"]["torch"]
    assert [r["section"] for r in summary["checks"]][:2] == ["Attention benchmark", "Genome scan throughput"]
    markdown = (out / "summary.md").read_text()
    assert markdown.startswith("| check | section | status |") and "| quick | Attention benchmark | ok |" in markdown
    with tarfile.open(out / "gpu_checks.tar.gz") as tar:
        names = tar.getnames()
    assert "gpu_checks/quick.log" in names and "gpu_checks/x.json" in names
    assert not any("checkpoints" in name for name in names)  # weights stay behind


def test_cli_dry_run_and_errors(tmp_path, monkeypatch):
    listed = cli_ok("bench", "gpu-checks", "--out", tmp_path, "--checks", "flex,scan", "--dry-run")
    assert listed.count("bench flex") == 2 and "bench scan" in listed and "pretrain" not in listed
    assert "[scan] Genome scan throughput, at most 45 s" in listed
    assert "unknown check(s) ['gpu']" in cli_error("bench", "gpu-checks", "--out", tmp_path, "--checks", "gpu")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert "no CUDA device" in cli_error("bench", "gpu-checks", "--out", tmp_path)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    message = cli_error("bench", "gpu-checks", "--out", tmp_path, "--data", tmp_path, "--checks", "variants")
    assert "missing hg19_chr20.fa.gz, mutationalpatterns_chr20_snvs.vcf" in message
    message = cli_error("bench", "gpu-checks", "--out", tmp_path, "--data", tmp_path, "--checks", "scan")
    assert "missing hg19_chr20_0-4Mb.fa.gz (make gpu-prep" in message
    assert not (tmp_path / "summary.json").exists()


def test_run_headline_reads_metrics(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    header = "step,loss,lr,grad_norm,tokens,tokens_per_s,mfu,val_loss,val_accuracy,val_perplexity,elapsed_s,peak_mem_mb"
    rows = [f"{i},1.0,0.1,1.0,{i * 10},{100 + i},{0.3 if i > 10 else 0.01},,,,{i},{1000 + i}" for i in range(1, 21)]
    rows[19] = "20,1.0,0.1,1.0,200,120,0.3,2.5,0.4,12.2,20,1020"
    (run / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    figures = gpu_checks._run_headline("r")(tmp_path)
    assert figures["steps"] == 20 and figures["median_mfu"] == 0.3 and figures["peak_mem_mb"] == 1020
    assert figures["validation"] == [[20.0, 2.5, 12.2]]
