"""Solution sheets: every seed problem's sheet holds its auxiliary variables and every differential,
its boxed gradient equals gradient_of's at random inputs, and it compiles with pdflatex. The
Tutorial 12 sheet follows the worked solution line by line. The steps are recorded from the rules
(record=), and recording changes no result."""
from __future__ import annotations

import os
import re
import shutil

import pytest

import matdiff
from matdiff.calculus.canon import pullback
from matdiff.checking.check import check_equal
from matdiff.cli import main
from matdiff.sheets.derivation import derive
from matdiff.calculus.diff import differential
from matdiff.errors import MatdiffError
from matdiff.calculus.gradient import auto_names, gradient_of
from matdiff.printing.latex import latex_name, to_latex
from matdiff.sheets.document import build_sheet, compile_pdf
from matdiff.printing.text import to_text
from matdiff.language.problem import Problem
from matdiff.calculus.record import Recorder
from seed_cases import NET002, NET002_SHAPES, SEED000, SEED_BY_ID, SEEDS, TUTORIAL12

IDS = [c.id for c in SEEDS]

# the seeds of Tutorial 12 and exercise series 4 whose gradients must not change once a sheet is made
RECORDED_SEEDS = [SEED_BY_ID[i] for i in ("seed000-abstract", "seed000-unicode", "seed000-concrete", "seed000-wrt-V",
                                          "seed000-wrt-b", "seed001-graph", "seed001-norm", "seed001-norm-program")]

# CI installs pdflatex and sets MATDIFF_REQUIRE_PDFLATEX: there a missing TeX fails, never skips
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None and not os.environ.get("MATDIFF_REQUIRE_PDFLATEX"),
                                    reason="pdflatex is not installed (CI installs it)")


def sheet(src, wrt, shapes, notation="diag", check=False):
    p = Problem.of(src, shapes)
    tex, ds, reports = build_sheet(p, wrt, notation, check)
    return p, tex, ds[0], reports


@pytest.mark.parametrize("notation", ["diag", "hadamard"])
@pytest.mark.parametrize("case", SEEDS, ids=IDS)
def test_seed_sheet_content(case, notation):
    src, wrt, shapes = case.src, case.wrt, case.shapes
    p, tex, d, _ = sheet(src, wrt, shapes, notation)
    # the auxiliary variables (or the program's own steps) and every differential
    for q in d.equations:
        assert f"{latex_name(q.sym.name)} &= {to_latex(q.rhs)}" in tex
        if q.d is not None:
            assert f"d{latex_name(q.sym.name)} = {to_latex(q.d)}" in tex
    assert any(q.d is not None for q in d.equations)
    assert r"\boxed{g = " in tex or r"\boxed{\begin{aligned} g &= " in tex
    # the boxed gradient equals gradient_of's, at random inputs
    right = gradient_of(p, wrt).inlined[wrt]
    ok, err, _, _ = check_equal(d.g_inline, right, p.shaped, p.f)
    assert ok, f"{d.g_inline} != {right} (relative difference {err:.1e})"
    # the back-substitution ends in dW alone (how the gradient is read off: the tests below)
    last = d.backsub[-1].expr
    assert {n.of.name for n in _differentials(last)} == {wrt}


def seed_sheet(case, notation):
    return sheet(case.src, case.wrt, case.shapes, notation)


# The last line of "Reading off the gradient" is df = tr(g^T dW), g^T marked under a brace, for a
# vector or matrix variable; df = g dx, g under the brace, for a scalar one; and where the
# expression is too wide for one line, it is broken over several lines ending in `\bigr) \, dW`.
WIDE_READ_OFF = {("seed000-concrete", "diag"), ("seed003-graph", "diag"), ("seed003-graph", "hadamard"),
                 ("seed003-mlp-W1", "diag"), ("seed003-mlp-W1", "hadamard"), ("seed003-mlp-b1", "diag"),
                 ("seed003-mlp-b1", "hadamard"), ("seed003-mlp-W2", "diag")}


