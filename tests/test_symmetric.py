"""Symmetric and symmetric positive-definite variables (`S=n,n,sym`, `S=n,n,spd`), issue 13 item 7.

Every gradient is compared with a reference computed here, independently of matdiff: the
function written by hand in NumPy (on all matrices), its gradient by central differences entry
by entry, then its symmetric part, the gradient on the symmetric matrices; and along symmetric
directions, with the directional derivative. Jacobians and Hessians: the same by differences of
the function (of its gradient, for the Hessian), then P = (I + K)/2 applied. Inputs are drawn
symmetric (spd where the function needs it), at n = 3.
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.cli import main
from matdiff.errors import MatdiffError, ShapeError
from matdiff.language.expr import Transpose, postorder
from helpers_calculus import assert_close, fd_directional, fd_gradient, sympy_evaluate, to2d

N = 3
SYM = {"S": ("n", "n", "sym")}
SPD = {"S": ("n", "n", "spd")}


def spd(rng, n=N):
    B = rng.normal(size=(n, n))
    return B @ B.T / n + 0.5 * np.eye(n)


def sym(A):
    return (A + A.T) / 2


def values_for(rng, names, spd_S=True):
    v = {"S": spd(rng) if spd_S else sym(rng.normal(size=(N, N)))}
    for k in names:
        v[k] = rng.normal(size=(N, N)) if k[0].isupper() else rng.normal(size=N)
    return v


# (text, wrt, declared, hand-written f on all matrices, other inputs, the closed form the issue names)
CASES = [
    ("1/2 x^T S x - b^T x", "x", SYM, lambda S, x, b: 0.5 * x @ S @ x - b @ x, "xb",
     lambda S, x, b: S @ x - b),
    ("tr(W^T S W)", "W", SYM, lambda S, W: np.trace(W.T @ S @ W), "W", lambda S, W: 2 * S @ W),
    ("logdet(S)", "S", SPD, lambda S: np.linalg.slogdet(S)[1], "", lambda S: np.linalg.inv(S)),
    ("x^T S x", "S", SYM, lambda S, x: x @ S @ x, "x", lambda S, x: np.outer(x, x)),
    ("a^T S b", "S", SYM, lambda S, a, b: a @ S @ b, "ab", None),
    ("tr(A S)", "S", SYM, lambda S, A: np.trace(A @ S), "A", None),
    ("tr(A S^-1)", "S", SPD, lambda S, A: np.trace(A @ np.linalg.inv(S)), "A", None),
    ("logdet(S) + a^T S^T x", "S", SPD, lambda S, a, x: np.linalg.slogdet(S)[1] + a @ S.T @ x, "ax", None),
    ("tr(S^2) - a^T S^-1 a", "S", SPD, lambda S, a: np.trace(S @ S) - a @ np.linalg.solve(S, a), "a", None),
    ("a^T tanh(S x)", "S", SYM, lambda S, a, x: a @ np.tanh(S @ x), "ax", None),
]
IDS = [f"{c[0]} wrt {c[1]}" for c in CASES]


def reference(case, values):
    """The gradient on the symmetric matrices for a symmetric wrt, else the plain gradient."""
    _, wrt, declared, f, _, _ = case
    G = fd_gradient(f, values, wrt)
    return sym(G) if wrt in declared else G


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_is_the_symmetric_part_of_the_full_gradient(case, rng):
    text, wrt, declared, f, names, closed = case
    values = values_for(rng, names)
    g = matdiff.derive_gradient(text, wrt, declared)
    got = to2d(g.problem and _evaluate(g.inlined[wrt], values))
    ref = to2d(reference(case, values))
    assert_close(got, ref, 1e-5, text)
    if wrt in declared:
        assert_close(got, got.T, 1e-12, "symmetric")
    if closed is not None:
        assert_close(got, to2d(closed(**values)), 1e-9, "closed form")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_gives_df_along_symmetric_directions(case, rng):
    text, wrt, declared, f, names, _ = case
    values = values_for(rng, names)
    g = _evaluate(matdiff.derive_gradient(text, wrt, declared).inlined[wrt], values)
    V = sym(rng.normal(size=np.shape(values[wrt]))) if wrt in declared else rng.normal(size=np.shape(values[wrt]))
    numeric = fd_directional(f, values, {wrt: V})
    assert abs(float(np.sum(to2d(g) * to2d(V))) - numeric) <= 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sympy_result_evaluates_to_the_reference(case, rng):
    text, wrt, declared, f, names, _ = case
    values = values_for(rng, names)
    got = sympy_evaluate(matdiff.gradient(text, wrt, declared), values, {"n": N, "m": N})
    assert_close(to2d(got), to2d(reference(case, values)), 1e-5, text)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lambdify_matches_the_reference(case, rng):
    text, wrt, declared, f, names, _ = case
    values = values_for(rng, names)
    fn = matdiff.lambdify(text, wrt=[wrt], shapes=declared)
    value, grads = fn(**values)
    assert abs(value - f(**values)) <= 1e-9 * max(1.0, abs(value))
    assert_close(to2d(grads[wrt]), to2d(reference(case, values)), 1e-5, text)
    from matdiff.codegen.generate import generate
    from matdiff.language.problem import Problem
    for backend in ("jax", "torch"):               # perhaps not installed: their text must compile
        src = generate(Problem.of(text, declared), [wrt], backend)
        compile(src.text, "<generated>", "exec")
        assert src.structure == {"S": declared["S"][2]}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_passes_and_the_claim_of_the_reference_form(case):
    text, wrt, declared, *_ = case
    report = matdiff.check(text, wrt, declared)
    assert report.ok, str(report)
    if wrt in declared:
        assert "directions it moves along symmetric" in str(report)


def _evaluate(e, values):
    from helpers_calculus import matdiff_value
    return matdiff_value(e, values, {"n": N, "m": N})


# ---- simplification: S^T = S --------------------------------------------------------------------

def test_transpose_of_a_symmetric_variable_is_dropped():
    shaped = matdiff.understand("x^T S^T x + tr(S^-T A) + tr((S^2)^T B)", shapes=SYM)
    p = matdiff.derive_gradient("x^T S^T x + tr(S^-T A)", "x", SYM).problem
    assert not any(isinstance(n, Transpose) and n.arg.__class__.__name__ == "Var" and n.arg.name == "S"
                   for n in postorder(p.f))
    assert shaped.structure == {"S": "sym"}


def test_declared_symmetric_does_not_touch_other_matrices():
    g = matdiff.derive_gradient("x^T A x", "x", {"A": ("n", "n")})
    assert "A^T" in g.text()


# ---- the issue's examples, as text --------------------------------------------------------------

@pytest.mark.parametrize("text, wrt, shapes, answer", [
    ("1/2 x^T S x - b^T x", "x", SYM, "S x - b"),
    ("tr(W^T S W)", "W", SYM, "2 S W"),
    ("logdet(S)", "S", SPD, "S^-1"),
    ("x^T S x", "S", SYM, "x x^T"),
])
def test_issue_examples(text, wrt, shapes, answer):
    g = matdiff.derive_gradient(text, wrt, shapes)
    assert f"∂f/∂{wrt} = {answer}" in g.text().splitlines()
    # these answers are symmetric already on all matrices (sym(G) = G): nothing to say, no note
    assert "declared symmetric" not in g.text()
    assert matdiff.check(text, wrt, shapes, claim=answer).ok


@pytest.mark.parametrize("text, wrt, noted", [
    ("a^T S b", "S", True),                 # G = a b^T, its symmetric part is the answer: said so
    ("logdet(S) + a^T S^T x", "S", True),
    ("logdet(S)", "S", False),              # G = S^-1 is symmetric: the same on all matrices
    ("x^T S x", "S", False),
    ("tr(W^T S W)", "W", False),            # W is not declared symmetric
])
def test_the_note_says_when_the_gradient_is_the_symmetric_part(text, wrt, noted, rng):
    g = matdiff.derive_gradient(text, wrt, SPD)
    assert ("declared symmetric: its gradient is the one on the symmetric matrices" in g.text()) == noted
    # and where no note is printed the answer is the gradient on all matrices too (every entry of
    # S moved on its own, at a symmetric S)
    if wrt == "S" and not noted:
        values = {"S": spd(rng), "x": rng.normal(size=N)}
        f = {"logdet(S)": lambda S, x: np.linalg.slogdet(S)[1], "x^T S x": lambda S, x: x @ S @ x}[text]
        from matdiff.checking.numeric import Env, evaluate
        got = evaluate(g.inlined["S"], Env({k: to2d(v) for k, v in values.items()}, {"n": N}))
        assert_close(got, fd_gradient(f, values, "S"))


def test_a_non_symmetric_claim_is_wrong_and_says_why():
    r = matdiff.check("a^T S b", "S", SYM, claim="a b^T")
    assert not r.ok and "symmetric part" in str(r)
    r = matdiff.check("a^T S b", "S", SYM, claim="a b^T + b a^T - diag(diag(a b^T))")
    assert not r.ok and "independent entries" in str(r)
    assert matdiff.check("a^T S b", "S", SYM, claim="(a b^T + b a^T)/2").ok


# ---- Jacobians and Hessians: on the symmetric matrices ------------------------------------------

def projection(n=N):
    K = np.zeros((n * n, n * n))
    for i in range(n):
        for j in range(n):
            K[j * n + i, i * n + j] = 1          # K vec(A) = vec(A^T), vec stacking columns
    return (np.eye(n * n) + K) / 2


def vec(A):
    return np.asarray(A).reshape(-1, order="F")


def fd_jacobian(F, X, h=1e-6):
    cols = []
    for k in range(X.size):
        E = np.zeros(X.size)
        E[k] = h
        E = E.reshape(X.shape, order="F")
        cols.append((vec(F(X + E)) - vec(F(X - E))) / (2 * h))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("text, f", [
    ("logdet(S)", lambda S: np.linalg.slogdet(S)[1]),
    ("tr(S^2)", lambda S: np.trace(S @ S)),
    ("tr(A S^-1)", None),
    ("a^T S b + tr(S S S)", None),
])
def test_hessian_on_the_symmetric_matrices(text, f, rng):
    values = values_for(rng, "Aab")
    hands = {"tr(A S^-1)": lambda S: np.trace(values["A"] @ np.linalg.inv(S)),
             "a^T S b + tr(S S S)": lambda S: values["a"] @ S @ values["b"] + np.trace(S @ S @ S)}
    f = f or hands[text]
    used = {k: v for k, v in values.items() if k == "S" or k in text}
    H = matdiff.derive_hessian(text, "S", SPD)
    got = _evaluate(H.matrix, used)
    # the full Hessian by differences of the full gradient (itself by differences), then P H P
    grad = lambda S: fd_gradient(lambda S: f(S), {"S": S}, "S", 1e-5)      # noqa: E731
    full = fd_jacobian(grad, values["S"], 1e-4)
    P = projection()
    assert_close(got, P @ full @ P, 1e-4, text)
    assert_close(got, got.T, 1e-9, "symmetric")
    A = rng.normal(size=(N, N))
    assert np.allclose(got @ vec(A - A.T), 0, atol=1e-9)       # zero on the antisymmetric matrices
    assert H.check().ok
    assert "taken on the symmetric matrices" in H.text()
    sympy_H = matdiff.hessian(text, "S", SPD)
    assert_close(to2d(sympy_evaluate(sympy_H, used, {"n": N})), got, 1e-8, "SymPy")


@pytest.mark.parametrize("text, F", [
    ("S a", lambda S, a: S @ a),
    ("tanh(S a)", lambda S, a: np.tanh(S @ a)),
    ("S^-1 a", lambda S, a: np.linalg.solve(S, a)),
    ("a^T S b", lambda S, a, b=None: None),
])
def test_jacobian_on_the_symmetric_matrices(text, F, rng):
    values = values_for(rng, "ab")
    if text == "a^T S b":
        F = lambda S, a: np.atleast_1d(a @ S @ values["b"])    # noqa: E731
    used = {k: v for k, v in values.items() if k in text}
    J = matdiff.derive_jacobian(text, "S", SPD)
    got = _evaluate(J.matrix, used)
    full = fd_jacobian(lambda S: F(S, values["a"]), values["S"])
    assert_close(got, full @ projection(), 1e-6, text)
    assert J.check().ok
    assert_close(to2d(sympy_evaluate(matdiff.jacobian(text, "S", SPD), used, {"n": N})), got, 1e-8, "SymPy")


def test_hessian_with_respect_to_a_vector_beside_a_symmetric_matrix(rng):
    values = values_for(rng, "xb")
    H = _evaluate(matdiff.derive_hessian("1/2 x^T S x - b^T x", "x", SYM).matrix, values)
    assert_close(H, values["S"], 1e-12)


def test_hessian_diagonal_with_respect_to_a_symmetric_matrix_is_refused():
    with pytest.raises(MatdiffError, match="S_ij and S_ji are one entry"):
        matdiff.hessian("logdet(S)", "S", SPD, diagonal=True)


def test_lambdify_hessian_with_respect_to_a_symmetric_matrix(rng):
    if "hessian" not in __import__("inspect").signature(matdiff.lambdify).parameters:
        pytest.skip("lambdify has no hessian=")
    values = values_for(rng, "")
    fn = matdiff.lambdify("logdet(S)", wrt=["S"], shapes=SPD, hessian=True)
    _, _, hess = fn(**values)
    ref = _evaluate(matdiff.derive_hessian("logdet(S)", "S", SPD).matrix, values)
    assert_close(np.asarray(hess["S"]).reshape(ref.shape), ref, 1e-9)


# ---- sampling -------------------------------------------------------------------------------------

def test_the_check_samples_symmetric_and_spd_inputs(rng):
    from matdiff.checking.sampling import sample
    for declared in (SYM, SPD):
        shaped = matdiff.understand("x^T S x", shapes=declared)
        for positive in (False, True):
            v = sample(shaped, rng, {"n": 4}, positive)["S"]
            assert np.allclose(v, v.T)
            if declared is SPD:
                assert np.linalg.eigvalsh(v)[0] > 0


def test_a_gradient_that_is_not_symmetric_fails_no_check_it_should_pass():
    """The check perturbs along symmetric directions: matdiff's symmetric answer passes, and a
    formula wrong along them (2 x x^T) fails."""
    from matdiff.checking.check import check_gradients
    from matdiff.language.parse import parse
    from matdiff.language.inference import infer_shapes
    from matdiff.language.algebra import normalize
    p = matdiff.derive_gradient("x^T S x", "S", SYM).problem
    wrong = normalize(infer_shapes(parse("2 x x^T"), {"x": ("n",), **SYM}).expr)
    assert not check_gradients(p.f, {p.var("S"): wrong}, p.shaped).ok


# ---- lambdify checks its inputs -------------------------------------------------------------------

def test_lambdify_refuses_an_asymmetric_or_indefinite_value(rng):
    fn = matdiff.lambdify("logdet(S) + x^T S x", wrt=["S", "x"], shapes=SPD)
    x = rng.normal(size=N)
    with pytest.raises(MatdiffError, match="declared symmetric, but the value given is not"):
        fn(S=rng.normal(size=(N, N)), x=x)
    with pytest.raises(MatdiffError, match="positive definite, but the value given has an eigenvalue"):
        fn(S=-spd(rng), x=x)
    fn = matdiff.lambdify("x^T S x", wrt=["S"], shapes=SYM)
    fn(S=-spd(rng), x=x)                       # sym: indefinite is fine


# ---- declarations: every entry point, and bad ones ---------------------------------------------------

@pytest.mark.parametrize("shape, message", [
    (("n", "m", "sym"), "a symmetric matrix is square"),
    (("n", "sym"), "could mean a dimension named sym or that S is a symmetric matrix"),
    (("sym",), "could mean a dimension named sym"),
    (("n", "n", "spd", "x"), "could mean a dimension named spd"),
    (("spd", "n", "n"), "could mean a dimension named spd"),
])
def test_bad_declarations_are_refused_with_both_readings(shape, message):
    with pytest.raises(ShapeError, match=message):
        matdiff.gradient("x^T S x", "x", {"S": shape})


def test_structure_word_is_case_and_space_insensitive():
    assert matdiff.understand("x^T S x", shapes={"S": ("n", "n", " SPD ")}).structure == {"S": "spd"}


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli(capsys):
    status, out, _ = run(capsys, "parse", "x^T S x", "--shape", "S=n,n,spd")
    assert status == 0 and "S: n×n symmetric positive definite" in out
    status, out, _ = run(capsys, "grad", "x^T S x", "--wrt", "S", "--shape", "S=n,n,sym", "--check")
    assert status == 0 and "∂f/∂S = x x^T" in out and "check passed" in out
    status, out, _ = run(capsys, "check", "a^T S b", "--wrt", "S", "--shape", "S=n,n,sym", "--claim", "a b^T")
    assert status != 0 and "symmetric part" in out
    status, out, _ = run(capsys, "hessian", "logdet(S)", "--wrt", "S", "--shape", "S=n,n,spd", "--check")
    assert status == 0 and "I + K_{n,n}" in out and "check passed" in out
    status, out, _ = run(capsys, "grad", "logdet(S)", "--wrt", "S", "--shape", "S=n,n,spd", "--emit", "numpy")
    assert status == 0 and "grad_S" in out
    status, _, err = run(capsys, "grad", "x^T S x", "--wrt", "S", "--shape", "S=n,m,sym")
    assert status != 0 and "square" in err and "Traceback" not in err


def test_latex_and_sheet():
    from matdiff.sheets.pdf import compile_pdf
    import shutil
    g = matdiff.derive_gradient("a^T S b", "S", SYM)
    assert r"\frac{1}{2}" in matdiff.latex(g)
    tex = matdiff.sheet("a^T S b", "S", SYM, check=True)
    assert "symmetric part of $g$" in tex and "symmetric." in tex.replace(r"\times n}$ symmetric.", "symmetric.")
    assert "agree" in tex
    if shutil.which("pdflatex"):
        assert compile_pdf(tex).startswith(b"%PDF")


# ---- random functions of symmetric matrices (the property generator of test_properties) -----------

from hypothesis import assume, given, settings, strategies as st          # noqa: E402
from test_properties import (                                              # noqa: E402
    SETTINGS, Degenerate, close, expr, fd_directional as fd_random, n_examples, present_variables, scalar,
    values_for as random_values,
)


@settings(max_examples=n_examples(150), **SETTINGS)
@given(g=st.integers(2, 4).flatmap(lambda depth: expr((1, 1), depth, frozenset({"kron"}), True)),
       seed=st.integers(0, 2**16))
def test_random_functions_of_symmetric_matrices(g, seed):
    """Every square matrix of a random function declared symmetric and given symmetric values:
    the gradient is symmetric, and gives df along symmetric directions (our own differences of the
    generator's own NumPy function); SymPy's form evaluates to the same (no vec: it has no SymPy
    form yet, as in test_properties' SymPy test)."""
    square = [n for n, s in g.vars if len(s) == 2 and s[0] == s[1] and n not in g.kron_vars]
    assume(square)
    values = random_values(g.vars, seed)
    for n in square:
        values[n] = sym(values[n])
    try:
        f0 = scalar(g, values)
    except Degenerate:
        assume(False)
    shapes = {n: (*s, "sym") if n in square else s for n, s in g.vars}
    wrt = [n for n in square if n in present_variables(g.text, shapes)]
    assume(wrt)
    grad = matdiff.derive_gradient(g.text, wrt, shapes=shapes)
    rng = np.random.default_rng(seed + 1)
    sympy_forms = grad.sympy()
    for n in wrt:
        G_ = _evaluate(grad.inlined[n], values)
        assert np.allclose(G_, G_.T, rtol=1e-9, atol=1e-12), f"{g.text} wrt {n}: not symmetric\n{grad.text()}"
        from helpers_calculus import PHI, PSI
        theirs = to2d(sympy_evaluate(sympy_forms[n], values, functions={"Phi": PHI.sympy(), "Psi": PSI.sympy()}))
        assert np.max(np.abs(theirs - G_)) <= 1e-8 * max(1.0, float(np.max(np.abs(G_)))), g.text
        V = sym(rng.normal(size=G_.shape))
        try:
            fd = fd_random(g, values, n, V)
        except Degenerate:
            continue
        got = float(np.sum(G_ * V))
        assert close(got, fd, abs(f0)), f"{g.text} wrt {n}: formula {got}, finite differences {fd}\n{grad.text()}"
