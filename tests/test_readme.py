"""The README's examples, run as a newcomer would run them, with the output the README prints.

Every `$ matdiff ...` line in a fenced block runs in bash (so `$'a\\nb'` quoting works) as
`python -m matdiff ...`, in a temporary directory, and its standard output and error together
must be the lines the README shows under it; a line `...` stands for any lines, as in doctest.
Commands that start a server, install, or need a tool that is missing are left out (and said
so in the skip). Every `>>>` example runs as a doctest (ELLIPSIS). The outputs are matdiff's
own printing of derived answers, so this test keeps the README honest; the answers' correctness
is tested numerically elsewhere (test_seeds, test_corpus, test_textbook).
"""
from __future__ import annotations

import doctest
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)


def fenced_blocks() -> list:
    """(line number, language, text) of every fenced block, indentation removed."""
    text = README.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        indent = len(m.group(1))
        body = "".join(line[indent:] + "\n" for line in m.group(3).splitlines())
        out.append((text.count("\n", 0, m.start()) + 1, m.group(2), body))
    return out


def shell_examples() -> list:
    """(line, command, expected output lines) for each `$ matdiff` line of the README."""
    out = []
    for line, lang, body in fenced_blocks():
        if lang:
            continue
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:]
            j = i + 1
            while command.endswith("\\") and j < len(lines):     # a command continued on the next line
                command = command[:-1] + " " + lines[j].strip()
                j += 1
            k = j
            while k < len(lines) and not lines[k].startswith("$ "):
                k += 1
            out.append((line + 1 + i, command, lines[j:k]))
            i = k
    return out


def why_not_run(command: str) -> str | None:
    if not command.startswith("matdiff "):
        return "not a matdiff command (pip, curl)"
    if command.startswith("matdiff serve"):
        return "starts a server (tests/test_web_api.py and test_web_page.py cover it)"
    if "--pdf" in command and shutil.which("pdflatex") is None:
        return "needs pdflatex"
    return None


def matches(expected: list, got: list) -> bool:
    """`got` is `expected`, where a line `...` (any indentation) stands for any lines."""
    pattern = "".join(r"(?:.*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n" for line in expected)
    return re.fullmatch(pattern, "".join(line + "\n" for line in got)) is not None


SHELL = shell_examples()


def test_the_readme_has_its_examples():
    """The parser above finds what it should: a change of the README's form must not empty this test."""
    commands = [c for _, c, _ in SHELL]
    assert sum(why_not_run(c) is None for c in commands) >= 12
    assert any(c.startswith("matdiff grad 'c^T Psi((W + V) Phi(W x + b))' --wrt W --check") for c in commands)
    assert sum(">>>" in body for _, lang, body in fenced_blocks() if lang == "python") >= 2


@pytest.mark.parametrize("line, command, expected", SHELL, ids=[f"README:{ln}" for ln, _, _ in SHELL])
def test_shell_example(line, command, expected, tmp_path):
    reason = why_not_run(command)
    if reason:
        pytest.skip(reason)
    python = f"{sys.executable} -m matdiff"
    run = subprocess.run(["bash", "-c", python + command[len("matdiff"):] + " 2>&1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    got = run.stdout.rstrip("\n").splitlines()
    assert matches(expected, got), f"README line {line}: {command}\n--- README\n" + "\n".join(expected) + \
        "\n--- matdiff printed\n" + "\n".join(got)


PYTHON = [(line, body) for line, lang, body in fenced_blocks() if lang == "python" and ">>>" in body]


@pytest.mark.parametrize("line, body", PYTHON, ids=[f"README:{ln}" for ln, _ in PYTHON])
def test_python_example(line, body):
    import matdiff                                      # as the README's first Python block does
    test = doctest.DocTestParser().get_doctest(body, {"matdiff": matdiff}, f"README:{line}", str(README), line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"README line {line}: a doctest failed (its output is above)"
