"""Run Lasagne and Theano code unmodified.

:func:`install` adds an importer that resolves ``import lasagne`` and every
``lasagne.*`` submodule to convnet's modules (``lasagne.layers`` *is*
:mod:`convnet.layers`), and ``import theano`` (``theano.tensor as T``,
``theano.sandbox.rng_mrg``, ...) to a Theano-compatibility namespace on
PyTensor, :mod:`convnet.legacy.theano`. A ``theano.X`` module the namespace
does not define is PyTensor's ``pytensor.X`` when that exists
(``theano.ifelse``, ``theano.tensor.extra_ops``, ...).

From the command line, ``python -m convnet.legacy SCRIPT [ARGS...]`` installs
the importer and runs ``SCRIPT`` as ``__main__`` with ``ARGS`` in
``sys.argv``, as ``python SCRIPT ARGS`` would::

    python -m convnet.legacy mnist.py cnn 5

The importer takes precedence over real ``lasagne`` or ``theano`` packages
installed beside convnet: :func:`uninstall` removes it.

Examples
--------
>>> import convnet.legacy
>>> convnet.legacy.install()
>>> import lasagne, convnet
>>> lasagne.layers is convnet.layers
True
>>> import theano.tensor as T
>>> T.nnet.relu(T.vector()).ndim
1
>>> convnet.legacy.uninstall()
"""
import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import sys

__all__ = ["install", "uninstall", "is_installed", "run_script", "ALIASES"]

ALIASES = {
    "lasagne": ("convnet",),
    "theano": ("convnet.legacy.theano", "pytensor"),
}
"""For each legacy top-level package, the packages its modules resolve to, in
order: ``lasagne.a.b`` is ``convnet.a.b``; ``theano.a.b`` is
``convnet.legacy.theano.a.b`` or else ``pytensor.a.b``."""


def _import_if_exists(name):
    """The module ``name``, or None when it (or a package above it) does not
    exist. Errors raised while the module runs propagate."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            return None
        raise


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias name as an already imported module (no copy: the
    alias and the target are the same object)."""

    def __init__(self, module):
        self.module = module
        self.target_spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # The import system set the module's __spec__ to the alias's spec;
        # the module keeps its own, so that importlib and relative imports
        # inside it see its real name.
        module.__spec__ = self.target_spec


class _LegacyFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top, _, rest = fullname.partition(".")
        if top not in ALIASES:
            return None
        candidates = [base + ("." + rest if rest else "") for base in ALIASES[top]]
        for candidate in candidates:
            module = _import_if_exists(candidate)
            if module is not None:
                return importlib.machinery.ModuleSpec(
                    fullname, _AliasLoader(module), is_package=hasattr(module, "__path__")
                )
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: convnet's legacy importer maps it to "
            f"{' or '.join(map(repr, candidates))}, and none exists",
            name=fullname,
        )


_finder = _LegacyFinder()


def install():
    """Resolve ``lasagne`` and ``theano`` imports to convnet and its
    Theano-compatibility namespace from now on in this interpreter
    (idempotent)."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall():
    """Remove the importer and the ``lasagne`` / ``theano`` names it put in
    ``sys.modules`` (objects already bound to them keep working)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n.partition(".")[0] in ALIASES]:
        if sys.modules[name].__name__ != name:  # an alias, not a real lasagne/theano module
            del sys.modules[name]


def is_installed():
    """Whether :func:`install` is in force."""
    return _finder in sys.meta_path


def run_script(path, args=()):
    """Run the Python file ``path`` as ``__main__`` with ``sys.argv`` set to
    ``[path, *args]`` and its folder first on ``sys.path``, as ``python path
    args`` does, with the legacy importer installed."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"convnet.legacy: no such script {path!r}")
    install()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")
