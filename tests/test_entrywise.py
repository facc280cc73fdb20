"""The entrywise algebra (calculus/entrywise.py): function identities and rational cancellation.

Each identity the normaliser uses is checked as one (both sides at random inputs); the
normaliser itself on random elementwise expressions (its value is the input's, it is never
longer); and the issue's examples end to end: numerically the derivative of a loss written here
in NumPy (finite differences), and no longer than the textbook's form.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from helpers_calculus import fd_gradient, matdiff_value, sigmoid
from matdiff.api import understand
from matdiff.calculus import entrywise
from matdiff.calculus.simplify import simplify
from matdiff.checking.numeric import Env, evaluate
from matdiff.language.algebra import normalize
from test_properties import SETTINGS, n_examples

DIMS = {"n": 4, "m": 3}
SHAPES = dict(x=("n",), y=("n",), a=("n",), b=("n",), alpha=(), beta=(), c=("m",), M=("n", "m"), N=("n", "m"))


def shaped(src: str):
    return normalize(understand(src, shapes=SHAPES).expr)


def value(e, rng_seed: int = 0):
    rng = np.random.default_rng(rng_seed)
    env = {k: rng.uniform(-1.5, 1.5, size=tuple(DIMS[d] for d in s) + ((1,) if len(s) == 1 else ()) if s else (1, 1))
           for k, s in SHAPES.items()}
    env["x"] = np.abs(env["x"]) + 0.5          # log and x .^ -1 want a positive x
    return evaluate(e, Env(env, DIMS))


# ---- each identity, both sides at random inputs ------------------------------------------------

IDENTITIES = [
    ("sigmoid'(a)", "sigmoid(a) ∘ (1 - sigmoid(a))"),
    ("sigmoid'(a)", "sigmoid(a) ∘ sigmoid(-a)"),
    ("sigmoid''(a)", "sigmoid(a) ∘ (1 - sigmoid(a)) ∘ (1 - 2 sigmoid(a))"),
    ("sigmoid'(-a)", "sigmoid'(a)"),
    ("sigmoid''(-a)", "-sigmoid''(a)"),
    ("1 - sigmoid(a)", "sigmoid(-a)"),
    ("exp(a) ./ (1 + exp(a))", "sigmoid(a)"),
    ("exp(a) ./ (1 + exp(a)) .^ 2", "sigmoid'(a)"),
    ("tanh'(a)", "1 - tanh(a) .^ 2"),
    ("tanh'(-a)", "tanh'(a)"),
    ("tanh''(a)", "-2 tanh(a) ∘ (1 - tanh(a) .^ 2)"),
    ("softplus'(a)", "sigmoid(a)"),
    ("softplus''(a)", "sigmoid'(a)"),
    ("exp'(a)", "exp(a)"),
    ("exp(-a)", "exp(a) .^ -1"),
    ("log'(x)", "x .^ -1"),
    ("diag(a) - 2 diag(b)", "diag(a - 2 b)"),
    ("x .^ {1/2}", "sqrt(x)"),
    ("(x^T x)^{-1/2} x", "x / sqrt(x^T x)"),
    ("M ∘ (a 1_m^T)", "diag(a) M"),
    ("M ∘ (1_n c^T)", "M diag(c)"),
    ("M ∘ (N 1_m 1_m^T)", "diag(N 1_m) M"),
]


@pytest.mark.parametrize("left, right", IDENTITIES)
def test_identity_holds_and_simplify_keeps_it(left, right):
    L, R = shaped(left), shaped(right)
    for seed in range(3):
        np.testing.assert_allclose(value(L, seed), value(R, seed), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(value(simplify(L), seed), value(L, seed), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(value(simplify(R), seed), value(R, seed), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("src, shorter_than", [
    ("sigmoid'(a) ∘ ((1 - sigmoid(a)) .^ -1 ∘ (1 - y) - sigmoid(a) .^ -1 ∘ y)", "sigmoid(a) - y"),
    ("y ∘ exp(-a) ./ (1 + exp(-a))", "y ∘ sigmoid(-a)"),
    ("y .^ 2 ∘ exp(-a) .^ 2 ∘ (1 + exp(-a)) .^ -2 - y .^ 2 ∘ exp(-a) ./ (1 + exp(-a))", "-y .^ 2 ∘ sigmoid'(a)"),
    ("y ∘ sigmoid'(a) ./ sigmoid(a)", "y ∘ sigmoid(-a)"),
    ("sigmoid'(alpha) / sigmoid(alpha) x", "sigmoid(-alpha) x"),
    ("1 - tanh(a) .^ 2", "tanh'(a)"),
    ("sigmoid(a) ∘ sigmoid(-a)", "sigmoid'(a)"),
    ("x ./ (x + 1) + 1 ./ (x + 1)", "1"),
    ("alpha sigmoid(a) + alpha (1 - sigmoid(a))", "alpha y"),          # alpha 1_n: broadcast back
    ("sigmoid(alpha) sigmoid(-alpha) y", "sigmoid'(alpha) y"),
])
def test_collapses(src, shorter_than):
    """The cancellations the issue's examples need: the value kept, the result as short as the
    form a person writes (the test's own spelling, measured with the same yardstick)."""
    e = shaped(src)
    got = simplify(e)
    for seed in range(3):
        np.testing.assert_allclose(value(got, seed), value(e, seed), rtol=1e-9, atol=1e-12)
    assert entrywise.size(got) <= entrywise.size(shaped(shorter_than)), f"{src} -> {got}"


@pytest.mark.parametrize("src", ["tanh'(a) ∘ y", "y + tanh'(a) ∘ y", "sigmoid(a) + y", "a ∘ b + y"])
def test_leaves_alone_what_it_cannot_shorten(src):
    e = shaped(src)
    assert entrywise.normal_form(e) is None


# ---- the normaliser on random elementwise expressions --------------------------------------------

# positive atoms (safe below a division bar) and any atoms
POSITIVE = ["x", "sigmoid(a)", "sigmoid(-a)", "sigmoid'(a)", "exp(a)", "exp(-a)", "tanh'(b)", "2", "(x .^ 2 + 1)"]
ANY = POSITIVE + ["a", "y", "tanh(b)", "sigmoid''(a)", "alpha y", "(1 - sigmoid(a))"]


def _positive(depth: int):
    leaf = st.sampled_from(POSITIVE)
    if depth == 0:
        return leaf
    sub = _positive(depth - 1)
    return st.one_of(leaf, st.tuples(sub, st.sampled_from([" + ", " ∘ ", " ./ "]), sub).map(
        lambda t: f"({t[0]}{t[1]}{t[2]})"), sub.map(lambda s: f"{s} .^ 2"))


def _any(depth: int):
    leaf = st.sampled_from(ANY)
    if depth == 0:
        return leaf
    sub = _any(depth - 1)
    return st.one_of(leaf, st.tuples(sub, st.sampled_from([" + ", " - ", " ∘ "]), sub).map(
        lambda t: f"({t[0]}{t[1]}{t[2]})"), st.tuples(sub, _positive(1)).map(lambda t: f"({t[0]} ./ {t[1]})"))


@settings(max_examples=n_examples(80), **SETTINGS)
@given(_any(3))
def test_normal_form_keeps_the_value_and_is_never_longer(src):
    e = shaped(src)
    new = entrywise.normal_form(e)
    if new is None:
        return
    assert entrywise.size(new) < entrywise.size(e), f"{src}: {e} -> {new}"
    for seed in range(2):
        np.testing.assert_allclose(value(new, seed), value(e, seed), rtol=1e-8, atol=1e-10,
                                   err_msg=f"{src}: {e} -> {new}")


# ---- the examples end to end ---------------------------------------------------------------

TOKEN = re.compile(r"\^-?T|ᵀ|\^\(?-?\d+(/\d+)?\)?|\.\^|\./|\.\*|[A-Za-z_\u0391-\u03c9][A-Za-z0-9_\u0391-\u03c9]*'*"
                   r"|\d+(\.\d+)?|[-+∘⊗/=]|\|\||\^")


def tokens(text: str) -> int:
    """Symbols of a printed answer (the corpus yardstick: names, numbers, operators)."""
    return sum(len(TOKEN.findall(re.sub(r"^(∂f/∂\w+|H) = ", "", line.strip()))) for line in text.splitlines())


LOGISTIC = dict(X=("n", "m"), y=("n",), w=("m",))


def _cross_entropy(X, y, w):
    s = sigmoid(X @ w)
    return -y @ np.log(s) - (1 - y) @ np.log(1 - s)


def _log_sigmoid_margin(X, y, w):
    return np.sum(np.log(sigmoid(y * (X @ w))))


def _logistic_loss(X, y, w):
    return np.sum(np.log(1 + np.exp(-y * (X @ w))))


def _log_sigmoid(x, w):
    return np.log(sigmoid(w @ x))


GRADIENTS = [
    ("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", LOGISTIC, _cross_entropy,
     "X^T (sigmoid(X w) - y)"),
    ("sum(log(sigmoid(y .* (X w))))", LOGISTIC, _log_sigmoid_margin, "X^T (y ∘ (1 - sigmoid(y ∘ X w)))"),
    ("sum(log(1 + exp(-y .* (X w))))", LOGISTIC, _logistic_loss, "-X^T (y ∘ sigmoid(-y ∘ X w))"),
    ("log(sigmoid(w^T x))", dict(x=("n",), w=("n",)), _log_sigmoid, "(1 - sigmoid(w^T x)) x"),
    # a corpus of our own: the same losses spelled otherwise
    ("y^T X w - sum(softplus(X w))", LOGISTIC, lambda X, y, w: y @ X @ w - np.sum(np.logaddexp(0, X @ w)),
     "X^T (y - sigmoid(X w))"),
    ("y^T log(sigmoid(X w)) + (1 - y)^T log(sigmoid(-X w))", LOGISTIC,
     lambda X, y, w: -_cross_entropy(X, y, w), "X^T (y - sigmoid(X w))"),
    ("sum(softplus(-y .* (X w)))", LOGISTIC, _logistic_loss, "-X^T (y ∘ sigmoid(-y ∘ X w))"),
    ("sum(exp(X w) ./ (1 + exp(X w)))", LOGISTIC, lambda X, y, w: np.sum(sigmoid(X @ w)), "X^T sigmoid'(X w)"),
    ("sum(log(1 + exp(X w))) - y^T X w", LOGISTIC, lambda X, y, w: np.sum(np.logaddexp(0, X @ w)) - y @ X @ w,
     "X^T (sigmoid(X w) - y)"),
]


def _inputs(shapes: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=tuple({"n": 5, "m": 3}[d] for d in s)) for k, s in shapes.items()}


