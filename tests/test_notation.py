"""Issue 14, items 2-7: formulas pasted as other tools write them. `/` divides by a scalar only;
the gaps in matdiff's own notation; matrixcalculus.org's syntax (its nine front-page examples,
numerically checked, and a printer whose output parses back); NumPy's spellings; the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import P
from helpers_calculus import assert_close, fd_gradient, matdiff_value, to2d
from matdiff import api
from matdiff.errors import MatdiffError, ParseError, ShapeError
from matdiff.language.expr import (
    MINUS_ONE, Add, Apply, Const, Det, Fn, Hadamard, HadamardPow, Inverse, LogDet, MatMul, MatPow, Mul, Norm, Ones,
    Pow, Sum, Trace, Transpose, Var,
)
from matdiff.language.inference import infer_shapes
from matdiff.language.parse import parse
from matdiff.printing.matrixcalculus import to_matrixcalculus
from matdiff.printing.text import to_text
from test_roundtrip import _positive_or_not_a_number, divided

RNG_SEED = 14


def shaped(src, shapes=None):
    return infer_shapes(parse(src), shapes)


def gradient_at(src, wrt, values, shapes):
    """matdiff's gradient of src, evaluated with matdiff's evaluator at `values`."""
    g = api.derive_gradient(src, wrt, shapes).inlined[wrt]
    return matdiff_value(g, values)


# ---- item 5: `/` divides by a scalar only ------------------------------------------------------

def test_rayleigh_quotient_without_parentheses_is_refused_at_the_slash():
    with pytest.raises(ShapeError) as info:
        shaped("x^T A x / x^T x")
    message = str(info.value)
    assert message.startswith("line 1, column 9:")
    assert "(x^T A x) / (x^T x)" in message and "./" in message
    assert message.splitlines()[-1] == " " * 8 + "^"


@pytest.mark.parametrize("src, shapes, column, suggestion", [
    ("1/x", {"x": (3,)}, 2, "1 ./ x"),                        # a declared vector
    ("sum(1/x) + x^T x", None, 6, "1 ./ x"),                  # a vector by its other use
    ("A x / N", None, 5, "A x ./ N"),                         # an upper-case name is a matrix
    ("x / y^T x", {"x": (3,), "y": (3,)}, 3, "(x) / (y^T x)"),
    ("X / x^T", {"X": (3, 3), "x": (3,)}, 3, "X ./ x^T"),
])
def test_dividing_by_what_is_not_a_scalar_is_refused(src, shapes, column, suggestion):
    with pytest.raises(ShapeError) as info:
        shaped(src, shapes)
    assert str(info.value).startswith(f"line 1, column {column}: `/` divides by a scalar only")
    assert suggestion in str(info.value)


def test_a_free_name_after_the_slash_is_the_scalar():
    """Issue 13's centring: `x - sum(x)/n`, n the count, a scalar broadcast."""
    s = shaped("x - sum(x)/n")
    assert s.inputs == {"x": ("m",), "n": ()}
    rng = np.random.default_rng(RNG_SEED)
    x, n = rng.normal(size=4), 4.0
    f = lambda x, n: float(np.sum((x - np.sum(x) / n) ** 2))       # noqa: E731
    got = gradient_at("||x - sum(x)/n||^2", "x", {"x": x, "n": n}, {"x": (4,), "n": ()})
    assert_close(got, to2d(fd_gradient(f, {"x": x, "n": n}, "x")))
    assert_close(got, to2d(2 * (x - x.mean())))     # centring is a projection: its gradient is 2(x - mean)


def test_rayleigh_quotient_gradient():
    rng = np.random.default_rng(RNG_SEED)
    A, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    f = lambda A, x: float(x @ A @ x / (x @ x))                      # noqa: E731
    for src in ("(x^T A x) / (x^T x)", "x.T @ A @ x / (x.T @ x)", "(x'*A*x)/(x'*x)"):
        got = gradient_at(src, "x", {"A": A, "x": x}, {"A": (4, 4), "x": (4,)})
        assert_close(got, to2d(fd_gradient(f, {"A": A, "x": x}, "x")), what=src)


