"""A child Python that compiles the CPU linker's nodes into the shared disk cache.

Numba compiles under one process-wide lock and spends much of a compilation in
Python (type inference), holding the GIL: compiled on a thread, a kernel that
takes 25 s slows the NumPy work of the first batches and blocks any other
compilation the main thread needs.  In a child process it does neither: the
child compiles each node into PyTensor's disk cache, and the parent then loads
the machine code from there in milliseconds (:mod:`convnet.linker`).

The child starts on the first node to compile and reads requests from its
standard input: a length-prefixed pickle of ``(node, signature)`` (a node
detached from its graph and the Numba types of its inputs).  It answers each
with a pickled ``None`` or an error message.  The child ends with its parent:
a script that is done leaves nothing running, and a node that was still
compiling compiles again in the next run.

Examples
--------
>>> from convnet.compile_process import CompileProcess
>>> worker = CompileProcess()
>>> worker.running
False
"""
import atexit
import os
import pickle
import struct
import subprocess
import sys

__all__ = ["CompileProcess"]

_LENGTH = struct.Struct("<Q")


def _write_frame(stream, data):
    """Write one length-prefixed message (pickled bytes) and flush."""
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream):
    """The next message, or raise EOFError when the other side has gone."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the compile process's pipe is closed")
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the compile process's pipe closed mid-message")
    return pickle.loads(data)


def _child_environment():
    """The parent's environment, with the caches the parent uses now, which
    may have been set in Python rather than in the environment."""
    import numba
    import pytensor

    env = dict(os.environ)
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={pytensor.config.base_compiledir}"]))
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    env["CONVNET_BACKGROUND_COMPILE"] = "0"  # the child compiles in its own main thread
    return env


class CompileProcess:
    """The parent's handle on the child; one request at a time (the linker's
    compiler thread is its only caller)."""

    def __init__(self):
        self._child = None
        self.failed = False  # the child could not start or died: compile in-process

    @property
    def running(self):
        return self._child is not None and self._child.poll() is None

    def compile(self, node, signature):
        """Compile ``node`` for ``signature`` in the child, into the disk cache.
        Where the child cannot be used (it failed, or the node does not pickle)
        nothing happens, and the caller's load compiles in-process.  A compile
        error is raised as a RuntimeError."""
        if self.failed:
            return
        try:
            request = pickle.dumps((node, signature), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001  (a node that does not pickle compiles in-process)
            return
        try:
            if not self.running:
                self._child = subprocess.Popen(
                    [sys.executable, "-m", "convnet.compile_process"], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_child_environment())
                atexit.register(self.close)
            _write_frame(self._child.stdin, request)
            error = _receive(self._child.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            self.failed = True
            self.close()
            return
        if error is not None:
            raise RuntimeError(error)

    def close(self):
        """Stop the child (at exit too, so that no compilation outlives the script)."""
        child, self._child = self._child, None
        if child is None:
            return
        atexit.unregister(self.close)
        for stream in (child.stdin, child.stdout):
            try:
                stream.close()
            except OSError:
                pass
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()


def main():
    """The child: compile each requested node until the parent closes the pipe."""
    # Replies go to a copy of the pipe; whatever a library prints goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = sys.stdin.buffer
    # The parent's batches run meanwhile, on NumPy where a node is not
    # compiled yet: they come first, and compiling takes the idle cores.
    if hasattr(os, "nice"):
        os.nice(10)

    import pytensor.link.numba.dispatch  # noqa: F401  (registers convnet's Numba Ops)

    from .linker import _node_function

    while True:
        try:
            node, signature = _receive(requests)
        except EOFError:
            return
        try:
            _node_function(node.op, node, signature)
            error = None
        except Exception as exception:  # noqa: BLE001  (reported to the parent)
            error = f"{type(exception).__name__}: {exception}"
        try:
            _write_frame(replies, pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            return


if __name__ == "__main__":
    main()
