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
from seed_cases import SOFTMAX_NET, TUTORIAL12


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
    status, out, err = run(capsys, "parse", TUTORIAL12)
    assert status == 0 and err == ""
    assert out.splitlines()[0] == TUTORIAL12
    assert "W: n×n" in out and "→ scalar" in out
    assert shapes_line(out) == {"W": "n×n", "V": "n×n", "c": "n", "x": "n", "b": "n", "→": "scalar"}


def test_parse_normalises_spellings(capsys):
    status, out, _ = run(capsys, "parse", "x' inv(A) x")
    assert status == 0
    assert out.splitlines()[0] == "x^T A^-1 x"
    assert shapes_line(out) == {"A": "n×n", "x": "n", "→": "scalar"}


def test_parse_a_program_file(capsys, tmp_path):
    prog = tmp_path / "net.txt"
    prog.write_text(f"# a network\n{SOFTMAX_NET}\n", encoding="utf-8")
    status, out, err = run(capsys, "parse", str(prog))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[:4] == SOFTMAX_NET.splitlines()
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
    (["parse", "tanhh(x)"],                        ["unknown function 'tanhh'", "did you mean tanh"]),
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
    done = subprocess.run([sys.executable, "-m", "matdiff", "parse", TUTORIAL12], cwd=tmp_path, env=env,
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


# ---- issue 11.5 and 11.6: no traceback from the command line's arguments and input ----

@pytest.mark.parametrize("dims, words", [
    ("x=²", ["x: a dimension is a positive integer or a name, got '²'"]),
    ("x=٣", ["got '٣'"]),                                   # a digit to str.isdigit, not to matdiff
    ("x=" + "9" * 5000, ["a dimension is at most 1,000,000,000", "a number of 5,000 digits"]),
    ("x=10000000000", ["a dimension is at most 1,000,000,000", "got 10,000,000,000"]),
    ("x=0", ["a dimension is a positive integer or a name, got 0"]),
])
def test_a_dimension_that_is_neither_a_name_nor_a_positive_integer(capsys, dims, words):
    status, out, err = run(capsys, "parse", "x^T x", "--shape", dims)
    assert status == 2 and out == ""
    for w in words:
        assert w in err
    assert len(err) < 500                                   # the 5,000 digits are not echoed


def test_ascii_dimensions_still_read_as_numbers(capsys):
    status, out, _ = run(capsys, "parse", "W x", "--shape", "W= 2 ,1000000000")
    assert status == 0
    assert shapes_line(out) == {"W": "2×1000000000", "x": "1000000000", "→": "2"}


def test_a_number_of_5000_digits_is_located(capsys):
    number = "1234567890" * 500
    status, out, err = run(capsys, "grad", f"x^T x * {number}", "--wrt", "x")
    assert status == 2 and out == ""
    assert "line 1, column 9: a number of 5,000 digits" in err and "at most 300 digits" in err
    assert "x^T x * 1234" in err and "\n        ^" in err


@pytest.mark.parametrize("expr", ["x^T x * ((10^60)^60)^60", f"x^T x * {'9' * 200} * {'9' * 200}",
                                  f"x^T x / {'7' * 250}^2", f"x^T x * (10^250)^{{3/2}}",
                                  f"sum((x .^ {'9' * 200}) .^ {'9' * 200})"])
def test_a_number_folded_past_300_digits_is_refused(capsys, expr):
    """Numbers written within the bound but multiplied or raised past it: a LimitError, before the
    ((10^60)^60)^60 = 10^216000 is computed, and never a traceback from printing it."""
    status, out, err = run(capsys, "grad", expr, "--wrt", "x")
    assert status == 2 and out == ""
    assert err.startswith("matdiff: error: ") and "at most 300 digits" in err


@pytest.mark.parametrize("where", ["a directory", "a missing folder", "under a file", "read-only"])
def test_sheet_output_that_cannot_be_written(capsys, tmp_path, where):
    if where == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes a read-only file")
        target = tmp_path / "sheet.tex"
        target.write_text("")
        target.chmod(0o444)
    else:
        (tmp_path / "file").write_text("")
        target = {"a directory": tmp_path, "a missing folder": tmp_path / "no" / "sheet.tex",
                  "under a file": tmp_path / "file" / "sheet.tex"}[where]
    status, out, err = run(capsys, "sheet", "x^T x", "--wrt", "x", "-o", str(target))
    assert status == 2 and out == ""
    assert err.startswith(f"matdiff: error: -o {target}: cannot write the sheet there: ")
    reason = {"a directory": "Is a directory", "a missing folder": "No such file or directory",
              "under a file": "Not a directory", "read-only": "Permission denied"}[where]
    assert reason in err


def test_sheet_output_written(capsys, tmp_path):
    target = tmp_path / "sheet.tex"
    status, out, err = run(capsys, "sheet", "x^T x", "--wrt", "x", "-o", str(target))
    assert status == 0 and out == "" and f"wrote {target}" in err
    assert "\\documentclass" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, status, words", [
    (["check", "-logdet(X)", "--wrt", "X", "--claim", "-X^-T"], 0, ["the claim is right"]),
    (["check", "logdet(X)", "--wrt", "X", "--claim", "-X^-T"], 1, ["the claim is WRONG"]),
    (["check", "-x^T x", "--wrt", "x", "--claim", "-2 x"], 0, ["the claim is right"]),
    (["check", "-x^T x", "--wrt", "x", "--claim", "-2x"], 0, ["the claim is right"]),
    (["check", "-x^T x", "--wrt", "x", "--claim=-2x"], 0, ["the claim is right"]),
    (["check", "x^T A x", "--wrt", "x", "--claim", "-2 A x"], 1, ["the claim is WRONG"]),
    (["parse", "-x^T", "--shape", "x=3"], 0, ["-x^T", "x: 3  → 1×3"]),
    (["parse", "-X^-T"], 0, ["-X^-T", "X: n×n  → n×n"]),
    (["parse", "--shape", "x=3", "--", "-x"], 0, ["-x", "x: 3  → 3"]),
    (["grad", "-x^T x", "--wrt", "x"], 0, ["∂f/∂x = -2 x"]),
])
def test_values_that_start_with_a_minus(capsys, argv, status, words):
    """An expression often starts with '-': as the value of --claim (or any option) and as the
    expression itself, it is read as such, not as an unknown option."""
    got, out, err = run(capsys, *argv)
    assert got == status, err
    for w in words:
        assert w in out


