"""Issue 13, items 1 and 2: the ones vector and matrix, and broadcasting.

Every problem here is written the way users write it and compared with the same function
written by hand in NumPy: the gradient against finite differences of the hand-written
function, the Jacobian and Hessian against finite differences of matdiff's own gradient and
value, the SymPy result against matdiff's evaluator (tests/helpers_calculus.py evaluates SymPy
independently), and the generated NumPy code against the same (JAX and PyTorch: the text
compiles). The readings (which `1` is the ones vector, what broadcasts) are tested by shape.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import matdiff
from conftest import S
from helpers_calculus import (
    Case, draw_all, fd_gradient, matdiff_value, max_rel_err, sympy_evaluate, to2d,
)
from matdiff.codegen.generate import emit
from matdiff.errors import MatdiffError, ShapeError
from matdiff.language.expr import Ones, postorder
from matdiff.language.problem import Problem
from matdiff.printing.text import to_text

N, M, K = 4, 3, 2
ONES = np.ones(N)


def _center(n):
    return np.eye(n) - np.ones((n, n)) / 3


CASES = [
    Case("ones-sum", "1^T x", "x", dict(x=(N,)), lambda x: x.sum()),
    Case("ones-outer", "c^T x 1^T d", "x", dict(c=(N,), x=(N,), d=(M,)),
         lambda c, x, d: (c @ x) * d.sum()),
    Case("ones-bias", "||X W + 1 b^T - Y||_F^2", "b", dict(X=(N, M), W=(M, K), b=(K,), Y=(N, K)),
         lambda X, W, b, Y: np.sum((X @ W + np.outer(np.ones(N), b) - Y) ** 2)),
    Case("ones-both-sides", "1^T X 1", "X", dict(X=(N, M)), lambda X: X.sum()),
    Case("centering", "c^T (I - 1/3 1 1^T) x", "x", dict(c=(N,), x=(N,)),
         lambda c, x: c @ _center(N) @ x),
    Case("centering-quadratic", "x^T (I - 1/3 1 1^T) x", "x", dict(x=(N,)),
         lambda x: x @ _center(N) @ x),
    Case("ones-named", "1_n^T exp(x)", "x", dict(x=("n",)), lambda x: np.exp(x).sum()),
    Case("ones-double-struck", "𝟙^T (x .* x)", "x", dict(x=(N,)), lambda x: (x * x).sum()),
    Case("ones-function", "ones(n)^T A x", "x", dict(A=("n", M), x=(M,)), lambda A, x: (A @ x).sum()),
    Case("ones-vector-1", "vector(1)^T log(x)", "x", dict(x=(N,)), lambda x: np.log(x).sum(),
         kinds=dict(x="pos")),
    Case("ones-matrix-1", "sum(matrix(1) ∘ X ∘ X)", "X", dict(X=(N, M)), lambda X: (X * X).sum()),
    Case("scalar-minus", "||x - alpha||^2", "alpha", dict(x=(N,), alpha=()),
         lambda x, alpha: np.sum((x - alpha) ** 2)),
    Case("scalar-minus-x", "||x - alpha||^2", "x", dict(x=(N,), alpha=()),
         lambda x, alpha: np.sum((x - alpha) ** 2)),
    Case("scalar-exp", "sum(exp(x - alpha))", "alpha", dict(x=(N,), alpha=()),
         lambda x, alpha: np.exp(x - alpha).sum()),
    Case("scalar-expression", "||x - sum(x) / 4||^2", "x", dict(x=(N,)),
         lambda x: np.sum((x - x.sum() / 4) ** 2)),
    Case("exp-scale", "c^T (exp(beta) x)", "beta", dict(c=(N,), x=(N,), beta=()),
         lambda c, x, beta: np.exp(beta) * (c @ x)),
    Case("row-bias", "||X W + b^T - Y||_F^2", "b", dict(X=(N, M), W=(M, K), b=(K,), Y=(N, K)),
         lambda X, W, b, Y: np.sum((X @ W + b - Y) ** 2)),
    Case("row-bias-W", "||X W + b^T - Y||_F^2", "W", dict(X=(N, M), W=(M, K), b=(K,), Y=(N, K)),
         lambda X, W, b, Y: np.sum((X @ W + b - Y) ** 2)),
    Case("scalar-bias", "||X w + beta - y||^2", "beta", dict(X=(N, M), w=(M,), beta=(), y=(N,)),
         lambda X, w, beta, y: np.sum((X @ w + beta - y) ** 2)),
    Case("matrix-plus-scalar", "sum(tanh(X + alpha))", "alpha", dict(X=(N, M), alpha=()),
         lambda X, alpha: np.tanh(X + alpha).sum()),
    Case("mean-vector", "mean(x .* x)", "x", dict(x=(N,)), lambda x: np.mean(x * x)),
    Case("mean-matrix", "mean(X)", "X", dict(X=(N, M)), lambda X: np.mean(X)),
    Case("mean-centered", "||x - mean(x)||^2", "x", dict(x=(N,)), lambda x: np.sum((x - x.mean()) ** 2)),
]
IDS = [c.id for c in CASES]
DIMS = dict(n=N)


def _values(case, rng):
    shapes = {k: tuple(N if d == "n" else d for d in s) for k, s in case.shapes.items()}
    return draw_all(shapes, rng, case.kinds)


def _user_shapes(case):
    return case.shapes


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_against_finite_differences_of_the_hand_written_function(case, rng):
    g = matdiff.derive_gradient(case.src, case.wrt, shapes=_user_shapes(case))
    for _ in range(2):
        values = _values(case, rng)
        got = matdiff_value(g.inlined[case.wrt], values, dims=DIMS)
        want = fd_gradient(case.f, values, case.wrt)
        assert max_rel_err(got, to2d(want)) < 1e-5, (case.src, g.text())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_same_gradient_undeclared(case, rng):
    """Read without declared shapes (a Greek name may then be a vector, as _awkward decides:
    `||x - alpha||^2` alone reads alpha as a vector), the gradient passes its check."""
    g = matdiff.derive_gradient(case.src, case.wrt)
    assert g.check().ok, (case.src, g.text())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jacobian_and_hessian_pass_their_checks(case):
    h = matdiff.derive_hessian(case.src, case.wrt, shapes=_user_shapes(case))
    assert h.check().ok, case.src
    j = matdiff.derive_jacobian(case.src.replace("||", "").replace("^2", "").replace("_F", "")
                                if case.id.startswith("row-bias") else case.src, case.wrt,
                                shapes=_user_shapes(case))
    assert j.check().ok, case.src


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sympy_result_evaluates_to_matdiffs_own(case, rng):
    g = matdiff.derive_gradient(case.src, case.wrt, shapes=_user_shapes(case))
    values = _values(case, rng)
    got = sympy_evaluate(g.sympy()[case.wrt], values, dims=DIMS)
    want = matdiff_value(g.inlined[case.wrt], values, dims=DIMS)
    assert max_rel_err(np.asarray(got, dtype=float).reshape(np.shape(want)), want) < 1e-8, case.src


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_generated_code_agrees_and_compiles_for_every_backend(case, rng):
    fn = matdiff.lambdify(case.src, wrt=case.wrt, shapes=_user_shapes(case))
    values = _values(case, rng)
    value, grads = fn(**values)
    assert np.isclose(value, case.f(**values))
    want = fd_gradient(case.f, values, case.wrt)
    assert max_rel_err(to2d(grads[case.wrt]), to2d(want)) < 1e-5
    for backend in ("jax", "torch"):
        text = emit(case.src, wrt=case.wrt, backend=backend, shapes=_user_shapes(case))
        compile(text, f"<{backend}>", "exec")     # reviewed: compiled, never executed


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_printed_results_read_back_as_the_same_function(case, rng):
    """Text: `1_n`, never a bare 1 where the number would be read; it re-parses to the same
    value. LaTeX: the bold 1."""
    shaped = S(case.src, _user_shapes(case))
    again = S(to_text(shaped.expr), _user_shapes(case))
    values = _values(case, rng)
    assert np.allclose(matdiff_value(shaped.expr, values, DIMS), matdiff_value(again.expr, values, DIMS))
    g = matdiff.derive_gradient(case.src, case.wrt, shapes=_user_shapes(case))
    *steps, last = g.text().splitlines()           # named steps z1 = ..., then ∂f/∂x = ...
    back = S("\n".join([*steps, last.split("= ", 1)[1]]), _user_shapes(case))
    assert np.allclose(matdiff_value(back.expr, values, DIMS), matdiff_value(g.inlined[case.wrt], values, DIMS))
    if any(isinstance(e, Ones) for e in postorder(shaped.expr)):
        assert r"\mathbf{1}" in matdiff.latex(case.src, shapes=_user_shapes(case))


def test_the_centering_matrix_answer():
    g = matdiff.derive_gradient("c^T (I - 1/3 1 1^T) x", wrt="x")
    assert g.text() == "∂f/∂x = (I - 1/3 1_n 1_n^T) c"
    assert r"\mathbf{1}" in matdiff.latex(g)


@pytest.mark.parametrize("src, inputs, out", [
    ("1^T x",                  dict(x=("n",)),                      ()),
    ("x 1^T",                  dict(x=("n",)),                      ("n", "m")),
    ("X 1",                    dict(X=("n", "m")),                  ("n",)),
    ("1^T X 1",                dict(X=("n", "m")),                  ()),
    ("X W + 1 b^T",            dict(X=("n", "m"), W=("m", "k"), b=("k",)), ("n", "k")),
    ("X W + b^T",              dict(X=("n", "m"), W=("m", "k"), b=("k",)), ("n", "k")),
    ("x - alpha",              dict(x=("n",), alpha=()),            ("n",)),
    ("X w + beta",             dict(X=("n", "m"), w=("m",), beta=()), ("n",)),
    ("exp(beta) x",            dict(beta=(), x=("n",)),             ("n",)),
    ("1 - x^T x",              dict(x=("n",)),                      ()),     # a number where a scalar fits
    ("1/2 x^T x",              dict(x=("n",)),                      ()),
    ("2 X",                    dict(X=("n", "m")),                  ("n", "m")),
    ("1_k^T x",                dict(x=("k",)),                      ()),
    ("a^T x + b",              dict(a=("n",), x=("n",), b=()),      ()),     # a scalar bias stays a scalar
    ("d = x - mu\nL = d^T inv(S) d", dict(x=("n",), mu=("n",), S=("n", "n")), ()),   # mu a vector
    ("sum(1 ./ x)",            dict(x=("n",)),                      ()),     # a number ∘ x scales x
    ("2 .* X",                 dict(X=("n", "m")),                  ("n", "m")),
    ("X ./ 2",                 dict(X=("n", "m")),                  ("n", "m")),
    ("1 ./ (1 + x .^ 2)",      dict(x=("n",)),                      ("n",)),
    ("1^T x + 1^T y",          dict(x=("n",), y=("m",)),            ()),     # each 1 its own size
    ("𝟙 𝟙^T + B",              dict(B=("n", "m")),                  ("n", "m")),
    ("x^T 1 1^T y",            dict(x=("n",), y=("m",)),            ()),
])
def test_readings(src, inputs, out):
    from matdiff.language.problem import user_shape
    from matdiff.language.shapes import shape_of
    shaped = S(src)
    assert shaped.inputs == inputs and not shaped.readings
    r, c = shape_of(shaped.expr)
    assert (() if (r, c) == (1, 1) else (r,) if c == 1 else (r, c)) == out


def test_a_bare_1_whose_size_nothing_fixes_is_refused_showing_both_readings():
    with pytest.raises(ShapeError, match="could be the number 1 or the ones vector") as e:
        S("sum(1 b^T)")
    assert "1_n" in str(e.value)
    for src in ("sum(1 b^T)", "1^T 1"):
        with pytest.raises(MatdiffError):
            matdiff.gradient(src, wrt="b")


@pytest.mark.parametrize("src, message", [
    ("ones(x + y)", "the size n is a name or a positive whole number"),
    ("vector(2)", "vector(1) is the ones vector"),
    ("ones(n, m, k)", "ones(n) is the ones vector"),
    ("mean(x, y)", "mean(x) is the mean"),
    ("1_0^T x", "its size is a positive whole number"),
])
def test_constructor_misuse_is_a_located_error(src, message):
    with pytest.raises(MatdiffError) as e:
        S(src)
    assert message in str(e.value) and str(e.value).startswith("line 1, column ")


def test_cli_grad_claim_and_sheet(tmp_path, capsys):
    from matdiff.cli import main
    assert main(["grad", "||X W + b^T - Y||_F^2", "--wrt", "b", "--check"]) == 0
    out = capsys.readouterr().out
    assert "1_n" in out and "check passed" in out
    for claim, ok in (("-2 1_n^T (x - alpha 1_n)", True), ("-2 sum(x - alpha)", True),
                      ("2 1_n^T (x - alpha 1_n)", False)):
        code = main(["check", "||x - alpha||^2", "--wrt", "alpha", "--shape", "alpha=", "--claim", claim])
        assert (code == 0) == ok, claim
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tex = matdiff.sheet("c^T (I - 1/3 1 1^T) x", wrt="x")
    assert r"\mathbf{1}" in tex


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None
                    and not __import__("os").environ.get("MATDIFF_REQUIRE_PDFLATEX"),
                    reason="pdflatex is not installed (CI installs it)")
@pytest.mark.parametrize("src, wrt, shapes", [
    ("c^T (I - 1/3 1 1^T) x", "x", None),                 # the ones vector
    ("||X W + b^T - Y||_F^2", "b", None),                 # a row broadcast
    ("sum(exp(x - alpha))", "x", dict(alpha=())),         # a scalar broadcast
    ("mean(X .* X)", "X", None),                          # mean
])
def test_a_sheet_per_word_compiles(src, wrt, shapes):
    from matdiff.sheets.pdf import compile_pdf
    tex = matdiff.sheet(src, wrt=wrt, shapes=shapes)
    assert r"\mathbf{1}" in tex
    assert compile_pdf(tex).startswith(b"%PDF")


@pytest.mark.parametrize("src, shapes, f", [
    ("sum(1 ./ x)", dict(x=(4,)), lambda x: np.sum(1 / x)),
    ("sum(2 ./ (1 + x .^ 2))", None, lambda x: np.sum(2 / (1 + x ** 2))),
    ("sum(log(X .* 3))", dict(X=(2, 3)), lambda X: np.sum(np.log(3 * X))),
])
def test_a_number_times_a_vector_elementwise_scales_it(src, shapes, f, rng):
    """`1 ./ x` is refused no more (declared) and no longer makes x a scalar (undeclared):
    a number in an elementwise product scales the other factor, as in NumPy (found by tests/test_corpus.py)."""
    shaped = matdiff.understand(src, shapes=shapes)
    name = next(iter(shaped.inputs))
    assert len(shaped.inputs[name]) >= 1                      # a vector or a matrix, never a scalar
    shape = tuple(d if isinstance(d, int) else N for d in shaped.inputs[name])
    values = {name: rng.uniform(0.5, 1.5, size=shape)}
    g = matdiff.derive_gradient(src, name, shapes=shapes).inlined[name]
    dims = {d: N for d in shaped.inputs[name] if isinstance(d, str)}
    assert max_rel_err(matdiff_value(g, values, dims), to2d(fd_gradient(f, values, name))) < 1e-6


def test_each_unsized_ones_vector_has_its_own_size(rng):
    """Equal nodes are one node to inference: two written `𝟙` (or `1^T`) were one vector, so
    `𝟙 𝟙^T + B` for a 2x3 B was refused as 2x2, and `1^T x + 1^T y` needed x, y of one size."""
    for src, shapes, f in [
        ("1^T x + 1^T y", dict(x=(2,), y=(3,)), lambda v: v["x"].sum() + v["y"].sum()),
        ("sum(u 𝟙 𝟙^T + B)", dict(B=(2, 3), u=()), lambda v: 6 * v["u"] + v["B"].sum()),
    ]:
        p = Problem.of(src, shapes)
        values = {k: rng.standard_normal(s) for k, s in shapes.items()}
        assert np.isclose(float(np.squeeze(matdiff_value(p.f, values))), f(values))


def test_a_known_scalar_beside_an_elementwise_product_scales(rng):
    """`alpha .* x` with alpha declared a scalar, `(x^T y) .* z`: the only reading that fits is
    NumPy's broadcast (it was a shape error); an undeclared Greek name keeps its elementwise
    reading (`θ ∘ x`: θ a vector)."""
    shapes = {"alpha": (), "x": (4,), "y": (4,), "z": (3,)}
    src = "sum(alpha .* x) + sum((x^T y) .* z) + sum(x ./ alpha)"
    v = {"alpha": 1.7, "x": rng.standard_normal(4), "y": rng.standard_normal(4), "z": rng.standard_normal(3)}
    f = lambda v: v["alpha"] * v["x"].sum() + (v["x"] @ v["y"]) * v["z"].sum() + v["x"].sum() / v["alpha"]  # noqa: E731
    for wrt in ("alpha", "x", "z"):
        g = matdiff.derive_gradient(src, wrt, shapes=shapes)
        assert g.check().ok
    p = Problem.of(src, shapes)
    assert np.isclose(float(np.squeeze(matdiff_value(p.f, v))), f(v))
    assert S("θ ∘ x", {"x": (3,)}).inputs["θ"] == (3,)