def read_off_cases(kind):
    """(case, notation) pairs whose read-off is `kind`: "matrix" (a vector or matrix variable, one
    line), "scalar" (a scalar variable, one line) or "wide" (broken over several lines)."""
    out = []
    for c in SEEDS:
        for notation in ("diag", "hadamard"):
            k = "wide" if (c.id, notation) in WIDE_READ_OFF else "scalar" if c.shapes[c.wrt] == () else "matrix"
            if k == kind:
                out.append(pytest.param(c, notation, id=f"{c.id}-{notation}"))
    return out


@pytest.mark.parametrize("case, notation", read_off_cases("matrix"))
def test_seed_sheet_reads_off_g_transpose_for_a_vector_or_matrix(case, notation):
    _, tex, _, _ = seed_sheet(case, notation)
    assert rf"}}_{{g^{{\top}}}} \, d{latex_name(case.wrt)}" in tex


@pytest.mark.parametrize("case, notation", read_off_cases("scalar"))
def test_seed_sheet_reads_off_g_for_a_scalar(case, notation):
    _, tex, _, _ = seed_sheet(case, notation)
    assert rf"}}_{{g}} \, d{latex_name(case.wrt)}" in tex


@pytest.mark.parametrize("case, notation", read_off_cases("wide"))
def test_seed_sheet_breaks_a_wide_read_off_over_lines(case, notation):
    _, tex, _, _ = seed_sheet(case, notation)
    assert rf"\bigr) \, d{latex_name(case.wrt)}" in tex


def test_every_seed_sheet_reads_off_its_gradient_one_way():
    """The three tests above cover every seed sheet, each in one of the three ways."""
    kinds = [read_off_cases(k) for k in ("matrix", "scalar", "wide")]
    assert sum(map(len, kinds)) == 2 * len(SEEDS) and all(kinds)


def _differentials(e):
    from matdiff.language.expr import Differential, postorder
    return [n for n in postorder(e) if isinstance(n, Differential)]


@needs_pdflatex
@pytest.mark.parametrize("case", SEEDS, ids=IDS)
def test_seed_sheet_compiles(case):
    src, wrt, shapes = case.src, case.wrt, case.shapes
    _, tex, _, reports = sheet(src, wrt, shapes, check=True)
    assert all(r.ok for r in reports)
    assert compile_pdf(tex).startswith(b"%PDF")


@needs_pdflatex
def test_hadamard_and_several_variables_compile():
    _, tex, _, _ = sheet(NET002, ["W", "U", "x"], NET002_SHAPES, "hadamard", check=True)
    assert tex.count(r"\section*{The gradient with respect to") == 3
    assert compile_pdf(tex).startswith(b"%PDF")


# issue 13: one problem per new word; the sheet says where abs and sign have no derivative and
# where arcsin and arccos are defined
WORD_SHEETS = [
    ("sum(abs(W x - y)) + ||x||_1", "x", dict(W=(3, 4), x=(4,), y=(3,)), ["has no derivative at $0$"]),
    ("sum(sign(W x) .* tan(W x))", "W", dict(W=(3, 4), x=(4,)), ["has no derivative at $0$"]),
    ("sum(asin(W x)) + acos(c^T x)", "x", dict(W=(3, 4), x=(4,), c=(4,)),
     [r"$\arccos$ and $\arcsin$ are defined on $[-1, 1]$"]),
    ("atan(c^T x) + sum(sinh(x)) + cosh(c^T x) + norm1(W) + norm2(W x)", "W", dict(W=(3, 4), x=(4,), c=(4,)),
     ["has no derivative at $0$"]),
]


@pytest.mark.parametrize("src, wrt, shapes, notes", WORD_SHEETS, ids=[w[0] for w in WORD_SHEETS])
def test_issue13_word_sheets(src, wrt, shapes, notes):
    p, tex, d, reports = sheet(src, wrt, shapes, check=True)
    assert all(r.ok for r in reports)
    for note in notes:
        assert note in tex
    right = gradient_of(p, wrt).inlined[wrt]
    ok, err, _, _ = check_equal(d.g_inline, right, p.shaped, p.f)
    assert ok, f"{d.g_inline} != {right} (relative difference {err:.1e})"
    if shutil.which("pdflatex") is not None or os.environ.get("MATDIFF_REQUIRE_PDFLATEX"):
        assert compile_pdf(tex).startswith(b"%PDF")


