"""The estimator's progress bar: shown on a terminal, silent in log files."""
import io
import sys

from .conftest import make_blobs, mlp


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys):
    X, y = make_blobs(n=60)
    mlp(max_epochs=2, verbose=1).fit(X, y)
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "batch" not in captured.err
    assert "train loss" in captured.out  # the epoch table is still printed


def test_progress_bar_on_a_terminal(monkeypatch, capsys):
    X, y = make_blobs(n=60)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    mlp(max_epochs=1, verbose=1).fit(X, y)
    assert "epoch 1" in terminal.getvalue() and "batch" in terminal.getvalue()
    terminal.truncate(0)
    mlp(max_epochs=1, verbose=0).fit(X, y)
    assert terminal.getvalue().strip("\x00") == ""