@pytest.mark.parametrize("src, echo", [
    ("(x^T A x) / (x^T x)", "(x^T A x) / (x^T x)"),
    ("a / b c", "(a / b) c"),             # the grouping used, never `a / b c`
    ("x - sum(x)/n", "x - (sum(x) / n) 1_m"),
])
def test_parse_echoes_the_grouping_it_used(src, echo):
    text = to_text(shaped(src).expr)
    assert text == echo
    assert to_text(shaped(text).expr) == text


def test_a_non_scalar_inverse_never_prints_below_a_bar():
    """A shaped product with a vector's elementwise inverse prints it as 1 ./ x (never below the
    scalar bar /), and reads back."""
    x, a = Var("x", (3,)), Var("alpha", ())
    e = Mul((a, HadamardPow(Fraction(-1), x)))
    text = to_text(e)
    assert " / " not in text and text == "alpha (1 ./ x)"
    assert shaped(text, {"x": (3,), "alpha": ()}).expr == e
    assert to_text(Mul((x, HadamardPow(Fraction(-1), a)))) == "x / alpha"


def test_matlab_style_elementwise_quotient():
    assert P("1./x") == P("1 ./ x") and P("2.*x") == P("2 .* x")


def test_the_suggested_elementwise_quotient_works_for_a_vector():
    """`1 ./ x` (what the refusal of `1/x` suggests) and `2 .* x` broadcast the number: x stays
    a vector; a name beside `∘` keeps its shape (`θ ∘ x`: θ a vector)."""
    s = shaped("sum(1 ./ x)", {"x": (3,)})
    assert s.inputs == {"x": (3,)}
    assert shaped("1./x").inputs == {"x": ("n",)}
    assert shaped("2.*x").expr == shaped("2 x").expr
    assert shaped("θ ∘ x", {"x": (3,)}).inputs["θ"] == (3,)
    rng = np.random.default_rng(RNG_SEED)
    x = rng.uniform(0.5, 2.0, size=3)
    got = gradient_at("sum(1 ./ x) + sum(3 .* x)", "x", {"x": x}, {"x": (3,)})
    f = lambda x: float(np.sum(1 / x) + np.sum(3 * x))            # noqa: E731
    assert_close(got, to2d(fd_gradient(f, {"x": x}, "x")))


# ---- item 4: gaps in matdiff's own notation ----------------------------------------------------

@pytest.mark.parametrize("src, twin", [
    ("tr(A^Tᵀ)", "tr((A^T)^T)"),
    ("A^Tᵀ", "(A^T)^T"),
    ("A + -B", "A + (-B)"),
    ("A * -B", "A (-B)"),
    ("tr(2 A - -B)", "tr(2 A - (-B))"),
    ("A - -B", "A - (-B)"),
    ("2 * -x", "2 (-x)"),
    ("A ∘ -B", "A ∘ (-B)"),
    ("a / -b", "a / (-b)"),
    ("||(alpha ||x||^2) y||", "norm((alpha norm(x)^2) y)"),
    ("||(alpha ||x||^2) y||", "||(alpha ||x||^2) y||_F"),
    ("A : X", "tr(A^T X)"),
    ("<A, X>", "tr(A^T X)"),
    ("⟨A, X⟩", "tr(A^T X)"),
    ("A : B C + c", "tr(A^T (B C)) + c"),      # the loosest of the products, tighter than +
    ("A : B ∘ C", "tr(A^T (B ∘ C))"),
    ("-A : X", "-tr(A^T X)"),
    ("trace(A B)", "tr(A B)"),
])
def test_own_notation_gaps_parse_as_their_twin(src, twin):
    got, want = P(src), P(twin)
    if src.startswith("||"):                     # bars vs norm(): the spelling differs, the meaning not
        got, want = shaped(src).expr, shaped(twin).expr
    assert got == want


def test_a_difference_is_never_a_product_with_a_negation():
    assert P("A - B") == Add((Var("A"), Mul((MINUS_ONE, Var("B")))))
    assert P("A -B") == P("A - B")