@needs_pdflatex
def test_powers_with_a_variable_exponent_compile():
    _, tex, _, reports = sheet("c^T (x .^ y) + sum(2 .^ x) + a^b", ["x", "y", "a"], None, check=True)
    assert all(r.ok for r in reports)
    assert "power with a variable exponent" in tex and r"x^{\circ y}" in tex and "a^{b}" in tex
    assert compile_pdf(tex).startswith(b"%PDF")


@needs_pdflatex
@pytest.mark.parametrize("src, wrt, shapes", [
    ("3^(A + 3 - (A + b))", "A", dict(A=(1, 1), b=(1, 1))),           # the variable cancels in the exponent
    ("vec(v B B)^vec(A + 3 - (A + b))", "A", dict(A=(1, 1), b=(1, 1), v=(1, 1), B=(1, 1))),
    ("exp(a^T x - x^T a)", "x", dict(a=(3,), x=(3,))),                  # ... in the differential
])
def test_a_differential_that_cancels_reads_off_zero(src, wrt, shapes):
    """Where every term of the differential cancels, the sheet reads off g = 0 (it raised an
    IndexError, summing no terms), its check agrees (finite differences give 0) and it compiles."""
    _, tex, d, reports = sheet(src, wrt, shapes, check=True)
    assert all(r.ok for r in reports)
    assert r"\boxed{g = 0}" in tex or r"\boxed{g = \mathbf{0}}" in tex, tex[tex.find("Result"):][:300]
    assert compile_pdf(tex).startswith(b"%PDF")


KRON_SHEETS = [
    ("tr(kron(A, X) B)", "X", dict(A=(2, 3), X=(3, 2), B=(6, 6))),
    ("tr(kron(X, X))", "X", dict(X=(3, 3))),
    ("c^T kron(x, y)", "y", dict(c=(6,), x=(3,), y=(2,))),
]


@needs_pdflatex
@pytest.mark.parametrize("src, wrt, shapes", KRON_SHEETS, ids=[c[0] for c in KRON_SHEETS])
def test_kron_sheet_names_the_block_sum_and_compiles(src, wrt, shapes):
    """The pull-back through ⊗ is cited by its identity (canon.pb_kron), the checks pass, and it compiles."""
    _, tex, _, reports = sheet(src, wrt, shapes, check=True)
    assert all(r.ok for r in reports)
    assert "Sum of the blocks" in tex and r"(\mathbf{1} \otimes  I )" in tex
    assert compile_pdf(tex).startswith(b"%PDF")


# ---- Tutorial 12, Question 1, line by line ---------------------------------------------------------

