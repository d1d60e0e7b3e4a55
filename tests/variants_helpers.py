"""Tiny models and fixture copies shared by the variant-effect and mutagenesis tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.tokenizers import KmerTokenizer

FIXTURES = Path(__file__).parent / "data" / "variants"
WINDOW = 20  # classifier window of the tiny models (bases)


def _spread(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Re-draw every weight with std 0.5, so outputs differ clearly between sequences."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


def tiny_classifier(labels=("promoter",), *, window: int = WINDOW, k: int = 3, stride: int = 1,
                    seed: int = 0) -> SequenceClassifier:
    """A 1-layer, width-16 classifier with spread-out random weights."""
    tok = KmerTokenizer(k, stride)
    encoder = EncoderConfig.for_tokenizer(tok, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32, dropout=0.0)
    config = ClassifierConfig(encoder=encoder, labels=tuple(labels), window=window, head_dropout=0.0)
    return _spread(SequenceClassifier(config, tokenizer=tok), seed)


def tiny_mlm(*, k: int = 3, stride: int = 1, max_length: int = 24, seed: int = 1) -> MaskedLM:
    """A 1-layer, width-16 masked LM with spread-out random weights."""
    tok = KmerTokenizer(k, stride)
    encoder = EncoderConfig.for_tokenizer(tok, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32, dropout=0.0,
                                          max_length=max_length)
    return _spread(MaskedLM(MaskedLMConfig(encoder), tokenizer=tok), seed)


def copy_fixtures(folder: Path) -> Path:
    """The variant fixtures (genome.fa, variants.vcf) copied into ``folder``, which is returned."""
    for path in FIXTURES.iterdir():
        shutil.copy(path, folder / path.name)
    return folder
