"""``theano.gpuarray``: Theano's libgpuarray backend, which convnet does not
use (its GPU path is JAX, chosen with ``convnet.config.set_device('cuda')``).
Code that checks ``theano.gpuarray.pygpu_activated`` takes its CPU branch."""

pygpu_activated = False
