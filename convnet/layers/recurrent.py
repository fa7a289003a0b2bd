"""Recurrent layers: :class:`CustomRecurrentLayer`, :class:`RecurrentLayer`,
:class:`LSTMLayer` and :class:`GRULayer`, with :class:`Gate` describing an
LSTM or GRU gate's parameters.

Inputs are ``(batch, time, features...)``; the output is
``(batch, time, units...)``, or ``(batch, units...)`` with
``only_return_final=True``. The recurrence runs in :func:`pytensor.scan`
(on every backend) or, with ``unroll_scan=True``, unrolled into the graph
(:func:`convnet.utils.unroll_scan`).

Options shared by every layer, with Lasagne's semantics:

- ``mask_input``: a layer of shape ``(batch, time)``; where the mask is 0 the
  state is carried over unchanged (for sequences of different lengths,
  padded at the end);
- ``hid_init`` (and the LSTM's ``cell_init``): an initializer, array or
  expression for a ``(1, units...)`` parameter repeated over the batch
  (learned when ``learn_init=True``), or a :class:`~convnet.layers.Layer`
  giving a ``(batch, units...)`` initial state;
- ``backwards``: process the sequence from its end; the output is
  given in the input's time order;
- ``gradient_steps``: truncate backpropagation through time to this many
  steps (``-1``: the whole sequence);
- ``grad_clipping``: clip the gradient of the pre-activations to
  ``[-grad_clipping, grad_clipping]`` in the backward pass (0: no clipping);
- ``precompute_input``: compute the input-to-hidden products for all steps
  at once, outside the loop (quicker, more memory).

Parameters are created in Lasagne's order, so Lasagne's saved parameter
lists load with :func:`~convnet.layers.set_all_param_values`.

Examples
--------
>>> from convnet.layers import InputLayer, LSTMLayer, DenseLayer
>>> l_in = InputLayer((None, 20, 3))
>>> l_mask = InputLayer((None, 20))
>>> l_lstm = LSTMLayer(l_in, 8, mask_input=l_mask, only_return_final=True)
>>> l_lstm.output_shape
(None, 8)
>>> DenseLayer(l_lstm, 1).output_shape
(None, 1)
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import grad_clip

from .. import init, nonlinearities
from ..typing import Nonlinearity, ParamSpec
from ..utils import unroll_scan
from .base import Incoming, Layer, MergeLayer
from .dense import DenseLayer
from .helper import get_all_layers, get_all_params, get_output
from .input import InputLayer

__all__ = ["CustomRecurrentLayer", "RecurrentLayer", "Gate", "LSTMLayer", "GRULayer"]


class _RecurrentBase(MergeLayer):
    """What every recurrent layer shares: its optional incomings (mask,
    initial states given as layers), the options' checks, the loop (scan or
    unrolled, masked or not) and the shape of the output."""

    def __init__(self, incoming, state_inits, mask_input, backwards, learn_init, gradient_steps, grad_clipping,
                 unroll_scan, precompute_input, only_return_final, **kwargs):
        incomings = [incoming]
        self.mask_incoming_index = -1
        if mask_input is not None:
            incomings.append(mask_input)
            self.mask_incoming_index = len(incomings) - 1
        for state, spec in state_inits.items():
            setattr(self, f"{state}_incoming_index", -1)
            if isinstance(spec, Layer):
                incomings.append(spec)
                setattr(self, f"{state}_incoming_index", len(incomings) - 1)
        super().__init__(incomings, **kwargs)
        self.backwards = backwards
        self.learn_init = learn_init
        self.gradient_steps = gradient_steps
        self.grad_clipping = grad_clipping
        self.unroll_scan = unroll_scan
        self.precompute_input = precompute_input
        self.only_return_final = only_return_final
        input_shape = self.input_shapes[0]
        if len(input_shape) < 3:
            raise ValueError(f"the input must be (batch, time, features...), got shape {input_shape}")
        if unroll_scan and gradient_steps != -1:
            raise ValueError(f"gradient_steps must be -1 when unroll_scan is True, got {gradient_steps}")
        if unroll_scan and input_shape[1] is None:
            raise ValueError(f"unroll_scan=True needs a known sequence length, the input shape is {input_shape}")
        if not (gradient_steps == -1 or (isinstance(gradient_steps, (int, np.integer)) and gradient_steps > 0)):
            raise ValueError(f"gradient_steps must be -1 or a positive int, got {gradient_steps!r}")
        if grad_clipping < 0:
            raise ValueError(f"grad_clipping must be 0 (off) or positive, got {grad_clipping}")
        if mask_input is not None:
            mask_shape = self.input_shapes[self.mask_incoming_index]
            if len(mask_shape) != 2 or any(
                    m is not None and i is not None and m != i for m, i in zip(mask_shape, input_shape[:2])):
                raise ValueError(f"the mask must be (batch, time) = {input_shape[:2]}, got shape {mask_shape}")

    def _state_init(self, spec, shape, name):
        """The initial state ``name``: the layer given, or a parameter."""
        if isinstance(spec, Layer):
            expected = (None,) + tuple(shape[1:])
            given = spec.output_shape
            if len(given) != len(expected) or any(
                    g is not None and e is not None and g != e for g, e in zip(given, expected)):
                raise ValueError(f"{name} must have shape (batch,) + {tuple(shape[1:])}, got {given}")
            return spec
        return self.add_param(spec, shape, name=name, trainable=self.learn_init, regularizable=False)

    def _clip(self, x):
        return grad_clip(x, -self.grad_clipping, self.grad_clipping) if self.grad_clipping else x

    def _initial_state(self, inputs, state, num_batch):
        index = getattr(self, f"{state}_incoming_index")
        if index > 0:
            return inputs[index]
        # repeat, not broadcast: the parameter's length-1 axis is not static
        return pt.repeat(getattr(self, state), num_batch, axis=0)

    def _recur(self, inputs, sequence, step, states, non_sequences):
        """Run ``step(x_t, *states_t, *non_sequences)`` over the time-major
        ``sequence``; returns the time-major outputs, one per state, with
        steps in processing order."""
        sequences = [sequence]
        step_fun = step
        if self.mask_incoming_index > 0:
            mask = inputs[self.mask_incoming_index]
            sequences.append(mask.dimshuffle(1, 0, "x"))
            n_states = len(states)

            def step_fun(x_t, mask_t, *rest):
                previous = rest[:n_states]
                new = step(x_t, *rest)
                new = new if isinstance(new, (list, tuple)) else [new]
                return [pt.switch(mask_t, n, p) for n, p in zip(new, previous)]

        if self.unroll_scan:
            return unroll_scan(step_fun, sequences, states, non_sequences, self.input_shapes[0][1],
                               go_backwards=self.backwards)
        outputs = pytensor.scan(step_fun, sequences=sequences, outputs_info=states, non_sequences=non_sequences,
                                go_backwards=self.backwards, truncate_gradient=self.gradient_steps, strict=True,
                                return_list=True, return_updates=False)
        return outputs

    def _output(self, hid_out):
        """The time-major ``hid_out`` as the layer's output."""
        if self.only_return_final:
            return hid_out[-1]
        hid_out = hid_out.dimshuffle(1, 0, *range(2, hid_out.ndim))
        return hid_out[:, ::-1] if self.backwards else hid_out

    def _output_shape(self, input_shapes, unit_shape):
        input_shape = input_shapes[0]
        if self.only_return_final:
            return (input_shape[0],) + tuple(unit_shape)
        return (input_shape[0], input_shape[1]) + tuple(unit_shape)