@pytest.mark.parametrize("src, shapes, f, textbook", GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradient_is_right_and_no_longer_than_the_textbook(src, shapes, f, textbook):
    g = matdiff.derive_gradient(src, "w", shapes=shapes)
    assert tokens(g.text()) <= tokens(textbook), g.text()
    for seed in range(3):
        values = _inputs(shapes, seed)
        got = matdiff_value(g.inlined["w"], values, {"n": 5, "m": 3})
        np.testing.assert_allclose(got.ravel(), fd_gradient(f, values, "w"), rtol=1e-6, atol=1e-8)


HESSIANS = [
    ("sum(log(1 + exp(-y .* (X w))))", _logistic_loss, "H = X^T diag(y .^ 2 ∘ sigmoid'(y ∘ X w)) X"),
    ("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", _cross_entropy, "H = X^T diag(sigmoid'(X w)) X"),
    ("sum(log(sigmoid(y .* (X w))))", _log_sigmoid_margin, "H = -X^T diag(y .^ 2 ∘ sigmoid'(y ∘ X w)) X"),
]


@pytest.mark.parametrize("src, f, textbook", HESSIANS, ids=[h[0] for h in HESSIANS])
def test_logistic_hessian_is_right_and_no_longer_than_the_textbook(src, f, textbook):
    h = matdiff.derive_hessian(src, "w", shapes=LOGISTIC)
    assert tokens(h.text()) <= tokens(textbook), h.text()
    for seed in range(3):
        values = _inputs(LOGISTIC, seed)
        got = matdiff_value(h.matrix, values, {"n": 5, "m": 3})
        # column j of the Hessian: central differences of the loss's finite-difference gradient
        grad = lambda w: fd_gradient(f, {**values, "w": w}, "w")
        fd = np.column_stack([(grad(values["w"] + 1e-4 * e) - grad(values["w"] - 1e-4 * e)) / 2e-4
                              for e in np.eye(3)])
        np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-5)
