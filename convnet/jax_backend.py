"""convnet's adjustments to PyTensor's JAX backend.

Importing this module (``convnet`` does so when JAX is installed):

* registers the ``"CONVNET_JAX"`` compilation mode: PyTensor's JAX mode with a
  linker whose functions wait for the device (``block_until_ready``) and
  return NumPy arrays for their outputs, so that timings are honest and
  results behave like the other backends' (shared-variable updates stay on
  the device);
* registers the data-parallel modes ``"CONVNET_JAX_ALL"`` (all the devices
  of JAX's default backend) and ``"CONVNET_JAX_CUDA_ALL"`` (all the GPUs),
  which ``convnet.config.set_device("jax:all")`` and ``"cuda:all"`` select
  (see :class:`DataParallelJAXLinker`);
* replaces the JAX implementation of ``ARange``, whose constant bounds PyTensor
  passes to ``jax.numpy.arange`` as ``int8`` arrays: ``pt.arange(x.shape[0])``
  then fails with "Python integer N out of bounds for int8" for N > 127;
* replaces the JAX implementation of ``Alloc``, so that it takes the lengths
  its value already has from the value rather than from its shape inputs
  (see :func:`jax_funcify_Alloc`);
* replaces the JAX implementation of ``Reshape``, so that one length computed
  by tensor operations is inferred from the others (see
  :func:`jax_funcify_Reshape`).
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from pytensor.compile.mode import Mode, get_mode, register_mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant
from pytensor.link.jax.dispatch import jax_funcify
from pytensor.link.jax.linker import JAXLinker
from pytensor.tensor.basic import Alloc, ARange
from pytensor.tensor.shape import Reshape

__all__ = ["BlockingJAXLinker", "DataParallelJAXLinker", "DataParallelCUDALinker", "BatchNotDivisibleError",
           "MODE_NAME", "DATA_PARALLEL_MODE_NAMES"]


MODE_NAME = "CONVNET_JAX"
# The data-parallel modes, by the platform whose devices they use (None: JAX's default backend).
DATA_PARALLEL_MODE_NAMES = {None: "CONVNET_JAX_ALL", "gpu": "CONVNET_JAX_CUDA_ALL"}


class BlockingJAXLinker(JAXLinker):
    """A JAX linker whose compiled functions block until the device is done
    and return NumPy arrays for the outputs that are not shared-variable
    updates."""

    def jit_compile(self, fn):
        jitted = self.jit(fn)
        update_outputs = set(getattr(self.fgraph, "update_mapping", None) or ())

        def run_and_wait(*args):
            outputs = jax.block_until_ready(jitted(*args))
            return [o if i in update_outputs else np.asarray(o) for i, o in enumerate(outputs)]

        return run_and_wait

    def jit(self, fn):
        """``fn`` compiled by ``jax.jit``, as PyTensor's JAX linker compiles it."""
        return super().jit_compile(fn)


class BatchNotDivisibleError(ValueError):
    """A data-parallel function got a batch that does not split evenly over the devices."""


class DataParallelJAXLinker(BlockingJAXLinker):
    """A JAX linker whose functions run data-parallel over all the devices of
    a platform (:attr:`platform`; None: JAX's default backend).

    The function's explicit inputs with at least one axis are *batches*:
    ``jax.jit`` gets them sharded along their first axis over a one-axis
    :class:`jax.sharding.Mesh` of the devices (``PartitionSpec("batch")``).
    Shared variables (the parameters, optimizer state, batch-norm averages)
    and scalar inputs are replicated on every device, and so are the new
    values of shared variables (their ``out_shardings``). The graph itself
    is unchanged, the computation over the global batch: XLA's SPMD
    partitioner splits it and inserts the collectives, such as the
    all-reduce that sums the gradient contributions of the shards (NCCL
    on GPUs). Every reduction over the batch axis (a mean loss, batch
    normalization's mean and variance) is therefore over the global batch,
    as on one device.

    Every batch input's length must divide by the number of devices; a call
    with one that does not raises :class:`BatchNotDivisibleError` before
    anything runs (at compile time when the input's type fixes the length).
    Other outputs keep the sharding XLA chooses and are gathered when
    returned as NumPy arrays.
    """

    platform = None

    def jit(self, fn):
        devices = jax.devices(self.platform) if self.platform else jax.devices()
        mesh = Mesh(np.array(devices), ("batch",))
        replicated = NamedSharding(mesh, PartitionSpec())
        batch = NamedSharding(mesh, PartitionSpec("batch"))
        static = set(self.scalar_shape_inputs)
        inputs = self.fgraph.inputs
        batched = [i for i, var in enumerate(inputs)
                   if i not in static and not isinstance(var, SharedVariable) and var.type.ndim >= 1]
        for i in batched:
            self._check_divisible(inputs[i], inputs[i].type.shape[0], len(devices))
        update_outputs = set(getattr(self.fgraph, "update_mapping", None) or ())
        jitted = jax.jit(
            lambda *args: list(fn(*args)),
            in_shardings=tuple(batch if i in batched else replicated for i in range(len(inputs)) if i not in static),
            out_shardings=[replicated if i in update_outputs else None for i in range(len(self.fgraph.outputs))],
            static_argnums=tuple(sorted(static)),
        )

        def check_and_run(*args):
            for i in batched:
                self._check_divisible(inputs[i], np.shape(args[i])[0], len(devices))
            return jitted(*(int(arg) if i in static else arg for i, arg in enumerate(args)))

        return check_and_run

    @staticmethod
    def _check_divisible(variable, length, n_devices):
        if length is not None and length % n_devices:
            raise BatchNotDivisibleError(
                f"data-parallel function: input {variable.name or variable} has a batch of {length} samples, "
                f"which does not divide by the {n_devices} devices it is sharded over; give every batch a "
                f"multiple of {n_devices} samples (BatchIterator(drop_last=True) skips a smaller last batch)"
            )


