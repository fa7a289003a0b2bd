"""convnet's CPU linker: PyTensor's virtual machine over nodes compiled once per signature.

PyTensor's Numba linker compiles each graph into one function, and LLVM
re-optimizes every node inside it: a new network costs tens of seconds (the
MNIST ConvNet's training function 14 s, a ResNet-32's 400 s), although each
node of a ConvNet is a large array operation that runs for milliseconds, so
compiling the graph as a whole buys little.

:class:`CPULinker` runs the graph node by node in PyTensor's virtual machine
(``VMLinker``) and gives each node one of two thunks:

* **compiled**: the nodes that loop over large arrays, where NumPy would be
  slow or make several passes (convnet's convolution and pooling Ops, fused
  ``Elemwise`` composites, reductions), run PyTensor's own Numba
  implementation of that single node.  It is compiled once per *signature*
  (the Op and its parameters, the input dtypes and ranks; not the static
  sizes) and cached on disk under PyTensor's ``base_compiledir``, so every
  later graph, and every other process on the machine (joblib or Dask
  workers), that meets the same signature loads it instead of compiling it.
* **NumPy**: every other node runs its Op's ``perform`` (matrix products go
  to BLAS through NumPy, shapes and scalars cost microseconds).

Which Ops run compiled is decided by :func:`cpu_thunk`, a single-dispatch
function on the Op's type: an Op family registers itself next to its Numba
implementation (see :mod:`convnet.ops.conv_numba`).  An Op whose Numba
implementation is missing, or cannot be cached, falls back to ``perform``.

The mode is registered with PyTensor as ``"CONVNET_CPU"``, which
``convnet.config.set_device("cpu")`` (the default) selects.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> import convnet
>>> x = pt.matrix("x")
>>> f = pytensor.function([x], pt.exp(x).sum(), mode="CONVNET_CPU")
>>> float(f(np.zeros((2, 3), x.dtype)))
6.0
"""
from functools import singledispatch

import numpy as np
from pytensor.compile.mode import Mode, register_mode
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.link.vm import VMLinker
from pytensor.scalar.basic import Composite
from pytensor.tensor.elemwise import CAReduce, Elemwise

__all__ = ["CPULinker", "cpu_thunk", "compiled_node", "MODE_NAME"]

MODE_NAME = "CONVNET_CPU"


@singledispatch
def cpu_thunk(op, node):
    """A callable ``f(*input_values) -> sequence of output values`` that runs
    ``node`` on the CPU, or None to run the Op's ``perform``.

    Register an Op type with ``cpu_thunk.register(OpType)(compiled_node)`` to
    run its nodes through their cached Numba implementation.
    """
    return None


