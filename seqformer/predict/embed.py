"""Embeddings of a FASTA file's records, as ESM's ``extract.py`` gives them: per token and per record.

Axes: N records, B records per batch, L tokens (padded), n body tokens of one record, D width,
V vocabulary.

Any seqformer model works: a bare :class:`~seqformer.models.SeqEncoder`, or the ``.encoder`` of a
masked LM or a sequence classifier; a masked LM can also give its LM logits. Records are encoded
with the model's own tokenizer (``batch_encode``); a record's *body tokens* are its tokens whose
``token_spans`` are not ``(-1, -1)`` (so [CLS], [SEP] and padding are dropped, whatever framing the
tokenizer uses).

Layers: 0 is the token embedding, ``i`` the output of block ``i``; the last layer
(``num_layers``) is taken after the final LayerNorm when the encoder has one, as ESM's extract
takes it after ``emb_layer_norm_after``. Negative indexes count from the end (-1 = the last).

The output folder (written beside its place and renamed onto it only when everything succeeded):

- ``per_token.npz`` (optional): ``"{record}/layer{l}"`` (n, D) float32 for each record and layer,
  and ``"{record}/spans"`` (n, 2) int64, the 0-based half-open letter span of each body token;
- ``mean.parquet``: one row per record, ``record``, ``length`` (letters), ``n_tokens`` (body
  tokens), then a fixed-size list column ``layer{l}`` (D float32) per layer: the mean over body
  tokens. One row group per batch, rows in the order the records were run (longest first);
- ``mean.npz``: ``"names"`` (N,) and ``"layer{l}"`` (N, D) float32, rows in FASTA order;
- ``logits.npz`` (masked LMs, on request): ``"{record}"`` (n, V) float32, the LM logits at the
  body tokens (the rows of the per-token arrays).

Records are read first (names must be unique; each must fit the model's ``max_length`` unless
truncated), sorted by token count and run in batches of at most ``batch_size`` records and
``max_tokens`` padded tokens. Per-token arrays and Parquet rows are written as each batch finishes,
so memory holds one batch of representations, not the file's.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqformer.data.corpus import check_letters
from seqformer.device import DEVICES, resolve_device
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_dir
from seqformer.io.fasta import read_fasta
from seqformer.models.encoder import encoder_of
from seqformer.models.mlm import MaskedLM

PER_TOKEN_FILE = "per_token.npz"
MEAN_PARQUET_FILE = "mean.parquet"
MEAN_NPZ_FILE = "mean.npz"
LOGITS_FILE = "logits.npz"
OUTPUT_FILES = (PER_TOKEN_FILE, MEAN_PARQUET_FILE, MEAN_NPZ_FILE, LOGITS_FILE)


@dataclass(frozen=True)
class EmbedSummary:
    """What :func:`embed_fasta` did."""

    out: str  # the output folder
    records: int  # N: records embedded
    letters: int  # bases or residues in those records (truncated records counted whole)
    tokens: int  # body tokens embedded (after truncation)
    truncated: int  # records cut to the model's max_length tokens (truncate=True)
    max_length: int  # the model's max_length (tokens per record, specials included)
    layers: tuple[int, ...]  # the layers written, as indexes 0..num_layers
    hidden_size: int  # D: width of every representation
    files: tuple[str, ...]  # the files written into ``out``
    seconds: float  # wall time of reading, running and writing

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {**asdict(self), "layers": list(self.layers), "files": list(self.files)}

    @property
    def message(self) -> str:
        """One line for the terminal."""
        cut = (f"; {self.truncated:,} record{'s' * (self.truncated != 1)} truncated to {self.max_length:,} tokens"
               if self.truncated else "")
        layers = ", ".join(map(str, self.layers))
        return (f"{self.records:,} records ({self.letters:,} letters, {self.tokens:,} tokens) embedded at "
                f"layer{'s' * (len(self.layers) != 1)} {layers} (D = {self.hidden_size}) in {self.seconds:.1f} s"
                f"{cut} -> {self.out}")


@dataclass(frozen=True)
class _Record:
    """One FASTA record as it will be run."""

    index: int  # 0-based position in the FASTA file
    name: str  # the record id (keys the outputs)
    seq: str  # the letters that are encoded (a prefix of the record when truncated)
    length: int  # letters of the whole record
    tokens: int  # tokens of ``seq``, specials included
    truncated: bool  # whether ``seq`` is a prefix cut to the model's max_length tokens


def parse_layers(text: str) -> tuple[int, ...]:
    """``"0,-1"`` → ``(0, -1)``; anything but a comma list of integers is an InputError."""
    try:
        layers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--layers must be a comma-separated list of integers, e.g. 0,-1; got {text!r}") from None
    return layers


def resolve_layers(layers: Sequence[int], num_layers: int) -> tuple[int, ...]:
    """Layer indexes as 0..``num_layers`` (negative ones count from the end), in order, repeats dropped."""
    if not layers:
        raise InputError("give at least one layer")
    resolved = []
    for layer in layers:
        if not -(num_layers + 1) <= layer <= num_layers:
            raise InputError(f"layer {layer} does not exist: the model has layers 0 (embeddings) to {num_layers} "
                             f"(or -{num_layers + 1} to -1 from the end)")
        index = layer % (num_layers + 1)
        if index not in resolved:
            resolved.append(index)
    return tuple(resolved)


def _alphabet(tokenizer: Any) -> str:
    return "dna" if tokenizer.type_name == "kmer" else "protein"


def _check_alphabet(letters: str, tokenizer: Any, fasta: Path) -> None:
    """InputError when the first record is plainly not of the alphabet the model's tokenizer reads."""
    alphabet = _alphabet(tokenizer)
    try:
        check_letters(letters, alphabet, str(fasta))
    except InputError as err:
        what = err.message.split(";")[0]  # without check_letters' advice about --alphabet
        raise InputError(f"{what}; this model's {tokenizer.type_name} tokenizer reads {alphabet}", path=fasta) from None