# ---- item 3: NumPy's spellings ------------------------------------------------------------------

@pytest.mark.parametrize("src, twin", [
    ("x.T @ A @ x", "x^T A x"),
    ("x @ A @ x", "x^T A x"),                # a vector left of @ is NumPy's 1-D array: a row
    ("x @ y", "x^T y"),
    ("W @ x @ y", "(W x)^T y"),
    ("A @ x", "A x"),
    ("x @ A", "x^T A"),
    ("A @ B", "A B"),
    ("np.trace(A @ B)", "tr(A B)"),
    ("np.linalg.inv(A)", "inv(A)"),
    ("np.linalg.det(X)", "det(X)"),
    ("np.log(np.linalg.det(X))", "logdet(X)"),
    ("np.linalg.norm(A @ x - y)", "norm(A x - y)"),
    ("np.log(x)", "log(x)"),
    ("np.exp(x)", "exp(x)"),
    ("np.tanh(W @ x)", "tanh(W x)"),
    ("np.sum(X)", "sum(X)"),
    ("np.diag(x)", "diag(x)"),
    ("np.kron(A, B)", "A ⊗ B"),
    ("np.outer(a, b)", "a b^T"),
    ("np.matmul(A, B)", "A B"),
    ("np.dot(x, y)", "x^T y"),
    ("dot(x, y)", "x^T y"),
    ("x.dot(y)", "x^T y"),
    ("np.ones(n)", "1_n"),
    ("jnp.sum(jnp.exp(x))", "sum(exp(x))"),
    ("torch.sigmoid(x)", "sigmoid(x)"),
    ("numpy.trace(A)", "tr(A)"),
    ("x ** 2", "x .^ 2"),
    ("x ** -1", "x .^ -1"),
    ("x ** 0.5", "x .^ {1/2}"),
    ("a ** b", "a .^ b"),
])
def test_numpy_spelling_is_its_twin_after_shapes(src, twin):
    """Same shaped expression (dot(x, y)'s check and NumPy's `*` are settled by shapes)."""
    assert shaped(src).expr == shaped(twin).expr


def test_numpy_star_is_elementwise_in_numpy_input_and_the_matrix_product_elsewhere():
    assert shaped("np.exp(W @ x) * v").expr == shaped("exp(W x) ∘ v").expr
    assert shaped("x.T @ y * 2").expr == shaped("(x^T y) 2").expr          # a scalar factor scales
    assert shaped("2 * np.exp(x)").expr == shaped("2 exp(x)").expr
    assert shaped("A * B").expr == shaped("A B").expr                        # matrixcalculus.org's
    assert shaped("x' * A * x").expr == shaped("x^T A x").expr


def test_numpy_power_is_elementwise():
    """NumPy's x ** 2 squares each entry; of a scalar it is the ordinary power."""
    s = shaped("np.sum(x ** 2)", {"x": (3,)})
    assert s.expr == shaped("sum(x .^ 2)", {"x": (3,)}).expr
    assert shaped("(x.T @ x) ** 2").expr == shaped("(x^T x)^2").expr


def test_numpy_dot_of_a_matrix_is_refused_with_its_spelling():
    with pytest.raises(ShapeError, match=r"A @ y"):
        shaped("np.dot(A, y)")
    with pytest.raises(ShapeError, match=r"A @ y"):
        shaped("np.dot(A, y)", {"A": (3, 3), "y": (3,)})


def test_an_unknown_numpy_word_is_refused_where_it_stands():
    with pytest.raises(ParseError) as info:
        parse("x + np.pi")
    assert str(info.value).startswith("line 1, column 5: np.pi:")


# ---- item 2: matrixcalculus.org's language -----------------------------------------------------

def logistic_loss(X, w, y):
    return float(np.sum(np.log(np.exp(-y * (X @ w)) + 1)))


