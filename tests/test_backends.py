"""Backend registration hooks and the Python-backend rewrite."""
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.elemwise import Elemwise

from convnet import backends


def test_when_imported_runs_after_import_or_at_once(tmp_path, monkeypatch):
    (tmp_path / "convnet_probe_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    backends.when_imported("convnet_probe_module", lambda m: seen.append(m.VALUE))
    assert seen == []
    import convnet_probe_module  # noqa: F401

    assert seen == [42]
    backends.when_imported("convnet_probe_module", lambda m: seen.append(-m.VALUE))
    assert seen == [42, -42]
    del sys.modules["convnet_probe_module"]


def test_python_thunks_run_products_of_three_through_numpy():
    a, b, c = pt.tensor3("a"), pt.tensor3("b"), pt.tensor3("c")
    f = pytensor.function([a, b, c], [a * b * c, a + b + c], mode="FAST_COMPILE")
    elemwise_arities = [len(n.inputs) for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Elemwise)]
    assert elemwise_arities and max(elemwise_arities) == 2
    x, y, z = (np.random.default_rng(i).random((2, 3, 4), dtype="float32") for i in range(3))
    product, total = f(x, y, z)
    np.testing.assert_allclose(product, x * y * z, rtol=1e-6)
    np.testing.assert_allclose(total, x + y + z, rtol=1e-6)


def test_numba_graphs_keep_their_fused_elemwise():
    a, b, c = pt.vector("a"), pt.vector("b"), pt.vector("c")
    f = pytensor.function([a, b, c], a * b * c, mode="NUMBA")
    assert any(isinstance(n.op, Elemwise) and len(n.inputs) == 3 for n in f.maker.fgraph.apply_nodes)