def _token_spans(tokenizer: Any, seq: str) -> np.ndarray:
    """(L, 2) spans of every token of ``seq``, specials (-1, -1) (from the letters: a k-mer tokenizer with
    leftover bases places its tokens by letter)."""
    return tokenizer.token_spans(seq)


def _fit(tokenizer: Any, name: str, seq: str, max_length: int, truncate: bool,
         fasta: Path) -> tuple[str, np.ndarray]:
    """The letters of ``seq`` to encode and their token spans: the whole record, or the prefix whose
    tokens are the first ``max_length`` (specials included) when it encodes to more and ``truncate``."""
    spans = _token_spans(tokenizer, seq)  # (L, 2)
    if len(spans) <= max_length:
        return seq, spans
    if not truncate:
        raise InputError(f"encodes to {len(spans):,} tokens, more than the model's max_length of {max_length:,}; "
                         f"pass --truncate to keep the first {max_length:,} tokens", path=fasta, record=name)
    body = spans[spans[:, 0] >= 0]  # (n, 2)
    keep = max_length - (len(spans) - len(body))  # body tokens that fit beside the specials
    if keep < 1:
        raise InputError(f"max_length {max_length} leaves no room for a body token", path=fasta, record=name)
    cut = seq[: int(body[keep - 1, 1])]  # the letters up to the end of the last kept token
    spans = _token_spans(tokenizer, cut)
    if len(spans) > max_length:  # a tokenizer whose prefixes do not tokenize as prefixes
        raise ValueError(f"record {name!r} cut to {len(cut)} letters still encodes to {len(spans)} tokens")
    return cut, spans


def read_records(fasta: str | Path, tokenizer: Any, max_length: int, *, truncate: bool = False) -> list[_Record]:
    """Every record of ``fasta``, checked (unique names, within ``max_length`` unless ``truncate``), in file order."""
    fasta = Path(fasta)
    records: list[_Record] = []
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(read_fasta(fasta, alphabet=_alphabet(tokenizer))):
        if index == 0:
            _check_alphabet(entry.seq, tokenizer, fasta)
        if entry.id in first_seen:
            raise InputError(f"duplicate record name: record {index + 1} has the name of record "
                             f"{first_seen[entry.id] + 1}; names key the outputs and must be unique",
                             path=fasta, record=entry.id)
        first_seen[entry.id] = index
        seq, spans = _fit(tokenizer, entry.id, entry.seq, max_length, truncate, fasta)  # spans: recomputed per batch
        records.append(_Record(index, entry.id, seq, len(entry.seq), len(spans), len(seq) < len(entry.seq)))
    return records


def length_batches(records: Sequence[_Record], batch_size: int, max_tokens: int | None = None) -> list[list[_Record]]:
    """Records sorted by token count (longest first; ties in file order), cut into batches of at most
    ``batch_size`` records and ``max_tokens`` padded tokens (B x longest L; a longer record runs alone)."""
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise InputError(f"max tokens per batch must be at least 1, got {max_tokens}")
    batches: list[list[_Record]] = []
    for record in sorted(records, key=lambda r: -r.tokens):
        batch = batches[-1] if batches else None
        fits = batch is not None and len(batch) < batch_size and (
            max_tokens is None or (len(batch) + 1) * batch[0].tokens <= max_tokens)
        if fits:
            batch.append(record)
        else:
            batches.append([record])
    return batches