def test_a_missing_option_value_is_still_an_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["check", "x^T x", "--wrt", "x", "--claim", "--check"])
    assert done.value.code == 2
    assert "--claim: expected one argument" in capsys.readouterr().err


def test_out_of_memory_is_a_message(capsys, monkeypatch):
    import matdiff.api

    def huge(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(matdiff.api, "understand", huge)
    status, out, err = run(capsys, "parse", "x")
    assert status == 2 and out == ""
    assert err.startswith("matdiff: error: out of memory")


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_input_past_the_length_limit_is_refused_by_its_start(capsys, tmp_path, monkeypatch, how):
    """A 21-character input with --limit length=20 is refused; one of 20 is read whole."""
    from matdiff.limits import LIMITS
    monkeypatch.setattr(LIMITS, "max_length", LIMITS.max_length)     # main() sets it for the process
    for text in ("x + y + z + www + vv", "x + y + z + www + vvv"):
        assert len(text) in (20, 21)
        if how == "file":
            (tmp_path / "p.txt").write_text(text, encoding="utf-8")
            source = str(tmp_path / "p.txt")
        else:
            monkeypatch.setattr(sys, "stdin", io.StringIO(text))
            source = "-"
        status, out, err = run(capsys, "parse", source, "--limit", "length=20")
        if len(text) == 20:
            assert status == 0 and out.splitlines()[0] == text, err
        else:
            assert status == 2 and out == ""
            where = "standard input" if how == "stdin" else source
            assert f"{where} is longer than 20 characters (the limit is 20" in err


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_a_50_mb_input_is_refused_without_reading_it_all(tmp_path, how):
    """Issue 11.6: a 400 MB input peaked at 800 MB before it was refused. Only the first
    max_length + 1 characters are read: a 50 MB input costs no more memory than a small one."""
    big = tmp_path / "big.txt"
    with open(big, "w", encoding="utf-8") as f:
        line = "x + " * 1000 + "\n"
        for _ in range(50_000_000 // len(line)):
            f.write(line)
    assert big.stat().st_size >= 49_000_000
    args = [sys.executable, "-m", "matdiff", "parse", str(big) if how == "file" else "-"]
    probe = ("import resource, subprocess, sys\n"
             f"args = {args!r}\n"
             f"stdin = open({str(big)!r}, 'rb') if {how == 'stdin'} else subprocess.DEVNULL\n"
             "done = subprocess.run(args, stdin=stdin, capture_output=True, text=True)\n"
             "print(done.returncode)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"   # KB on Linux
             "print(done.stderr)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    status, peak_kb, err = out.stdout.split("\n", 2)
    assert status == "2", err
    assert "is longer than 100000 characters" in err and "Traceback" not in err
    assert int(peak_kb) < 80_000, f"peak {int(peak_kb) // 1000} MB for a 50 MB input"


@pytest.mark.parametrize("value", ["nan", "-inf", "0", "-3"])
def test_a_limit_that_is_not_positive_is_refused(capsys, monkeypatch, value):
    from matdiff.limits import LIMITS
    before = LIMITS.max_seconds
    monkeypatch.setattr(LIMITS, "max_seconds", before)          # main() sets it for the process
    status, out, err = run(capsys, "parse", "x", "--limit", f"seconds={value}")
    assert status == 2 and out == ""
    assert f"--limit seconds={value}: a limit is positive" in err
    assert LIMITS.max_seconds == before


def test_a_file_with_a_byte_order_mark(capsys, tmp_path):
    prog = tmp_path / "p.txt"
    prog.write_bytes("\ufeffz = W x\nJ = sum(z)\n".encode("utf-8"))
    status, out, err = run(capsys, "parse", str(prog))
    assert status == 0, err
    assert out.splitlines()[:2] == ["z = W x", "J = sum(z)"]


def test_printed_answer_is_the_same_in_every_process():
    """`Z1 = W x + b` was reported for `z1 = W x + b` in 1 of 3 runs; the bytes matdiff prints are
    the same under every hash seed (the capital was a display's, capitalising its first line)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outs = set()
    for seed in ("0", "1", "7", "29"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root}
        r = subprocess.run([sys.executable, "-m", "matdiff", "grad", "c^T Psi((W + V) Phi(W x + b))", "--wrt", "W"],
                           capture_output=True, env=env, timeout=60)
        assert r.returncode == 0
        outs.add(r.stdout)
    assert len(outs) == 1
    assert outs.pop().decode().splitlines() == [
        "z1 = W x + b", "z4 = (W + V) Phi(z1)",
        "∂f/∂W = (Psi'(z4) ∘ c) Phi(z1)^T + (Phi'(z1) ∘ (W + V)^T (Psi'(z4) ∘ c)) x^T"]
