"""An independent reference for the convolution tests: the convolution written
from its definition with ``scipy.signal.correlate`` on zero-inserted
(dilated), flipped filters, and its gradients from the Jacobian, built column
by column (the convolution is linear in each argument)."""
import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy.signal import correlate

from convnet.ops.conv.ops import convolution


def reference_pads(border_mode, dilated_sizes):
    if border_mode == "valid":
        return (0,) * len(dilated_sizes)
    if border_mode == "full":
        return tuple(k - 1 for k in dilated_sizes)
    if border_mode == "half":
        return tuple(k // 2 for k in dilated_sizes)
    if isinstance(border_mode, int):
        return (border_mode,) * len(dilated_sizes)
    return tuple(border_mode)


def reference_conv(x, w, border_mode="valid", subsample=1, filter_flip=True, filter_dilation=1):
    """N-D convolution: per output channel, the sum over input channels of
    ``scipy.signal.correlate`` with the zero-inserted filter, then strided."""
    n = x.ndim - 2
    subsample = (subsample,) * n if isinstance(subsample, int) else subsample
    dilation = (filter_dilation,) * n if isinstance(filter_dilation, int) else filter_dilation
    out_channels, channels = w.shape[:2]
    if filter_flip:
        w = w[(slice(None), slice(None)) + (slice(None, None, -1),) * n]
    dilated = np.zeros((out_channels, channels) + tuple((k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation)))
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
    pads = reference_pads(border_mode, dilated.shape[2:])
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in pads))
    strided = tuple(slice(None, None, s) for s in subsample)
    return np.array([[sum(correlate(padded[b, c], dilated[o, c], mode="valid") for c in range(channels))[strided]
                      for o in range(out_channels)] for b in range(x.shape[0])])


def reference_gradients(x, w, output_grad, **params):
    """Gradients of ``sum(conv(x, w) * output_grad)``: inner products of
    ``output_grad`` with the convolution of each basis array."""
    def gradient(shape, convolve_basis):
        basis = np.eye(int(np.prod(shape))).reshape((-1,) + shape)
        return np.array([np.sum(output_grad * convolve_basis(e)) for e in basis]).reshape(shape)

    return (gradient(x.shape, lambda e: reference_conv(e, w, **params)),
            gradient(w.shape, lambda e: reference_conv(x, e, **params)))


def random_arrays(*shapes, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def run_perform(op, *inputs):
    """The output of ``op.perform`` on numeric inputs, without compiling."""
    node = op.make_node(*(pt.as_tensor_variable(i) for i in inputs))
    storage = [[None]]
    op.perform(node, inputs, storage)
    return storage[0][0]




def backend_functions(cases):
    """``compile_for(mode)``: one function per backend (compiled once, since a
    Numba compile takes seconds) from each case's input, filters and output
    gradient to its output and both gradients of ``sum(output * output_grad)``.
    ``cases`` are ``(number of spatial dimensions, parameters)`` pairs."""
    functions = {}

    def compile_for(mode):
        if mode not in functions:
            inputs, outputs = [], []
            for index, (n, params) in enumerate(cases):
                x, w, g = (pt.tensor(f"{name}{index}", shape=(None,) * (n + 2)) for name in "xwg")
                y = convolution(n, x, w, **params)
                inputs += [x, w, g]
                outputs += [y] + pytensor.grad((y * g).sum(), [x, w])
            functions[mode] = pytensor.function(inputs, outputs, mode=mode)
        return functions[mode]

    return compile_for
