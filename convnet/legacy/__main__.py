"""``python -m convnet.legacy SCRIPT [ARGS...]``: run a Lasagne/Theano script
with ``lasagne`` and ``theano`` resolved to convnet (see :mod:`convnet.legacy`)."""
import sys

from . import run_script

USAGE = "usage: python -m convnet.legacy SCRIPT [ARGS...]"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    try:
        run_script(argv[0], argv[1:])
    except FileNotFoundError as e:
        if str(e).startswith("convnet.legacy"):
            print(f"{e}\n{USAGE}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
