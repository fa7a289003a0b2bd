"""Layers, one family per module, re-exported here as in Lasagne
(``convnet.layers.Conv2DLayer``, ``convnet.layers.get_output``, ...)."""
from .base import *  # noqa: F401,F403
from .helper import *  # noqa: F401,F403
from .input import *  # noqa: F401,F403
