"""Layers, one family per module, re-exported here as in Lasagne
(``convnet.layers.Conv2DLayer``, ``convnet.layers.get_output``, ...)."""
from .base import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .helper import *  # noqa: F401,F403
from .input import *  # noqa: F401,F403
from .local import *  # noqa: F401,F403
from .merge import *  # noqa: F401,F403
from .noise import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .special import *  # noqa: F401,F403
from .summary import *  # noqa: F401,F403
from .transform import *  # noqa: F401,F403