def test_tutorial12_follows_the_worked_solution():
    p, tex, d, reports = sheet(TUTORIAL12, "W", SEED000, check=True)
    graph = [(q.sym.name, to_text(q.rhs)) for q in d.equations]
    assert graph == [("z0", "W x"), ("z1", "z0 + b"), ("z2", "Phi(z1)"), ("Z3", "W + V"), ("z4", "Z3 z2"),
                     ("z5", "Psi(z4)"), ("y", "c^T z5")]
    diffs = [to_text(q.d) for q in d.equations]
    assert diffs == ["dW x", "dz0", "diag(Phi'(z1)) dz1", "dW", "dZ3 z2 + Z3 dz2", "diag(Psi'(z4)) dz4",
                     "c^T dz5"]
    assert "we neglect" in tex and "$db$" in tex and "$dV$" in tex
    back = [to_text(line.expr) for line in d.backsub]
    assert back == [
        "c^T dz5",
        "c^T diag(Psi'(z4)) dz4",
        "c^T diag(Psi'(z4)) (dZ3 z2 + Z3 dz2)",
        "c^T diag(Psi'(z4)) dW z2 + c^T diag(Psi'(z4)) Z3 diag(Phi'(z1)) dz1",
        "c^T diag(Psi'(z4)) dW z2 + c^T diag(Psi'(z4)) Z3 diag(Phi'(z1)) dz0",
        "c^T diag(Psi'(z4)) dW z2 + c^T diag(Psi'(z4)) Z3 diag(Phi'(z1)) dW x",
    ]
    assert [s.name for s in d.backsub[3].substituted] == ["z2", "Z3"]       # together, as the sheet does
    trace = [to_text(line.expr) for line in d.trace]
    assert trace[0].startswith("tr(c^T diag(Psi'(z4)) dW z2 + ")          # x = Tr(x)
    assert trace[1].count("tr(") == 2                                       # linearity
    assert trace[-1] == "tr(z2 c^T diag(Psi'(z4)) dW) + tr(x c^T diag(Psi'(z4)) Z3 diag(Phi'(z1)) dW)"
    assert [s.rule for s in d.trace[1].steps] == ["pb_add"]
    assert [s.rule for s in d.trace[-1].steps] == ["pb_matmul", "pb_matmul"]
    for words in ("linearity of the trace", "cyclic permutation", r"$x = \operatorname{tr}(x)$"):
        assert words in tex
    assert to_text(d.g) == "diag(Psi'(z4)) c z2^T + diag(Phi'(z1)) Z3^T diag(Psi'(z4)) c x^T"
    assert to_text(d.g_inline) == ("diag(Psi'((W + V) Phi(W x + b))) c Phi(W x + b)^T + diag(Phi'(W x + b)) "
                                   "(W + V)^T diag(Psi'((W + V) Phi(W x + b))) c x^T")
    assert reports[0].ok and r"\subsection*{Numerical check}" in tex


def test_tutorial12_hadamard_notation_uses_the_hadamard_swap():
    _, tex, d, _ = sheet(TUTORIAL12, "W", SEED000, "hadamard")
    assert to_text(d.equations[2].d) == "Phi'(z1) ∘ dz1"
    assert "pb_hadamard" in {s.rule for line in d.trace for s in line.steps}
    assert "Hadamard swap" in tex
    assert to_text(d.g) == "(Psi'(z4) ∘ c) z2^T + (Phi'(z1) ∘ Z3^T (Psi'(z4) ∘ c)) x^T"


def test_auxiliary_names_agree_with_the_gradient_printer():
    p = Problem.of(TUTORIAL12, SEED000)
    names = auto_names(p.f, list(gradient_of(p, "W").inlined.values()))
    d = derive(p, "W")
    mine = {d.inline[q.sym]: q.sym.name for q in d.equations[:-1]}
    assert all(mine[e] == n for e, n in names.items())          # z1 and z4 are the same nodes


def test_constant_equations_are_said_to_be_constant():
    _, tex, d, _ = sheet(TUTORIAL12, "V", SEED000)
    assert [q.sym.name for q in d.equations if q.d is None] == ["z0", "z1", "z2"]
    assert "do not depend on $V$: $dz_{0} = dz_{1} = dz_{2} = 0$" in tex


def test_softmax_cross_entropy_simplifies_as_the_sheet_does():
    p, tex, d, _ = sheet(NET002, "U", NET002_SHAPES)
    assert to_text(d.g) == "(sum(y) yhat - y) h^T"
    assert d.simplification and "Multiplying out" in tex


# ---- the recorder: steps from the rules themselves, results unchanged ----------------------------------

def test_differential_records_each_rule_with_its_identity():
    p = Problem.of("x^T inv(A) x")
    rec = Recorder()
    d = differential(p.f, {p.vars["A"]}, record=rec)
    assert d == differential(p.f, {p.vars["A"]})
    by_rule = {s.rule: s for s in rec}
    assert by_rule["d_inverse"].identity == "d(X^-1) = -X^-1 dX X^-1"
    assert by_rule["d_leibniz"].identity.startswith("d(A B C) = dA B C + A dB C + A B dC")
    assert rec[-1].before == p.f and rec[-1].after == d


