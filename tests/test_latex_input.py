"""LaTeX input (issue 14, item 1): formulas as the course sheets write them parse to the same
Program as matdiff's own notation; LaTeX printed by matdiff.latex parses back to the same
expression (property-based); every LaTeX command that cannot be read gets a located error that
shows it; `$…$` and `--from latex` through every door; gradients of LaTeX input are right."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import matdiff
from helpers_calculus import matdiff_value
from matdiff.cli import main
from matdiff.errors import MatdiffError, ParseError, ShapeError, UnknownFunctionError
from matdiff.language.expr import Zero, postorder
from matdiff.language.latex_input import translate, wants_latex
from matdiff.language.shapes import shape_of
from matdiff.language.problem import Problem
from matdiff.printing.latex import to_latex
from seed_cases import GRAPH001, GRAPH003, MLP003, NET002, NET004, SEED000, TUTORIAL12
from test_properties import SETTINGS, any_expressions, batch_and_unvec_functions, n_examples


def same_program(latex: str, native: str, functions=()):
    a = matdiff.parse(latex, functions, syntax="latex")
    b = matdiff.parse(native, functions, syntax="matdiff")
    assert (a.defs, a.result, a.name) == (b.defs, b.result, b.name), (translate(latex).text, native)


# ---- the seed sheets' formulas, typed as the sheets have them -------------------------------------
# (copied from ../shared/seeds/*.txt: the tests never read that folder)

SEED_FORMULAS = [
    # Tutorial 12, Question 1
    (r"$$y = c^T \Psi((W + V)\Phi(Wx + b)),$$", "y = " + TUTORIAL12),
    # Tutorial 12: the auxiliary variables, as the solution's aligned block has them
    (r"$$\begin{aligned} z_0 &= Wx \\ z_1 &= z_0 + b \\ z_2 &= \Phi(z_1) \\ Z_3 &= W + V \\ "
     r"z_4 &= Z_3 z_2 \\ z_5 &= \Psi(z_4) \\ y &= c^T z_5. \end{aligned}$$",
     "z0 = W x\nz1 = z0 + b\nz2 = Phi(z1)\nZ3 = W + V\nz4 = Z3 z2\nz5 = Psi(z4)\ny = c^T z5"),
    # Mathematics for AI, tutorial 6: the network with softmax (the loss as the solution writes it)
    (r"$$\begin{aligned} z &= Wx \\ h &= \text{ReLU}(z) \\ \theta &= Uh \\ \hat{y} &= \text{softmax}(\theta) "
     r"\\ J &= -y^\top \log \hat{y} \end{aligned}$$", NET002.replace("theta", "θ")),
    # Lecture 10: the two-layer network (its \sigma_o is the sigmoid, the subscript naming the layer)
    (r"$$\begin{cases} z = W_1 x + b_1 \\ h = \sigma_o(z) \\ y = W_2 h + b_2 \\ "
     r"\mathcal{L} = \frac{1}{2} \|y - t\|^2 \end{cases}$$", NET004),
    # Machine Perception: the L-layer tanh MLP with L = 3 (layers as subscripts), and the scalar graph
    (r"$\mathbf{z}_1 = \tanh(\mathbf{W}_1 \mathbf{x} + \mathbf{b}_1) \\ "
     r"\mathbf{z}_2 = \tanh(\mathbf{W}_2 \mathbf{z}_1 + \mathbf{b}_2) \\ "
     r"\mathbf{z}_3 = \tanh(\mathbf{W}_3 \mathbf{z}_2 + \mathbf{b}_3) \\ "
     r"\mathcal{R} = \tfrac{1}{2} \left\| \mathbf{z}_3 - \mathbf{t} \right\|_2^2$", MLP003.replace("||^2", "||_2^2")),
    (r"$c_1 = \tanh(w_1 x_1 + w_2 x_2) \\ c_2 = \tanh(w_2x_2 + w_3x_3) \\ h_2 = \sigma(c_1 c_2) \\ y = \log(h_2)$",
     GRAPH003),
    # Exercise series 4: the small scalar graph
    (r"$h_1 = 2x \\ h_2 = 2h_1^2 \\ h_3 = h_1 + y \\ l = h_2 h_3$", GRAPH001),
    # the MLP with the layer index as a parenthesised superscript
    (r"$z^{(1)} = \tanh(W^{(1)} x + b^{(1)}) \\ z^{(2)} = \tanh(W^{(2)} z^{(1)} + b^{(2)}) \\ "
     r"z^{(3)} = \tanh(W^{(3)} z^{(2)} + b^{(3)}) \\ R = \frac12 \|z^{(3)} - t\|^2$", MLP003),
]


@pytest.mark.parametrize("latex, native", SEED_FORMULAS)
def test_seed_formulas_as_latex(latex, native):
    same_program(latex, native)


def test_softmax_loss_as_an_indexed_sum_has_the_same_gradient():
    """-\\sum_j y_j \\log \\hat{y}_j is -y^T log(yhat): factors carrying the index multiply entrywise."""
    latex = (r"$$\begin{aligned} z &= Wx \\ h &= \text{ReLU}(z) \\ \theta &= Uh \\ \hat{y} &= "
             r"\text{softmax}(\theta) \\ J &= - \sum_j y_j \log \hat{y}_j \end{aligned}$$")
    assert translate(latex).text.splitlines()[-1] == "J = -sum(y ∘ log(yhat))"
    shapes = dict(W=(4, 3), U=(5, 4), x=(3,), y=(5,))
    for wrt in ("W", "U", "x"):
        g = matdiff.derive_gradient(latex, wrt, shapes).inlined[wrt]
        h = matdiff.derive_gradient(NET002.replace("theta", "θ"), wrt, shapes).inlined[wrt]
        rng = np.random.default_rng(1)
        values = {n: rng.normal(size=s) for n, s in shapes.items()}
        assert np.allclose(matdiff_value(g, values), matdiff_value(h, values))


# ---- spellings: each LaTeX spelling and its matdiff twin ----------------------------------------

TWINS = [
    ("Wx", "W x"), ("W_1x", "W1 x"), ("W_{12} x", "W12 x"), (r"\mathrm{ab} x", "ab x"), ("x_i", "x_i"),
    (r"\delta_z", "δ_z"), (r"\mathbf{W}_1^\top", "W1^T"), (r"W_{1,2}", "W1_2"),
    (r"\operatorname{softmax}(Wx)", "softmax(W x)"), (r"\text{relu}(z)", "relu(z)"),
    (r"x^\top A x", "x^T A x"), (r"x^T A x", "x^T A x"), (r"x^{\mathsf T} A x", "x^T A x"),
    (r"x^{\intercal} A x", "x^T A x"), (r"x^{\top} A x", "x^T A x"), (r"A^{-1}", "inv(A)"), (r"A^{-T}", "A^-T"),
    (r"A^{-\top}", "A^-T"), (r"A^2", "A^2"), (r"A^{\circ 2}", "A .^ 2"), (r"x^{\circ \alpha}", "x .^ α"),
    (r"\frac{a}{b}", "a / b"), (r"\tfrac{1}{2} x^T x", "1/2 x^T x"), (r"\dfrac12 x^T x", "1/2 x^T x"),
    (r"\left( A + B \right) x", "(A + B) x"), (r"\bigl(A + B\bigr) x", "(A + B) x"),
    (r"\Big( A + B \Big) x", "(A + B) x"), (r"\left[ A + B \right] x", "(A + B) x"),
    (r"\|x\|_2^2", "||x||_2^2"), (r"\lVert X \rVert_F", "||X||_F"), (r"\left\| W x - y \right\|^2", "||W x - y||^2"),
    (r"\Vert x \Vert_1", "||x||_1"), (r"||x||^2 + ||X||_F", "||x||^2 + ||X||_F"), (r"\det(X)", "det(X)"), (r"\det X", "det(X)"), (r"\log\det X", "logdet(X)"),
    (r"\log \det(X)", "logdet(X)"), (r"\log(x)", "log(x)"), (r"\exp(x)", "exp(x)"), (r"\ln x", "log(x)"),
    (r"\operatorname{tr}(A X)", "tr(A X)"), (r"\mathrm{Tr}(AX)", "tr(A X)"), (r"\text{Tr}(A X)", "tr(A X)"),
    (r"\operatorname{tr} A^T X", "tr(A^T X)"), (r"\operatorname{diag}(x) y", "diag(x) y"),
    (r"A \circ B", "A ∘ B"), (r"A \odot B", "A ∘ B"), (r"A \oslash B", "A ./ B"), (r"A \otimes B", "A ⊗ B"),
    (r"A \cdot B", "A B"), (r"A \times B", "A B"), (r"\langle A, X \rangle", "tr(A^T X)"),
    (r"\langle a, x \rangle", "tr(a^T x)"), (r"\sum x", "sum(x)"), (r"\sum_i x_i", "sum(x)"),
    (r"\sum_{i=1}^n x_i", "sum(x)"), (r"\sum_{i=1}^{n} (y_i - t_i)^2", "sum((y - t) .^ 2)"),
    (r"\sum_{i,j} A_{ij} B_{ij}", "sum(A ∘ B)"), (r"\sum_i \sum_j A_{ij}", "sum(sum(A))"),
    (r"\sum_i x_i \cdot y_i", "sum(x ∘ y)"), (r"\sum_j \frac{y_j}{p_j}", "sum(y ./ p)"),
    (r"-\sum_k y_k \log p_k", "-sum(y ∘ log(p))"), (r"-\sum_j y_j \log \operatorname{softmax}(\theta)_j",
                                                      "-sum(y ∘ log(softmax(θ)))"), (r"\sum_i (Wx)_i", "sum(W x)"), (r"\|x\|^2_2", "||x||_2^2"), (r"\|X\|^2_F", "||X||_F^2"),
    (r"\frac{1}{2\sigma^2}\|y - Xw\|^2", "1 / (2 sigma^2) ||y - X w||^2"), (r"\sigma x", "sigma x"),
    (r"\sigma(Wx)", "sigmoid(W x)"), (r"\theta^T x", "θ^T x"), (r"\Phi(z)", "Phi(z)"), (r"\Psi'(z)", "Psi'(z)"),
    (r"\Phi'(z) \circ W^T v", "Phi'(z) ∘ W^T v"), (r"\mathbf{x}^T \mathbf{y}", "x^T y"),
    (r"\boldsymbol{\theta}^T \bm{x}", "θ^T x"), (r"\vec{x}^T \vec{y}", "x^T y"), (r"\mathbf{1}^T x", "𝟙^T x"),
    (r"\mathbb{1}^\top x", "𝟙^T x"), (r"\mathbf{1}_n^T x", "1_n^T x"), (r"\mathbf{I} + A", "I + A"),
    (r"I + A", "I + A"), (r"x^T \, A \; x \! \quad", "x^T A x"), (r"x^T~A x", "x^T A x"), ("0.5 x^T x", "0.5 x^T x"),
    (r"\frac{1}{2} x^T x", "1/2 x^T x"), (r"\hat{y} - y", "yhat - y"), (r"\bar{z}", "zbar"),
    (r"e^{-x}", "exp(-x)"), (r"\tanh^2(x)", "tanh(x) .^ 2"), (r"1 - \tanh^2(x)", "1 - tanh(x) .^ 2"),
    (r"\sqrt{x}", "sqrt(x)"),
    (r"y = W x", "y = W x"), (r"f(x) = x^T A x", "f = x^T A x"), (r"F(X, W) = XW", "F = X W"),
    (r"L(\theta) = \theta^T \theta", "L = θ^T θ"), (r"y = Wx + b. ", "y = W x + b"),
    (r"z = Wx \\ h = \sigma(z)", "z = W x\nh = sigmoid(z)"),
    (r"h = \tanh(Wx + b), \quad \hat{y} = v^\top h.", "h = tanh(W x + b)\nyhat = v^T h"),
    (r"\begin{align*} z &= Wx \\ h &= \sigma(z) \end{align*}", "z = W x\nh = sigmoid(z)"),
    (r"\operatorname{softmax}_{\text{rows}}(Z)", "softmax(Z, rows)"), (r"\operatorname{vec}(X)", "vec(X)"),
    (r"\operatorname{unvec}_{2 \times 3}(v)", "unvec(v, 2, 3)"), (r"\operatorname{unvec}_{n m \times k}(v)", "unvec(v, n m, k)"),
    ("% a comment\nx^T x", "x^T x"), (r"\ell = x^T x", "ell = x^T x"), (r"\frac{d}{2} x", "d / 2 x"), (r"x^T (A + B)^{-1} x", "x^T inv(A + B) x"), (r"(A B)'", "(A B)^T"),
]


@pytest.mark.parametrize("latex, native", TWINS)
def test_latex_spelling_reads_as_its_twin(latex, native):
    same_program(latex, native)


@pytest.mark.parametrize("delimited", [r"$x^\top A x$", r"$$x^\top A x$$", r"\(x^\top A x\)", r"\[x^\top A x\]",
                                       r"  $x^\top A x$ "])
def test_delimiters_make_it_latex_at_every_door(delimited):
    assert wants_latex(delimited, "auto")
    native = matdiff.parse("x^T A x")
    assert matdiff.parse(delimited).result == native.result
    assert Problem.of(delimited).f == Problem.of("x^T A x").f
    assert str(matdiff.gradient(delimited, wrt="x")) == str(matdiff.gradient("x^T A x", wrt="x"))


def test_syntax_parameter():
    assert not wants_latex(r"x^T A x", "auto")
    assert matdiff.parse(r"x^\top A x", syntax="latex").result == matdiff.parse("x^T A x").result
    with pytest.raises(ParseError):                # "matdiff" reads its own notation only: $ is no token
        matdiff.parse(r"$x^\top A x$", syntax="matdiff")
    with pytest.raises(MatdiffError, match="syntax is one of"):
        matdiff.parse("x", syntax="tex")
    for door in (matdiff.gradient, matdiff.jacobian, matdiff.hessian, matdiff.derive_gradient, matdiff.check):
        door(r"\frac12 x^\top x", "x", syntax="latex")
    assert matdiff.latex(r"\frac12 x^\top x", syntax="latex") == matdiff.latex("1/2 x^T x")
    assert matdiff.lambdify(r"$\frac12 x^\top x$", "x") is not None


# ---- LaTeX printed by matdiff.latex reads back as the same expression (property-based) ----------

def _values(shapes: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {n: 0.8 * rng.normal(size=s) if s else float(0.8 * rng.normal()) for n, s in shapes.items()}


@settings(max_examples=n_examples(300), **SETTINGS)
@given(g=st.one_of(any_expressions, batch_and_unvec_functions()))
def test_printed_latex_reads_back_as_the_same_expression(g):
    """A random expression, printed by matdiff.latex, parses back to the same expression: the same
    AST, or where the LaTeX cannot tell two forms apart (a/(b c) and a/b/c print alike; the zero
    matrix prints 0; a number broadcast in a sum), the same values at random inputs."""
    shapes = dict(g.vars)
    try:
        f = Problem.of(g.text, shapes).f
    except MatdiffError:
        assume(False)
    tex = matdiff.latex(f)
    # the zero matrix prints as 0: LaTeX cannot say its shape either
    assume(not any(isinstance(n, Zero) for n in postorder(f)))
    back = Problem.of(tex, shapes, syntax="latex").f
    if back == f:
        return
    # a bare I (A - A + I is I) prints without its size: where nothing else fixes it, it stays open
    assume(all(isinstance(d, int) for n in postorder(back) for d in shape_of(n)))
    for seed in (1, 2):
        values = _values(shapes, seed)
        want, got = matdiff_value(f, values), matdiff_value(back, values)
        assert np.allclose(np.broadcast_to(got, want.shape), want, rtol=1e-9, atol=1e-12, equal_nan=True), \
            (g.text, tex, str(f), str(back))


@pytest.mark.parametrize("src", [TUTORIAL12, "1/2 ||X W - Y||_F^2", "x^T A x / (x^T x)", "logdet(X) + tr(inv(X) A)",
                                 "sum(y ∘ log(softmax(W x)))", "Phi'(W x + b) ∘ W^T v", "α^β x",
                                 "x .^ y", "||x||_1 + norm1(X)", "abs(x)^T y"])
def test_printed_latex_round_trips(src):
    f = Problem.of(src).f
    assert Problem.of(to_latex(f), syntax="latex").f == f, to_latex(f)


def test_printed_program_round_trips():
    src = "z = W x + b\nh = tanh(z)\nJ = 1/2 ||h - t||^2"
    tex = matdiff.latex(src)
    assert tex.startswith(r"\begin{aligned}")
    a, b = Problem.of(tex, syntax="latex"), Problem.of(src)
    assert a.f == b.f and a.shaped.name == b.shaped.name == "J"


# ---- |X|: the determinant of a square matrix, the absolute value of a scalar --------------------

def test_bars_are_det_of_a_matrix_and_abs_of_a_scalar():
    assert Problem.of(r"$|X|$").f == Problem.of("det(X)").f
    assert Problem.of(r"$\log |X|$").f == Problem.of("logdet(X)").f
    assert Problem.of(r"$|a| x$", {"a": ()}).f == Problem.of("abs(a) x", {"a": ()}).f
    assert Problem.of(r"$\log|\alpha|$").f == Problem.of("log(abs(α))").f
    assert Problem.of(r"$\left| X \right| + \lvert Y \rvert$", {"X": (3, 3)}).f == Problem.of("det(X) + det(Y)", {"X": (3, 3)}).f


def test_bars_of_a_vector_are_refused_with_both_readings():
    with pytest.raises(ShapeError) as e:
        Problem.of(r"$|x| + 1$", {"x": ("n",)})
    message = str(e.value)
    assert "line 1, column 2" in message and "absolute value of each entry" in message and r"\|x\|" in message
    assert message.splitlines()[-1] == " ^"


# ---- what cannot be read: a located error that shows the command --------------------------------

@pytest.mark.parametrize("latex, why", [
    (r"\sum_i A_{ii}", "repeats an index"), (r"\sum_i A_{ij}", "some of its indices are summed"),
    (r"\sum_{i,j} A_{ij} B_{ji}", "indexed in different ways"), (r"\sum_i \sum_j x_i A_{ij} y_j", "indexed in different ways"),
    (r"\sum_i \log(1 + e^{-y_i w^\top x_i})", "does not carry it"), (r"\sum_i \mathbf{x}_i", "a bold name"),
])
def test_sums_that_are_no_sum_of_entries_are_refused(latex, why):
    """\\sum over indices is read only where it is the sum of all entries of an entrywise expression."""
    with pytest.raises(ParseError, match=why):
        matdiff.parse("$" + latex + "$")


UNSUPPORTED = [  # (the LaTeX, the command the message shows)
    (r"\int_0^1 x", r"\int"), (r"\partial f", r"\partial"), (r"\nabla_x f", r"\nabla"), (r"\lim x", r"\lim"),
    (r"\prod_i x_i", r"\prod"), (r"\max(x)", r"\max"), (r"\foo x", r"\foo"), (r"x \in \mathbb{R}^n", r"\in"),
    (r"\mathbb{R}", r"\mathbb{R}"), (r"\mathbb{E}[x]", r"\mathbb{E}"), (r"x \to y", r"\to"),
    (r"a \approx b", r"\approx"), (r"x_1 + \cdots + x_n", r"\cdots"), (r"\begin{bmatrix} a \\ b \end{bmatrix}", "{bmatrix}"),
    (r"\underbrace{x}_{a}", r"\underbrace"), (r"\sqrt[3]{x}", r"\sqrt[n]"), (r"x^\dagger", r"\dagger"),
    (r"a \pm b", r"\pm"), (r"x \Rightarrow y", r"\Rightarrow"), (r"\infty", r"\infty"),
    (r"\frac{d}{dx} x^T x", r"\frac{d}{d"), (r"\frac{\mathrm{d} f}{\mathrm{d} x}", r"\frac{\mathrm{d} f}{\mathrm{d"),
    (r"\Phi_1(z)", r"\Phi_1"), (r"\|\Phi w - t\|^2", r"\Phi without parentheses"),
    (r"\operatorname{CrossEntropy}(y, x)", "CrossEntropy"),
]


@pytest.mark.parametrize("latex, shown", UNSUPPORTED)
def test_unsupported_latex_gets_a_located_error(latex, shown):
    src = "$x + " + latex + "$"
    with pytest.raises(ParseError) as e:
        matdiff.parse(src)
    head, line, mark = str(e.value).splitlines()
    assert head.startswith("line 1, column ") and line == src and shown in head, head
    column = int(head.split("column ")[1].split(":")[0])
    assert mark == " " * (column - 1) + "^"
    assert src[column - 1:].startswith((shown.split("{")[0].split("[")[0], "\\", "^")), head


@pytest.mark.parametrize("latex, suggestion", [(r"\text{tanhh}(x)", "did you mean tanh"),
                                               (r"softmx(x)", "did you mean softmax"),
                                               (r"\mathrm{foo}(x)", "--fn foo")])
def test_a_misspelt_function_is_refused_not_multiplied(latex, suggestion):
    with pytest.raises(UnknownFunctionError, match=suggestion):
        matdiff.parse("$" + latex + "$")


def test_a_word_spaced_from_its_parenthesis_multiplies():
    same_program(r"\mathit{abc} \, (x + y)", "abc (x + y)")
    same_program(r"abc(x)", "a b c (x)")


def test_unknown_operatorname_is_an_unknown_function():
    with pytest.raises(UnknownFunctionError, match="--fn foo"):
        matdiff.parse(r"$\operatorname{foo}(x)$")
    assert matdiff.parse(r"$\operatorname{foo}(x)$", functions=["foo"]).result == matdiff.parse("foo(x)", ["foo"]).result


def test_parser_errors_point_into_the_latex():
    """An error found by matdiff's parser in the translation is located in the LaTeX, the reading shown."""
    src = r"$y = \operatorname{tr}(A, B)$"
    with pytest.raises(ParseError) as e:
        matdiff.parse(src)
    head, line, mark = str(e.value).splitlines()
    assert head.startswith("line 1, column 6: tr takes 1 argument") and "read as `y = tr(A, B)`" in head
    assert line == src and mark == "     ^"
    src = "$z = Wx \\\\\n  h = \\sigma(z) +$"
    with pytest.raises(ParseError) as e:
        matdiff.parse(src)
    assert str(e.value).startswith("line 2, column ")


