"""Sequence I/O: FASTA, indexed genomes, regions, BED and VCF.

Inside seqformer coordinates are 0-based, half-open; region strings from users are
samtools style, 1-based, inclusive (see :mod:`seqformer.io.regions`). Bad input raises
:class:`seqformer.errors.InputError` naming the file, record and position.
"""

from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.bed import BED_COLUMNS, bed_regions, read_bed, sort_bed, write_bed, write_bedgraph
from seqformer.io.fasta import FastaRecord, count_fasta_records, format_fasta, read_fasta, write_fasta
from seqformer.io.genome import Genome
from seqformer.io.regions import Region, check_region, parse_region
from seqformer.io.sequence import IUPAC_DNA, PROTEIN_LETTERS, clean_dna, clean_protein, reverse_complement
from seqformer.io.vcf import Variant, check_vcf_contigs, read_vcf, vcf_contigs

__all__ = [
    "BED_COLUMNS",
    "IUPAC_DNA",
    "PROTEIN_LETTERS",
    "FastaRecord",
    "Genome",
    "Region",
    "Variant",
    "atomic_open",
    "atomic_path",
    "bed_regions",
    "check_region",
    "check_vcf_contigs",
    "clean_dna",
    "clean_protein",
    "count_fasta_records",
    "format_fasta",
    "parse_region",
    "read_bed",
    "read_fasta",
    "read_vcf",
    "reverse_complement",
    "sort_bed",
    "vcf_contigs",
    "write_bed",
    "write_bedgraph",
    "write_fasta",
]