class CustomRecurrentLayer(_RecurrentBase):
    """A recurrent layer whose input-to-hidden and hidden-to-hidden
    connections are any layers (dense, convolutional, ...):
    ``h_t = nonlinearity(hidden_to_hidden(h_{t-1}) + input_to_hidden(x_t))``.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, shape ``(batch, time, features...)``.
    input_to_hidden : Layer
        A network with one :class:`InputLayer`, mapping one step's input
        ``(batch, features...)`` to ``(batch, units...)``. With
        ``precompute_input`` it is applied to all steps at once, its batch
        axis holding ``batch * time`` rows.
    hidden_to_hidden : Layer
        A network with one :class:`InputLayer`, mapping ``(batch, units...)``
        to ``(batch, units...)``.
    nonlinearity : callable or None
        Applied to the sum; ``None`` is the identity.
    hid_init, backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        See the module documentation.
    **kwargs
        Passed to :class:`~convnet.layers.MergeLayer` (e.g. ``name``).

    Examples
    --------
    >>> from convnet.layers import InputLayer, DenseLayer, CustomRecurrentLayer
    >>> l_in = InputLayer((None, 10, 4))
    >>> in_to_hid = DenseLayer(InputLayer((None, 4)), 6, nonlinearity=None)
    >>> hid_to_hid = DenseLayer(InputLayer((None, 6)), 6, nonlinearity=None, b=None)
    >>> CustomRecurrentLayer(l_in, in_to_hid, hid_to_hid).output_shape
    (None, 10, 6)
    """

    def __init__(self, incoming: Incoming, input_to_hidden: Layer, hidden_to_hidden: Layer,
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify,
                 hid_init: ParamSpec | Layer = init.Constant(0.0), backwards: bool = False,
                 learn_init: bool = False, gradient_steps: int = -1, grad_clipping: float = 0,
                 unroll_scan: bool = False, precompute_input: bool = True, mask_input: Layer | None = None,
                 only_return_final: bool = False, **kwargs) -> None:
        super().__init__(incoming, {"hid_init": hid_init}, mask_input, backwards, learn_init, gradient_steps,
                         grad_clipping, unroll_scan, precompute_input, only_return_final, **kwargs)
        for what, network in (("input_to_hidden", input_to_hidden), ("hidden_to_hidden", hidden_to_hidden)):
            n_inputs = sum(isinstance(l, InputLayer) for l in get_all_layers(network))
            if n_inputs != 1:
                raise ValueError(f"{what} must have exactly one InputLayer, it has {n_inputs}")
        self.input_to_hidden = input_to_hidden
        self.hidden_to_hidden = hidden_to_hidden
        input_shape = self.input_shapes[0]
        in_shape, hid_shape = input_to_hidden.output_shape, hidden_to_hidden.output_shape

        def differ(a, b):
            return a is not None and b is not None and a != b

        if precompute_input and input_shape[0] is not None and input_shape[1] is not None and differ(
                in_shape[0], input_shape[0] * input_shape[1]):
            raise ValueError(
                f"with precompute_input=True, input_to_hidden.output_shape[0] must be batch * time = "
                f"{input_shape[0] * input_shape[1]} or None, got {in_shape[0]}")
        if not precompute_input and differ(in_shape[0], hid_shape[0]):
            raise ValueError(f"input_to_hidden.output_shape {in_shape} and hidden_to_hidden.output_shape "
                             f"{hid_shape} must have the same batch size")
        if len(in_shape) != len(hid_shape) or any(differ(a, b) for a, b in zip(in_shape[1:], hid_shape[1:])):
            raise ValueError(f"input_to_hidden.output_shape {in_shape} and hidden_to_hidden.output_shape "
                             f"{hid_shape} must agree after the batch axis")
        hid_in_shape = [l for l in get_all_layers(hidden_to_hidden) if isinstance(l, InputLayer)][0].output_shape
        if len(hid_in_shape) != len(in_shape) or any(differ(a, b) for a, b in zip(in_shape[1:], hid_in_shape[1:])):
            raise ValueError(f"hidden_to_hidden's input shape {hid_in_shape} must match "
                             f"input_to_hidden.output_shape {in_shape} after the batch axis")
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.hid_init = self._state_init(hid_init, (1,) + tuple(hid_shape[1:]), "hid_init")

    def get_params(self, unwrap_shared=True, **tags):
        """This layer's own parameters, then those of ``input_to_hidden`` and
        ``hidden_to_hidden`` (Lasagne's order)."""
        params = super().get_params(unwrap_shared=unwrap_shared, **tags)
        params += get_all_params(self.input_to_hidden, unwrap_shared=unwrap_shared, **tags)
        params += get_all_params(self.hidden_to_hidden, unwrap_shared=unwrap_shared, **tags)
        return params

    def get_output_shape_for(self, input_shapes):
        return self._output_shape(input_shapes, self.hidden_to_hidden.output_shape[1:])

    def get_output_for(self, inputs, **kwargs):
        input = inputs[0]
        input = input.dimshuffle(1, 0, *range(2, input.ndim))
        seq_len, num_batch = input.shape[0], input.shape[1]
        if self.precompute_input:
            # -1 rather than seq_len * num_batch, and seq_len the input's own
            # shape entry: under JAX's jit, shape entries are static, products
            # of them are not, and scan's number of steps must be static
            flat = input.reshape((-1, *[input.shape[i] for i in range(2, input.ndim)]))
            flat = get_output(self.input_to_hidden, flat, **kwargs)
            input = flat.reshape((seq_len, -1, *[flat.shape[i] for i in range(1, flat.ndim)]))
        non_sequences = get_all_params(self.hidden_to_hidden)
        if not self.precompute_input:
            non_sequences += get_all_params(self.input_to_hidden)

        def step(input_n, hid_previous, *args):
            hid_pre = get_output(self.hidden_to_hidden, hid_previous, **kwargs)
            if self.precompute_input:
                hid_pre = hid_pre + input_n
            else:
                hid_pre = hid_pre + get_output(self.input_to_hidden, input_n, **kwargs)
            return self.nonlinearity(self._clip(hid_pre))

        hid_init = self._initial_state(inputs, "hid_init", num_batch)
        (hid_out,) = self._recur(inputs, input, step, [hid_init], non_sequences)
        return self._output(hid_out)


