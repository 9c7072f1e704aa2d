"""The polmlip model: configuration and the scriptable module."""

from .config import ModelConfig
from .polmlip import PolMLIP

__all__ = ["ModelConfig", "PolMLIP"]
