"""Where convnet's graphs run, and the default float type.

convnet makes ``float32`` the default ``floatX`` (PyTensor's own default is
``float64``) unless the user chose one in ``$PYTENSOR_FLAGS``, ``$THEANO_FLAGS``
or ``~/.theanorc``.
"""
import os
import re

import pytensor

__all__ = ["floatX_chosen_by_user", "apply_default_floatX"]


def _theanorc_paths():
    return [os.path.expanduser("~/.theanorc"), os.path.expanduser("~/.pytensorrc")]


def floatX_chosen_by_user():
    """Return True when the user set ``floatX`` in flags or an rc file."""
    for var in ("PYTENSOR_FLAGS", "THEANO_FLAGS"):
        if re.search(r"(^|,)\s*floatX\s*=", os.environ.get(var, "")):
            return True
    for path in _theanorc_paths():
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                if re.search(r"^\s*floatX\s*=", f.read(), flags=re.MULTILINE):
                    return True
    return False


def apply_default_floatX():
    """Make ``float32`` PyTensor's ``floatX`` unless the user chose one."""
    if not floatX_chosen_by_user():
        pytensor.config.floatX = "float32"


apply_default_floatX()