class RecurrentLayer(CustomRecurrentLayer):
    """A vanilla recurrent layer:
    ``h_t = nonlinearity(x_t W_in_to_hid + h_{t-1} W_hid_to_hid + b)``.

    A :class:`CustomRecurrentLayer` with dense connections, named
    ``input_to_hidden`` and ``hidden_to_hidden``.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, shape ``(batch, time, features...)`` (trailing axes are
        flattened).
    num_units : int
        The number of hidden units.
    W_in_to_hid, W_hid_to_hid, b : initializer, array or expression
        ``(features, num_units)``, ``(num_units, num_units)`` and
        ``(num_units,)`` (``b=None``: no bias).
    nonlinearity, hid_init, backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        See :class:`CustomRecurrentLayer` and the module documentation.

    Examples
    --------
    >>> from convnet.layers import InputLayer, RecurrentLayer
    >>> l_rnn = RecurrentLayer(InputLayer((None, 10, 4)), 6, name="rnn")
    >>> [p.name for p in l_rnn.get_params()]
    ['rnn.hid_init', 'rnn.input_to_hidden.W', 'rnn.input_to_hidden.b', 'rnn.hidden_to_hidden.W']
    """

    def __init__(self, incoming: Incoming, num_units: int, W_in_to_hid: ParamSpec = init.Uniform(),
                 W_hid_to_hid: ParamSpec = init.Uniform(), b: ParamSpec | None = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.rectify,
                 hid_init: ParamSpec | Layer = init.Constant(0.0), backwards: bool = False,
                 learn_init: bool = False, gradient_steps: int = -1, grad_clipping: float = 0,
                 unroll_scan: bool = False, precompute_input: bool = True, mask_input: Layer | None = None,
                 only_return_final: bool = False, **kwargs) -> None:
        input_shape = incoming if isinstance(incoming, tuple) else incoming.output_shape
        name = kwargs.get("name")
        basename = f"{name}." if name else ""
        in_to_hid = DenseLayer(InputLayer((None,) + tuple(input_shape[2:])), num_units, W=W_in_to_hid, b=b,
                               nonlinearity=None, name=basename + "input_to_hidden")
        hid_to_hid = DenseLayer(InputLayer((None, num_units)), num_units, W=W_hid_to_hid, b=None,
                                nonlinearity=None, name=basename + "hidden_to_hidden")
        self.W_in_to_hid = in_to_hid.W
        self.W_hid_to_hid = hid_to_hid.W
        self.b = in_to_hid.b
        super().__init__(incoming, in_to_hid, hid_to_hid, nonlinearity=nonlinearity, hid_init=hid_init,
                         backwards=backwards, learn_init=learn_init, gradient_steps=gradient_steps,
                         grad_clipping=grad_clipping, unroll_scan=unroll_scan, precompute_input=precompute_input,
                         mask_input=mask_input, only_return_final=only_return_final, **kwargs)