@pytest.mark.parametrize("bad", [r"$x^$", r"$\frac{1}$", r"$(x$", r"$\|x$", r"$x_$", r"$\left( x$", "$\\$", r"$A +$",
                                 r"$\begin{foo} x \end{foo}$", r"${x$", r"$f(x) = $", r"$= x$", r"$$", r"$ % x$",
                                 r"$\sum$", r"$\log$", r"$x^{T}_1$", r"$\mathbf{}$", "$" + "(" * 500 + "x" + ")" * 500 + "$"])
def test_broken_latex_is_a_matdiff_error(bad):
    with pytest.raises(MatdiffError):
        matdiff.parse(bad)


# ---- gradients of LaTeX input, checked numerically ----------------------------------------------

@pytest.mark.parametrize("latex, wrt, shapes", [
    (r"$y = c^T \Psi((W + V)\Phi(Wx + b))$", "W", SEED000),
    (r"$\frac{1}{2}\|W_2 \tanh(W_1 x) - t\|^2$", "W1", {}),
    (r"$\log\det X - \operatorname{tr}(X^{-1} A)$", "X", {}),
    (r"$-y^\top \log \operatorname{softmax}(Wx)$", "W", {}),
    (r"$\langle A, X^\top X \rangle$", "X", {}),
])
def test_gradient_of_latex_input_is_right(latex, wrt, shapes):
    report = matdiff.check(latex, wrt, shapes)
    assert report.ok, str(report)