def test_pullback_records_each_rule_with_its_identity():
    p = Problem.of("tr(A X B)")
    dF = differential(p.f, {p.vars["X"]})
    rec = Recorder()
    got = pullback(matdiff.language.algebra.ONE, dF, record=rec)
    assert got == pullback(matdiff.language.algebra.ONE, dF)
    assert [s.rule for s in rec] == ["pb_trace", "pb_matmul"]
    assert rec[1].identity.startswith("<M, A E B> = <A^T M B^T, E>")
    assert rec[0].after[0][1] == rec[1].before[1]


@pytest.mark.parametrize("case", RECORDED_SEEDS, ids=[c.id for c in RECORDED_SEEDS])
def test_gradients_are_the_same_after_sheets_were_made(case):
    src, wrt, shapes = case.src, case.wrt, case.shapes
    before = to_text(gradient_of(Problem.of(src, shapes), wrt).inlined[wrt])
    sheet(src, wrt, shapes)
    assert to_text(gradient_of(Problem.of(src, shapes), wrt).inlined[wrt]) == before


# ---- the command line ---------------------------------------------------------------------------------

def shape_args(shapes):
    return [a for n, s in shapes.items() for a in ("--shape", f"{n}={','.join(map(str, s))}")]


def test_cli_sheet_to_stdout_and_file(capsys, tmp_path):
    assert main(["sheet", TUTORIAL12, "--wrt", "W", *shape_args(SEED000)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(r"\documentclass") and out.rstrip().endswith(r"\end{document}")
    assert r"\usepackage{amsmath,amssymb}" in out
    path = tmp_path / "solution.tex"
    assert main(["sheet", TUTORIAL12, "--wrt", "W", "--wrt", "V", "-o", str(path), "--notation", "hadamard"]) == 0
    tex = path.read_text()
    assert tex.count(r"\section*{The gradient with respect to") == 2 and r"\odot" in tex


@needs_pdflatex
def test_cli_sheet_pdf(tmp_path, capsys):
    out = tmp_path / "t12.tex"
    assert main(["sheet", TUTORIAL12, "--wrt", "W", "--check", "-o", str(out), "--pdf"]) == 0
    assert (tmp_path / "t12.pdf").read_bytes().startswith(b"%PDF")
    assert out.read_text().startswith(r"\documentclass")
    assert "wrote" in capsys.readouterr().err


def test_cli_sheet_pdf_without_pdflatex(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["sheet", "x^T A x", "--wrt", "x", "--pdf", "-o", str(tmp_path / "s.pdf")]) != 0
    err = capsys.readouterr().err
    assert "pdflatex is not installed" in err and "Traceback" not in err
    assert not (tmp_path / "s.pdf").exists()


@needs_pdflatex
def test_a_latex_error_is_reported():
    with pytest.raises(MatdiffError, match=r"pdflatex failed:\n! Undefined control sequence"):
        compile_pdf("\\documentclass{article}\\begin{document}\\nosuchcommand\\end{document}")


def test_cli_sheet_bad_input(capsys):
    assert main(["sheet", "x^T A x", "--wrt", "q"]) == 2
    assert main(["sheet", "x^T A", "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert "q is not a variable" in err and "Traceback" not in err


def test_names_in_a_sheet_cannot_inject_latex():
    p = Problem.of("x^T A x")
    tex = build_sheet(p, "x")[0]
    assert not re.search(r"\\(input|include|write|openout|catcode)\b", tex)


def test_api_sheet():
    tex = matdiff.sheet(TUTORIAL12, "W", shapes=SEED000, notation="hadamard", check=True)
    assert tex.startswith(r"\documentclass") and r"\odot" in tex and "Numerical check" in tex
    with pytest.raises(MatdiffError, match="notation"):
        matdiff.sheet(TUTORIAL12, "W", notation="jacobian")


def test_a_derivation_too_long_for_a_sheet_is_refused_quickly():
    # a residual network's differential doubles with every layer when written out as sheets do
    layers = ["h0 = x"] + [f"h{i + 1} = tanh(W h{i}) + h{i}" for i in range(12)] + ["J = c^T h12"]
    with pytest.raises(matdiff.LimitError, match="too long for a solution sheet"):
        build_sheet(Problem.of("\n".join(layers)), "W")
    assert main(["sheet", "\n".join(layers), "--wrt", "W"]) == 2


def test_back_substitution_walks_each_line_once(monkeypatch):
    """A program's sheet walked every line once per symbol: a 2,000-line program took minutes."""
    from matdiff.sheets import derivation
    from matdiff.language.expr import postorder

    def nodes_walked(n):
        src = "\n".join(["h1 = x"] + [f"h{i} = h{i - 1} + x" for i in range(2, n + 1)] + [f"f = h{n}^T h{n}"])
        count = [0]

        def counting(root, done=()):
            out = postorder(root, done)
            count[0] += len(out)
            return out
        monkeypatch.setattr(derivation, "postorder", counting)
        matdiff.sheet(src, "x")
        return count[0]
    assert nodes_walked(200) < 6 * nodes_walked(50)      # 4 times the lines: linear ~4, once per symbol ~16
def test_a_long_program_sheet_keeps_to_the_time_limit():
    """Found by fuzzing: back-substitution walked the whole line once per symbol of the program
    (cubic: 29 s for 600 lines `h_i = h_{i-1} + x`) and never looked at the clock."""
    import time
    from matdiff.errors import LimitError
    from matdiff.limits import LIMITS
    src = "\n".join(["h0 = x"] + [f"h{i} = h{i - 1} + x" for i in range(1, 600)] + ["L = sum(h599)"])
    saved = LIMITS.max_seconds
    LIMITS.max_seconds = 3
    t = time.monotonic()
    try:
        tex = matdiff.sheet(src, "x")
        assert "h_{599}" in tex
    except LimitError as e:
        assert "longer than 3 s" in str(e)
    finally:
        LIMITS.max_seconds = saved
    assert time.monotonic() - t < 3 + 3


def test_sheet_of_a_function_that_does_not_depend_on_wrt_says_so():
    """`heta` for `theta`: J does not depend on W. Found by the fuzzer once rebuild refused None."""
    src = "z = W x\nh = relu(z)\nheta = U h\nJ = -y^T log(softmax(theta))"
    with pytest.raises(matdiff.DerivativeError, match="J does not depend on W: its gradient is 0"):
        matdiff.sheet(src, wrt="W")


@pytest.mark.parametrize("src, shapes", [
    ("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", dict(X=("n", "m"), y=("n",), w=("m",))),
    ("sum(log(1 + exp(-y .* (X w))))", dict(X=("n", "m"), y=("n",), w=("m",))),
])
def test_sheet_ends_with_the_elementwise_form(src, shapes):
    """diag(sigmoid'(X w)) (diag(sigmoid(-X w))^-1 (1 - y) - ...) is X^T (sigmoid(X w) - y) written
    elementwise: the sheet says so, citing the identities, and the form equals gradient_of's."""
    p, tex, d, _ = sheet(src, "w", shapes)
    assert d.g_elementwise is not None and len(to_text(d.g_elementwise)) < len(to_text(d.g_inline))
    ok, err, _, _ = check_equal(d.g_elementwise, gradient_of(p, "w").inlined["w"], p.shaped, p.f)
    assert ok, f"{d.g_elementwise} (relative difference {err:.1e})"
    assert "Written elementwise" in tex and to_latex(d.g_elementwise) in tex
    assert r"\operatorname{diag}(a )\, b  = a  \odot  b" in tex


@pytest.mark.parametrize("case", SEEDS, ids=IDS)
def test_elementwise_form_only_where_it_cancels(case):
    """Only where an elementwise identity shortens the answer (seed003-graph: sigmoid'(u) / sigmoid(u)
    = sigmoid(-u)), not for the notation alone: the diag notation is the sheets' own."""
    p, tex, d, _ = sheet(case.src, case.wrt, case.shapes)
    if d.g_elementwise is None:
        assert "Written elementwise" not in tex
    else:
        assert len(to_text(d.g_elementwise)) < len(to_text(d.g_inline))
        ok, err, _, _ = check_equal(d.g_elementwise, d.g_inline, p.shaped, p.f)
        assert ok, f"{d.g_elementwise} != {d.g_inline} (relative difference {err:.1e})"