class Gate:
    """The parameters of one LSTM or GRU gate: input weights ``W_in``, hidden
    weights ``W_hid``, peephole weights ``W_cell`` (LSTM; ``None`` for
    none), bias ``b`` and ``nonlinearity`` (``None``: identity).

    Examples
    --------
    >>> from convnet import init, nonlinearities
    >>> forget = Gate(b=init.Constant(1.0))
    >>> cell = Gate(W_cell=None, nonlinearity=nonlinearities.tanh)
    """

    def __init__(self, W_in: ParamSpec = init.Normal(0.1), W_hid: ParamSpec = init.Normal(0.1),
                 W_cell: ParamSpec | None = init.Normal(0.1), b: ParamSpec = init.Constant(0.0),
                 nonlinearity: Nonlinearity | None = nonlinearities.sigmoid) -> None:
        self.W_in = W_in
        self.W_hid = W_hid
        if W_cell is not None:
            self.W_cell = W_cell
        self.b = b
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity


class _GatedBase(_RecurrentBase):
    """LSTM and GRU: gates with stacked weights over a flattened input."""

    def _num_inputs(self):
        trailing = self.input_shapes[0][2:]
        if any(d is None for d in trailing):
            raise ValueError(f"the feature dimensions {trailing} of the input must be known to size the weights")
        return int(np.prod(trailing))

    def _add_gate_params(self, gate, gate_name, num_inputs):
        return (self.add_param(gate.W_in, (num_inputs, self.num_units), name=f"W_in_to_{gate_name}"),
                self.add_param(gate.W_hid, (self.num_units, self.num_units), name=f"W_hid_to_{gate_name}"),
                self.add_param(gate.b, (self.num_units,), name=f"b_{gate_name}", regularizable=False),
                gate.nonlinearity)

    def _time_major(self, input):
        if input.ndim > 3:
            input = pt.flatten(input, 3)
        return input.dimshuffle(1, 0, 2)

    def _slice(self, x, n):
        return x[:, n * self.num_units:(n + 1) * self.num_units]

    def get_output_shape_for(self, input_shapes):
        return self._output_shape(input_shapes, (self.num_units,))