# ---- the command line --------------------------------------------------------------------------

def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_from_latex_and_dollars(capsys):
    status, out, err = run(capsys, "parse", "--from", "latex", r"y = c^T \Psi((W + V)\Phi(Wx + b))")
    assert status == 0 and out.splitlines()[0] == "y = c^T Psi((W + V) Phi(W x + b))", err
    status, out2, _ = run(capsys, "grad", "$y = c^T \\Psi((W + V)\\Phi(Wx + b))$", "--wrt", "W", "--check")
    status_native, native, _ = run(capsys, "grad", "y = " + TUTORIAL12, "--wrt", "W")
    assert status == 0 and out2.startswith(native.strip()) and "relative error" in out2
    status, out, err = run(capsys, "check", r"$\frac12 \|Ax - b\|^2$", "--wrt", "x", "--claim", r"$A^\top(Ax - b)$")
    assert status == 0 and "the claim is right" in out, err
    status, out, _ = run(capsys, "check", "--from", "latex", r"\frac12 \|Ax - b\|^2", "--wrt", "x", "--claim", "A^T A x")
    assert status == 1 and "WRONG" in out
    for command in ("diff", "jacobian", "hessian", "sheet"):
        status, out, err = run(capsys, command, "--from", "latex", r"\frac12 x^\top A x", "--wrt", "x")
        assert status == 0, (command, err)
    status, out, err = run(capsys, "grad", "--from", "latex", r"\frac12 x^\top x", "--wrt", "x", "--emit", "numpy")
    assert status == 0 and "def " in out, err


