"""Batches of vectors (issue 13, item 5): softmax(Z, rows|cols) and logsumexp(Z, rows|cols).

The spelling says which way; a bare softmax of a matrix is refused with both spellings. Every
rule is compared with a computation written here in NumPy (row by row, with the vector softmax of
helpers_calculus): gradient, Jacobian, Hessian and its diagonal against finite differences, the
SymPy results evaluated by the independent walker, generated code against the same references.
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff
from helpers_calculus import (
    Case, as_natural, assert_close, draw_all, fd_gradient, matdiff_value, softmax, sympy_evaluate,
)
from test_hessian import fd_diagonal, fd_hessian
from test_jacobian import fd_jacobian
from matdiff.calculus.second_order import hessian_of, jacobian_of
from matdiff.codegen.generate import emit, lambdify
from matdiff.errors import MatdiffError, ParseError, ShapeError
from matdiff.language.expr import BatchLogSumExp, BatchSoftmax, LogSoftmax, Var
from matdiff.language.parse import parse
from matdiff.language.problem import Problem
from matdiff.printing.latex import to_latex


# ---- the references, row by row (a column's function is its row's of the transpose) --------------

def sm_rows(Z):
    return np.array([softmax(z) for z in Z])


def sm_cols(Z):
    return sm_rows(Z.T).T


def lse_rows(Z):
    return np.array([[np.log(np.sum(np.exp(z)))] for z in Z])


def lse_cols(Z):
    return lse_rows(Z.T).T


SM = {"rows": sm_rows, "cols": sm_cols}
LSE = {"rows": lse_rows, "cols": lse_cols}
BATCH = dict(X=(5, 3), W=(3, 4), Y=(5, 4))


def cases() -> list:
    out = [
        Case("cross-entropy sum", "-sum(Y .* log(softmax(X W, rows)))", "W", BATCH,
             lambda X, W, Y: -np.sum(Y * np.log(sm_rows(X @ W))),
             # the rows of Y need not sum to 1: the row sums stay (S ∘ (Y 1) 1^T)
             lambda X, W, Y: X.T @ (sm_rows(X @ W) * Y.sum(axis=1, keepdims=True) - Y)),
        Case("cross-entropy trace", "-tr(Y^T log(softmax(X W, rows)))", "W", BATCH,
             lambda X, W, Y: -np.trace(Y.T @ np.log(sm_rows(X @ W))),
             lambda X, W, Y: X.T @ (sm_rows(X @ W) * Y.sum(axis=1, keepdims=True) - Y)),
        Case("cross-entropy wrt X", "-sum(Y .* log(softmax(X W, rows)))", "X", BATCH,
             lambda X, W, Y: -np.sum(Y * np.log(sm_rows(X @ W))),
             lambda X, W, Y: (sm_rows(X @ W) * Y.sum(axis=1, keepdims=True) - Y) @ W.T),
        Case("cross-entropy, columns", "-sum(Y .* log(softmax(W^T X^T, cols)))", "W", BATCH | dict(Y=(4, 5)),
             lambda X, W, Y: -np.sum(Y * np.log(sm_cols(W.T @ X.T))),
             lambda X, W, Y: X.T @ (sm_cols(W.T @ X.T) * Y.sum(axis=0, keepdims=True) - Y).T),
        Case("batch logsumexp loss", "sum(logsumexp(X W, rows)) - sum(Y .* (X W))", "W", BATCH,
             lambda X, W, Y: np.sum(lse_rows(X @ W)) - np.sum(Y * (X @ W)),
             lambda X, W, Y: X.T @ (sm_rows(X @ W) - Y)),
    ]
    out += [
        Case("cross-entropy through logsoftmax", "-sum(Y .* logsoftmax(X W, rows))", "W", BATCH,
             lambda X, W, Y: -np.sum(Y * np.log(sm_rows(X @ W))),
             lambda X, W, Y: X.T @ (sm_rows(X @ W) * Y.sum(axis=1, keepdims=True) - Y)),
        Case("log_softmax of a vector", "-y^T log_softmax(W x)", "W", dict(y=(4,), W=(4, 3), x=(3,)),
             lambda y, W, x: -y @ np.log(softmax(W @ x)),
             lambda y, W, x: np.outer(softmax(W @ x) * y.sum() - y, x)),
    ]
    for axis in ("rows", "cols"):
        out += [
            Case(f"squared logsoftmax {axis}", f"sum(C .* logsoftmax(Z, {axis}) .^ 2)", "Z", dict(C=(3, 4), Z=(3, 4)),
                 lambda C, Z, axis=axis: np.sum(C * np.log(SM[axis](Z)) ** 2),
                 lambda C, Z, axis=axis: _log_pullback(SM[axis](Z), 2 * C * np.log(SM[axis](Z)), axis)),
        ]
    for axis in ("rows", "cols"):
        out += [
            Case(f"weighted softmax {axis}", f"sum(C .* softmax(Z, {axis}))", "Z", dict(C=(3, 4), Z=(3, 4)),
                 lambda C, Z, axis=axis: np.sum(C * SM[axis](Z)),
                 lambda C, Z, axis=axis: _pullback(SM[axis](Z), C, axis)),
            Case(f"weighted logsumexp {axis}", f"sum(c .* logsumexp(Z, {axis}))", "Z",
                 dict(c=(3, 1) if axis == "rows" else (1, 4), Z=(3, 4)),
                 lambda c, Z, axis=axis: np.sum(c * LSE[axis](Z)),
                 lambda c, Z, axis=axis: c * SM[axis](Z)),
            Case(f"squared logsumexp {axis}", f"sum(logsumexp(A Z, {axis}) .^ 2)", "Z", dict(A=(3, 3), Z=(3, 4)),
                 lambda A, Z, axis=axis: np.sum(LSE[axis](A @ Z) ** 2),
                 lambda A, Z, axis=axis: A.T @ (2 * LSE[axis](A @ Z) * SM[axis](A @ Z))),
        ]
    return out


def _pullback(S, M, axis):
    """The gradient of <M, softmax(Z, axis)>: S ∘ (M - (S ∘ M) 1 1^T), row by row (column by column)."""
    a = 1 if axis == "rows" else 0
    return S * (M - np.sum(S * M, axis=a, keepdims=True))


def _log_pullback(S, M, axis):
    """The gradient of <M, logsoftmax(Z, axis)>: M - S ∘ (M 1 1^T), row by row (column by column)."""
    a = 1 if axis == "rows" else 0
    return M - S * np.sum(M, axis=a, keepdims=True)


CASES = cases()


def _values(c, seed):
    return draw_all(c.shapes, np.random.default_rng(seed), c.kinds)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_gradient(c):
    """matdiff's gradient == the closed form written here == finite differences."""
    g = matdiff.derive_gradient(c.src, c.wrt, shapes=c.shapes).inlined[c.wrt]
    for seed in (0, 1):
        values = _values(c, seed)
        fd = fd_gradient(c.f, values, c.wrt)
        assert_close(c.grad(**values), fd, what="the closed form vs finite differences: ")
        assert_close(as_natural(matdiff_value(g, values), c.shapes[c.wrt]), fd, what="matdiff vs finite differences: ")


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_sympy_gradient(c):
    values = _values(c, 2)
    got = sympy_evaluate(matdiff.gradient(c.src, c.wrt, shapes=c.shapes), values)
    assert_close(as_natural(got, c.shapes[c.wrt]), c.grad(**values), tol=1e-8)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_builtin_check_and_claim(c):
    assert matdiff.check(c.src, c.wrt, shapes=c.shapes).ok


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_hessian_and_its_diagonal(c):
    values = _values(c, 3)
    ref = fd_hessian(c.f, values, c.wrt)
    H = hessian_of(Problem.of(c.src, c.shapes), c.wrt)
    assert_close(matdiff_value(H.matrix, values), ref, what=c.src)
    assert_close(sympy_evaluate(matdiff.hessian(c.src, wrt=c.wrt, shapes=c.shapes), values), ref,
                 what=c.src + " (SymPy)")
    D = hessian_of(Problem.of(c.src, c.shapes), c.wrt, diagonal=True)
    exact = fd_diagonal(c.f, values, c.wrt)
    if D.exact:
        assert_close(matdiff_value(D.matrix, values), exact, tol=1e-4, what=D.text())


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_generated_numpy_code(c):
    values = _values(c, 4)
    fn = lambdify(c.src, c.wrt, backend="numpy", shapes=c.shapes)
    value, grads = fn(**values)
    assert_close(np.asarray(value).reshape(()), np.asarray(c.f(**values)), tol=1e-10)
    assert_close(grads[c.wrt], c.grad(**values), tol=1e-8)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_generated_jax_and_torch_code_compiles(backend):
    src = "-sum(Y .* log(softmax(X W, rows))) + sum(logsumexp(X W, cols)) + sum(logsoftmax(X W, rows))"
    code = emit(src, "W", backend=backend, shapes=BATCH)
    compile(code, "<generated>", "exec")
    calls = {"jax": ("jax.nn.softmax(", "axis=1", "jax.nn.logsumexp(", "axis=0, keepdims=True", "jax.nn.log_softmax("),
             "torch": ("torch.softmax(", "dim=1", "torch.logsumexp(", "dim=0, keepdim=True", "torch.log_softmax(")}[backend]
    assert all(call in code for call in calls), code


