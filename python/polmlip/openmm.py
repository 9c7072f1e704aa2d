"""Short import path: ``from polmlip.openmm import PolMLIPForce``."""

from .integrations.openmm import (
    FIELD_PARAMETERS,
    PolMLIPForce,
    get_output,
    load_plugin,
    plugin_path,
)

__all__ = ["FIELD_PARAMETERS", "PolMLIPForce", "get_output", "load_plugin", "plugin_path"]
