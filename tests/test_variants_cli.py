"""`seqformer score-variants` end to end: TSV and annotated VCF against direct scores, renames, errors."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli_error, runner, write_encoded
from variants_helpers import WINDOW, copy_fixtures, tiny_classifier, tiny_mlm

from seqformer.cli import app
from seqformer.io import Genome
from seqformer.variants.effect import variant_effect
from seqformer.variants.mlm import mlm_llr, mlm_window
from seqformer.variants.score import ID_COLUMNS, score_columns
from seqformer.variants.windows import allele_windows

# (chrom, pos, id, ref, alt, trimmed 0-based pos, trimmed ref, trimmed alt) of every allele scored
SCORED = [
    ("chr1", 30, "sym", "A", "C", 29, "A", "C"),
    ("chr1", 40, "multi", "GA", "AA", 39, "G", "A"),
    ("chr1", 40, "multi", "GA", "G", 39, "GA", "G"),
    ("chr1", 50, "rs1", "C", "A", 49, "C", "A"),
    ("chr1", 60, "ins1", "T", "TTT", 59, "T", "TTT"),
    ("chr1", 70, "del1", "TCA", "T", 69, "TCA", "T"),
    ("chr2", 2, "start", "T", "A", 1, "T", "A"),
    ("chr2", 29, "end", "C", "A", 28, "C", "A"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = copy_fixtures(tmp_path_factory.mktemp("score_variants"))
    tiny_classifier(("open", "bound")).save_pretrained(root / "clf")
    tiny_mlm().save_pretrained(root / "mlm")
    return root


def run(*args):
    result = runner.invoke(app, ["score-variants", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def read_tsv(path):
    return pd.read_csv(path, sep="\t", na_values=".", keep_default_na=False, dtype={"id": str, "chrom": str})


def expected_scores(files, with_mlm=False):
    """Column -> (N,) values computed directly from the library on the hand-listed alleles."""
    from seqformer.models import MaskedLM
    from seqformer.models import SequenceClassifier, load_model

    model = load_model(files / "clf", expect=SequenceClassifier)
    with Genome(files / "genome.fa") as genome:
        trimmed = [(row[0], *row[5:]) for row in SCORED]
        effects = variant_effect(model, [allele_windows(genome, *t, WINDOW) for t in trimmed])
        out = {}
        for t, label in enumerate(model.config.labels):
            for metric in ("p_ref", "p_alt", "delta_p", "delta_logit", "abs_logit_x_abs_p"):
                out[f"{label}_{metric}"] = effects.metric(metric)[:, t]
        if with_mlm:
            mlm = MaskedLM.from_pretrained(files / "mlm")
            out["mlm_llr"] = mlm_llr(mlm, [allele_windows(genome, *t, mlm_window(mlm)) for t in trimmed])
    return out


def test_tsv_matches_direct_scores(files, tmp_path):
    result = run("--vcf", files / "variants.vcf", "--genome", files / "genome.fa", "--model", files / "clf",
                 "--mlm", files / "mlm", "--out", tmp_path / "s.tsv", "--quiet", "--device", "cpu")
    table = read_tsv(tmp_path / "s.tsv")
    assert list(table.columns) == [*ID_COLUMNS, *score_columns(("open", "bound"), mlm=True)]
    assert table[list(ID_COLUMNS)].values.tolist() == [list(row[:5]) for row in SCORED]
    for column, values in expected_scores(files, with_mlm=True).items():
        np.testing.assert_allclose(table[column], values, rtol=2e-5, atol=2e-6, err_msg=column)
    lines = (tmp_path / "s.tsv").read_text().splitlines()
    assert lines[7].startswith("chr2\t2\tstart\t") and lines[7].endswith("\t.")  # NaN mlm_llr: N padding
    assert '"scored": 8' in result.stdout and '"ref_mismatches": 1' in result.stdout
    warnings = result.stderr.splitlines()
    assert "warning: skipped 1 allele(s) whose REF does not match genome.fa: chr1:20 REF A but the genome has G" \
        in warnings
    assert "warning: skipped 1 allele(s): on contigs not in genome.fa: chr3 (the genome has chr1, chr2)" in warnings
    assert "warning: skipped 1 allele(s): REF or ALT (trimmed) longer than 50 bases or the window" in warnings
    assert "warning: skipped 1 allele(s): symbolic ALT (<...>, *, breakend)" in warnings


def test_renamed_contigs_and_bgzf_vcf(files, tmp_path):
    """A VCF naming contigs 1, 2 (bgzipped) scores like the chr-named one; the renames are reported."""
    text = (files / "variants.vcf").read_bytes().replace(b"chr", b"")
    write_encoded(text, tmp_path / "v.vcf.gz", "bgzf")
    run("--vcf", files / "variants.vcf", "--genome", files / "genome.fa", "--model", files / "clf",
        "--out", tmp_path / "chr.tsv", "--quiet")
    result = run("--vcf", tmp_path / "v.vcf.gz", "--genome", files / "genome.fa", "--model", files / "clf",
                 "--out", tmp_path / "bare.tsv", "--quiet")
    assert "warning: contig '1' in the VCF read as 'chr1' of genome.fa" in result.stderr.splitlines()
    assert '"renamed": {"1": "chr1", "2": "chr2"}' in result.stdout
    chr_named, bare = read_tsv(tmp_path / "chr.tsv"), read_tsv(tmp_path / "bare.tsv")
    assert bare["chrom"].tolist() == [c.removeprefix("chr") for c in chr_named["chrom"]]  # the VCF's names
    pd.testing.assert_frame_equal(bare.drop(columns="chrom"), chr_named.drop(columns="chrom"))


def test_vcf_out_info_equals_tsv(files, tmp_path):
    import cyvcf2

    run("--vcf", files / "variants.vcf", "--genome", files / "genome.fa", "--model", files / "clf",
        "--mlm", files / "mlm", "--out", tmp_path / "s.tsv", "--vcf-out", tmp_path / "a.vcf.gz", "--quiet")
    table = read_tsv(tmp_path / "s.tsv")
    columns = score_columns(("open", "bound"), mlm=True)
    reader = cyvcf2.VCF(str(tmp_path / "a.vcf.gz"))
    declared = {h["ID"]: h for h in (h.info() for h in reader.header_iter()) if h.get("HeaderType") == "INFO"}
    assert all(declared[f"SF_{c}"]["Number"] == "A" and declared[f"SF_{c}"]["Type"] == "Float" for c in columns)
    records = list(reader)
    assert [r.ID for r in records] == ["long", "bad", "sym", "multi", "rs1", "ins1", "del1", "noalt", "start",
                                       "end", "absent"]
    rows = iter(table.to_dict("records"))
    for record in records:
        values = record.INFO.get("SF_open_delta_p")
        if record.ID in ("long", "bad", "noalt", "absent"):
            assert values is None
            continue
        alts = values if isinstance(values, tuple) else (values,)
        if record.ID == "sym":
            assert alts[1] is None  # its <DEL> ALT was not scored
            alts = alts[:1]
        for index in range(len(alts)):
            row = next(rows)
            assert (row["id"], row["alt"]) == (record.ID, record.ALT[index])
            for column in columns:
                got = record.INFO.get(f"SF_{column}")
                got = got[index] if isinstance(got, tuple) else got
                if got is None:  # ".": an mlm_llr that is NaN (N padding in the masked k-mers at a contig end)
                    assert column == "mlm_llr" and record.ID in ("start", "end") and np.isnan(row[column])
                else:
                    assert np.float32(got) == np.float32(row[column]), (record.ID, column)
    assert next(rows, None) is None


def test_progress_display_goes_to_stderr(files, tmp_path):
    result = run("--vcf", files / "variants.vcf", "--genome", files / "genome.fa", "--model", files / "clf",
                 "--out", tmp_path / "s.tsv", "--batch-size", "4")
    assert result.stdout.startswith("8 of 13 alleles (11 records) scored, 5 skipped (1 REF mismatches)")


def bad_vcf(tmp_path):
    path = tmp_path / "bad.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    "chr1\t50\t.\tC\tA\t.\t.\t.\nchr1\tten\t.\tC\tA\t.\t.\t.\n")
    return path


def absent_vcf(tmp_path):
    path = tmp_path / "absent.vcf"
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchrX\t5\t.\tA\tC\t.\t.\t.\n")
    return path


@pytest.mark.parametrize("case, message", [
    ("unparsable", r"bad.vcf: record 2 \(line 4\): POS 'ten' is not a whole number >= 1"),
    ("not_classifier", "not a sequence classifier"),
    ("mlm_not_mlm", "not a masked language model: the folder holds a sequence classifier"),
    ("missing_vcf", "nope.vcf: file not found"),
    ("missing_genome", "nope.fa: file not found"),
    ("missing_model", "not a model folder"),
    ("absent_contigs", r"absent.vcf: no variant scored: no contig of the VCF is in genome.fa: chrX \(the genome "
                       r"has chr1, chr2\)"),
    ("overwrite_input", "--vcf-out would overwrite the input VCF"),
    ("cuda", "CUDA was requested"),
])
def test_errors_are_one_line_and_leave_no_outputs(files, tmp_path, case, message):
    if case == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    vcf, genome, model, extra = files / "variants.vcf", files / "genome.fa", files / "clf", []
    if case == "unparsable":
        vcf = bad_vcf(tmp_path)
    elif case == "not_classifier":
        model = files / "mlm"
    elif case == "mlm_not_mlm":
        extra = ["--mlm", files / "clf"]
    elif case == "missing_vcf":
        vcf = tmp_path / "nope.vcf"
    elif case == "missing_genome":
        genome = tmp_path / "nope.fa"
    elif case == "missing_model":
        model = tmp_path / "nomodel"
    elif case == "absent_contigs":
        vcf = absent_vcf(tmp_path)
    elif case == "overwrite_input":
        extra = ["--vcf-out", vcf]
    elif case == "cuda":
        extra = ["--device", "cuda"]
    line = cli_error("score-variants", "--vcf", vcf, "--genome", genome, "--model", model,
                     "--out", out_dir / "s.tsv", "--vcf-out", out_dir / "a.vcf", *extra)
    assert pytest.importorskip("re").search(message, line), line
    assert list(out_dir.iterdir()) == []


def test_vcf_out_declares_every_contig_and_htslib_reads_it_without_warnings(files, tmp_path):
    """##contig lines (length from the genome index) for every contig the records use; input lines kept."""
    import subprocess
    import sys

    vcf = tmp_path / "in.vcf"  # the fixture without its ##contig lines, as many callers write VCFs
    lines = [line for line in (files / "variants.vcf").read_text().splitlines(True) if not line.startswith("##contig")]
    vcf.write_text("".join(lines).replace("#CHROM", "##source=a_kept_line\n#CHROM", 1))
    run("--vcf", vcf, "--genome", files / "genome.fa", "--model", files / "clf", "--out", tmp_path / "s.tsv",
        "--vcf-out", tmp_path / "a.vcf.gz", "--quiet")
    read = "import cyvcf2, sys; print(sum(1 for _ in cyvcf2.VCF(sys.argv[1])))"
    done = subprocess.run([sys.executable, "-c", read, str(tmp_path / "a.vcf.gz")], capture_output=True, text=True,
                          check=True)
    assert done.stderr == ""  # htslib warns "Contig '...' is not defined in the header" per record otherwise
    with Genome(files / "genome.fa") as genome:
        lengths = dict(genome.contigs)
    assert int(done.stdout) == 11
    header = [line for line in gzip.open(tmp_path / "a.vcf.gz", "rt") if line.startswith("##")]
    assert [line for line in header if line.startswith("##contig")] == [
        f"##contig=<ID=chr1,length={lengths['chr1']}>\n", f"##contig=<ID=chr2,length={lengths['chr2']}>\n",
        "##contig=<ID=chr3>\n"]  # not in the genome: declared, without a length
    assert "##source=a_kept_line\n" in header
    before = subprocess.run([sys.executable, "-c", read, str(vcf)], capture_output=True, text=True, check=True)
    assert "not defined in the header" in before.stderr  # the input lacks them: the check would catch a regression