# ---- Jacobians: the functions themselves ------------------------------------------------------------

JACOBIANS = [
    Case(f"{name} {axis}", f"{name}(Z, {axis})", "Z", dict(Z=(3, 4)), lambda Z, ref=ref: ref(Z))
    for axis in ("rows", "cols") for name, ref in (("softmax", SM[axis]), ("logsumexp", LSE[axis]))
] + [Case(f"logsoftmax {axis}", f"logsoftmax(Z, {axis})", "Z", dict(Z=(3, 4)),
          lambda Z, axis=axis: np.log(SM[axis](Z))) for axis in ("rows", "cols")
] + [Case("logsoftmax of a vector", "logsoftmax(z)", "z", dict(z=(4,)), lambda z: np.log(softmax(z)))
] + [Case("softmax rows of a product", "softmax(X W, rows)", "W", dict(X=(2, 3), W=(3, 4)),
          lambda X, W: sm_rows(X @ W))]


@pytest.mark.parametrize("c", JACOBIANS, ids=[c.id for c in JACOBIANS])
def test_jacobian(c, rng):
    d = jacobian_of(Problem.of(c.src, c.shapes), c.wrt)
    values = draw_all(c.shapes, rng)
    ref = fd_jacobian(c.f, values, c.wrt)
    np.testing.assert_allclose(matdiff_value(d.matrix, values), ref, rtol=1e-5, atol=1e-6)
    S = matdiff.jacobian(c.src, wrt=c.wrt, shapes=c.shapes)
    np.testing.assert_allclose(np.asarray(sympy_evaluate(S, values), dtype=float).reshape(ref.shape), ref,
                               rtol=1e-5, atol=1e-6)


