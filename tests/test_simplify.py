"""Every simplification rule alone: where it fires, the value is unchanged.

A rule that rewrites `diag(A B^T)` into `A ∘ B` for matrices (true only for
vectors) once gave a wrong gradient; each rule gets an input on which it fires,
including the near misses it must leave alone, checked with NumPy.
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff.calculus.simplify as S
from matdiff.language.algebra import normalize
from matdiff.api import understand
from matdiff.checking.numeric import Env, evaluate

DIMS = {"n": 3, "m": 4, "k": 2}
SHAPES = dict(A=("n", "n"), B=("n", "m"), C=("m", "n"), X=("n", "m"), x=("n",), y=("n",), a=("n",),
              b=("m",), s=("n",), alpha=())

# rule -> expressions on which it fires (and near misses where it must not change the value)
CASES = {
    "transpose_inside":  ["(A B)^T", "(alpha B)^T", "(A^2)^T", "(kron(A, B))^T", "(A + A^T)^T"],
    "known_derivative":  ["exp'(x)", "log'(x .^ 2 + 1)", "sin'(x)", "cos'(x)", "softplus'(x)",
                          "sqrt'(x .^ 2 + 1)", "tanh'(x)", "relu''(x)", "relu'''(x .^ 2 - 1)"],
    "hadamard_powers":   ["x ∘ x", "x .^ 2 ∘ x .^ -1", "x ./ x ∘ y", "(x .^ 2 + 1) ∘ (x .^ 2 + 1) .^ -1"],
    "factor_common":     ["A x + A^T x", "x^T A + x^T A^T", "2 A x - alpha A^T x", "A B + B", "A B + A X"],
    "distribute_transposed_sums": ["(3 A + 2 A^T)^T + 2 A^T + 3 A", "(A^T + B C)^T + A + C^T B^T",
                                   "alpha (A - 2 B C)^T + A^T", "(A + B C)^T + A"],
    "factor_scalars":    ["1/2 A + 1/2 A^T", "2 X - 2 B", "exp(alpha) A + exp(alpha) A^T x x^T",
                          "-2 A - 2 B C", "alpha^2 exp(alpha) A - 3 alpha A^T", "2 A + 3 A^T"],
    "factor_scalar_groups": ["2 A + 2 A^T + x y^T", "exp(alpha) A - exp(alpha) A^T + x y^T",
                             "alpha A + 2 A^T + B C"],
    "collect_coefficients": ["2 B - 1/2 exp(alpha) B", "alpha A x + 2 A x", "-2 alpha B - 1/2 alpha exp(alpha) B",
                             "exp(alpha) A + A", "alpha A + 2 A^T", "alpha B + 2 B + A B"],
    "distribute_number": ["2 (A^T + 1/2 A)", "2 alpha (1/2 x - y)", "3 (A + B C)", "-4 (1/2 A - 1/4 B C)",
                          "2 (3 A + 2 A^T)"],
    "absorb_sign":       ["-(2 x - 2 y)", "-2 (X - B) C", "-alpha A (x - 3 y)", "-(x + y)", "-(alpha - 2)"],
    "symmetric_sum_transpose": ["(B C + C^T B^T - 2 A)^T", "(A + B C)^T"],
    "transpose_after_its_matrix": ["A^T + B C + A", "2 A^T x x^T + y y^T + 2 x x^T A", "A^T - A"],
    "divisor_last":      ["x .^ -1 ∘ y", "x .^ -1 ∘ y .^ -1 ∘ s", "x .^ -2 ∘ y"],
    "positive_first":    ["-x + y", "-x - y + A x"],
    "ratio_sums":        ["s^T (s .^ -1 ∘ y)", "A s s^T (s .^ -1 ∘ y)", "s^T (x .^ -1 ∘ y)"],
    "split_ones":        ["sum(X C)", "diag(X 1 1^T C)"],
    "diag_of_outer":     ["diag(x y^T)", "diag(x b^T C)", "diag(B C)", "diag(A A^T)"],
    "diag_of_ones":      ["diag(1 + 0 x)", "sum(diag(A))"],
    "entrywise_normal_form": ["sigmoid'(x) ∘ ((1 - sigmoid(x)) .^ -1 ∘ (1 - y) - sigmoid(x) .^ -1 ∘ y)",
                          "exp(-x) ./ (1 + exp(-x))", "1 - sigmoid(x)", "y .^ 2 ∘ exp(x) ./ (1 + exp(x)) .^ 2",
                          "sigmoid'(alpha) / sigmoid(alpha) x", "1 - tanh(x) .^ 2", "sigmoid(x) ∘ sigmoid(-x)",
                          "x ./ (x + y) + y ./ (x + y)", "softplus''(x) ./ sigmoid(x)", "tanh'(x) ∘ y + y"],
    "diag_sums":         ["diag(x) - diag(y)", "B^T (diag(x) - alpha diag(y)) B", "diag(x) + A"],
    "even_derivatives":  ["sigmoid'(-x)", "tanh'(-alpha x)", "sigmoid''(-x)", "tanh(-x)"],
    "number_out_of_power": ["(2 alpha) .^ -1", "x / (2 alpha^2)", "(3 x) .^ 2", "(-2 x) .^ -3"],
    "sinh_over_cosh":    ["sinh(x) ./ cosh(x)", "sinh(alpha) / cosh(alpha) x", "y ∘ sinh(A x) ./ cosh(A x)"],
    "half_powers":       ["x .^ {1/2}", "(x^T x)^{-1/2} x", "X .^ {-1/2}", "x .^ {3/2}"],
    "hadamard_with_ones": ["X ∘ (x 1_m^T)", "X ∘ (1_n b^T)", "X ∘ (A 1_n 1_m^T)", "X ∘ (1_n 1_n^T B)", "x ∘ (A 1_n)"],
    "inverse_of_square_product": ["A^T inv(A A A^T)^T A", "A inv(A^T A)", "B^T inv(A B C)^T C^T"],
    "det_of_inverse":    ["det(inv(A))", "det(A^T)", "det(inv(A)) det(A)"],
    "logdet_of_inverse": ["logdet(inv(A A^T))", "logdet((A A^T A)^T)"],
}


def values(rng):
    out = {}
    for name, shape in SHAPES.items():
        size = tuple(DIMS[d] for d in shape) + ((1,) if len(shape) == 1 else ())
        out[name] = rng.uniform(0.5, 1.5, size=size if shape else (1, 1))
    return out


def test_every_rule_has_cases():
    rules = {r.__name__ for rs in S.RULES.values() for r in rs}
    assert rules == set(CASES)


@pytest.mark.parametrize("src", [s for srcs in CASES.values() for s in srcs])
def test_rule_keeps_the_value(src):
    e = normalize(understand(src, shapes=SHAPES).expr)
    simple = S.simplify(e)
    rng = np.random.default_rng(0)
    for _ in range(3):
        env = Env(values(rng), DIMS)
        np.testing.assert_allclose(evaluate(simple, env), evaluate(e, env), rtol=1e-10, atol=1e-12,
                                   err_msg=f"{src} -> {simple}")


@pytest.mark.parametrize("rule, src", [
    ("diag_of_outer", "diag(x y^T)"),
    ("factor_common", "A x + A^T x"),
    ("distribute_transposed_sums", "(3 A + 2 A^T)^T + 2 A^T + 3 A"),
    ("factor_scalars", "exp(alpha) A + exp(alpha) A^T"),
    ("factor_scalar_groups", "2 A + 2 A^T + x y^T"),
    ("absorb_sign", "-2 (X - B) C"),
    ("transpose_after_its_matrix", "A^T + B C + A"),
    ("divisor_last", "x .^ -1 ∘ y"),
    ("ratio_sums", "s^T (s .^ -1 ∘ y)"),
    ("transpose_inside", "(A B)^T"),
    ("entrywise_normal_form", "exp(-x) ./ (1 + exp(-x))"),
    ("diag_sums", "diag(x) - diag(y)"),
    ("even_derivatives", "sigmoid'(-x)"),
])
def test_rule_fires(rule, src):
    """Each rule really rewrites its own pattern (so the value test above exercises it)."""
    e = normalize(understand(src, shapes=SHAPES).expr)
    fired = [r.__name__ for r in S.RULES.get(type(e), ()) if r(e) is not None]
    assert rule in fired, f"{rule} did not fire on {e}"


def test_symmetric_sum_transpose_on_a_node_built_raw():
    """The transpose constructor already sees (A + A^T)^T as A + A^T; the rule still catches a
    Transpose node built without it (a parsed tree rebuilt)."""
    from matdiff.language.expr import Add, Transpose
    a = normalize(understand("A + A^T", shapes=SHAPES).expr)
    assert isinstance(a, Add) and S.symmetric_sum_transpose(Transpose(a)) == a


def test_diag_of_a_matrix_product_is_not_a_hadamard_product():
    e = normalize(understand("diag(B C)", shapes=SHAPES).expr)
    assert S.diag_of_outer(e) is None
