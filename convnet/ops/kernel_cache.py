"""The one rule by which convnet's compiled kernels are keyed in PyTensor's disk cache.

A kernel's key is the Op's class and props, the dtype it computes in, and a
digest of the source files of its op family (the Ops, their geometry and the backend code).
Editing any of those files changes the key, so a stale kernel is never loaded
and no version number needs bumping by hand.  The digest leaves out static
sizes: one compiled kernel serves every image size.

Examples
--------
>>> from convnet.ops.kernel_cache import source_digest
>>> source_digest("kernel_cache.py") == source_digest("kernel_cache.py")
True
"""
from functools import cache
from hashlib import sha256
from pathlib import Path

__all__ = ["source_digest", "kernel_cache_key"]

_OPS_DIR = Path(__file__).parent


@cache
def source_digest(*relative_paths: str) -> int:
    """A 48-bit digest of source files given relative to ``convnet/ops``."""
    digest = sha256()
    for path in relative_paths:
        digest.update(path.encode())
        digest.update((_OPS_DIR / path).read_bytes())
    return int.from_bytes(digest.digest()[:6], "big")


def kernel_cache_key(op, node, *sources: str) -> str:
    """PyTensor's cache key for the kernel of ``node``: the Op's class and
    props, the dtype of its first output and the digest of ``sources``.

    The props are described field by field (:func:`convnet.graph_cache._encode`),
    not pickled: a pickle of equal geometry objects differs from process to
    process, and so would the key, and no process would find another's kernels.
    """
    from .. import graph_cache

    return graph_cache._digest(("kernel", graph_cache._encode(op), node.outputs[0].dtype,
                                source_digest(*sources)))
