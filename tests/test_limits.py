"""Limits: hostile sizes give a clear LimitError quickly, never a RecursionError or a hang."""
from __future__ import annotations

import time

import pytest

import matdiff
from matdiff.errors import LimitError
from matdiff.limits import LIMITS


@pytest.mark.parametrize("src, wrt, limit", [
    (" + ".join(["x^T x"] * 3000), "x", "depth"),
    ("sum(" + "tanh(" * 2000 + "x" + ")" * 2000 + ")", "x", "depth"),
    ("tr(A^100000)", "A", "power"),
    ("x^T x" + " " * 200_000, "x", "length"),
    ("\n".join(f"h{i + 1} = tanh(h{i})" for i in range(3000)) + "\nJ = sum(h3000)", "h0", "lines"),
])
def test_past_a_limit_is_a_clear_error(src, wrt, limit):
    t = time.perf_counter()
    with pytest.raises(LimitError, match=f"--limit {limit}="):
        matdiff.derive_gradient(src, wrt)
    assert time.perf_counter() - t < 2


def test_ten_thousand_parentheses_are_fine():
    g = matdiff.derive_gradient("sum(" + "(" * 10000 + "x" + ")" * 10000 + ")", "x")
    assert g.check().ok


def test_a_long_chain_within_the_limits_is_linear_and_right():
    src = "\n".join(f"h{i + 1} = tanh(W h{i})" for i in range(200)) + "\nJ = sum(h200)"
    g = matdiff.derive_gradient(src, ["W", "h0"])
    assert len(g.text()) < 120 * 200                     # deltas keep the result linear in the depth
    assert g.check().ok


def test_limits_can_be_raised(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_power", 200)
    g = matdiff.derive_gradient("tr(A^100)", "A", shapes={"A": (2, 2)})
    assert g.check().ok


def test_unknown_limit_is_named():
    with pytest.raises(LimitError, match="no limit called speed"):
        LIMITS.set("speed", 3)


def test_numbers_up_to_300_digits_are_exact_and_longer_ones_refused():
    """Issue 11.5: a number of 5,000 digits was a traceback (Python's int-from-text and int-to-text
    limit, 4,300 digits). Numbers stay within 300 digits, numerator and denominator, so that they
    convert to float for the checks: within, exact and checked at random inputs; past, a LimitError."""
    import random

    import sympy

    rng = random.Random(5)
    big = rng.randrange(10 ** 249, 10 ** 250)
    small = rng.randrange(10 ** 149, 10 ** 150)
    g = matdiff.gradient(f"x^T x * {big} / {small}", wrt="x")
    x = sympy.MatrixSymbol("x", *g.shape)
    assert sympy.simplify(g - sympy.Rational(2 * big, small) * x) == sympy.ZeroMatrix(*g.shape)
    assert matdiff.check(f"x^T x / {big} + sum(x) * {small}", wrt="x").ok
    assert matdiff.check("x^T x * (10^100)^2", wrt="x").ok          # folded: 10^200
    for src in (f"x^T x * {'7' * 301}", f"x^T x * 0.{'0' * 299}1", f"x^T x * {big} * {big}",
                "x^T x * ((10^60)^60)^60", f"sum(x .^ {'9' * 400})"):
        t = time.perf_counter()
        with pytest.raises(LimitError, match="at most 300 digits"):
            matdiff.gradient(src, wrt="x")
        assert time.perf_counter() - t < 2
