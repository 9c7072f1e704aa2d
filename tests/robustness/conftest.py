"""The shared workspace of the robustness suite (built once per session)."""

import pytest

from .workspace import make_workspace


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("robustness") / "workspace")