# ---- evaluation: stable at large inputs, in NumPy, SymPy and generated code --------------------------

@pytest.mark.parametrize("axis", ["rows", "cols"])
def test_large_inputs_stay_finite(axis, rng):
    """Entries 1000 apart: exp overflows, the softmax does not (matdiff's evaluator, the SymPy form
    and generated code all shift or divide so that an overflow is an entry of 0)."""
    Z = 400 * rng.normal(size=(3, 4))
    C = rng.normal(size=(3, 4))
    src = f"sum(C .* softmax(Z, {axis})) + sum(logsumexp(Z, {axis})) + sum(logsoftmax(Z, {axis}) .* C)"
    shapes = dict(C=(3, 4), Z=(3, 4))
    lsm = Z - LSE[axis](Z)
    want = np.sum(C * SM[axis](Z)) + np.sum(LSE[axis](Z)) + np.sum(lsm * C)
    p = Problem.of(src, shapes)
    assert_close(matdiff_value(p.f, dict(C=C, Z=Z)), want, tol=1e-10)
    with np.errstate(over="ignore", invalid="ignore"):
        g = sympy_evaluate(matdiff.gradient(src, "Z", shapes=shapes), dict(C=C, Z=Z))
    ref = _pullback(SM[axis](Z), C, axis) + SM[axis](Z) + _log_pullback(SM[axis](Z), C, axis)
    assert np.isfinite(g).all()
    assert_close(g, ref, tol=1e-8)
    value, grads = lambdify(src, "Z", shapes=shapes)(C=C, Z=Z)
    assert_close(np.asarray(value).reshape(()), np.asarray(want), tol=1e-10)
    assert_close(grads["Z"], ref, tol=1e-8)


# ---- the language: spellings, printing, errors -------------------------------------------------------

@pytest.mark.parametrize("src, node", [
    ("softmax(Z, rows)", BatchSoftmax("rows", Var("Z"))),
    ("softmax(Z, cols)", BatchSoftmax("cols", Var("Z"))),
    ("softmax(Z, columns)", BatchSoftmax("cols", Var("Z"))),
    ("logsumexp(Z, rows)", BatchLogSumExp("rows", Var("Z"))),
    ("logsumexp(Z, cols)", BatchLogSumExp("cols", Var("Z"))),
    ("logsoftmax(Z, rows)", LogSoftmax("rows", Var("Z"))),
    ("log_softmax(Z, cols)", LogSoftmax("cols", Var("Z"))),
    ("logsoftmax(z)", LogSoftmax("vector", Var("z"))),
    ("log_softmax(z)", LogSoftmax("vector", Var("z"))),
])
def test_spellings(src, node):
    assert parse(src).result == node


@pytest.mark.parametrize("src", [
    "-sum(Y .* log(softmax(X W, rows)))", "softmax(X W + B, cols)", "logsumexp(Z, rows)^T a",
    "b^T logsumexp(Z^T, cols)^T", "sum(logsoftmax(Z, cols))",
])
def test_text_reparses_and_latex_names_the_axis(src):
    e = parse(src).result
    assert parse(str(e)).result == e
    latex = to_latex(e)
    axis = "rows" if "rows" in src else "cols"
    assert rf"_{{\text{{{axis}}}}}" in latex, latex