class DataParallelCUDALinker(DataParallelJAXLinker):
    """:class:`DataParallelJAXLinker` over all the GPUs."""

    platform = "gpu"


@jax_funcify.register(ARange)
def jax_funcify_ARange(op, node, **kwargs):
    constants = [arg.data.item() if isinstance(arg, Constant) else None for arg in node.inputs]

    def arange(start, stop, step):
        bounds = [c if c is not None else v for c, v in zip(constants, (start, stop, step))]
        return jnp.arange(*bounds, dtype=op.dtype)

    return arange


@jax_funcify.register(Alloc)
def jax_funcify_Alloc(op, node, **kwargs):
    """``Alloc(value, *shape)`` with the lengths the value carries read from the value.

    JAX needs concrete lengths to build an array, but PyTensor computes the
    shape inputs with tensor operations, which return traced values under
    ``jax.jit``: ``shape(x)[0]`` is concrete, ``maximum(shape(x)[0],
    shape(y)[0])`` is not. Gradients are full of such lengths: ``Alloc``
    broadcasts a reduction's gradient back to the shape PyTensor inferred
    for the reduced tensor, e.g. ``set_subtensor(shape(x)[1], 8)[0]`` behind
    a ``Split`` (the gradient of a concatenation), or a chain of broadcasting
    checks behind an elementwise operation. On every axis where the value's
    type is not broadcastable, the output's length is the value's own
    (``Alloc`` only broadcasts lengths that are statically 1, any other
    mismatch is an error), and the value's shape is static under tracing:
    only the lengths of the axes the value is broadcast along, or that it
    lacks, come from the shape inputs. That also leaves nothing for
    PyTensor's runtime-broadcast check to find.
    """
    value, output = node.inputs[0], node.outputs[0]
    n_new_axes = output.type.ndim - value.type.ndim
    from_value = (False,) * n_new_axes + tuple(length != 1 for length in value.type.shape)

    def alloc(x, *shape):
        padded = (1,) * n_new_axes + jnp.shape(x)
        static = tuple(own if carried else length for own, carried, length in zip(padded, from_value, shape))
        return jnp.broadcast_to(x, static)

    return alloc


def _concrete_length(length):
    """``length`` as an int when it is known while tracing, else None."""
    try:
        return int(length)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError, TypeError):
        return None


@jax_funcify.register(Reshape)
def jax_funcify_Reshape(op, node, **kwargs):
    """``Reshape(x, shape)`` with one length that is not concrete passed as -1.

    As with :func:`jax_funcify_Alloc`, a length PyTensor computes with tensor
    operations (``shape(x)[0] * shape(x)[1]``, the flattened batch and time
    axes of a recurrent layer's input and their gradient) is traced under
    ``jax.jit``, and ``jnp.reshape`` needs concrete lengths. When only one
    length is traced it is the one the array's size and the other lengths
    determine, which is what -1 asks ``jnp.reshape`` to compute; with more,
    ``jnp.reshape`` reports the traced lengths as before.
    """
    shape_input = node.inputs[1]
    if isinstance(shape_input, Constant):
        constant_shape = tuple(int(n) for n in shape_input.data)

        def reshape_constant(x, shape):
            return jnp.reshape(x, constant_shape)

        return reshape_constant

    def reshape(x, shape):
        lengths = [_concrete_length(length) for length in shape]
        if lengths.count(None) == 1:
            return jnp.reshape(x, tuple(-1 if n is None else n for n in lengths))
        return jnp.reshape(x, shape)

    return reshape


_optimizer = get_mode("JAX").optimizer
register_mode(MODE_NAME, Mode(linker=BlockingJAXLinker(), optimizer=_optimizer))
register_mode(DATA_PARALLEL_MODE_NAMES[None], Mode(linker=DataParallelJAXLinker(), optimizer=_optimizer))
register_mode(DATA_PARALLEL_MODE_NAMES["gpu"], Mode(linker=DataParallelCUDALinker(), optimizer=_optimizer))
