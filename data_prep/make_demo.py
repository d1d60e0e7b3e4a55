"""Cut the demo slice that ships in ``data_prep/demo/`` from the shared real data.

Run from the repository root (needs ``../shared/data``)::

    .venv/bin/python -m data_prep.make_demo --shared ../shared/data --out data_prep/demo

What it writes (all real data, see data_prep/demo/README.md):
- ``hg19_chr20_0-4Mb.fa.gz``: hg19 chr20 bases [0, 4,000,000) as record ``chr20``, BGZF, with its
  ``.fai``/``.gzi`` index. Coordinates are genuine hg19 chr20 coordinates.
- ``hg19_chr20_0-4Mb_refseq_tss.bed``: the RefSeq TSSs inside that slice.
- ``hg19_chr20_0-4Mb_cpgisland.bed``: the CpG islands inside that slice.
- ``hg19_chr20_0-4Mb_snvs.vcf``: the somatic SNVs inside that slice.
- ``swissprot_1k.fasta.gz``: the first 1,000 Swiss-Prot records of the shared 100k set.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
from pathlib import Path

import pyfaidx
from Bio import SeqIO, bgzf

SLICE_END = 4_000_000
LINE = 60


def write_bgzf_fasta(name: str, seq: str, path: Path) -> None:
    """Write one record as BGZF FASTA with fixed-width lines."""
    with bgzf.BgzfWriter(str(path), "wb") as out:
        out.write(f">{name}\n".encode())
        for i in range(0, len(seq), LINE):
            out.write(seq[i:i + LINE].encode() + b"\n")


def filter_by_end(src: Path, dst: Path, end: int, pos_column: int, comment: str = "#") -> int:
    """Copy lines of a BED/VCF whose position column lies before ``end``; keep header lines."""
    kept = 0
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            if line.startswith(comment) or line.startswith("track"):
                fout.write(line)
                continue
            if int(line.split("\t")[pos_column]) < end:
                fout.write(line)
                kept += 1
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("data_prep/demo"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    genome = pyfaidx.Fasta(str(args.shared / "dna/hg19_chr20.fa.gz"), sequence_always_upper=False)
    fasta = args.out / "hg19_chr20_0-4Mb.fa.gz"
    write_bgzf_fasta("chr20", str(genome["chr20"][0:SLICE_END]), fasta)
    pyfaidx.Fasta(str(fasta)).close()  # builds .fai and .gzi

    n_tss = filter_by_end(args.shared / "dna/hg19_chr20_refseq_tss.bed",
                          args.out / "hg19_chr20_0-4Mb_refseq_tss.bed", SLICE_END, 2)
    # BED end is exclusive: end <= SLICE_END lies inside [0, SLICE_END).
    n_cgi = filter_by_end(args.shared / "dna/hg19_chr20_cpgisland.bed",
                          args.out / "hg19_chr20_0-4Mb_cpgisland.bed", SLICE_END + 1, 2)
    # VCF POS is 1-based: POS <= SLICE_END lies inside [0, SLICE_END).
    n_snv = filter_by_end(args.shared / "variants/mutationalpatterns_chr20_snvs.vcf",
                          args.out / "hg19_chr20_0-4Mb_snvs.vcf", SLICE_END + 1, 1)

    with gzip.open(args.shared / "protein/swissprot2014_100k.fasta.gz", "rt") as fin, \
            bgzf.BgzfWriter(str(args.out / "swissprot_1k.fasta.gz"), "wt") as fout:
        SeqIO.write(itertools.islice(SeqIO.parse(fin, "fasta"), 1000), fout, "fasta")
    print(f"wrote {fasta} ({SLICE_END:,} bp), {n_tss} TSSs, {n_cgi} CpG islands, {n_snv} SNVs, 1000 proteins")


if __name__ == "__main__":
    main()
