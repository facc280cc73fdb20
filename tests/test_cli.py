"""`matdiff parse`: the expression as understood, every shape; bad input -> stderr, status 2, no traceback."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import matdiff
from matdiff.cli import main

SEED = "c^T Psi((W + V) Phi(W x + b))"


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def shapes_line(out: str) -> dict:
    """'W: n×n  x: n  → scalar' -> {'W': 'n×n', 'x': 'n', '→': 'scalar'}."""
    last = out.strip().splitlines()[-1]
    left, result = last.split("→")
    pairs = [p.split(": ") for p in left.split("  ") if p.strip()]
    return {**{n.strip(): s.strip() for n, s in pairs}, "→": result.strip()}


def test_parse_shows_the_expression_and_every_shape(capsys):
    status, out, err = run(capsys, "parse", SEED)
    assert status == 0 and err == ""
    assert out.splitlines()[0] == SEED
    assert "W: n×n" in out and "→ scalar" in out
    assert shapes_line(out) == {"W": "n×n", "V": "n×n", "c": "n", "x": "n", "b": "n", "→": "scalar"}


def test_parse_normalises_spellings(capsys):
    status, out, _ = run(capsys, "parse", "x' inv(A) x")
    assert status == 0
    assert out.splitlines()[0] == "x^T A^-1 x"
    assert shapes_line(out) == {"A": "n×n", "x": "n", "→": "scalar"}


def test_parse_a_program_file(capsys, tmp_path):
    prog = tmp_path / "net.txt"
    prog.write_text("# a network\nz = W x\nh = relu(z)\ntheta = U h\nJ = -y^T log(softmax(theta))\n",
                    encoding="utf-8")
    status, out, err = run(capsys, "parse", str(prog))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[:4] == ["z = W x", "h = relu(z)", "theta = U h", "J = -y^T log(softmax(theta))"]
    assert shapes_line(out) == {"W": "n×m", "U": "k×n", "x": "m", "y": "k", "→": "scalar"}


def test_parse_from_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y = W x\nL = y^T y\n"))
    status, out, err = run(capsys, "parse", "-")
    assert status == 0 and err == ""
    assert out.splitlines()[:2] == ["y = W x", "L = y^T y"]
    assert shapes_line(out) == {"W": "n×m", "x": "m", "→": "scalar"}


@pytest.mark.parametrize("argv, expected", [
    (["W x", "--shape", "W=2,3", "--shape", "x=3"],            {"W": "2×3", "x": "3", "→": "2"}),
    (["W x", "--shape", "W=2,3"],                              {"W": "2×3", "x": "3", "→": "2"}),
    (["W x", "--shape", "W=n,m"],                              {"W": "n×m", "x": "m", "→": "n"}),
    (["W x", "--shape", "W=n, 3"],                             {"W": "n×3", "x": "3", "→": "n"}),
    (["alpha x", "--shape", "alpha="],                         {"x": "n", "alpha": "scalar", "→": "n"}),
    (["A", "--shape", "A=2,3"],                                {"A": "2×3", "→": "2×3"}),
    (["x^T A x", "--shape", "x=5"],                            {"A": "5×5", "x": "5", "→": "scalar"}),
])
def test_declared_shapes(capsys, argv, expected):
    status, out, err = run(capsys, "parse", *argv)
    assert status == 0 and err == ""
    assert shapes_line(out) == expected


def test_declared_function(capsys):
    status, out, err = run(capsys, "parse", "sum(f(W x) ∘ f'(W x))", "--fn", "f")
    assert status == 0 and err == ""
    assert out.splitlines()[0] == "sum(f(W x) ∘ f'(W x))"
    assert shapes_line(out) == {"W": "n×m", "x": "m", "→": "scalar"}


def test_an_expression_of_numbers_only(capsys):
    status, out, _ = run(capsys, "parse", "1/2")
    assert status == 0
    assert out.splitlines() == ["1/2", "→ scalar"]


@pytest.mark.parametrize("argv, words", [
    (["parse", "x^T A x)"],                        ["line 1, column 8", "x^T A x)", "       ^", "unexpected ')'"]),
    (["parse", "tanhh(x)"],                        ["unknown function 'tanhh'", "did you mean tanh?"]),
    (["parse", "foo(x)"],                          ["unknown function 'foo'", "--fn foo"]),
    (["parse", "Phi + x"],                         ["the function Phi is used without an argument"]),
    (["parse", "kron(A)"],                         ["kron takes 2 arguments, got 1"]),
    (["parse", "A B", "--shape", "A=2,3", "--shape", "B=2,3"], ["cannot multiply A (2×3) by B (2×3)"]),
    (["parse", "x", "--shape", "x"],               ["--shape x: expected NAME=DIMS"]),
    (["parse", "x", "--shape", "=3"],              ["expected NAME=DIMS"]),
    (["parse", "x", "--shape", "x=0"],             ["a dimension is a positive integer or a name, got 0"]),
    (["parse", "x", "--shape", "x=1,2,3"],         ["at most two dimensions"]),
    (["parse", "x", "--shape", "x=a b"],           ["a dimension is a positive integer or a name"]),
    (["parse", "f(x)", "--fn", "f g"],             ["a function name is a word"]),
    (["parse", "program.txt"],                     ["no such file: program.txt"]),
    (["parse", "nets/program.txt"],                ["no such file: nets/program.txt"]),
    (["parse", ""],                                ["the input is empty"]),
])
def test_bad_input_is_reported_on_stderr_with_status_2(capsys, argv, words):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("matdiff: error: ")
    for w in words:
        assert w in err
    assert "Traceback" not in err


def test_a_parse_error_in_a_program_file_names_the_line(capsys, tmp_path):
    prog = tmp_path / "bad.txt"
    prog.write_text("z = W x\nh = relu(z $ 2)\nJ = sum(h)\n", encoding="utf-8")
    status, out, err = run(capsys, "parse", str(prog))
    assert status == 2 and out == ""
    assert "line 2, column 12" in err
    assert "h = relu(z $ 2)\n           ^" in err


def test_a_file_that_is_not_text(capsys, tmp_path):
    prog = tmp_path / "bad.txt"
    prog.write_bytes(b"\xff\xfe\x00x")
    status, _, err = run(capsys, "parse", str(prog))
    assert status == 2 and "cannot read" in err and "Traceback" not in err


def test_no_command_prints_help_and_fails(capsys):
    status, out, _ = run(capsys)
    assert status == 2
    assert "usage: matdiff" in out and "parse" in out


@pytest.mark.parametrize("argv, words", [
    (["--help"],                ["usage: matdiff", "parse", "examples:"]),
    (["parse", "--help"],       ["usage: matdiff parse", "EXPR_OR_FILE", "--shape", "--fn", "stdin"]),
])
def test_help(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    for w in words:
        assert w in out


def test_python_dash_m_matdiff_works_outside_the_repository(tmp_path):
    """The importable package (installed, or this checkout) runs from another directory:
    the grammar is found without the current directory's help."""
    package_parent = str(Path(matdiff.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": package_parent + os.pathsep + os.environ.get("PYTHONPATH", "")}
    prog = tmp_path / "prog.txt"
    prog.write_text("z = W x + b\nJ = c^T tanh(z)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "matdiff", "parse", SEED], cwd=tmp_path, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "W: n×n" in done.stdout and "→ scalar" in done.stdout
    done = subprocess.run([sys.executable, "-m", "matdiff", "parse", "prog.txt", "--shape", "W=2,3"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "W: 2×3" in done.stdout and "c: 2" in done.stdout
    done = subprocess.run([sys.executable, "-m", "matdiff", "parse", "tanhh(x)"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 2
    assert "unknown function 'tanhh'" in done.stderr and "Traceback" not in done.stderr


def test_version(capsys):
    import matdiff
    from matdiff.cli import main
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"matdiff {matdiff.__version__}"