class _NpzStream:
    """An ``.npz`` written entry by entry (as :func:`numpy.savez` writes each array), never held whole."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def write(self, key: str, array: np.ndarray) -> None:
        """Add ``array`` as ``key`` (``numpy.load(path)[key]``)."""
        with self.zip.open(key + ".npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)

    def close(self) -> None:
        """Finish the file."""
        self.zip.close()


class _MeanParquet:
    """``mean.parquet``: one row group per batch."""

    def __init__(self, path: Path, layers: Sequence[int], width: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.layers, self.width = pa, layers, width
        self.schema = pa.schema([("record", pa.string()), ("length", pa.int64()), ("n_tokens", pa.int64()),
                                 *[(f"layer{layer}", pa.list_(pa.float32(), width)) for layer in layers]])
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, records: Sequence[_Record], n_tokens: Sequence[int], means: dict[int, np.ndarray]) -> None:
        """One row group: the batch's records, their body-token counts and means (layer → (B, D))."""
        pa = self.pa
        columns = [pa.array([r.name for r in records], pa.string()), pa.array([r.length for r in records], pa.int64()),
                   pa.array(list(n_tokens), pa.int64())]
        columns += [pa.FixedSizeListArray.from_arrays(pa.array(means[layer].reshape(-1), pa.float32()), self.width)
                    for layer in self.layers]
        self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        """Finish the file."""
        self.writer.close()


class _Outputs:
    """The files of one output folder: streams written batch by batch, and the means of every record."""

    def __init__(self, folder: Path, records: Sequence[_Record], layers: Sequence[int], width: int, *,
                 per_token: bool, logits: bool) -> None:
        self.folder, self.layers = folder, layers
        self.files = ((PER_TOKEN_FILE,) if per_token else ()) + (MEAN_PARQUET_FILE, MEAN_NPZ_FILE) + \
            ((LOGITS_FILE,) if logits else ())
        self.means = {layer: np.zeros((len(records), width), dtype=np.float32) for layer in layers}  # (N, D)
        self.per_token = _NpzStream(folder / PER_TOKEN_FILE) if per_token else None
        self.logits = _NpzStream(folder / LOGITS_FILE) if logits else None
        self.parquet = _MeanParquet(folder / MEAN_PARQUET_FILE, layers, width)

    def write(self, batch: Sequence[_Record], spans: list[np.ndarray], rows: dict[int, list[np.ndarray]],
              scores: list[np.ndarray] | None) -> int:
        """Write one batch's per-token rows, body spans, logits and Parquet row group; returns its body tokens."""
        for i, record in enumerate(batch):
            for layer in self.layers:
                self.means[layer][record.index] = rows[layer][i].mean(axis=0)  # (D,)
                if self.per_token is not None:
                    self.per_token.write(f"{record.name}/layer{layer}", rows[layer][i])
            if self.per_token is not None:
                self.per_token.write(f"{record.name}/spans", spans[i])
            if self.logits is not None:
                self.logits.write(record.name, scores[i])
        n_tokens = [len(part) for part in rows[self.layers[0]]]
        rows_of_batch = [record.index for record in batch]
        self.parquet.write(batch, n_tokens, {layer: self.means[layer][rows_of_batch] for layer in self.layers})
        return sum(n_tokens)

    def close(self) -> None:
        """Finish the streamed files."""
        for writer in (self.per_token, self.logits, self.parquet):
            if writer is not None:
                writer.close()

    def write_means(self, names: Sequence[str]) -> None:
        """``mean.npz``: the names and each layer's (N, D) means, in FASTA order."""
        np.savez(self.folder / MEAN_NPZ_FILE, names=np.array(names, dtype=str),
                 **{f"layer{layer}": self.means[layer] for layer in self.layers})


