"""Exponential moving average of model weights."""

from __future__ import annotations

from typing import Dict

import torch


class EMA:
    """Keeps θ_ema ← d_n θ_ema + (1 − d_n) θ after the n-th optimiser step, with the warm-up
    d_n = min(decay, (1 + n) / (10 + n)) of torch_ema and nequip: early averages do not carry
    the untrained weights for hundreds of steps (with decay 0.99 and no warm-up, a third of
    the initial weights is still in the average after 110 steps)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay of the next update."""
        n = self.updates + 1
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = self.current_decay()
        self.updates += 1
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(decay).add_(v.detach(), alpha=1.0 - decay)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> Dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.shadow.items()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Load saved averages onto the device and dtype of the current ones."""
        self.shadow = {
            k: v.to(self.shadow[k], copy=True) if k in self.shadow else v.clone()
            for k, v in state.items()
        }
