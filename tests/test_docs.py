"""The Sphinx documentation builds without a single warning."""
import subprocess
import sys
from pathlib import Path

import pytest

# A full Sphinx build imports every module.
pytestmark = pytest.mark.slow

DOCS = Path(__file__).parents[1] / "docs"


def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
