"""Help texts reflow to the terminal's width instead of breaking where the docstrings do."""
import subprocess
import sys

from conftest import ROOT


def help_text(*args, columns: int) -> str:
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", *args, "--help"], capture_output=True, text=True,
                          cwd=ROOT, env={"COLUMNS": str(columns), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_reflows_to_a_wide_terminal():
    wide = help_text(columns=220)
    # serve-judge's docstring spans four source lines; on a wide terminal its listing takes two
    line = next(x for x in wide.splitlines() if "serve-judge" in x)
    assert "a chat judge on POST /v1/chat/completions, a completion-style one" in line
    detail = help_text("serve-judge", columns=220)
    assert "the way it was trained: a chat judge on POST /v1/chat/completions, a completion-style one (judge.chat: " \
           "false) on POST /v1/completions" in detail


def test_help_reflows_to_a_narrow_terminal():
    narrow = help_text("score", columns=80)
    assert max(map(len, narrow.splitlines())) <= 80
    assert "Score one RM card on one benchmark" in narrow