def test_shapes():
    shaped = Problem.of("logsumexp(Z, rows) + a", dict(Z=(3, 4))).shaped
    assert shaped.inputs["a"] == (3,)
    shaped = Problem.of("logsumexp(Z, cols) b", dict(Z=(3, 4))).shaped
    assert shaped.inputs["b"] == (4,)


@pytest.mark.parametrize("src, shapes", [
    ("softmax(X W)", BATCH), ("sum(softmax(Z))", dict(Z=(3, 4))), ("logsumexp(Z)", dict(Z=(3, 4))),
    ("logsoftmax(Z)", dict(Z=(3, 4))),
])
def test_bare_softmax_of_a_matrix_shows_both_spellings(src, shapes):
    with pytest.raises(ShapeError) as info:
        Problem.of(src, shapes)
    message = str(info.value)
    name = next(n for n in ("logsumexp", "logsoftmax", "softmax") if n in src)
    arg = "X W" if "X W" in src else "Z"
    assert f"{name}({arg}, rows)" in message and f"{name}({arg}, cols)" in message, message


@pytest.mark.parametrize("src, shapes, words", [
    ("softmax(z, rows)", dict(z=(3,)), ["each row", "has one entry", "softmax(z, cols)"]),
    ("logsumexp(x^T, cols)", dict(x=(3,)), ["each column", "has one entry", "logsumexp(x^T, rows)"]),
    ("logsoftmax(x, rows)", dict(x=(3,)), ["every entry is 0", "logsoftmax(x) or logsoftmax(x, cols)"]),
])
def test_along_a_dimension_of_one_entry_is_refused(src, shapes, words):
    with pytest.raises(ShapeError) as info:
        Problem.of(src, shapes)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize("src, words", [
    ("softmax(Z, bla)", ["line 1, column 1", "rows or cols", "got bla"]),
    ("softmax(Z, 2)", ["rows or cols", "got 2"]),
    ("logsumexp(Z, rows, cols)", ["takes 1 argument, got 3"]),
])
def test_bad_axis_is_a_located_parse_error(src, words):
    with pytest.raises(ParseError) as info:
        parse(src)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_cli_entry_points(capsys):
    from matdiff.cli import main
    shapes = ["--shape", "X=5,3", "--shape", "W=3,4", "--shape", "Y=5,4"]
    src = "-tr(Y^T log(softmax(X W, rows)))"
    for argv in (["grad", src, "--wrt", "W", "--check", "--latex", "--sympy", *shapes],
                 ["jacobian", "softmax(X W, rows)", "--wrt", "W", "--check", *shapes],
                 ["hessian", src, "--wrt", "W", "--check", *shapes],
                 ["hessian", src, "--wrt", "W", "--diagonal", "--check", *shapes],
                 ["diff", src, *shapes]):
        assert main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "∂f/∂W = X^T (diag(Y 1_4) softmax(X W, rows) - Y)" in out     # 1_4: the ones vector, re-parses
    assert r"\operatorname{softmax}_{\text{rows}}" in out
    assert main(["grad", "sum(softmax(X W))", "--wrt", "W", *shapes]) != 0
    assert "softmax(X W, rows)" in capsys.readouterr().err


def test_the_cross_entropy_collapses():
    """No log, no reciprocal of the softmax, one softmax: S ∘ (Y 1) 1^T - Y, as the brief asks."""
    g = matdiff.derive_gradient("-sum(Y .* log(softmax(X W, rows)))", "W", shapes=BATCH)
    text = g.text().splitlines()[-1]
    assert "log" not in text and ".^ -1" not in text and text.count("softmax") == 1, text


def test_sheet_compiles(tmp_path):
    from matdiff.sheets.pdf import compile_pdf  # noqa: F401 - the sheet's own compiler
    tex = matdiff.sheet("-sum(Y .* log(softmax(X W, rows))) + sum(logsumexp(X W, cols))", "W", shapes=BATCH)
    assert r"\operatorname{softmax}_{\text{rows}}" in tex and "each row or column" in tex
    import shutil
    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex")
    from matdiff.sheets.pdf import write_pdf
    write_pdf(tex, tmp_path / "batch.pdf")
    assert (tmp_path / "batch.pdf").stat().st_size > 0


def test_errors_are_matdiff_errors():
    for bad in ("softmax(Z, rows", "softmax(, rows)", "softmax(Z, rows')", "softmax'(Z, rows)"):
        with pytest.raises(MatdiffError):
            Problem.of(bad, dict(Z=(3, 4)))
