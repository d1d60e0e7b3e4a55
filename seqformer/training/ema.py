"""An exponential moving average (EMA) of a model's weights, validated and saved in their place.

With small batches (a track model trains on two 16.5 kb tiles a step) the weights after the last step
carry that step's noise; their running average does not, and costs nothing at inference. The average is
:class:`torch.optim.swa_utils.AveragedModel` with :func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`:
after each optimizer step, ``ema = decay * ema + (1 - decay) * weights`` (the first step copies them).
Only parameters are averaged; buffers (rotary tables, masks) are the model's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """The EMA of ``model``'s parameters with ``decay`` in (0, 1); :meth:`applied` swaps it into the model."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"the weight average needs a decay in (0, 1), got {decay}")
        self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current parameters into the average (call after each optimizer step)."""
        self.average.update_parameters(model)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Within the block the model holds the averaged parameters; its own come back after it."""
        own = [param.detach().clone() for param in model.parameters()]
        with torch.no_grad():
            for param, averaged in zip(model.parameters(), self.average.module.parameters()):
                param.copy_(averaged)
        try:
            yield model
        finally:
            with torch.no_grad():
                for param, saved in zip(model.parameters(), own):
                    param.copy_(saved)

    def state_dict(self) -> dict[str, Any]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state)