def compiled_node(op, node):
    """``node``'s Numba implementation as a Python callable, compiled once per
    signature and cached on disk by PyTensor; None where there is none."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    try:
        jitable, key = numba_funcify_and_cache_key(op, node=node)
    except (NotImplementedError, RuntimeError):
        # No Numba implementation, or one that needs the Numba linker's own
        # rewrites: the Op's ``perform`` computes the same thing.
        return None
    if key is None:
        return None
    compiled = _compiled_by_key.get(key)
    if compiled is None:
        compiled = _compiled_by_key[key] = _compile(jitable, key)
    if len(node.outputs) == 1:
        def run(*inputs):
            return (compiled(*inputs),)
    else:
        def run(*inputs):
            return compiled(*inputs)
    run.dispatcher = compiled  # Numba's dispatcher: its ``stats`` count cache hits and misses
    return run


# One dispatcher per signature and process: a ResNet has hundreds of nodes but
# a few dozen signatures, and loading one from the disk cache takes 10-30 ms.
_compiled_by_key = {}


def _compile(jitable, key):
    from pytensor.link.numba.cache import compile_numba_function_src
    from pytensor.link.numba.dispatch.basic import numba_njit

    name = jitable.__name__
    # PyTensor caches its node functions without a CPython wrapper (its graph
    # function calls them); the VM calls them from Python, so this wrapper has
    # one, under a key of its own.  ``__name__`` lets Numba rebuild the
    # wrapper's environment when it loads the cached code.
    wrapper = compile_numba_function_src(
        src=f"def {name}(*args): return jitable_func(*args)",
        function_name=name,
        global_env={"jitable_func": jitable, "__name__": __name__},
        cache_key=f"{key}_convnet_cpu",
    )
    return numba_njit(wrapper, cache=True, final_function=True)


@cpu_thunk.register(CAReduce)
def _careduce_thunk(op, node):
    # NumPy reductions with a wider accumulator (float32 sums in float64) copy
    # the whole array first: 41 ms instead of 5 ms for the bias gradient of
    # the MNIST ConvNet's first layer.
    return compiled_node(op, node)


# Up to this many elements a node whose shapes are all static (parameters,
# their gradients and update-rule state) runs as NumPy: microseconds against
# a second of compiling each new signature.
SMALL_STATIC_SIZE = 1 << 20


def _small_and_static(node):
    sizes = []
    for variable in node.inputs + node.outputs:
        shape = getattr(variable.type, "shape", None)
        if shape is None or None in shape:
            return False
        sizes.append(int(np.prod(shape, dtype=np.int64)))
    return max(sizes, default=0) <= SMALL_STATIC_SIZE


@cpu_thunk.register(Elemwise)
def _elemwise_thunk(op, node):
    # Plain Elemwise nodes are one NumPy ufunc call; a fused composite is
    # evaluated by NumPy one scalar Op at a time when its arrays are small,
    # else compiled (PyTensor's own ``perform`` would make one Python call
    # per element).
    if not isinstance(op.scalar_op, Composite):
        return None
    if _small_and_static(node):
        evaluate = _composite_by_numpy(op.scalar_op, node)
        if evaluate is not None:
            return evaluate
    return compiled_node(op, node)


def _composite_by_numpy(composite, node):
    """``node`` (an Elemwise of ``composite``) as a sequence of NumPy ufunc
    calls, one per scalar Op of the composite's graph; None if one of its
    scalar Ops has no NumPy counterpart."""
    from pytensor.graph.basic import Constant
    from pytensor.scalar.basic import Cast, Identity
    from pytensor.tensor.utils import import_func_from_string

    steps = []
    for inner in composite.fgraph.toposort():
        scalar_op = inner.op
        if isinstance(scalar_op, Cast):
            dtype = inner.outputs[0].type.dtype
            steps.append((lambda x, dtype=dtype: np.asarray(x).astype(dtype), inner))
            continue
        if isinstance(scalar_op, Identity):
            steps.append((lambda x: x, inner))
            continue
        spec = getattr(scalar_op, "nfunc_spec", None)
        if spec is None or spec[1] != len(inner.inputs) or spec[2] != len(inner.outputs):
            return None
        steps.append((import_func_from_string(spec[0]), inner))
    inner_inputs, inner_outputs = composite.fgraph.inputs, composite.fgraph.outputs
    out_dtypes = [v.type.dtype for v in node.outputs]

    def evaluate(*values):
        env = dict(zip(inner_inputs, values))
        for function, inner in steps:
            arguments = [v.data if isinstance(v, Constant) else env[v] for v in inner.inputs]
            results = function(*arguments)
            if len(inner.outputs) == 1:
                results = (results,)
            env.update(zip(inner.outputs, results))
        outputs = [v.data if isinstance(v, Constant) else env[v] for v in inner_outputs]
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        return [np.broadcast_to(np.asarray(value, dtype=dtype), shape).copy()
                if np.shape(value) != shape else np.asarray(value, dtype=dtype)
                for value, dtype in zip(outputs, out_dtypes)]

    return evaluate


class _CompiledThunk:
    """A VM thunk that calls ``function`` on the node's input storage."""

    __slots__ = ("function", "inputs", "outputs", "scalar_outputs", "lazy")

    def __init__(self, function, node, inputs, outputs):
        self.function = function
        self.inputs, self.outputs = inputs, outputs
        # Compiled code returns NumPy scalars for 0-d results; the graph
        # passes 0-d arrays.
        self.scalar_outputs = [getattr(v.type, "ndim", None) == 0 for v in node.outputs]
        self.lazy = False

    def __call__(self):
        results = self.function(*[cell[0] for cell in self.inputs])
        for cell, value, scalar in zip(self.outputs, results, self.scalar_outputs):
            cell[0] = np.asarray(value) if scalar else value


