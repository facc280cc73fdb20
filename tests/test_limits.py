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


def test_the_jacobian_of_a_differential_looks_at_the_clock(monkeypatch):
    """Found by fuzzing: the Hessian of sum(exp(exp(...(W x)))) 120 deep has a Jacobian quadratic
    in the depth, built without looking at the clock (14 s against a limit of 3 s). Here the
    budget is spent before the Jacobian starts: it must stop at once, not at the end."""
    from matdiff.diff import differential
    from matdiff.jacobian import jacobian_of_linear
    from matdiff.limits import budgeted
    from matdiff.problem import Problem
    src = "sum(" + "exp(" * 30 + "W x" + ")" * 30 + ")"
    X = Problem.of(src).var("W")
    G = matdiff.derive_gradient(src, "W").grads["W"]
    dG = differential(G, {X})
    monkeypatch.setattr(LIMITS, "max_seconds", 1e-9)
    with pytest.raises(LimitError, match="the derivation took longer"):
        budgeted(jacobian_of_linear)(dG, X)