# (its text, variable, shapes, the same function in NumPy written here, kinds of input)
FRONT_PAGE = [
    ("0.5*x'*A*x", "x", {"x": (3,), "A": (3, 3)}, lambda x, A: 0.5 * x @ A @ x),
    ("A*exp(x)", None, None, None),               # a vector: its Jacobian is checked below
    ("sin(x)'*y", "x", {"x": (3,), "y": (3,)}, lambda x, y: float(np.sin(x) @ y)),
    ("(y.*v)'*x", "v", {"y": (3,), "v": (3,), "x": (3,)}, lambda y, v, x: float((y * v) @ x)),
    ("a^b", "a", {"a": (), "b": ()}, lambda a, b: a ** b),
    ("norm2(A*x-y)^2", "x", {"A": (4, 3), "x": (3,), "y": (4,)}, lambda A, x, y: float(np.sum((A @ x - y) ** 2))),
    ("sum(log(exp(-y.*(X*w))+vector(1)))", "w", {"X": (4, 3), "w": (3,), "y": (4,)},
     lambda X, w, y: logistic_loss(X, w, y)),
    ("tr(A*X'*B*X*C)", "X", {"A": (3, 3), "X": (4, 3), "B": (4, 4), "C": (3, 3)},
     lambda A, X, B, C: float(np.trace(A @ X.T @ B @ X @ C))),
    ("log(det(inv(X)))", "X", {"X": (3, 3)}, lambda X: float(np.log(np.linalg.det(np.linalg.inv(X))))),
]


@pytest.mark.parametrize("src, wrt, shapes, f", [c for c in FRONT_PAGE if c[1]], ids=[c[0] for c in FRONT_PAGE if c[1]])
def test_matrixcalculus_front_page_gradients(src, wrt, shapes, f):
    rng = np.random.default_rng(RNG_SEED)
    values = {k: (rng.uniform(0.5, 2.0) if s == () else rng.normal(size=s)) for k, s in shapes.items()}
    if "X" in values and src.startswith("log(det"):
        values["X"] = values["X"] + 4 * np.eye(3)          # det > 0: log of it is real
    got = gradient_at(src, wrt, values, shapes)
    want = fd_gradient(lambda **v: f(**v), values, wrt)
    assert_close(got, to2d(want), what=src + ": ")


def test_matrixcalculus_front_page_vector_example():
    """A*exp(x) is a vector: its Jacobian A diag(exp(x))."""
    rng = np.random.default_rng(RNG_SEED)
    A, x = rng.normal(size=(2, 3)), rng.normal(size=3)
    J = api.derive_jacobian("A*exp(x)", "x", {"A": (2, 3), "x": (3,)})
    got = matdiff_value(J.matrix, {"A": A, "x": x})
    h = 1e-6
    want = np.column_stack([(A @ np.exp(x + h * e) - A @ np.exp(x - h * e)) / (2 * h) for e in np.eye(3)])
    assert_close(got, want)


@pytest.mark.parametrize("src", [c[0] for c in FRONT_PAGE])
def test_matrixcalculus_printer_on_the_front_page(src):
    e = parse(src).result
    assert parse(to_matrixcalculus(e)).result == e


# Random parsed trees that matrixcalculus.org's syntax can say: ASCII names, numbers, every
# product, sums, differences, negation, the transpose, inv, integer matrix powers, elementwise
# powers with decimal exponents, a^b, and its words. Excluded, as it has no spelling for them:
# the Kronecker product, I, vec, diag, softmax, logsumexp, derivatives Phi'(z), norms written
# with bars (norm2 is its only norm), ones vectors of a named size, negative matrix powers.
MC_NAMES = ["A", "B", "X", "x", "y", "w", "b"]
MC_FUNCTIONS = ["exp", "log", "sin", "cos", "tanh", "abs", "sqrt"]
mc_leaves = st.one_of(
    st.sampled_from(MC_NAMES).map(Var),
    st.integers(1, 9).map(lambda n: Const(Fraction(n))),
    st.sampled_from([Fraction(1, 2), Fraction(5, 2)]).map(Const),
    st.just(Ones((None, 1))), st.just(Ones((None, None))),
)


