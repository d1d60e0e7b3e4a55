"""Per-base attributions of DNA sequence classifiers: gradient × input, in-silico mutagenesis (ISM)
and integrated gradients, through a differentiable one-hot path into the k-mer embedding.

Axes: N windows, n bases per window, 4 channels (A C G T, the k-mer tokenizer's ``BASES`` order),
B windows per batch, L tokens, D width, T labels. The attributed quantity is one target label's
**logit** (before the sigmoid or softmax).

**The one-hot path** (:class:`OneHotPath`). A window is X (n, 4): one row per base, one-hot over
A C G T, all zero for N (and any other ambiguity code). A token of a k-mer tokenizer (any stride)
starting at base i is embedded as ``sum_m P_i[m] * E[id(m)]`` over the 4**k k-mers m, with
``P_i = X[i] ⊗ X[i+1] ⊗ ... ⊗ X[i+k-1]`` (flattened first base first: the k-mer order of
``itertools.product("ACGT", repeat=k)``) and ``id(m) = tokenizer.token_to_id(m)``, so remapped
vocabularies (DNABERT's, the Nucleotide Transformer's) work too. For one-hot X, P_i is the one-hot
of the k-mer and the sum is exactly its embedding row. Which tokens there are comes from the
tokenizer on the observed window (:meth:`OneHotPath.layout`): special tokens ([CLS], [SEP]) and
every token it makes [UNK] (a k-mer holding an N, a trailing partial k-mer of stride k) keep their
own embedding rows as constants; single-base tokens (``leftover="bases"``) are the case k = 1.
The embeddings enter the encoder as ``inputs_embeds`` (scale, token dropout, positions and the
embedding norm apply as for ids), so the path's logits equal the model's on the window's string,
N included. **Convention for N**: an N base is in no differentiable token, so it contributes
nothing (hypothetical and score 0 under the gradient methods), and the k-mers holding it stay
[UNK] rather than depending on their other bases.

**Methods** (``hypothetical`` (N, n, 4) and ``scores`` (N, n); in every method
``scores[i] = hypothetical[i, observed base]``, i.e. ``(hypothetical * onehot).sum(-1)``):

- ``grad_x_input``: ``hypothetical`` is the gradient of the logit at every base and channel (the
  "hypothetical contributions" TF-MoDISco takes); ``scores`` is gradient × input summed over the 4
  channels.
- ``ism``: ``hypothetical[i, b]`` is the logit of the window with base b at i (the window itself
  at the observed base) minus the mean of those 4 logits at i (tangermeme's convention), each
  variant scored by the model on its string. So ``scores[i]`` is the observed base's logit minus
  the mean over the four bases there: -3/4 times the mean logit change of its three substitutions.
  At an N all four bases are substitutions and the score is 0.
- ``integrated_gradients``: captum's ``IntegratedGradients`` from the all-zero baseline (every
  base N: only the special and [UNK] tokens keep their embeddings; a dinucleotide-shuffled
  baseline would need several references per window, so the zero baseline is the default);
  ``hypothetical`` is the gradient averaged along the path (captum's ``multiply_by_inputs=False``)
  and ``scores`` its product with the input, which sum over the window to ``logit(X) - logit(0)``
  up to captum's convergence delta (completeness).

**Comparing grad × input and ISM.** Where the logit is linear in each base's one-hot row given the
others (e.g. the embedding pooled straight into the linear head), the ISM hypothetical equals the
gradient minus its mean over the 4 channels (:func:`centre_channels`), and the ISM score equals
the grad × input score minus that mean; away from linearity they differ by the model's curvature.

**Strands.** ``strands="both"`` attributes each window and its reverse complement, maps the
latter back (positions flipped, channels complemented: A↔T, C↔G, which in ACGT order is also a
flip) and averages the two; ``logits`` are the mean of the two strands' target logits.
``strands="plus"`` attributes the windows as given.

ISM is scored here rather than through :func:`seqformer.variants.mutagenesis.saturation_mutagenesis`,
which enumerates the same single-base variants but scores probabilities averaged over both strands
(its ``delta_logit`` is the logit of that mean, clipped): here the target's raw logit is taken per
strand, as the gradient methods take it.

Files (:func:`write_attributions`): ``attributions.npz`` and, for windows on a genome,
``scores.bw`` and ``scores.bedGraph`` of the per-base scores. Windows come from a BED file
(:func:`bed_windows`: each interval centred to the model's window on the genome) or a FASTA file
(:func:`fasta_windows`: records of exactly the model's window).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqformer.errors import InputError
from seqformer.io import Genome, atomic_open, atomic_path, bed_regions, read_bed, read_fasta
from seqformer.io.sequence import DNA_CHANNELS, clean_dna, dna_channels, one_hot_dna, reverse_complement
from seqformer.predict.scan import BigWigTrack
from seqformer.predict.scorer import label_index
from seqformer.tokenizers.kmer import BASES, KmerTokenizer

METHODS = ("grad_x_input", "ism", "integrated_gradients")
STRANDS = ("both", "plus")
NPZ_FILE = "attributions.npz"
BIGWIG_FILE = "scores.bw"
BEDGRAPH_FILE = "scores.bedGraph"

assert BASES == DNA_CHANNELS  # the one-hot channels are the k-mer tokenizer's bases, in its order
onehot = one_hot_dna  # (N, n, 4) float32 one-hot of equally long windows; N is a zero row


def centre_channels(hypothetical: np.ndarray) -> np.ndarray:
    """``hypothetical`` (..., 4) minus its mean over the 4 channels: gradients on ISM's scale."""
    return hypothetical - hypothetical.mean(axis=-1, keepdims=True)


