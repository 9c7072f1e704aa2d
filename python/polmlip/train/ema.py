"""Exponential moving average of model weights."""

from __future__ import annotations

from typing import Dict

import torch


class EMA:
    """Keeps θ_ema ← d θ_ema + (1 − d) θ after every optimiser step."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1.0 - self.decay)
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