class CPULinker(VMLinker):
    """PyTensor's Python VM over :func:`cpu_thunk`'s thunks (see the module docstring)."""

    def __init__(self, **kwargs):
        # Python thunks only: PyTensor's C backend compiles with a C++ compiler per Op.
        kwargs.update(use_cloop=False, c_thunks=False)
        super().__init__(**kwargs)

    def make_all(self, profiler=None, input_storage=None, output_storage=None, storage_map=None):
        vm, input_storage, output_storage, thunks, order = super().make_all(
            profiler=profiler, input_storage=input_storage, output_storage=output_storage,
            storage_map=storage_map)
        # Loading PyTensor's Numba backend registers convnet's Numba Ops with cpu_thunk.
        import pytensor.link.numba.dispatch  # noqa: F401

        # The VM runs this very list, so replacing an entry replaces the node's thunk.
        for index, node in enumerate(order):
            function = cpu_thunk(node.op, node)
            if function is not None:
                # The storage cells the node's own thunk was given: the VM may
                # since have shared cells between variables in its storage map.
                old = thunks[index]
                thunks[index] = _CompiledThunk(function, node, old.inputs, old.outputs)
        return vm, input_storage, output_storage, thunks, order


class _CachedRewriter:
    """Runs ``rewriter`` on a graph, or loads the result of an earlier run on
    the same graph from the disk cache.

    PyTensor's rewrites take most of a warm start (25 s of the 30 s a ResNet-32's
    training function took): the cache keys a graph by its structure (every
    node's Op and parameters, every input's and constant's type and value,
    shared variables by type only, since their values are inputs) and stores
    the rewritten graph, its inputs as placeholders, under PyTensor's
    ``compiledir``.  Anything that cannot be keyed or restored is rewritten as
    usual.
    """

    def __init__(self, rewriter, query):
        self.rewriter = rewriter
        self.query = query

    def __getattr__(self, name):  # profiling hooks and the like
        return getattr(self.rewriter, name)

    def __call__(self, fgraph):
        from . import graph_cache

        key = None
        query = self.query
        # A query naming only tags is the same in every process; one with
        # rewriter objects added is not keyed.
        if isinstance(query, RewriteDatabaseQuery) and not query.extra_rewrites:
            salt = repr([sorted(query.include), sorted(query.require), sorted(query.exclude),
                         sorted(query.subquery), query.position_cutoff])
            key = graph_cache.graph_key(fgraph, salt=salt)
        if key is not None and graph_cache.restore(fgraph, key):
            return None
        result = self.rewriter(fgraph)
        if key is not None:
            graph_cache.store(fgraph, key)
        return result


class CPUMode(Mode):
    """PyTensor's ``Mode`` whose rewriting goes through :class:`_CachedRewriter`."""

    @property
    def optimizer(self):
        rewriter = super().optimizer
        return _CachedRewriter(rewriter, self._optimizer)


# PyTensor's FAST_RUN rewrites (with Elemwise fusion, whose composites run
# compiled), plus the rewrites for graphs of Python thunks; not the ones that
# only a C backend or PyTensor's Numba linker implements.
register_mode(MODE_NAME, CPUMode(
    linker=CPULinker(),
    optimizer=RewriteDatabaseQuery(include=["fast_run", "py_only"], exclude=["cxx_only", "BlasOpt"]),
))
