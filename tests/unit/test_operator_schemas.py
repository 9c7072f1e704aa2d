"""The operator schemas are written twice, in the C++ registrations (``cpp/ops/*.cpp``) and in
the PyTorch fallback (``polmlip.ops``): the loaded native library must declare exactly the
fallback's schemas, so neither can drift."""

import pytest
import torch

from polmlip import ops


@pytest.mark.skipif(ops.backend() != "native", reason="native operators not built")
def test_native_schemas_equal_the_fallback():
    ops.load()
    for name, schema in ops._SCHEMAS.items():
        native = str(getattr(torch.ops.polmlip, name).default._schema)
        assert native.replace("polmlip::", "", 1) == schema, name