def check_new_embed_folder(out: str | Path) -> None:
    """InputError unless ``out`` is absent, an empty folder, or an earlier embedding folder (which is replaced)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(p.name not in OUTPUT_FILES for p in out.iterdir())):
        raise InputError("exists and holds other files; choose a new --out", path=out)


@torch.no_grad()
def _run_batch(model: nn.Module, batch: Sequence[_Record], layers: Sequence[int], logits: bool,
               device: torch.device) -> tuple[list[np.ndarray], dict[int, list[np.ndarray]], list[np.ndarray] | None]:
    """(each record's (n, 2) body spans, layer → each record's (n, D) body rows, each record's (n, V) logits
    or None) of one batch."""
    encoder = encoder_of(model)
    num_layers = encoder.config.num_layers
    inputs = model.tokenizer.batch_encode([r.seq for r in batch], records=[r.name for r in batch]).to(device)
    found = inputs.attention_mask.sum(1).tolist()
    if found != [r.tokens for r in batch]:  # batch_encode and token_spans must describe the same tokens
        raise ValueError(f"the tokenizer gives {found} tokens but its spans say {[r.tokens for r in batch]}")
    spans = [_token_spans(model.tokenizer, r.seq) for r in batch]  # each (L_i, 2)
    body = torch.zeros(inputs.input_ids.shape, dtype=torch.bool)  # (B, L)
    for i, row in enumerate(spans):
        body[i, : len(row)] = torch.from_numpy(row[:, 0] >= 0)
    body = body.to(device)
    spans = [row[row[:, 0] >= 0] for row in spans]  # each (n, 2)
    counts = [len(row) for row in spans]
    final_norm = getattr(encoder.config, "final_norm", True)  # the last layer is read after it
    from_stack = [layer for layer in layers if layer < num_layers or not final_norm]  # read from hidden_states
    out = encoder(inputs.input_ids, inputs.attention_mask, output_hidden_states=bool(from_stack))
    rows = {}
    for layer in layers:
        hidden = out.hidden_states[layer] if layer in from_stack else out.last_hidden_state  # (B, L, D)
        rows[layer] = np.split(hidden[body].float().cpu().numpy(), np.cumsum(counts)[:-1])  # each (n, D)
    scores = None
    if logits:
        head = model.head(out.last_hidden_state[body], encoder.embed.weight)  # (sum n, V)
        scores = np.split(head.float().cpu().numpy(), np.cumsum(counts)[:-1])  # each (n, V)
    return spans, rows, scores


def embed_fasta(model: nn.Module, fasta: str | Path, out: str | Path, *, layers: Sequence[int] = (-1,),
                per_token: bool = True, logits: bool = False, batch_size: int = 8, max_tokens: int | None = None,
                truncate: bool = False, device: torch.device | str | None = None,
                on_batch: Callable[[int, int], None] | None = None) -> EmbedSummary:
    """Write the representations of every record of ``fasta`` into the folder ``out`` (module docstring).

    Args:
        model: a :class:`~seqformer.models.SeqEncoder`, or a model with one as ``.encoder``; it carries
            its tokenizer (``.tokenizer``).
        fasta: FASTA of DNA (k-mer models) or protein (residue models) records with unique names.
        out: the output folder: absent, empty, or an earlier embedding folder (replaced).
        layers: layer indexes, 0 = embeddings, i = block i (the last after the final LayerNorm),
            negative from the end.
        per_token: also write ``per_token.npz``.
        logits: also write ``logits.npz`` (masked LMs only).
        batch_size: most records per forward pass.
        max_tokens: most padded tokens (records x longest record) per forward pass; None = no cap.
        truncate: keep the first ``max_length`` tokens of a longer record instead of refusing it.
        device: where the model runs (``auto``, ``cpu``, ``cuda`` or a torch device); None = where it is.
        on_batch: called as ``on_batch(records_done, tokens_done)`` after each batch.

    Returns:
        An :class:`EmbedSummary`.
    """
    started = time.perf_counter()
    encoder = encoder_of(model)
    if logits and not isinstance(model, MaskedLM):
        raise InputError(f"--logits needs a masked language model; this is a {type(model).__name__}")
    if getattr(model, "tokenizer", None) is None:
        raise ValueError(f"{type(model).__name__} carries no tokenizer")
    chosen = resolve_layers(layers, encoder.config.num_layers)
    check_new_embed_folder(out)
    max_length = encoder.config.max_length
    records = read_records(fasta, model.tokenizer, max_length, truncate=truncate)
    batches = length_batches(records, batch_size, max_tokens)
    if device is not None:
        model.to(resolve_device(device) if isinstance(device, str) and device in DEVICES else torch.device(device))
    where = next(encoder.parameters()).device
    was_training = model.training
    model.eval()
    width = encoder.config.hidden_size
    done = tokens = 0
    try:
        with atomic_dir(out) as tmp:
            outputs = _Outputs(tmp, records, chosen, width, per_token=per_token, logits=logits)
            try:
                for batch in batches:
                    tokens += outputs.write(batch, *_run_batch(model, batch, chosen, logits, where))
                    done += len(batch)
                    if on_batch is not None:
                        on_batch(done, tokens)
            finally:
                outputs.close()
            outputs.write_means([r.name for r in records])
    finally:
        model.train(was_training)
    return EmbedSummary(out=str(out), records=len(records), letters=sum(r.length for r in records), tokens=tokens,
                        truncated=sum(r.truncated for r in records), max_length=max_length, layers=chosen,
                        hidden_size=width, files=outputs.files, seconds=time.perf_counter() - started)
