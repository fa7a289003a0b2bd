"""convnet's adjustments to PyTensor's JAX backend.

Importing this module (``convnet`` does so when JAX is installed):

* registers the ``"CONVNET_JAX"`` compilation mode: PyTensor's JAX mode with a
  linker whose functions wait for the device (``block_until_ready``) and
  return NumPy arrays for their outputs, so that timings are honest and
  results behave like the other backends' (shared-variable updates stay on
  the device);
* replaces the JAX implementation of ``ARange``, whose constant bounds PyTensor
  passes to ``jax.numpy.arange`` as ``int8`` arrays: ``pt.arange(x.shape[0])``
  then fails with "Python integer N out of bounds for int8" for N > 127.
"""
import jax
import jax.numpy as jnp
import numpy as np
from pytensor.compile.mode import Mode, get_mode, register_mode
from pytensor.graph.basic import Constant
from pytensor.link.jax.dispatch import jax_funcify
from pytensor.link.jax.linker import JAXLinker
from pytensor.tensor.basic import ARange

__all__ = ["BlockingJAXLinker", "MODE_NAME"]


MODE_NAME = "CONVNET_JAX"


class BlockingJAXLinker(JAXLinker):
    """A JAX linker whose compiled functions block until the device is done
    and return NumPy arrays for the outputs that are not shared-variable
    updates."""

    def jit_compile(self, fn):
        jitted = super().jit_compile(fn)
        update_outputs = set(getattr(self.fgraph, "update_mapping", None) or ())

        def run_and_wait(*args):
            outputs = jax.block_until_ready(jitted(*args))
            return [o if i in update_outputs else np.asarray(o) for i, o in enumerate(outputs)]

        return run_and_wait


@jax_funcify.register(ARange)
def jax_funcify_ARange(op, node, **kwargs):
    constants = [arg.data.item() if isinstance(arg, Constant) else None for arg in node.inputs]

    def arange(start, stop, step):
        bounds = [c if c is not None else v for c, v in zip(constants, (start, stop, step))]
        return jnp.arange(*bounds, dtype=op.dtype)

    return arange


register_mode(MODE_NAME, Mode(linker=BlockingJAXLinker(), optimizer=get_mode("JAX").optimizer))
