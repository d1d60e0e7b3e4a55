"""`seqformer data protein-split`: a record-level, hash-decided split into two FASTA files."""

from __future__ import annotations

from helpers import cli_error, cli_ok

from seqformer.data.protein import is_validation_id
from seqformer.io import read_fasta


def test_split_by_hash_of_the_id(data_dir, tmp_path):
    source = data_dir / "training" / "tiny_proteins.fa"
    records = list(read_fasta(source, alphabet="protein"))
    printed = cli_ok("data", "protein-split", "--fasta", source, "--train", tmp_path / "t.fa",
                     "--held-out", tmp_path / "h.fa", "--fraction", "0.3", "--salt", "")
    train = list(read_fasta(tmp_path / "t.fa", alphabet="protein"))
    held = list(read_fasta(tmp_path / "h.fa", alphabet="protein"))
    assert [r.id for r in held] == [r.id for r in records if is_validation_id(r.id, 0.3)]
    assert [r.id for r in train] == [r.id for r in records if not is_validation_id(r.id, 0.3)]
    assert {r.id: r.seq for r in train + held} == {r.id: r.seq for r in records}
    assert f"{len(train)} training records" in printed and held and train


def test_errors_leave_no_files(data_dir, tmp_path):
    source = data_dir / "training" / "tiny_proteins.fa"
    assert "--fraction must be between 0 and 1" in cli_error(
        "data", "protein-split", "--fasta", source, "--train", tmp_path / "t.fa", "--held-out", tmp_path / "h.fa",
        "--fraction", "1.5")
    assert "held-out records; change --fraction" in cli_error(
        "data", "protein-split", "--fasta", source, "--train", tmp_path / "t.fa", "--held-out", tmp_path / "h.fa",
        "--fraction", "0.0001")
    (tmp_path / "dna.fa").write_text(">a\nMKV1\n")
    assert "invalid protein character '1'" in cli_error(
        "data", "protein-split", "--fasta", tmp_path / "dna.fa", "--train", tmp_path / "t.fa",
        "--held-out", tmp_path / "h.fa")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dna.fa"]
