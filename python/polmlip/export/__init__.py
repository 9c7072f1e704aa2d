"""TorchScript export of trained models with metadata, and checked loading."""

from .engine_model import EngineModel
from .io import FORMAT_VERSION, export_model, load_exported

__all__ = ["FORMAT_VERSION", "EngineModel", "export_model", "load_exported"]
