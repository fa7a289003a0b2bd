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
* **NumPy**: every other node runs its Op's ``perform`` (shapes and scalars
  cost microseconds), and so do small composites whose shapes are all static
  (parameter updates), one NumPy call per scalar Op, and nodes whose inputs
  are small at run time (:data:`SMALL_RUNTIME_SIZE`).  Matrix products call
  SciPy's BLAS directly (see :func:`_dot_thunk`), and 2-D convolutions the
  C kernel of :mod:`convnet.ops.conv.cpu_kernel`.

At its first call a node asks for its code in the background
(:data:`compiler`): a node whose code is in the disk cache loads it, a node
new to the machine has it compiled, in a child process (see
:mod:`convnet.compile_process`).  Until the code is ready the node runs on
NumPy (the Op's ``perform``, or the composite evaluated by NumPy), so a new
network's first batches do not wait for Numba, and a known network's first
batch does not wait for Numba to load (0.5 s).  Rewritten graphs are cached
on disk too (:mod:`convnet.graph_cache`).

Which Ops run compiled is decided by :func:`cpu_thunk`, a single-dispatch
function on the Op's type: an Op family registers its Ops where it defines
them (see :mod:`convnet.ops.pool.ops`), and the Numba implementation is
imported when the first node needs it.  An Op whose Numba
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
import functools
import itertools
import os
import queue
import threading
import warnings
from concurrent.futures import Future
from functools import singledispatch
from pathlib import Path

import numpy as np
from pytensor import config as pytensor_config
from pytensor.compile import optdb
from pytensor.compile.aliasing import Supervisor
from pytensor.compile.mode import Mode, register_mode
from pytensor.graph.rewriting.db import RewriteDatabaseQuery
from pytensor.graph.utils import InconsistencyError
from pytensor.link.vm import VMLinker
from pytensor.scalar.basic import Composite
from pytensor.tensor.elemwise import CAReduce, Elemwise
from pytensor.tensor.math import Dot
from pytensor.tensor.rewriting.elemwise import InplaceElemwiseOptimizer

__all__ = ["CPULinker", "cpu_thunk", "compiled_node", "compiler", "MODE_NAME"]

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
    """``node``'s Numba implementation, compiled once per signature and cached
    on disk by PyTensor, as a callable that returns None until it is ready.

    The compilation runs on :data:`compiler`'s thread, so the first batches
    of a new network run while it compiles: until then the node's thunk
    falls back to NumPy (the Op's ``perform``).  An Op without a (cacheable)
    Numba implementation stays on its fallback.
    """
    return _TieredFunction(op, node)


class _Worker:
    """One daemon thread running the functions queued for it, in order."""

    def __init__(self, name):
        self.name = name
        self.queue = queue.Queue()
        self._thread = None
        self._lock = threading.Lock()

    def submit(self, future, function, args):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                # A daemon thread: a process that ends while a node compiles
                # does not wait for it (the node compiles again next time).
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
        self.queue.put((future, function, args))

    def _work(self):
        while True:
            future, function, args = self.queue.get()
            _run_into(future, function, args)
            # Hold no node (and through it a graph and its parameters) while idle.
            del future, function, args
            self.queue.task_done()


class _Compiler:
    """Two background threads that get nodes their compiled code, in the
    order the nodes are first met: one loads code from the disk cache, the
    other has new code compiled.

    Loading takes the first node 0.5 s (importing PyTensor's Numba backend
    and setting up Numba) and each new signature 10-30 ms: meanwhile the
    nodes run on NumPy, and a cached node never waits behind a compiling one.
    The compiling thread hands each node to a child process (:attr:`child`,
    see :mod:`convnet.compile_process`) and loads the result from the disk
    cache: Numba holds the GIL for much of a compilation and compiles one
    function at a time per process, so compiling here would slow the main
    thread's NumPy work and block its own compilations.  Without the child
    (``CONVNET_COMPILE_PROCESS=0``, or when it cannot start) the thread
    compiles in this process.  :meth:`wait` blocks until everything asked
    for is loaded or compiled (benchmarks and tests use it); ``background =
    False`` (``CONVNET_BACKGROUND_COMPILE=0``) does it all on the calling
    thread instead.
    """

    def __init__(self):
        self.background = os.environ.get("CONVNET_BACKGROUND_COMPILE", "1") != "0"
        # Where background compiles run: a child process, unless turned off.
        self.child = None
        if self.background and os.environ.get("CONVNET_COMPILE_PROCESS", "1") != "0":
            from .compile_process import CompileProcess

            self.child = CompileProcess()
        self._loader, self._compiler = _Worker("convnet-loader"), _Worker("convnet-compiler")

    def submit(self, function, *args, now=False, load=False):
        """A Future of ``function(*args)``, run on the loading thread
        (``load``) or the compiling one, or at once on this one with ``now``
        (or ``background = False``)."""
        future = Future()
        if now or not self.background:
            _run_into(future, function, args)
        else:
            (self._loader if load else self._compiler).submit(future, function, args)
        return future

    def wait(self):
        """Block until every load and compilation asked for so far is done."""
        # A load that misses the cache queues a compilation before it ends.
        self._loader.queue.join()
        self._compiler.queue.join()


def _run_into(future, function, args):
    try:
        future.set_result(function(*args))
    except BaseException as error:  # noqa: BLE001  (reported through the future)
        future.set_exception(error)


compiler = _Compiler()


class _TieredFunction:
    """``f(*inputs) -> outputs`` through the node's compiled code once it is
    ready, else None (the caller falls back); ``interim``, if given, computes
    the outputs meanwhile instead of returning None.

    At its first call on large enough inputs the node asks :data:`compiler`
    for its code: loaded from the disk cache if this machine compiled it
    before, else compiled (:attr:`source` says which).  ``synchronous`` nodes
    wait for it; the others run their fallback until it is ready.
    """

    __slots__ = ("op", "node", "interim", "future", "compiled", "synchronous", "source")

    def __init__(self, op, node, interim=None):
        self.op, self.node, self.interim = op, node, interim
        self.future = self.compiled = self.source = None
        self.synchronous = False

    @property
    def dispatcher(self):
        """Numba's dispatcher (its ``stats`` count cache hits and misses), once compiled."""
        return getattr(self.compiled, "dispatcher", None)

    def _meanwhile(self, inputs):
        """The outputs until the compiled code is ready: the interim's, or None."""
        return self.interim(*inputs) if self.interim is not None else None

    def __call__(self, *inputs):
        if self.compiled is not None:
            return self.compiled(*inputs)
        if self.future is None:
            if not self.synchronous and _small(inputs):
                # Not worth loading, let alone compiling, until it meets larger inputs.
                return self._meanwhile(inputs)
            # Empty arrays of the inputs' dtypes and ranks, typed like them:
            # the values stay here.
            samples = tuple(np.empty((0,) * value.ndim, value.dtype) if isinstance(value, np.ndarray) else value
                            for value in inputs)
            # A detached copy of the node: a queued one would keep its graph,
            # and the parameters in it, alive until its turn comes.
            self.future = compiler.submit(_load_or_compile, self.op, _detached(self.node), samples,
                                          self.synchronous, now=self.synchronous, load=True)
        if self.future.done():
            try:
                result = self.future.result()
                if isinstance(result, tuple):  # the loader's answer
                    self.source, result = result
                if isinstance(result, Future):  # new to the machine: compiling
                    self.future = result
                    if not result.done():
                        return self._meanwhile(inputs)
                    result = result.result()
                self.compiled = result or _no_compiled_code
            except Exception as error:  # noqa: BLE001  (the fallback computes the same, slower)
                warnings.warn(f"convnet's CPU linker could not compile {self.node} ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''}); it runs the Op's NumPy "
                              "implementation instead", RuntimeWarning, stacklevel=2)
                self.compiled = _no_compiled_code
            if self.compiled is _no_compiled_code and self.interim is not None:
                self.compiled = self.interim
            return self.compiled(*inputs)
        return self._meanwhile(inputs)


def _load_or_compile(op, node, samples, synchronous):
    """``("cache", code)``: ``node``'s code for inputs typed like ``samples``,
    loaded from the disk cache; else ``("compiler", Future of the code)``."""
    import numba

    signature = tuple(numba.typeof(_standard(value)) for value in samples)
    if _compiled_before(node, signature):
        loaded = _node_function(op, node, signature, compile=False)
        if loaded is not None:
            return "cache", loaded
    build = _node_function if synchronous else _compile_and_load
    return "compiler", compiler.submit(build, op, node, signature, now=synchronous)


def _no_compiled_code(*inputs):
    """What an Op without compiled code runs: None, so its thunk falls back."""
    return None


def _compile_and_load(op, node, signature):
    """:func:`_node_function`, with the compiling done by the child
    process (:mod:`convnet.compile_process`) where it can be: then this
    process only loads the machine code from the disk cache."""
    if compiler.child is not None and all(v.owner is None for v in node.inputs):  # detached
        compiler.child.compile(node, signature)
    return _node_function(op, node, signature)


def _node_function(op, node, signature, compile=True):
    """The node's compiled function for ``signature`` (Numba types of the
    inputs), or None when the Op has no cacheable Numba implementation or,
    with ``compile=False``, when the disk cache does not hold it yet."""
    try:
        jitable, key = _funcify(op, node)
    except (NotImplementedError, RuntimeError):
        # No Numba implementation, or one that needs the Numba linker's own
        # rewrites: the Op's ``perform`` computes the same thing.
        return None
    if key is None:
        return None
    with _dispatchers_lock:
        dispatcher = _compiled_by_key.get(key)
        if dispatcher is None:
            dispatcher = _compiled_by_key[key] = _compile(jitable, key, len(node.inputs))
        if compile:
            dispatcher.compile(signature)
        elif not _load_cached(dispatcher, signature):
            return None
    if compile:
        _compiled_before(node, signature, mark=True)
    if len(node.outputs) == 1:
        def run(*inputs):
            return (dispatcher(*map(_standard, inputs)),)
    else:
        def run(*inputs):
            return dispatcher(*map(_standard, inputs))
    run.dispatcher = dispatcher
    return run


def _standard(value):
    """``value`` as nodes are compiled for it: an array C-contiguous and
    writeable (copied if not, as the views a NumPy fallback returns may be).

    Numba compiles a function once per memory layout of its arguments, so
    without this a node first met with a view would be compiled again, on the
    calling thread, when it meets a contiguous array.
    """
    if isinstance(value, np.ndarray) and not (value.flags.c_contiguous and value.flags.writeable):
        return np.array(value, order="C")
    return value


def _funcify(op, node):
    """PyTensor's ``numba_funcify_and_cache_key`` for the node, once per Op,
    input types (constants with their values) and output types in a process:
    each call registers new Numba typing templates that are never freed, 1 MB
    per fit of a small network in a grid search before this."""
    from pytensor.graph.basic import Constant
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    inputs = tuple((str(v.type), np.asarray(v.data).tobytes()) if isinstance(v, Constant) else v.type
                   for v in node.inputs)
    memo = (op, inputs, tuple(v.type for v in node.outputs))
    try:
        return _funcified[memo]
    except KeyError:
        result = _funcified[memo] = numba_funcify_and_cache_key(op, node=_detached(node))
        return result
    except TypeError:  # something unhashable: no memo
        return numba_funcify_and_cache_key(op, node=_detached(node))


def _detached(node):
    """A copy of ``node`` on fresh inputs of the same types (constants kept):
    the compiled function may keep the node it was made from for as long as
    the process runs, and the original leads to the whole graph and its
    parameters."""
    from pytensor.graph.basic import Constant

    try:
        copy = node.op.make_node(*(v if isinstance(v, Constant) else v.type() for v in node.inputs))
    except Exception:  # noqa: BLE001  (an Op that needs its real inputs: keep the node)
        return node
    if [v.type for v in copy.outputs] != [v.type for v in node.outputs]:
        return node
    return copy


_funcified = {}


def _compiled_before(node, signature, mark=False):
    """Whether this machine compiled ``node``'s code for ``signature`` before
    (or, with ``mark``, record that it has).

    Only then is the disk cache tried on the calling thread: asking PyTensor
    for a node's Numba code may compile helper kernels on the spot (the
    convolution's takes 25 s), which belongs on the compiler.  The record is
    a file named by the node's Op, parameters and types, the Numba types of
    its inputs and a digest of convnet's Op sources.
    """
    from . import graph_cache

    try:
        key = graph_cache._digest((
            graph_cache._encode(node.op), [_input_description(v) for v in node.inputs],
            [_type_description(v) for v in node.outputs], [str(t) for t in signature],
            _ops_digest()))
    except Exception:  # noqa: BLE001  (an Op that cannot be keyed: always the compiler)
        return False
    marker = Path(pytensor_config.compiledir) / "convnet_nodes" / key
    if not mark:
        return marker.exists()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
    return True


def _input_description(variable):
    from pytensor.graph.basic import Constant

    from .graph_cache import constant_description

    return constant_description(variable) if isinstance(variable, Constant) else _type_description(variable)


def _type_description(variable):
    """A variable's type as far as compiled code depends on it: a tensor's
    dtype and which axes broadcast, not its other static sizes."""
    shape = getattr(variable.type, "shape", None)
    if shape is None:
        return str(variable.type)
    return variable.type.dtype, tuple(size == 1 for size in shape)


@functools.cache
def _ops_digest():
    """A digest of every source file of convnet's Ops."""
    from .ops.kernel_cache import source_digest

    ops = Path(__file__).parent / "ops"
    return source_digest(*sorted(str(path.relative_to(ops)) for path in ops.rglob("*.py")))


def _load_cached(dispatcher, signature):
    """Give ``dispatcher`` its code for ``signature`` if it has it or Numba's
    disk cache does (as ``Dispatcher.compile`` would, but never compiling)."""
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        if tuple(signature) in dispatcher.overloads:
            return True
        try:
            cres = dispatcher._cache.load_overload(signature, dispatcher.targetctx)
        except Exception:  # noqa: BLE001  (an unreadable entry: compile it)
            return False
        if cres is None:
            return False
        dispatcher._cache_hits[signature] += 1
        dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
        return True


# One dispatcher per signature and process: a ResNet has hundreds of nodes but
# a few dozen signatures, and loading one from the disk cache takes 10-30 ms.
_compiled_by_key = {}
_dispatchers_lock = threading.Lock()


def _compile(jitable, key, n_inputs):
    from pytensor.link.numba.cache import compile_numba_function_src
    from pytensor.link.numba.dispatch.basic import numba_njit

    name = jitable.__name__
    arguments = ", ".join(f"x{i}" for i in range(n_inputs))
    # PyTensor caches its node functions without a CPython wrapper (its graph
    # function calls them); the VM calls them from Python, so this wrapper has
    # one, under a key of its own.  Named arguments, not *args, so that it
    # compiles ahead of its first call for a known signature.  ``__name__``
    # lets Numba rebuild the wrapper's environment when it loads the cached code.
    wrapper = compile_numba_function_src(
        src=f"def {name}({arguments}): return jitable_func({arguments})",
        function_name=name,
        global_env={"jitable_func": jitable, "__name__": __name__},
        cache_key=f"{key}_convnet_cpu{n_inputs}",
    )
    return numba_njit(wrapper, cache=True, final_function=True)


# NumPy reductions with a wider accumulator (float32 sums in float64) copy
# the whole array first: 41 ms instead of 5 ms for the bias gradient of the
# MNIST ConvNet's first layer.
cpu_thunk.register(CAReduce)(compiled_node)


@cpu_thunk.register(Dot)
def _dot_thunk(op, node):
    """Products of float matrices through SciPy's BLAS (the one that Numba
    code and the convolution kernel call), not NumPy's own OpenBLAS: NumPy's
    is loaded before ``import convnet`` can shorten its threads' timeout
    (``import numpy`` comes first in most scripts), and its threads then
    spin for 0.1 s after each product on the cores the convolution's workers
    need (a MNIST training step 112 ms instead of 79).  Other products run
    the Op's ``perform``."""
    (x, y), (out,) = node.inputs, node.outputs
    if (x.type.ndim, y.type.ndim) != (2, 2) or not x.type.dtype == y.type.dtype == out.type.dtype \
            or out.type.dtype not in ("float32", "float64"):
        return None
    from scipy.linalg import blas

    gemm = blas.sgemm if out.type.dtype == "float32" else blas.dgemm

    def dot(a, b):
        if 0 in a.shape or 0 in b.shape:  # SciPy's wrapper refuses empty operands
            return (np.zeros((a.shape[0], b.shape[1]), out.type.dtype),)
        # A @ B as (B.T @ A.T).T: BLAS reads and writes the transposes of
        # C-ordered arrays, Fortran-ordered, without copies.
        return (gemm(1.0, b.T, a.T).T,)

    return dot


# Up to this many elements a node whose shapes are all static (parameters,
# their gradients and update-rule state) runs as NumPy: microseconds against
# a second of compiling each new signature.
SMALL_STATIC_SIZE = 1 << 20


# Up to this many elements in its largest input at a call, a node that has a
# NumPy version (a composite's ufunc calls, the Op's vectorised ``perform``)
# runs it: a few microseconds more than compiled code, against 20 ms to load
# the code from the disk cache and a second to compile a new signature.  The
# classifier head and the loss of a ConvNet are such nodes.
SMALL_RUNTIME_SIZE = 1 << 16


def _small(values):
    return max((getattr(value, "size", 1) for value in values), default=0) <= SMALL_RUNTIME_SIZE


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
    evaluate = _composite_by_numpy(op.scalar_op, node)
    if evaluate is not None and _small_and_static(node):
        return evaluate
    tiered = _TieredFunction(op, node, interim=evaluate)
    # Without a NumPy version, waiting for the compiler beats a Python call per element.
    tiered.synchronous = evaluate is None
    return tiered


_ASSOCIATIVE_UFUNCS = ("add", "multiply", "maximum", "minimum", "logical_and", "logical_or",
                       "bitwise_and", "bitwise_or")


def _composite_by_numpy(composite, node):
    """``node`` (an Elemwise of ``composite``) as a sequence of NumPy ufunc
    calls, one per scalar Op of the composite's graph; None if one of its
    scalar Ops has no NumPy counterpart."""
    from pytensor.graph.basic import Constant
    from pytensor.scalar.basic import Cast, Clip, Identity
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
        if isinstance(scalar_op, Clip):
            steps.append((np.clip, inner))
            continue
        spec = getattr(scalar_op, "nfunc_spec", None)
        if spec is None or spec[2] != len(inner.outputs):
            return None
        function = import_func_from_string(spec[0])
        if spec[1] != len(inner.inputs):
            # PyTensor's n-ary sums and products: NumPy's ufuncs are binary.
            if spec[0] not in _ASSOCIATIVE_UFUNCS or spec[1] != 2:
                return None
            function = functools.partial(functools.reduce, function)
            steps.append((lambda *values, reduce=function: reduce(values), inner))
            continue
        steps.append((function, inner))
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
    """A VM thunk that calls ``function`` on the node's input storage, or the
    node's own thunk (``fallback``) while ``function`` returns None."""

    __slots__ = ("function", "inputs", "outputs", "scalar_outputs", "lazy", "fallback")

    def __init__(self, function, node, fallback):
        self.function, self.fallback = function, fallback
        # The storage cells the node's own thunk was given: the VM may since
        # have shared cells between variables in its storage map.
        self.inputs, self.outputs = fallback.inputs, fallback.outputs
        # Compiled code returns NumPy scalars for 0-d results; the graph
        # passes 0-d arrays.
        self.scalar_outputs = [getattr(v.type, "ndim", None) == 0 for v in node.outputs]
        self.lazy = False

    def __call__(self):
        results = self.function(*[cell[0] for cell in self.inputs])
        if results is None:
            self.fallback()
            return
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
        # The VM runs this very list, so replacing an entry replaces the node's thunk.
        for index, node in enumerate(order):
            function = cpu_thunk(node.op, node)
            if function is not None:
                thunks[index] = _CompiledThunk(function, node, thunks[index])
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
        # A query naming only tags is the same in every process; one with
        # rewriter objects added is not keyed (salt None).
        self.salt = None
        if isinstance(query, RewriteDatabaseQuery) and not query.extra_rewrites:
            self.salt = repr([sorted(query.include), sorted(query.require), sorted(query.exclude),
                              sorted(query.subquery), query.position_cutoff])

    def __getattr__(self, name):  # profiling hooks and the like
        return getattr(self.rewriter, name)

    def __call__(self, fgraph):
        from . import graph_cache

        key = None if self.salt is None else graph_cache.graph_key(fgraph, salt=self.salt)
        if key is not None and graph_cache.restore(fgraph, key):
            return None
        _quicken_supervisor(fgraph)
        result = self.rewriter(fgraph)
        if key is not None:
            graph_cache.store(fgraph, key)
        return result


class _Supervisor(Supervisor):
    """PyTensor's guard against rewrites that overwrite the graph's inputs or
    outputs, looking them up in the destroy handler's table of overwritten
    variables.

    PyTensor's own asks the handler about each protected variable in turn,
    and it runs after every accepted replacement (6,000 on a ResNet-32's
    training function, whose 270 inputs and outputs are protected): 2 of the
    14 s in which that function was rewritten, although until the in-place
    rewrites run nothing is overwritten.  The answer is the same.
    """

    def on_validate(self, fgraph):
        handler = getattr(fgraph, "destroy_handler", None)
        if pytensor_config.cycle_detection != "regular" or handler is None:
            return super().on_validate(fgraph)
        # Every variable that an in-place node overwrites, itself or through a view.
        destroyed = handler.refresh_droot_impact()[0]
        if destroyed and any(v in destroyed for v in itertools.chain(self.protected, fgraph.outputs)):
            raise InconsistencyError("Trying to destroy a protected variable.")
        return True


def _quicken_supervisor(fgraph):
    """Replace PyTensor's :class:`Supervisor` on ``fgraph`` by :class:`_Supervisor`."""
    for feature in list(fgraph._features):
        if type(feature) is Supervisor:
            fgraph.remove_feature(feature)
            # Supervisor marks the graph as supervised and has no on_detach to unmark it.
            fgraph.__dict__.pop("_supervisor", None)
            fgraph.attach_feature(_Supervisor(feature.protected))


class CPUMode(Mode):
    """PyTensor's ``Mode`` whose rewriting goes through :class:`_CachedRewriter`."""

    @property
    def optimizer(self):
        rewriter = super().optimizer
        return _CachedRewriter(rewriter, self._optimizer)


class _InplaceOnLargeElemwise(InplaceElemwiseOptimizer):
    """PyTensor's rewrite that makes Elemwise nodes overwrite an input,
    tried only where that saves a large allocation: not on nodes whose arrays
    are all small and static (parameter updates, which run as NumPy anyway).

    It validates the whole graph for every node it tries, which made it the
    largest rewrite of a big graph: 16 of the 45 s in which a new ResNet-32's
    training function was rewritten, most of it spent on its 300 parameter
    updates.  Nor does it try an input that another node reads after this one
    (one that depends on this node's outputs): overwriting it would need that
    reader to run first, a cycle that the validation rejects, after a walk
    over the whole graph (157 of the 288 tries on a ResNet-32's training
    function, 1 of the 1.7 s of this rewrite).  Such an input fails with
    every output, so what is made in-place stays the same.
    """

    def apply(self, fgraph):
        # Positions in a topological order bound the search for later readers.
        self._position = {node: index for index, node in enumerate(fgraph.toposort())}
        try:
            return super().apply(fgraph)
        finally:
            del self._position

    def filter_candidate_pairs(self, fgraph, node, protected_inputs):
        if _small_and_static(node):
            return []
        pairs = super().filter_candidate_pairs(fgraph, node, protected_inputs)
        read_later = {inp for _, (_, inp) in pairs if self._read_after(fgraph, node, inp)}
        return [pair for pair in pairs if pair[1][1] not in read_later]

    def _read_after(self, fgraph, node, variable):
        """Whether a node other than ``node`` that reads ``variable``, or a view
        of the same memory, depends on ``node``."""
        handler = fgraph.destroy_handler
        root = variable
        while root in handler.view_i:
            root = handler.view_i[root]
        aliases, pending = [], [root]
        while pending:
            alias = pending.pop()
            aliases.append(alias)
            pending.extend(handler.view_o.get(alias, ()))
        readers = {client for alias in aliases for client, _ in fgraph.clients[alias] if client is not node}
        if not readers:
            return False
        position = getattr(self, "_position", {})
        # A node made in-place since the order was taken is not in it: it is searched through.
        last = max(position.get(reader, len(position)) for reader in readers)
        seen = set()
        stack = [client for output in node.outputs for client, _ in fgraph.clients[output]]
        while stack:
            later = stack.pop()
            if later in readers:
                return True
            if later in seen or position.get(later, -1) > last:
                continue
            seen.add(later)
            stack.extend(client for output in later.outputs for client, _ in fgraph.clients.get(output, ()))
        return False


optdb.register("convnet_inplace_elemwise", _InplaceOnLargeElemwise(), "convnet_cpu_inplace", "inplace",
               position=optdb.__position__["inplace_elemwise"])

# PyTensor's FAST_RUN rewrites (with Elemwise fusion, whose composites run
# compiled), plus the rewrites for graphs of Python thunks; not the ones that
# only a C backend or PyTensor's Numba linker implements.
register_mode(MODE_NAME, CPUMode(
    linker=CPULinker(),
    optimizer=RewriteDatabaseQuery(include=["fast_run", "py_only", "convnet_cpu_inplace"],
                                   exclude=["cxx_only", "BlasOpt", "inplace_elemwise_optimizer"]),
))
