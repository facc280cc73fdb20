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


def test_a_hessian_of_a_deep_chain_keeps_to_the_time_limit():
    """Found by fuzzing: the Hessian of sum(exp(exp(...(W x)))) 120 deep has a Jacobian quadratic
    in the depth, built without looking at the clock (14 s against a limit of 3 s)."""
    src = "sum(" + "exp(" * 120 + "W x" + ")" * 120 + ")"
    saved = LIMITS.max_seconds
    LIMITS.max_seconds = 3
    t = time.monotonic()
    try:
        with pytest.raises(LimitError, match="longer than 3 s"):
            matdiff.derive_hessian(src, "W")
    finally:
        LIMITS.max_seconds = saved
    assert time.monotonic() - t < 3 + 2
