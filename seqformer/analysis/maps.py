"""``seqformer attention maps``: the attention of chosen sequences as arrays, figures and head statistics.

Axes: N layers, H heads, L tokens, n letters, nnz kept weights.

A sequence within :func:`~seqformer.analysis.attention.extraction_limit` gets dense maps (L x L per
layer and head) and heatmaps; a longer one, up to the model's ``max_length``, is read in chunks of
query rows and kept sparse (:mod:`seqformer.analysis.long_attention`), with attention-by-distance
figures (:mod:`seqformer.figures.attention_distance`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from seqformer.analysis.attention import (AttentionMaps, check_extractable, extraction_limit,
                                          head_statistics, sequence_attention)
from seqformer.analysis.long_attention import (DEFAULT_TOP_K, SparseAttentionMaps, check_all_nonzero,
                                               check_chunk_size, check_long_extractable, check_top_k, max_tokens,
                                               sparse_sequence_attention)
from seqformer.figures.attention_distance import plot_distance_profile
from seqformer.analysis.reports import write_json
from seqformer.data.corpus import check_letters
from seqformer.errors import InputError
from seqformer.figures.attention import plot_heads
from seqformer.figures.style import save_figure
from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.fasta import read_fasta
from seqformer.models.encoder import encoder_of


def safe_name(name: str) -> str:
    """A file-name stem for a record id or region (``chr20:1-300`` → ``chr20_1-300``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "sequence"


class Selection(list):
    """The (name, sequence) pairs :func:`select_sequences` picked (a list of them), and what it left out.

    Attributes:
        skipped: (name, tokens) of each record read but left out as longer than ``limit`` tokens.
        limit: the model's attention-extraction limit: its ``max_length`` (tokens, specials included).
        tss: 0-based offset of the TSS in the (one) region's sequence, or None.
    """

    def __init__(self, pairs=(), *, skipped=(), limit: int = 0, tss: int | None = None) -> None:
        super().__init__(pairs)
        self.skipped: list[tuple[str, int]] = list(skipped)
        self.limit = limit
        self.tss = tss


def select_sequences(model: nn.Module, *, fasta: str | Path | None = None, record: str | None = None,
                     genome: str | Path | None = None, region: str | None = None, max_seqs: int = 10,
                     tss: int | None = None) -> Selection:
    """(name, sequence) pairs: a genome region (DNA models), or FASTA records (``record``, else the first ``max_seqs``).

    FASTA records longer than the model's attention-extraction limit (its ``max_length``) are
    skipped (listed in ``Selection.skipped``) and reading goes on until ``max_seqs`` fit; when none
    fits (or the one record or region asked for is too long) it is an :class:`InputError`. ``tss``
    is a 1-based position on the region's contig (with ``region`` only).
    """
    from seqformer.io import Genome

    if (genome is None) != (region is None) or (genome is None) == (fasta is None):
        raise InputError("give either --genome with --region, or --fasta (with --record to pick one)")
    if tss is not None and region is None:
        raise InputError("--tss is a position on the --region's contig; it needs --genome and --region")
    alphabet = "dna" if model.tokenizer.type_name == "kmer" else "protein"
    limit = max_tokens(model)
    if fasta is None:
        if alphabet != "dna":
            raise InputError("--genome/--region needs a DNA (k-mer) model; this one reads proteins")
        with Genome(genome) as ref:
            target = ref.region(region)
            if tss is not None and not target.start < tss <= target.end:
                raise InputError(f"--tss {tss:,} is outside the region {target}")
            seq = ref.fetch_region(target)
        check_long_extractable(model, model.tokenizer.num_tokens(seq), record=str(target))
        return Selection([(str(target), seq)], limit=limit, tss=None if tss is None else tss - 1 - target.start)
    chosen, skipped, first = [], [], True
    for entry in read_fasta(fasta, alphabet=alphabet):
        if first and record is None:
            check_letters(entry.seq, alphabet, str(fasta))
        first = False
        if record is not None and entry.id != record:
            continue
        tokens = model.tokenizer.num_tokens(entry.seq)
        if record is not None:
            check_long_extractable(model, tokens, record=record)
        if tokens > limit:
            skipped.append((entry.id, tokens))
        else:
            chosen.append((entry.id, entry.seq))
        if len(chosen) == (1 if record is not None else max_seqs):
            break
    if record is not None and not chosen:
        raise InputError(f"no record {record!r}", path=fasta)
    if not chosen:
        shortest = min(tokens for _, tokens in skipped)
        raise InputError(f"all {len(skipped):,} records are longer than the attention-extraction limit of "
                         f"{limit:,} tokens (the shortest has {shortest:,}); use shorter sequences", path=fasta)
    return Selection(chosen, skipped=skipped, limit=limit)


def maps_report(model: nn.Module, sequences: list[tuple[str, str]], out: str | Path, *,
                skipped: list[tuple[str, int]] = (), tss: int | None = None, model_name: str | None = None,
                shared_scale: bool = False, top_k: int = DEFAULT_TOP_K, all_nonzero: bool = False,
                chunk_size: int | None = None) -> tuple[list[Path], dict]:
    """Attention maps of each (name, sequence) into ``out``; returns (the files written, the summary).

    A sequence within the dense extraction limit gets ``NAME.npz`` (``tokens`` (N, H, L, L),
    ``letters`` (N, H, n, n), ``spans`` (L, 2), ``token_labels`` (L,), ``seq``) and
    ``NAME.layerI.png`` + ``.svg`` (every head of layer I over letters,
    :func:`~seqformer.figures.attention.plot_heads`). A longer one (up to the model's ``max_length``)
    gets a sparse ``NAME.npz`` (:func:`_write_sparse_npz`: COO arrays ``layer``, ``head``, ``rows``,
    ``cols``, ``weights`` of the kept weights, ``shape``, ``top_k``, ``entropy`` and ``distance``
    (N, H), ``saved_share`` (N, H), ``distance_profile`` (N, H, L), ``spans``, ``token_labels``,
    ``seq``) and ``NAME.layerI.distance.png`` + ``.svg``
    (:func:`~seqformer.figures.attention_distance.plot_distance_profile`). For all of them ``heads.tsv``
    (:func:`~seqformer.analysis.attention.head_statistics`' columns, exact for sparse maps too, with
    a ``sequence`` column) and ``summary.json`` (model, attention kind, extraction limit, the
    sequences, the records ``skipped`` as too long, the figures' scale and TSS, the files, and
    ``sparse_maps`` when a sequence was kept sparse).

    Args:
        skipped: (name, tokens) of records left out as too long, for summary.json.
        tss: 0-based offset of a TSS in the (one) sequence: the figures count bp from it.
        model_name: the model's name for the figures' titles.
        shared_scale: one colour scale for all heads of a figure (default: one per head).
        top_k: sparse maps keep each query's ``top_k`` heaviest keys per head.
        all_nonzero: sparse maps keep every non-zero weight instead (BigBird, Longformer, Reformer LSH).
        chunk_size: query rows per chunk for sparse maps (None: automatic).
    """
    check_top_k(top_k)
    check_chunk_size(chunk_size)
    check_all_nonzero(model, all_nonzero)
    if not sequences:
        raise InputError("no sequence to extract attention from")
    names = [safe_name(name) for name, _ in sequences]
    if len(set(names)) != len(names):
        raise InputError(f"two sequences share a file name: {sorted({n for n in names if names.count(n) > 1})}")
    if tss is not None and len(sequences) != 1:
        raise InputError("a TSS belongs to one sequence; give one region")
    dense_limit = extraction_limit(model)
    maps = [sequence_attention(model, seq, name, tss=tss) if model.tokenizer.num_tokens(seq) <= dense_limit
            else sparse_sequence_attention(model, seq, name, tss=tss, top_k=top_k, all_nonzero=all_nonzero,
                                           chunk_size=chunk_size)
            for name, seq in sequences]  # every error before any file
    figures = [[plot_distance_profile(one, layer, model=model_name) if isinstance(one, SparseAttentionMaps)
                else plot_heads(one, layer, model=model_name, shared_scale=shared_scale)
                for layer in range(one.num_layers)] for one in maps]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for stem, one, drawn in zip(names, maps, figures):
        sparse = isinstance(one, SparseAttentionMaps)
        files.append((_write_sparse_npz if sparse else _write_npz)(one, out / f"{stem}.npz"))
        for layer, fig in enumerate(drawn):
            files += save_figure(fig, out / f"{stem}.layer{layer}{'.distance' if sparse else ''}.png")
    table = pd.concat([(one.statistics if isinstance(one, SparseAttentionMaps) else head_statistics(one))
                       .assign(sequence=one.name) for one in maps], ignore_index=True)
    files.append(out / "heads.tsv")
    with atomic_open(files[-1]) as handle:
        table.to_csv(handle, sep="\t", index=False, float_format="%.6g")
    files.append(out / "summary.json")
    summary = {"model": model_name, "attention": encoder_of(model).config.attention,
               "limit_tokens": max_tokens(model),
               "sequences": [{"name": one.name, "file": stem, "letters": len(one.seq), "tokens": len(one.tokens)}
                             for stem, one in zip(names, maps)],
               "skipped": len(skipped), "skipped_too_long": [{"name": name, "tokens": tokens}
                                                              for name, tokens in skipped],
               "scale": "shared by the heads of a layer" if shared_scale else "per head",
               "tss_offset": tss, "files": [path.name for path in files]}
    long_maps = [one for one in maps if isinstance(one, SparseAttentionMaps)]
    if long_maps:
        summary["sparse_maps"] = {
            "dense_limit_tokens": dense_limit, "sequences": [one.name for one in long_maps],
            "kept": "every non-zero weight" if all_nonzero else f"the {top_k} heaviest keys per query and head",
            "top_k": None if all_nonzero else top_k, "chunk_rows": [one.chunk_size for one in long_maps],
            "weights_kept": int(sum(len(one.weights) for one in long_maps))}
    write_json(summary, files[-1])
    return files, summary


def _write_npz(maps: AttentionMaps, path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, tokens=maps.probs, letters=maps.letters(), spans=maps.spans,
                                token_labels=np.array(maps.tokens), seq=np.array(maps.seq))
    return path


def _write_sparse_npz(maps: SparseAttentionMaps, path: Path) -> Path:
    """The sparse maps: COO (layer, head, rows, cols, weights) over ``shape`` (N, H, L, L), and the full-row statistics.

    ``top_k`` is 0 when every non-zero weight is kept; ``saved_share`` (N, H) is the mean share of a
    query's attention the kept weights hold; ``distance_profile`` (N, H, L) the mean weight at each
    distance |i − j|; ``entropy`` and ``distance`` (N, H) are heads.tsv's columns.
    """
    stats = maps.statistics
    grid = (maps.num_layers, maps.num_heads)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, format=np.array("sparse"), shape=np.array(maps.shape, dtype=np.int64),
                                layer=maps.layer, head=maps.head, rows=maps.rows, cols=maps.cols,
                                weights=maps.weights, top_k=np.array(maps.top_k or 0),
                                entropy=stats["entropy"].to_numpy().reshape(grid).astype(np.float32),
                                distance=stats["distance"].to_numpy().reshape(grid).astype(np.float32),
                                saved_share=maps.saved_share.astype(np.float32),
                                distance_profile=maps.profile.astype(np.float32), spans=maps.spans,
                                token_labels=np.array(maps.tokens), seq=np.array(maps.seq))
    return path


def write_attention_maps(model: nn.Module, out: str | Path, *, model_name: str | None = None,
                         shared_scale: bool = False, top_k: int = DEFAULT_TOP_K, all_nonzero: bool = False,
                         chunk_size: int | None = None, **source) -> tuple[list[Path], dict]:
    """:func:`maps_report` of the sequences :func:`select_sequences` picks from ``source``; (files, summary)."""
    check_extractable(model)  # a kind without maps is the first thing said
    check_top_k(top_k)
    check_chunk_size(chunk_size)
    check_all_nonzero(model, all_nonzero)
    picked = select_sequences(model, **source)
    return maps_report(model, picked, out, skipped=picked.skipped, tss=picked.tss, model_name=model_name,
                       shared_scale=shared_scale, top_k=top_k, all_nonzero=all_nonzero, chunk_size=chunk_size)