class LSTMLayer(_GatedBase):
    """A long short-term memory layer (Hochreiter & Schmidhuber, 1997; with
    peepholes and a forget gate as in Graves, 2013)::

        i_t = sigmoid(x_t W_xi + h_{t-1} W_hi + w_ci * c_{t-1} + b_i)
        f_t = sigmoid(x_t W_xf + h_{t-1} W_hf + w_cf * c_{t-1} + b_f)
        c_t = f_t * c_{t-1} + i_t * tanh(x_t W_xc + h_{t-1} W_hc + b_c)
        o_t = sigmoid(x_t W_xo + h_{t-1} W_ho + w_co * c_t + b_o)
        h_t = o_t * nonlinearity(c_t)

    Parameters
    ----------
    incoming : Layer or tuple
        The input, shape ``(batch, time, features...)`` (trailing axes are
        flattened).
    num_units : int
        The number of hidden (and cell) units.
    ingate, forgetgate, cell, outgate : Gate
        Each gate's parameters and nonlinearity (``cell``'s ``W_cell`` is
        not used).
    nonlinearity : callable or None
        Applied to the cell before the output gate (default tanh).
    cell_init, hid_init : initializer, array, expression or Layer
        The initial cell and hidden states (see the module documentation).
    peepholes : bool
        Whether the gates see the cell (the ``w_c*`` terms above).
    backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        See the module documentation.

    Examples
    --------
    >>> from convnet.layers import InputLayer, LSTMLayer
    >>> l_lstm = LSTMLayer(InputLayer((None, None, 3)), 5, peepholes=False)
    >>> l_lstm.output_shape, len(l_lstm.get_params())
    ((None, None, 5), 14)
    """

    def __init__(self, incoming: Incoming, num_units: int, ingate: Gate = Gate(), forgetgate: Gate = Gate(),
                 cell: Gate = Gate(W_cell=None, nonlinearity=nonlinearities.tanh), outgate: Gate = Gate(),
                 nonlinearity: Nonlinearity | None = nonlinearities.tanh,
                 cell_init: ParamSpec | Layer = init.Constant(0.0),
                 hid_init: ParamSpec | Layer = init.Constant(0.0), backwards: bool = False,
                 learn_init: bool = False, peepholes: bool = True, gradient_steps: int = -1,
                 grad_clipping: float = 0, unroll_scan: bool = False, precompute_input: bool = True,
                 mask_input: Layer | None = None, only_return_final: bool = False, **kwargs) -> None:
        super().__init__(incoming, {"hid_init": hid_init, "cell_init": cell_init}, mask_input, backwards,
                         learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input,
                         only_return_final, **kwargs)
        if num_units <= 0:
            raise ValueError(f"num_units must be positive, got {num_units}")
        self.num_units = num_units
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.peepholes = peepholes
        num_inputs = self._num_inputs()
        (self.W_in_to_ingate, self.W_hid_to_ingate, self.b_ingate,
         self.nonlinearity_ingate) = self._add_gate_params(ingate, "ingate", num_inputs)
        (self.W_in_to_forgetgate, self.W_hid_to_forgetgate, self.b_forgetgate,
         self.nonlinearity_forgetgate) = self._add_gate_params(forgetgate, "forgetgate", num_inputs)
        (self.W_in_to_cell, self.W_hid_to_cell, self.b_cell,
         self.nonlinearity_cell) = self._add_gate_params(cell, "cell", num_inputs)
        (self.W_in_to_outgate, self.W_hid_to_outgate, self.b_outgate,
         self.nonlinearity_outgate) = self._add_gate_params(outgate, "outgate", num_inputs)
        if peepholes:
            for gate, gate_name in ((ingate, "ingate"), (forgetgate, "forgetgate"), (outgate, "outgate")):
                if not hasattr(gate, "W_cell"):
                    raise ValueError(f"peepholes=True needs W_cell for the {gate_name}, which has W_cell=None")
                setattr(self, f"W_cell_to_{gate_name}",
                        self.add_param(gate.W_cell, (num_units,), name=f"W_cell_to_{gate_name}"))
        self.cell_init = self._state_init(cell_init, (1, num_units), "cell_init")
        self.hid_init = self._state_init(hid_init, (1, num_units), "hid_init")

    def get_output_for(self, inputs, **kwargs):
        input = self._time_major(inputs[0])
        num_batch = input.shape[1]
        W_in = pt.concatenate([self.W_in_to_ingate, self.W_in_to_forgetgate, self.W_in_to_cell,
                               self.W_in_to_outgate], axis=1)
        W_hid = pt.concatenate([self.W_hid_to_ingate, self.W_hid_to_forgetgate, self.W_hid_to_cell,
                                self.W_hid_to_outgate], axis=1)
        b = pt.concatenate([self.b_ingate, self.b_forgetgate, self.b_cell, self.b_outgate], axis=0)
        if self.precompute_input:
            input = pt.dot(input, W_in) + b
        non_sequences = [W_hid]
        if self.peepholes:
            non_sequences += [self.W_cell_to_ingate, self.W_cell_to_forgetgate, self.W_cell_to_outgate]
        if not self.precompute_input:
            non_sequences += [W_in, b]

        def step(input_n, cell_previous, hid_previous, *args):
            if not self.precompute_input:
                input_n = pt.dot(input_n, W_in) + b
            gates = self._clip(input_n + pt.dot(hid_previous, W_hid))
            ingate, forgetgate, cell_input, outgate = (self._slice(gates, k) for k in range(4))
            if self.peepholes:
                ingate = ingate + cell_previous * self.W_cell_to_ingate
                forgetgate = forgetgate + cell_previous * self.W_cell_to_forgetgate
            cell = (self.nonlinearity_forgetgate(forgetgate) * cell_previous
                    + self.nonlinearity_ingate(ingate) * self.nonlinearity_cell(cell_input))
            if self.peepholes:
                outgate = outgate + cell * self.W_cell_to_outgate
            return [cell, self.nonlinearity_outgate(outgate) * self.nonlinearity(cell)]

        states = [self._initial_state(inputs, "cell_init", num_batch),
                  self._initial_state(inputs, "hid_init", num_batch)]
        _cell_out, hid_out = self._recur(inputs, input, step, states, non_sequences)
        return self._output(hid_out)


