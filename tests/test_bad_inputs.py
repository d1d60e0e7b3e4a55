"""The bad-input catalogue: every kind of bad or unusual input the CLI has met, through the CLI.

A refused input gives exit 2, one ``error:`` line naming the file (and record, position) and
nothing written; an accepted oddity (CRLF, a REF that does not match, a symbolic ALT) runs with
exit 0 and, where something was left out, a warning saying what. Beside it: the SIGKILL-resume
test (tests/test_training_resume.py) and the payload-checkpoint test (tests/test_cli_pretrain.py).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch
from helpers import runner
from variants_helpers import copy_fixtures, tiny_classifier

from seqformer.cli import app
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig
from seqformer.tokenizers import ProteinTokenizer

GENOME = ">chr1\n" + "ACGTTGCAAC" * 10 + "\n"  # 100 bases


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = copy_fixtures(tmp_path_factory.mktemp("catalogue"))  # genome.fa (chr1, chr2, chr3), variants.vcf
    tiny_classifier().save_pretrained(root / "clf")
    tokenizer = ProteinTokenizer()
    torch.manual_seed(0)
    MaskedLM(MaskedLMConfig(EncoderConfig.for_tokenizer(tokenizer, hidden_size=16, num_layers=1, num_heads=2,
                                                        ffn_size=32, max_length=64)),
             tokenizer=tokenizer).save_pretrained(root / "protein")
    (root / "proteins.fa").write_text(">p1\nMKTAYIAKQRQISFVKSHFSRQ\n>p2\nMSTNPKPQRKTKRNTNRRPQDVKFPGG\n")
    return root


def _fasta(tmp: Path, text: str, name: str = "x.fa") -> Path:
    (tmp / name).write_bytes(text.encode())
    return tmp / name


def _bed(tmp: Path, text: str) -> Path:
    (tmp / "w.bed").write_text(text)
    return tmp / "w.bed"


def _vcf(tmp: Path, records: str) -> Path:
    header = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=100>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    (tmp / "v.vcf").write_text(header + records)
    return tmp / "v.vcf"


def _broken_model(files: Path, tmp: Path, how: str) -> Path:
    model = tmp / "model"
    shutil.copytree(files / "clf", model)
    if how == "truncated":
        weights = model / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:200])
    else:  # a tokenizer of another k than the weights were trained with
        text = (model / "tokenizer.json").read_text()
        (model / "tokenizer.json").write_text(text.replace('"k": 3', '"k": 4'))
    return model


def _plain_gzip_genome(files: Path, tmp: Path) -> Path:
    path = tmp / "g.fa.gz"
    path.write_bytes(gzip.compress((files / "genome.fa").read_bytes()))
    return path


def _scan_inputs(tmp: Path) -> tuple[Path, Path]:
    (tmp / "tss.bed").write_text("20\t50\t51\tt\t0\t+\n")
    (tmp / "calls.bed").write_text("chr20\t40\t60\tpromoter\t900\t+\n")
    return tmp / "calls.bed", tmp / "tss.bed"


# case -> (argv builder (files, tmp, out) -> argv, expected text); every case exits 2 and writes nothing
REFUSED = {
    "invalid character": (lambda f, t, o: ["tokenize", "--fasta", _fasta(t, ">a\nACGTZACGT\n"), "--json", o / "s.json"],
                          "x.fa, record 'a', position 5: invalid DNA character 'Z'"),
    "empty record": (lambda f, t, o: ["tokenize", "--fasta", _fasta(t, ">a\n>b\nACGT\n"), "--json", o / "s.json"],
                     "x.fa, record 'a'"),
    "empty file": (lambda f, t, o: ["tokenize", "--fasta", _fasta(t, ""), "--json", o / "s.json"], "x.fa"),
    "plain gzip genome": (lambda f, t, o: ["fetch", _plain_gzip_genome(f, t), "chr1:1-10", "--out", o / "x.fa"],
                          "bgzip"),
    "contig 20 vs chr20": (lambda f, t, o: ["fetch", f / "genome.fa", "1:1-10", "--out", o / "x.fa"],
                           "did you mean 'chr1'?"),
    "BED start > end": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                         _bed(t, "chr1\t30\t10\n"), "--model", f / "clf", "--out", o / "p.tsv",
                                         "--device", "cpu"], "w.bed"),
    "BED negative start": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                            _bed(t, "chr1\t-5\t10\n"), "--model", f / "clf", "--out", o / "p.tsv",
                                            "--device", "cpu"], "w.bed"),
    "BED non-integer": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                         _bed(t, "chr1\tten\t30\n"), "--model", f / "clf", "--out", o / "p.tsv",
                                         "--device", "cpu"], "w.bed"),
    "BED past the contig end": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                                 _bed(t, "chr1\t90\t200\n"), "--model", f / "clf", "--out",
                                                 o / "p.tsv", "--device", "cpu"], "chr1"),
    "truncated model folder": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                                _bed(t, "chr1\t10\t30\n"), "--model", _broken_model(f, t, "truncated"),
                                                "--out", o / "p.tsv", "--device", "cpu"], "model.safetensors"),
    "mismatched model folder": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                                 _bed(t, "chr1\t10\t30\n"), "--model", _broken_model(f, t, "k"),
                                                 "--out", o / "p.tsv", "--device", "cpu"], "tokenizer.json"),
    "unknown attention kind": (lambda f, t, o: ["pretrain", "--fasta", f / "genome.fa", "--arch", "linformer",
                                                "--out", o / "run"], "arch must be one of"),
    "--device cuda without CUDA": (lambda f, t, o: ["predict", "windows", "--genome", f / "genome.fa", "--bed",
                                                    _bed(t, "chr1\t10\t30\n"), "--model", f / "clf", "--out",
                                                    o / "p.tsv", "--device", "cuda"], "CUDA was requested"),
    "weight average decay of 1": (lambda f, t, o: ["finetune", "promoter", "--data", t, "--out", o / "m", "--ema",
                                                   "1"], "--ema must be in [0, 1) (0 = off), got 1"),
    "scan contigs that do not meet": (lambda f, t, o: ["evaluate", "scan", "--calls", _scan_inputs(t)[0], "--tss",
                                                       _scan_inputs(t)[1], "--region", "chr20:1-100", "--out",
                                                       o / "m.json"], "contig 'chr20' not in tss.bed; did you mean '20'?"),
    "scan region without TSSs": (lambda f, t, o: ["evaluate", "scan", "--calls", _scan_inputs(t)[0], "--tss",
                                                  _scan_inputs(t)[1], "--region", "20:500-900", "--out", o / "m.json"],
                                 "no TSS of tss.bed lies in 20:500-900; sensitivity is undefined"),
}

# case -> (argv builder, expected warning or None); every case exits 0
ACCEPTED = {
    "CRLF line ends": (lambda f, t, o: ["tokenize", "--fasta", _fasta(t, ">a\r\nACGTACGT\r\n"), "--k", "3"], None),
    "REF that does not match the genome": (
        lambda f, t, o: ["score-variants", "--vcf", _vcf(t, "chr1\t20\tx\tT\tC\t.\t.\t.\nchr1\t30\ty\tA\tC\t.\t.\t.\n"),
                         "--genome", f / "genome.fa", "--model", f / "clf", "--out", o / "s.tsv", "--quiet"],
        "whose REF does not match genome.fa"),
    "symbolic ALT": (
        lambda f, t, o: ["score-variants", "--vcf", _vcf(t, "chr1\t30\tx\tA\t<DEL>\t.\t.\t.\nchr1\t30\ty\tA\tC\t.\t.\t.\n"),
                         "--genome", f / "genome.fa", "--model", f / "clf", "--out", o / "s.tsv", "--quiet"],
        "symbolic ALT"),
}


def _run(argv):
    return runner.invoke(app, [str(a) for a in argv])


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_inputs_are_one_line_exit_2_and_write_nothing(files, tmp_path, case):
    if case == "--device cuda without CUDA" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    build, expected = REFUSED[case]
    out = tmp_path / "out"
    out.mkdir()
    result = _run(build(files, tmp_path, out))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_oddities_run_and_say_what_was_left_out(files, tmp_path, case):
    build, warning = ACCEPTED[case]
    out = tmp_path / "out"
    out.mkdir()
    result = _run(build(files, tmp_path, out))
    assert result.exit_code == 0, result.output
    if warning is not None:
        assert warning in result.stderr, result.stderr


def test_crlf_reads_as_lf(files, tmp_path):
    import json

    summaries = []
    for name, text in (("crlf.fa", ">a\r\nACGTACGTTT\r\n"), ("lf.fa", ">a\nACGTACGTTT\n")):
        result = _run(["tokenize", "--fasta", _fasta(tmp_path, text, name), "--k", "3", "--json", tmp_path / name])
        assert result.exit_code == 0, result.output
        summary = json.loads((tmp_path / name).read_text())
        summaries.append({k: v for k, v in summary.items() if k != "seconds" and "fasta" not in k and "path" not in k})
    assert summaries[0] == summaries[1] and summaries[0]


def test_blosum_with_no_head_above_the_threshold_says_so(files, tmp_path):
    """An evaluation whose statistic is undefined never ends silently (the report it wrote stays)."""
    result = _run(["attention", "blosum", "--model", files / "protein", "--fasta", files / "proteins.fa", "--out",
                   tmp_path / "b", "--threshold", "0.99", "--device", "cpu"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "pearson_r is undefined at --threshold 0.99" in result.stderr
