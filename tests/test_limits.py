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


# ---- the time budget: every entry point, per thread, nested calls share it ----------------------

import dataclasses
import threading

import numpy as np

from matdiff.codegen import generate as codegen
from matdiff.cli import main
from matdiff.limits import budgeted
from matdiff.language.problem import Problem
from helpers_calculus import sympy_evaluate


@pytest.fixture
def limits():
    """LIMITS as the test leaves it is LIMITS as it found it (a test lowers max_seconds)."""
    saved = dataclasses.replace(LIMITS)
    yield LIMITS
    for f in dataclasses.fields(LIMITS):
        setattr(LIMITS, f.name, getattr(saved, f.name))


def chain(n: int, step: str = "{prev} + x", last: str = "f = h{n}^T h{n}") -> str:
    """h1 = x, h2 = h1 + x, ..., then a scalar of h_n: a program n + 1 lines long."""
    lines = ["h1 = x"] + [f"h{i} = " + step.format(prev=f"h{i - 1}") for i in range(2, n + 1)]
    return "\n".join(lines + [last.format(n=n)])


BIG = chain(400, step="tanh(W {prev})", last="f = sum(h{n})")

ENTRY_POINTS = {
    "parse": lambda: matdiff.parse(BIG),
    "understand": lambda: matdiff.understand(BIG),
    "derive_gradient": lambda: matdiff.derive_gradient(BIG, "W"),
    "gradient": lambda: matdiff.gradient(BIG, "W"),
    "differential": lambda: matdiff.differential(BIG, "W"),
    "check": lambda: matdiff.check(BIG, "W"),
    "check --claim": lambda: matdiff.check(BIG, "x", claim="x"),
    "derive_jacobian": lambda: matdiff.derive_jacobian(BIG, "x"),
    "jacobian": lambda: matdiff.jacobian(BIG, "x"),
    "derive_hessian": lambda: matdiff.derive_hessian(BIG, "x"),
    "hessian": lambda: matdiff.hessian(BIG, "x"),
    "hessian diagonal": lambda: matdiff.hessian(BIG, "W", diagonal=True),
    "sheet": lambda: matdiff.sheet(BIG, "W"),
    "latex": lambda: matdiff.latex(BIG),
    "lambdify": lambda: matdiff.lambdify(BIG, "W"),
    "emit": lambda: codegen.emit(BIG, "W"),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_keeps_to_the_time_limit(limits, name):
    limits.max_seconds = 0.001
    t = time.perf_counter()
    with pytest.raises(LimitError, match="--limit seconds="):
        ENTRY_POINTS[name]()
    assert time.perf_counter() - t < 2                 # refused soon after the limit, not at the end


@pytest.mark.parametrize("command", [
    ["parse"], ["grad", "--wrt", "W"], ["grad", "--wrt", "W", "--emit", "numpy"], ["diff"],
    ["check", "--wrt", "W"], ["jacobian", "--wrt", "x"], ["hessian", "--wrt", "W", "--diagonal"],
    ["sheet", "--wrt", "W"],
])
def test_every_command_keeps_to_the_time_limit(limits, capsys, command):
    assert main([command[0], BIG, *command[1:], "--limit", "seconds=0.001"]) == 2
    assert "--limit seconds=" in capsys.readouterr().err


def test_a_derivation_within_the_time_limit_is_unaffected(limits):
    limits.max_seconds = 30
    g = matdiff.derive_gradient("x^T A x", "x")
    assert g.check().ok


def test_nested_calls_share_the_outer_budget(limits):
    @budgeted
    def outer():
        time.sleep(0.3)                                # the outer call has spent its budget ...
        return matdiff.derive_gradient("x^T A x", "x")    # ... so the inner one may not start afresh
    limits.max_seconds = 0.1
    with pytest.raises(LimitError, match="--limit seconds="):
        outer()


def test_the_budget_belongs_to_its_thread(limits):
    """A long derivation in one thread is refused at its limit while short calls in another
    start and finish in between: their finishing must not clear its budget (nor theirs share it)."""
    limits.max_seconds = 0.5
    long_src = "sum(" + "tanh(" * 200 + "x" + ")" * 200 + ")"    # its Hessian takes seconds
    outcome: dict = {}
    done = threading.Event()

    def long_call():
        t = time.perf_counter()
        try:
            matdiff.derive_hessian(long_src, "x")
            outcome["long"] = "finished"
        except LimitError as e:
            outcome["long"] = str(e)
        outcome["long seconds"] = time.perf_counter() - t
        done.set()

    short_calls = []
    worker = threading.Thread(target=long_call)
    worker.start()
    while not done.is_set():
        short_calls.append(matdiff.derive_gradient("x^T A x", "x").text().endswith("(A + A^T) x"))
        time.sleep(0.01)
    worker.join()
    assert "took longer than 0.5 s" in outcome["long"]
    assert 0.5 <= outcome["long seconds"] < 5
    assert len(short_calls) >= 2 and all(short_calls)


def test_a_call_finishing_in_another_thread_leaves_this_ones_budget(limits):
    """Thread B's call starts first and finishes while A's is under way: A's budget stays
    (a module-level budget made A's call the inner one, and B's exit cleared it)."""
    limits.max_seconds = 0.2
    b_started, a_started, b_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict = {}

    @budgeted
    def b_call():
        b_started.set()
        a_started.wait(5)

    @budgeted
    def a_call():
        a_started.set()
        b_done.wait(5)
        time.sleep(0.3)                                # past A's limit
        matdiff.derive_gradient("x^T A x", "x")        # looks at the clock: must see A's budget

    def a_thread():
        b_started.wait(5)
        try:
            a_call()
            outcome["a"] = "finished"
        except LimitError as e:
            outcome["a"] = str(e)

    worker = threading.Thread(target=a_thread)
    worker.start()
    b_call()
    b_done.set()
    worker.join(10)
    assert "took longer than 0.2 s" in outcome["a"]


def test_a_call_in_another_thread_has_its_own_budget(limits):
    """A's call has spent its budget; a call B starts meanwhile in another thread gets its own."""
    limits.max_seconds = 0.2
    a_started, b_done = threading.Event(), threading.Event()

    @budgeted
    def a_call():
        a_started.set()
        b_done.wait(5)

    worker = threading.Thread(target=a_call)
    worker.start()
    a_started.wait(5)
    time.sleep(0.3)                                    # A is past its limit now, B starts afresh
    try:
        assert matdiff.derive_gradient("x^T A x", "x").check().ok
    finally:
        b_done.set()
        worker.join(10)


# ---- deep input: a right answer or a LimitError, never a RecursionError -------------------------

def test_set_up_of_a_long_program_is_linear():
    """Problem.of once copied the table of step symbols for every step: quadratic in the lines."""
    def best_of_three(n):
        src = chain(n)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            Problem.of(src)
            times.append(time.perf_counter() - t)
        return min(times)
    assert best_of_three(1999) < 25 * best_of_three(250)    # 8 times the lines: linear ~8, quadratic ~64


def test_a_2000_line_program_has_its_gradient(rng):
    n = 1999                                           # with f, 2,000 lines: the line limit
    src = chain(n)                                     # h_n = n x, so f = n^2 x^T x
    x = rng.standard_normal(4)
    g = matdiff.gradient(src, "x")                     # SymPy: the chain inline was too deep for it
    assert np.allclose(sympy_evaluate(g, {"x": x}, {"n": 4}).ravel(), 2 * n * n * x)
    f, grads = matdiff.lambdify(src, "x")(x=x)
    assert np.isclose(f, n * n * x @ x)
    assert np.allclose(grads["x"], 2 * n * n * x)
    assert matdiff.derive_gradient(src, "x").check().ok


def test_too_deep_for_sympy_is_a_limit_error_not_a_recursion_error():
    src = chain(1999, step="tanh({prev})", last="f = sum(h{n})")   # 2,000 nested tanh inline
    assert matdiff.derive_gradient(src, "x").check().ok             # matdiff's own form is fine
    with pytest.raises(LimitError, match="nested too deeply.*--limit depth="):
        matdiff.gradient(src, "x")


def test_a_recursion_error_at_any_entry_point_is_a_limit_error():
    @budgeted
    def runaway(k):
        return runaway(k + 1)
    with pytest.raises(LimitError, match="recursion limit"):
        runaway(0)


@pytest.mark.parametrize("k", [100, 248])              # 248: with A, 249 deep, within the depth limit
def test_latex_of_a_deep_expression(k):
    expected = "A"
    for i in range(k):
        expected = f"{expected}^{{-1}}" if i == 0 else f"({expected})^{{-1}}"
    assert matdiff.latex("A" + "^-1" * k) == expected


def test_a_limit_on_the_command_line_holds_for_that_command_only(limits, capsys):
    before = LIMITS.max_depth
    assert main(["parse", "x^T (x + x)", "--limit", "depth=2"]) == 2
    assert "--limit depth=" in capsys.readouterr().err
    assert LIMITS.max_depth == before                  # main() called from Python leaves LIMITS as it was
def test_the_jacobian_of_a_differential_looks_at_the_clock(monkeypatch):
    """Found by fuzzing: the Hessian of sum(exp(exp(...(W x)))) 120 deep has a Jacobian quadratic
    in the depth, built without looking at the clock (14 s against a limit of 3 s). Here the
    budget is spent before the Jacobian starts: it must stop at once, not at the end."""
    from matdiff.calculus.diff import differential
    from matdiff.calculus.jacobian import jacobian_of_linear
    from matdiff.limits import budgeted
    from matdiff.language.problem import Problem
    src = "sum(" + "exp(" * 30 + "W x" + ")" * 30 + ")"
    X = Problem.of(src).var("W")
    G = matdiff.derive_gradient(src, "W").inlined["W"]
    dG = differential(G, {X})
    monkeypatch.setattr(LIMITS, "max_seconds", 1e-9)
    with pytest.raises(LimitError, match="the derivation took longer"):
        budgeted(jacobian_of_linear)(dG, X)


def test_auto_names_looks_at_the_clock(limits):
    """gradient.auto_names walks the outputs once per step (quadratic): a 200-deep exp chain's
    Hessian finished "ok" after 21 s with a 2 s limit. Here the naming alone, on the clock."""
    from matdiff.calculus.gradient import auto_names
    src = "sum(" + "exp(" * 200 + "W x" + ")" * 200 + ")"
    p = Problem.of(src)
    outputs = list(matdiff.derive_gradient(src, "W").inlined.values())

    @budgeted
    def name_it():
        return auto_names(p.f, outputs)
    LIMITS.max_seconds = 0.3
    t = time.perf_counter()
    with pytest.raises(LimitError, match="took longer"):
        name_it()
    assert time.perf_counter() - t < 0.3 + 0.7