def mc_extend(children):
    two = st.tuples(children, children)
    return st.one_of(
        two.map(MatMul),
        two.map(Add),
        two.map(Hadamard),
        children.map(lambda a: Mul((MINUS_ONE, a))),
        two.map(lambda ab: Add((ab[0], Mul((MINUS_ONE, ab[1]))))),
        two.filter(lambda ab: ab[1] != Const(Fraction(0))).map(lambda ab: divided(*ab)),
        two.map(lambda ab: Hadamard((ab[0], HadamardPow(Fraction(-1), ab[1])))),
        children.map(Transpose),
        children.map(Inverse),
        st.tuples(st.sampled_from([Fraction(2), Fraction(3)]), children).map(lambda ka: MatPow(*ka)),
        st.tuples(st.sampled_from([Fraction(2), Fraction(-1), Fraction(1, 2)]), children).map(lambda ka: HadamardPow(*ka)),
        st.tuples(children, st.sampled_from(MC_NAMES).map(Var)).filter(lambda ab: _positive_or_not_a_number(ab[0]))
          .map(lambda ab: Pow(ab, "^")),
        st.tuples(st.sampled_from(MC_FUNCTIONS), children).map(lambda t: Apply(Fn(t[0]), t[1])),
        st.sampled_from([Trace, Det, Sum, Norm]).flatmap(lambda node: children.map(node)),
        children.filter(lambda a: not isinstance(a, Inverse)).map(lambda a: LogDet(a)),
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(mc_leaves, mc_extend, max_leaves=10))
def test_matrixcalculus_syntax_parses_back_to_the_same_tree(e):
    text = to_matrixcalculus(e)
    assert parse(text).result == e, text


def test_matrixcalculus_printer_refuses_what_the_syntax_cannot_say():
    for src in ("A ⊗ B", "Phi'(z)", "||x||", "diag(x)", "1_n"):
        with pytest.raises(ValueError):
            to_matrixcalculus(parse(src).result)


# ---- items 6 and 7: through the CLI --------------------------------------------------------------

def _cli(*argv):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "matdiff", *argv], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_claims_that_begin_with_a_minus():
    done = _cli("check", "-logdet(X)", "--wrt", "X", "--claim", "-X^-T")
    assert done.returncode == 0 and "the claim is right" in done.stdout, done.stderr
    done = _cli("check", "-x^T A x", "--wrt", "x", "--claim", "-2 A x")
    assert done.returncode == 1 and "the claim is WRONG" in done.stdout, done.stderr


@pytest.mark.parametrize("src, echo", [
    ("x.T @ A @ x", "x^T A x"),
    ("x @ A @ x", "x^T A x"),                # a vector left of @ is NumPy's 1-D array: a row
    ("x @ y", "x^T y"),
    ("W @ x @ y", "(W x)^T y"),
    ("A @ x", "A x"),
    ("x @ A", "x^T A"),
    ("0.5*x'*A*x", "1/2 x^T A x"),
    ("np.trace(np.linalg.inv(X) @ B)", "tr(X^-1 B)"),
    ("<A, X>", "tr(A^T X)"),
])
def test_cli_parse_shows_a_foreign_input_in_matdiffs_notation(src, echo):
    done = _cli("parse", src)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == echo


def test_cli_parse_refuses_the_ambiguous_division_without_a_traceback():
    done = _cli("parse", "x^T A x / x^T x")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "(x^T A x) / (x^T x)" in done.stderr


@pytest.mark.parametrize("src", ["x.T*A*x", "x.T*x", "np.sum(x.T * A)"])
def test_numpy_star_that_fits_only_for_a_scalar_is_refused_with_both_readings(src):
    """SymPy's users mean x^T A x by `x.T*A*x`, NumPy's a broadcast: never read as x a scalar."""
    with pytest.raises(ShapeError, match=r"NumPy's elementwise product.*write `@`"):
        shaped(src)


def test_numpy_star_scales_by_a_scalar_and_multiplies_equal_shapes():
    assert shaped("alpha * np.exp(x)").expr == shaped("alpha exp(x)").expr
    assert shaped("np.sum(x * y)", {"x": (3,)}).expr == shaped("sum(x ∘ y)", {"x": (3,)}).expr