class GRULayer(_GatedBase):
    """A gated recurrent unit layer (Cho et al., 2014)::

        r_t = sigmoid(x_t W_xr + h_{t-1} W_hr + b_r)
        u_t = sigmoid(x_t W_xu + h_{t-1} W_hu + b_u)
        c_t = tanh(x_t W_xc + b_c + r_t * (h_{t-1} W_hc))
        h_t = (1 - u_t) * h_{t-1} + u_t * c_t

    Parameters
    ----------
    incoming : Layer or tuple
        The input, shape ``(batch, time, features...)`` (trailing axes are
        flattened).
    num_units : int
        The number of hidden units.
    resetgate, updategate, hidden_update : Gate
        Each gate's parameters and nonlinearity (``W_cell`` is not used).
    hid_init, backwards, learn_init, gradient_steps, grad_clipping, unroll_scan, precompute_input, mask_input, only_return_final
        See the module documentation.

    Examples
    --------
    >>> from convnet.layers import InputLayer, GRULayer
    >>> l_gru = GRULayer(InputLayer((None, 7, 3)), 5, backwards=True)
    >>> l_gru.output_shape, [p.name for p in l_gru.get_params()][:3]
    ((None, 7, 5), ['W_in_to_updategate', 'W_hid_to_updategate', 'b_updategate'])
    """

    def __init__(self, incoming: Incoming, num_units: int, resetgate: Gate = Gate(W_cell=None),
                 updategate: Gate = Gate(W_cell=None),
                 hidden_update: Gate = Gate(W_cell=None, nonlinearity=nonlinearities.tanh),
                 hid_init: ParamSpec | Layer = init.Constant(0.0), backwards: bool = False,
                 learn_init: bool = False, gradient_steps: int = -1, grad_clipping: float = 0,
                 unroll_scan: bool = False, precompute_input: bool = True, mask_input: Layer | None = None,
                 only_return_final: bool = False, **kwargs) -> None:
        super().__init__(incoming, {"hid_init": hid_init}, mask_input, backwards, learn_init, gradient_steps,
                         grad_clipping, unroll_scan, precompute_input, only_return_final, **kwargs)
        if num_units <= 0:
            raise ValueError(f"num_units must be positive, got {num_units}")
        self.num_units = num_units
        num_inputs = self._num_inputs()
        (self.W_in_to_updategate, self.W_hid_to_updategate, self.b_updategate,
         self.nonlinearity_updategate) = self._add_gate_params(updategate, "updategate", num_inputs)
        (self.W_in_to_resetgate, self.W_hid_to_resetgate, self.b_resetgate,
         self.nonlinearity_resetgate) = self._add_gate_params(resetgate, "resetgate", num_inputs)
        (self.W_in_to_hidden_update, self.W_hid_to_hidden_update, self.b_hidden_update,
         self.nonlinearity_hid) = self._add_gate_params(hidden_update, "hidden_update", num_inputs)
        self.hid_init = self._state_init(hid_init, (1, num_units), "hid_init")

    def get_output_for(self, inputs, **kwargs):
        input = self._time_major(inputs[0])
        num_batch = input.shape[1]
        W_in = pt.concatenate([self.W_in_to_resetgate, self.W_in_to_updategate, self.W_in_to_hidden_update],
                              axis=1)
        W_hid = pt.concatenate([self.W_hid_to_resetgate, self.W_hid_to_updategate, self.W_hid_to_hidden_update],
                               axis=1)
        b = pt.concatenate([self.b_resetgate, self.b_updategate, self.b_hidden_update], axis=0)
        if self.precompute_input:
            input = pt.dot(input, W_in) + b
        non_sequences = [W_hid]
        if not self.precompute_input:
            non_sequences += [W_in, b]

        def step(input_n, hid_previous, *args):
            hid_input = self._clip(pt.dot(hid_previous, W_hid))
            input_n = self._clip(input_n)
            if not self.precompute_input:
                input_n = pt.dot(input_n, W_in) + b
            resetgate = self.nonlinearity_resetgate(self._slice(hid_input, 0) + self._slice(input_n, 0))
            updategate = self.nonlinearity_updategate(self._slice(hid_input, 1) + self._slice(input_n, 1))
            hidden_update = self._slice(input_n, 2) + resetgate * self._slice(hid_input, 2)
            hidden_update = self.nonlinearity_hid(self._clip(hidden_update))
            return (1 - updategate) * hid_previous + updategate * hidden_update

        hid_init = self._initial_state(inputs, "hid_init", num_batch)
        (hid_out,) = self._recur(inputs, input, step, [hid_init], non_sequences)
        return self._output(hid_out)