def test_cli_latex_errors(capsys):
    status, out, err = run(capsys, "parse", r"$\nabla_x f$")
    assert status == 2 and err.startswith("matdiff: error: line 1, column 2:") and r"\nabla" in err
    status, out, err = run(capsys, "parse", "--from", "matdiff", r"$x$")
    assert status == 2 and "Traceback" not in err


def test_shape_errors_point_into_the_latex():
    """A norm or a softmax keeps where it stands for inference's message: in the LaTeX, not its translation."""
    src = r"$\frac{1}{2}\left\| A X - B \right\|^2$"
    with pytest.raises(ShapeError) as e:
        Problem.of(src)
    head, line, mark = str(e.value).splitlines()
    assert head.startswith("line 1, column 13: ||A X - B|| of a matrix") and line == src and mark == " " * 12 + "^"
    src = "$z = W x \\\\\n J = \\operatorname{logsumexp}(Z)$"
    with pytest.raises(ShapeError) as e:
        Problem.of(src, {"Z": (3, 4)})
    assert str(e.value).startswith("line 2, column 6: logsumexp needs a vector")
    assert str(e.value).splitlines()[-1] == " " * 5 + "^"


@pytest.mark.parametrize("src", [r"x^\top A x", r"\frac{1}{2} x^T x", r"\mathbf{x}^T x", r"\operatorname{tr}(A)"])
def test_latex_commands_in_matdiff_notation_are_refused(src):
    """Outside $…$ a LaTeX command is never a name (`x^\\top` was x to the power `top`)."""
    with pytest.raises(ParseError, match="is LaTeX, not matdiff's notation"):
        matdiff.parse(src)
    assert matdiff.parse(src, syntax="latex").result == matdiff.parse("$" + src + "$").result
    assert matdiff.parse(r"\theta^T x + \alpha_1").result == matdiff.parse("θ^T x + α_1").result


def test_a_subscripted_sigma_is_the_sigmoid_and_says_so():
    """The lecture's \\sigma_o(z): the sigmoid, the subscript naming the layer; a note says so, and
    a declared function of that name wins."""
    with pytest.warns(matdiff.MatdiffWarning, match="σ_o.*read as the sigmoid"):
        assert matdiff.parse(r"$\sigma_o(z)$") == matdiff.parse("sigmoid(z)")
    declared = matdiff.parse(r"$\sigma_o(z)$", functions=["σ_o"])
    assert declared != matdiff.parse("sigmoid(z)") and declared == matdiff.parse("σ_o(z)", functions=["σ_o"])
    g = matdiff.check(r"$\frac{1}{2}\|\sigma_h(Wx) - t\|^2$", "W")
    assert g.ok
