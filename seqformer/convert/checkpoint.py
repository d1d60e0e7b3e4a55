"""Import a checkpoint: detect what ``src`` is, convert it, and write a seqformer model folder.

Axes: D width, V vocabulary.

``src`` is either a Hugging Face folder (config.json with ``model_type`` "esm", "bert" or
"big_bird": :mod:`seqformer.convert.hf`) or a fair-esm ESM-2 file (``*.pt``:
:mod:`seqformer.convert.fair_esm`). The result is a :class:`~seqformer.models.MaskedLM` whose
logits and hidden states match the source within 1e-4 in fp32 on the same token ids, carrying
the seqformer tokenizer that gives the source's ids; :func:`convert_to_folder` writes it atomically
as a normal model folder, which :func:`seqformer.models.load_model` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqformer.convert.conversion import Conversion
from seqformer.convert.fair_esm import convert_fair_esm_file
from seqformer.convert.hf import CONFIG_FILE, convert_hf_folder
from seqformer.errors import InputError
from seqformer.models import MaskedLM, save_pretrained
from seqformer.models.rekind import with_attention


def read_checkpoint(src: str | Path) -> Conversion:
    """The :class:`Conversion` of a HF folder or a fair-esm ``.pt`` file (InputError for anything else)."""
    src = Path(src)
    if src.is_dir():
        if not (src / CONFIG_FILE).is_file():
            raise InputError("not a Hugging Face model folder: it has no config.json", path=src)
        return convert_hf_folder(src)
    if src.is_file():
        if src.suffix not in (".pt", ".pth"):
            raise InputError("expected a Hugging Face model folder or a fair-esm .pt file", path=src)
        return convert_fair_esm_file(src)
    raise InputError("no such file or folder", path=src)


def convert_checkpoint(src: str | Path) -> MaskedLM:
    """The seqformer MaskedLM (eval mode, with its tokenizer) of a HF folder or fair-esm ``.pt`` file."""
    conversion = read_checkpoint(src)
    return conversion.model(conversion.vocab.tokenizer())


@dataclass(frozen=True)
class ConversionSummary:
    """What :func:`convert_to_folder` wrote."""

    source: str  # e.g. "HF EsmForMaskedLM (rotary positions)"
    attention: str  # the attention kind the folder runs with (dense unless asked otherwise)
    max_length: int  # longest input the folder accepts
    vocabulary: str  # e.g. "ESM protein alphabet", "DNABERT 3-mers"
    num_layers: int  # Transformer blocks
    hidden_size: int  # D
    vocab_size: int  # V
    out: Path  # the model folder

    def line(self) -> str:
        """One line for the CLI."""
        return (f"converted {self.source}, {self.vocabulary}: {self.num_layers} layers, width {self.hidden_size}, "
                f"vocab {self.vocab_size}, {self.attention} attention up to {self.max_length:,} tokens -> {self.out}")


def convert_to_folder(src: str | Path, out: str | Path, *, attention: str | None = None,
                      attention_options: dict | None = None, max_length: int | None = None) -> ConversionSummary:
    """Convert ``src`` (see :func:`convert_checkpoint`) and write it atomically as model folder ``out``.

    ``attention`` (with its ``attention_options``) rebuilds the converted weights with another
    attention kind, and ``max_length`` lets a rotary model read longer inputs than it was trained on
    (:func:`seqformer.models.rekind.with_attention`; a ValueError there is an InputError naming ``src``).
    """
    conversion = read_checkpoint(src)
    model = conversion.model(conversion.vocab.tokenizer())
    if attention is not None or attention_options or max_length is not None:
        kind = attention or model.config.encoder.attention
        try:
            model = with_attention(model, kind, attention_options, max_length=max_length)
        except ValueError as err:
            raise InputError(str(err), path=src) from None
    save_pretrained(model, model.tokenizer, out)
    encoder = model.config.encoder
    return ConversionSummary(conversion.source, encoder.attention, encoder.max_length, conversion.vocab.describe(),
                             encoder.num_layers, encoder.hidden_size, encoder.vocab_size, Path(out))
