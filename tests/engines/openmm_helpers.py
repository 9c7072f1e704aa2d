"""Marks of the OpenMM engine tests: skipped when the polmlip OpenMM plugin is not built."""

import pytest

from polmlip.errors import InputError


def openmm_plugin_built() -> bool:
    try:
        from polmlip.openmm import load_plugin

        load_plugin()
        return True
    except (InputError, ImportError):
        return False


#: ``pytestmark = OPENMM_MARKS`` in an OpenMM test module (after importorskip("openmm")).
OPENMM_MARKS = [
    pytest.mark.engine,
    pytest.mark.skipif(not openmm_plugin_built(), reason="OpenMM plugin not built (bootstrap.sh)"),
]