@dataclass(frozen=True)
class TokenLayout:
    """The tokens of a batch of windows and which of them the one-hot input makes."""

    input_ids: torch.Tensor  # (B, L) int64, the tokenizer's ids of the windows, padded with pad_id
    attention_mask: torch.Tensor  # (B, L) bool, True = real token
    starts: torch.Tensor  # (B, L) int64, first base of each token made from the one-hot input; -1 for kept rows
    widths: torch.Tensor  # (B, L) int64, bases in that token (k, or 1 for single-base tokens); 0 for kept rows

    def to(self, device: torch.device | str) -> TokenLayout:
        """The same layout on ``device``."""
        return TokenLayout(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.starts, self.widths)))


class OneHotPath:
    """A k-mer :class:`~seqformer.models.classifier.SequenceClassifier` as a function of one-hot windows.

    Args:
        model: the classifier (its ``.tokenizer`` a :class:`KmerTokenizer`, its encoder ``.encoder``).
    """

    def __init__(self, model) -> None:
        tokenizer = getattr(model, "tokenizer", None)
        if not isinstance(tokenizer, KmerTokenizer):
            kind = getattr(tokenizer, "type_name", type(tokenizer).__name__)
            raise InputError(f"attributions need a DNA model with a k-mer tokenizer; this model's tokenizer is {kind}")
        self.model, self.tokenizer = model, tokenizer
        self._kmer_ids: dict[int, torch.Tensor] = {}

    def layout(self, seqs: Sequence[str]) -> TokenLayout:
        """The tokens of ``seqs`` (uppercase DNA): the tokenizer's ids, and where each k-mer token starts."""
        tok = self.tokenizer
        batch = tok.batch_encode(list(seqs))
        starts = np.full(tuple(batch.input_ids.shape), -1, dtype=np.int64)  # (B, L)
        widths = np.zeros_like(starts)
        singles = tok.k == 1 or tok.leftover == "bases"  # single-base tokens A C G T exist
        for row, seq in enumerate(seqs):
            spans = tok.token_spans(seq)  # (L_row, 2), (-1, -1) for specials
            known = np.concatenate([[0], np.cumsum(dna_channels(seq) < len(BASES))])
            begin, end = spans[:, 0], spans[:, 1]
            width = end - begin
            real = begin >= 0
            clean = real & (known[np.where(real, end, 0)] - known[np.where(real, begin, 0)] == width)
            made = clean & ((width == tok.k) | (singles & (width == 1)))  # all A/C/G/T, a k-mer or a single base
            starts[row, : len(spans)] = np.where(made, begin, -1)
            widths[row, : len(spans)] = np.where(made, width, 0)
        return TokenLayout(batch.input_ids, batch.attention_mask, torch.from_numpy(starts), torch.from_numpy(widths))

    def kmer_ids(self, width: int) -> torch.Tensor:
        """(4**width,) int64: the tokenizer's id of every ``width``-mer, in ``itertools.product`` order."""
        if width not in self._kmer_ids:
            kmers = ("".join(m) for m in itertools.product(BASES, repeat=width))
            self._kmer_ids[width] = torch.tensor([self.tokenizer.token_to_id(m) for m in kmers], dtype=torch.int64)
        return self._kmer_ids[width]

    def embeddings(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """Token embeddings (B, L, D) of one-hot windows ``x`` (B, n, 4), differentiable in ``x``."""
        weight = self.model.encoder.embed.weight  # (V, D)
        embedded = weight[layout.input_ids]  # (B, L, D): the kept rows
        for width in layout.widths.unique().tolist():
            if width == 0:
                continue
            rows, cols = torch.nonzero(layout.widths == width, as_tuple=True)  # (G,) tokens of this width
            at = layout.starts[rows, cols][:, None] + torch.arange(width, device=x.device)  # (G, width)
            bases = x[rows[:, None], at]  # (G, width, 4)
            product = bases[:, 0]
            for j in range(1, width):  # outer products: (G, 4**j) -> (G, 4**(j+1)), first base most significant
                product = (product[:, :, None] * bases[:, j, None, :]).flatten(1)
            table = weight[self.kmer_ids(width).to(weight.device)]  # (4**width, D)
            embedded = embedded.index_put((rows, cols), product @ table)
        return embedded

    def logits(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """The classifier's logits (B, T) for one-hot windows ``x`` (B, n, 4) with the tokens of ``layout``."""
        embeds = self.embeddings(x, layout)
        return self.model(layout.input_ids, layout.attention_mask, inputs_embeds=embeds).logits


@dataclass(frozen=True)
class Attributions:
    """Per-base attributions of N windows of n bases for one target (module docstring)."""

    names: tuple[str, ...]  # (N,) window names: FASTA ids, or chrom:start-end ("(-)" when read on the minus strand)
    onehot: np.ndarray  # (N, n, 4) float32 one-hot of each window as given (A C G T; N rows all zero)
    hypothetical: np.ndarray  # (N, n, 4) float32 gradient (ISM: centred logit of each base) at every base
    scores: np.ndarray  # (N, n) float32 per-base attribution: hypothetical at the observed base
    target: str  # the label whose logit is attributed
    method: str  # one of METHODS
    logits: np.ndarray  # (N,) float32 the target's logit per window (both strands: their mean)
    strands: str  # "both" (window and reverse complement averaged) or "plus"


def resolve_target(model, target: str | None) -> str:
    """The label to attribute: ``target``, or the model's first label; InputError for a DNA-less model
    or a label the model lacks (naming its labels)."""
    OneHotPath(model)  # a protein model is refused here
    labels = tuple(model.config.labels)
    chosen = labels[0] if target is None else target
    label_index(model, chosen)
    return chosen


def _model_logits(model, seqs: Sequence[str], column: int, batch_size: int, device) -> np.ndarray:
    """(len(seqs),) float64 target logits of the model on DNA strings, ``batch_size`` per pass."""
    out = []
    with torch.no_grad():
        for lo in range(0, len(seqs), batch_size):
            batch = model.tokenizer.batch_encode(list(seqs[lo:lo + batch_size])).to(device)
            out.append(model(batch.input_ids, batch.attention_mask).logits[:, column].double().cpu())
    return torch.cat(out).numpy()


def _ism(model, seq: str, column: int, batch_size: int, device) -> tuple[np.ndarray, float]:
    """((n, 4) centred variant logits, the window's logit) of one window, every single-base variant scored."""
    where = [(i, b) for i in range(len(seq)) for b, base in enumerate(BASES) if base != seq[i]]
    variants = [seq[:i] + BASES[b] + seq[i + 1:] for i, b in where]
    logits = _model_logits(model, [seq, *variants], column, batch_size, device)
    table = np.full((len(seq), len(BASES)), logits[0])  # (n, 4): the observed base is the window itself
    if where:
        rows, cols = np.array(where).T
        table[rows, cols] = logits[1:]
    return centre_channels(table), float(logits[0])


def _gradients(path: OneHotPath, seqs: Sequence[str], column: int, method: str, n_steps: int, batch_size: int,
               device) -> tuple[np.ndarray, np.ndarray]:
    """((B, n, 4) hypothetical, (B,) logits) of one batch of windows by a gradient method."""
    dtype = next(path.model.parameters()).dtype
    layout = path.layout(seqs).to(device)
    x = torch.from_numpy(onehot(seqs)).to(device=device, dtype=dtype)  # (B, n, 4)
    if method == "grad_x_input":
        x.requires_grad_(True)
        with torch.enable_grad():
            logits = path.logits(x, layout)[:, column]  # (B,)
            (grad,) = torch.autograd.grad(logits.sum(), x)  # windows are independent: d sum / dx = each one's
        return grad.double().cpu().numpy(), logits.detach().double().cpu().numpy()
    from captum.attr import IntegratedGradients

    def forward(inputs, input_ids, attention_mask, starts, widths):  # captum repeats the layout per step
        return path.logits(inputs, TokenLayout(input_ids, attention_mask, starts, widths))[:, column]

    gradients = IntegratedGradients(forward, multiply_by_inputs=False)
    with torch.enable_grad():
        mean_grad = gradients.attribute(x, baselines=torch.zeros_like(x), n_steps=n_steps,
                                        additional_forward_args=(layout.input_ids, layout.attention_mask,
                                                                 layout.starts, layout.widths),
                                        internal_batch_size=max(batch_size, len(seqs)))
    with torch.no_grad():
        logits = path.logits(x, layout)[:, column]
    return mean_grad.detach().double().cpu().numpy(), logits.double().cpu().numpy()


def attribute(model, seqs: Sequence[str], *, names: Sequence[str] | None = None, target: str | None = None,
              method: str = "grad_x_input", strands: str = "both", batch_size: int = 32,
              device: torch.device | str | None = None, n_steps: int = 32,
              on_batch: Callable[[int], None] | None = None) -> Attributions:
    """Per-base attributions of ``model``'s ``target`` logit for the windows ``seqs`` (module docstring).

    Args:
        model: a k-mer :class:`~seqformer.models.classifier.SequenceClassifier` on ``device``; it runs in
            eval mode (its mode is restored afterwards).
        seqs: N DNA strings of one length (IUPAC; lowercase allowed).
        names: N names (default ``seq0``, ``seq1``, ...).
        target: the label whose logit is attributed (default: the model's first label).
        method: ``grad_x_input``, ``ism`` or ``integrated_gradients``.
        strands: ``both`` (each window and its reverse complement, averaged) or ``plus``.
        batch_size: windows (ISM: variants; integrated gradients: windows × path steps) per forward pass.
        device: where the inputs go (default: where the model is).
        n_steps: integrated gradients' path steps (Gauss-Legendre).
        on_batch: called with the number of windows done after each batch.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if strands not in STRANDS:
        raise InputError(f"strands must be one of {', '.join(STRANDS)}, got {strands!r}")
    if batch_size < 1 or n_steps < 1:
        raise ValueError(f"batch_size and n_steps must be positive, got {batch_size} and {n_steps}")
    path = OneHotPath(model)
    chosen = resolve_target(model, target)
    column = label_index(model, chosen)
    names = tuple(names) if names is not None else tuple(f"seq{i}" for i in range(len(seqs)))
    if len(names) != len(seqs):
        raise ValueError(f"got {len(names)} names for {len(seqs)} sequences")
    seqs = [clean_dna(s, record=name) for s, name in zip(seqs, names)]
    if not seqs:
        raise InputError("no sequences to attribute")
    n = len(seqs[0])
    for name, seq in zip(names, seqs):
        if len(seq) != n:
            raise InputError(f"the windows must have one length: {len(seq):,} bases here, {n:,} in the first",
                             record=name)
    device = next(model.parameters()).device if device is None else torch.device(device)
    reads = [(seqs, False)] + ([([reverse_complement(s) for s in seqs], True)] if strands == "both" else [])
    hypothetical = np.zeros((len(seqs), n, len(BASES)))
    logits = np.zeros(len(seqs))
    step = 1 if method == "ism" else batch_size
    was_training = model.training
    model.eval()
    try:
        for lo in range(0, len(seqs), step):
            part = slice(lo, min(lo + step, len(seqs)))
            for strand_seqs, flipped in reads:
                if method == "ism":
                    h, logit = _ism(model, strand_seqs[lo], column, batch_size, device)
                    h, logit = h[None], np.array([logit])
                else:
                    h, logit = _gradients(path, strand_seqs[part], column, method, n_steps, batch_size, device)
                if flipped:  # back to the plus strand: positions reversed, A<->T and C<->G (ACGT reversed)
                    h = h[:, ::-1, ::-1]
                hypothetical[part] += h / len(reads)
                logits[part] += logit / len(reads)
            if on_batch is not None:
                on_batch(part.stop)
    finally:
        model.train(was_training)
    x = onehot(seqs)
    return Attributions(names, x, hypothetical.astype(np.float32), (hypothetical * x).sum(-1).astype(np.float32),
                        chosen, method, logits.astype(np.float32), strands)


# --- windows from files ------------------------------------------------------------------------

@dataclass(frozen=True)
class GenomeCoords:
    """Where N windows lie on a genome (0-based, plus-strand coordinates)."""

    chrom: tuple[str, ...]  # (N,) contig of each window
    start: np.ndarray  # (N,) int64 first base of each window
    strand: tuple[str, ...]  # (N,) "+" or "-": the strand the window was read on (its one-hot's orientation)
    contigs: dict[str, int]  # contig name -> length (the bigWig's header), in the genome's order


@dataclass(frozen=True)
class Windows:
    """Windows to attribute: names, bases, and their genome coordinates when they came from a BED file."""

    names: tuple[str, ...]  # (N,) names
    seqs: tuple[str, ...]  # (N,) bases, each the model's window long
    coords: GenomeCoords | None  # None for FASTA records


def _bed_lines(path: Path) -> list[int]:
    """1-based line numbers of the data rows of a BED file, skipped lines as :func:`read_bed` skips them."""
    from seqformer.io._files import open_text

    with open_text(path) as handle:
        return [number for number, line in enumerate(handle, 1)
                if line.strip() and not line.startswith("#") and line.split(None, 1)[0] not in ("track", "browser")]


def bed_windows(genome: Genome, bed: str | Path, window: int) -> Windows:
    """The model's ``window`` centred on each BED interval, read from ``genome`` on the row's strand.

    A longer interval is cropped and a shorter one extended with its genomic flanks, as
    ``predict windows`` centres rows (an odd base from the 3' end of the strand read); minus-strand
    rows are reverse-complemented. A window that would run off its contig is an InputError naming
    the line and both lengths; so is a BED without intervals.
    """
    table = read_bed(bed)
    if table.empty:
        raise InputError("no intervals in the BED file", path=bed)
    contigs = genome.contigs
    targets = bed_regions(table, contigs, path=bed, source=genome.path.name)
    lines = _bed_lines(Path(bed))
    names, seqs, chroms, starts, strands = [], [], [], [], []
    for (region, strand), line in zip(targets, lines):
        strand = "-" if strand == "-" else "+"
        excess = len(region) - window
        head = excess // 2 if excess >= 0 else -(-excess // 2)  # bases dropped from the read's 5' end
        start = region.start + head if strand == "+" else region.end - head - window
        if start < 0 or start + window > contigs[region.chrom]:
            raise InputError(f"line {line}: the interval {region} has {len(region):,} bases and the model's window "
                             f"is {window:,}; centred there it runs off {region.chrom} "
                             f"({contigs[region.chrom]:,} bases)", path=bed)
        name = f"{region.chrom}:{start + 1}-{start + window}" + ("(-)" if strand == "-" else "")
        names.append(name)
        seqs.append(genome.fetch(region.chrom, start, start + window, strand))
        chroms.append(region.chrom)
        starts.append(start)
        strands.append(strand)
    coords = GenomeCoords(tuple(chroms), np.asarray(starts, dtype=np.int64), tuple(strands), contigs)
    return Windows(tuple(names), tuple(seqs), coords)


def fasta_windows(fasta: str | Path, window: int) -> Windows:
    """The records of ``fasta``, each exactly ``window`` bases (a record holds no flanks to centre on:
    another length is an InputError naming the record and both lengths)."""
    names, seqs = [], []
    for record in read_fasta(fasta, alphabet="dna"):
        if len(record.seq) != window:
            raise InputError(f"the record has {len(record.seq):,} bases and the model's window is {window:,}; "
                             "give records of the window's length, or --genome with --bed to centre intervals",
                             path=fasta, record=record.id)
        names.append(record.id)
        seqs.append(record.seq)
    return Windows(tuple(names), tuple(seqs), None)


# --- files ---------------------------------------------------------------------------------------

def _mean_runs(chrom: str, placed: list[tuple[int, np.ndarray]]) -> list[tuple[str, int, int, float]]:
    """Per-base runs of one cluster of overlapping windows ``(start, scores)`` on ``chrom``: the mean of
    the windows covering each base (float32), touching bases of equal value merged."""
    lo = placed[0][0]
    hi = max(start + len(values) for start, values in placed)
    total, count = np.zeros(hi - lo), np.zeros(hi - lo)
    for start, values in placed:
        total[start - lo:start - lo + len(values)] += values
        count[start - lo:start - lo + len(values)] += 1
    means = (total / count).astype(np.float32)
    cuts = np.flatnonzero(means[1:] != means[:-1]) + 1  # where the value changes
    bounds = np.concatenate([[0], cuts, [len(means)]])
    return [(chrom, lo + int(a), lo + int(b), float(means[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def _track(scores: np.ndarray, coords: GenomeCoords) -> list[tuple[str, int, int, float]]:
    """Runs ``(chrom, start, end, value)`` of the per-base scores on the genome, contig by contig in the
    genome's order (as the bigWig header lists them): minus-strand windows flipped back, overlapping
    windows averaged per base."""
    runs: list[tuple[str, int, int, float]] = []
    for chrom in coords.contigs:
        rows = sorted((int(coords.start[i]), i) for i, c in enumerate(coords.chrom) if c == chrom)
        cluster: list[tuple[int, np.ndarray]] = []
        for start, i in rows:
            values = scores[i, ::-1] if coords.strand[i] == "-" else scores[i]
            if cluster and start >= max(s + len(v) for s, v in cluster):
                runs += _mean_runs(chrom, cluster)
                cluster = []
            cluster.append((start, values.astype(np.float64)))
        if cluster:
            runs += _mean_runs(chrom, cluster)
    return runs


def write_attributions(attr: Attributions, out_dir: str | Path, *, genome_coords: GenomeCoords | None = None
                       ) -> list[Path]:
    """Write ``attributions.npz`` into ``out_dir`` and, with ``genome_coords``, the per-base scores as
    ``scores.bw`` (bigWig) and ``scores.bedGraph``; returns the paths.

    The npz holds ``names`` (N,) str, ``onehot`` (N, n, 4), ``hypothetical`` (N, n, 4), ``scores``
    (N, n), ``logits`` (N,) (float32), ``target`` and ``method`` (() str), and with coordinates
    ``chrom`` (N,) str, ``start`` (N,) int64 (0-based first base) and ``strand`` (N,) str (the
    strand each window was read on: its one-hot is that strand's bases). On the genome, minus-strand
    windows are flipped back and overlapping windows averaged per base. Every file is written to a
    temporary name and renamed only when all are complete.
    """
    out = Path(out_dir)
    arrays = {"names": np.array(attr.names, dtype=str), "onehot": attr.onehot.astype(np.float32),
              "hypothetical": attr.hypothetical.astype(np.float32), "scores": attr.scores.astype(np.float32),
              "logits": attr.logits.astype(np.float32), "target": np.array(attr.target),
              "method": np.array(attr.method)}
    if genome_coords is not None:
        if len(genome_coords.chrom) != len(attr.names):
            raise ValueError(f"{len(genome_coords.chrom)} coordinates for {len(attr.names)} windows")
        arrays |= {"chrom": np.array(genome_coords.chrom, dtype=str),
                   "start": np.asarray(genome_coords.start, dtype=np.int64),
                   "strand": np.array(genome_coords.strand, dtype=str)}
    files = [out / NPZ_FILE]
    with contextlib.ExitStack() as stack:
        np.savez_compressed(stack.enter_context(atomic_open(out / NPZ_FILE, "wb")), **arrays)
        if genome_coords is not None:
            runs = _track(attr.scores, genome_coords)
            graph = stack.enter_context(atomic_open(out / BEDGRAPH_FILE))
            graph.write(f'track type=bedGraph name="{attr.target} {attr.method}" '
                        f'description="per-base {attr.method} attribution of the {attr.target} logit"\n')
            graph.writelines(f"{chrom}\t{start}\t{end}\t{value:.9g}\n" for chrom, start, end, value in runs)
            track = BigWigTrack(stack.enter_context(atomic_path(out / BIGWIG_FILE)), genome_coords.contigs)
            try:
                for run in runs:
                    track.add(*run)
            finally:
                track.close()  # complete before the renames
            files += [out / BIGWIG_FILE, out / BEDGRAPH_FILE]
    return files
