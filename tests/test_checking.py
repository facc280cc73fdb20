"""The numerical check (`--check`, matdiff.check without a claim): a right answer passes at every
seed, even where random inputs land next to a kink (relu), on the edge of a domain, or where the
function is singular at the first sizes tried (logdet(A^T A) for a wide A); the report says which
inputs were drawn again and why; a wrong answer still fails. And every entry point checks a
function whose variable cancels, or whose result has a size no input fixes, without a traceback
(issue 11, items 5 and 7)."""
from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.checking.check import check_gradients, reach, rough_points
from matdiff.cli import main
from matdiff.checking.numeric import evaluate_many, Env
from matdiff.language.problem import Problem
from matdiff.calculus.second_order import hessian_of, jacobian_of
from seed_cases import SOFTMAX_NET

SEEDS = range(10)
NET = "1/2 ||W2 relu(W1 x) - t||^2"

KINKED = [
    ("sum(relu(W x))", "W"),
    ("sum(relu(A))", "A"),
    (NET, "W1"),
    ("sum(sqrt(x .^ 2))", "x"),                # |x|
    ("logdet(A^T A)", "A"),                     # singular for a wide A: the sizes the other way round
    ("log(det(A^T A))", "A"),
    (SOFTMAX_NET, "W"),
    ("sum(abs(W x - y)) + ||x||_1", "x"),       # issue 13: abs and sign jump at 0, tan has poles,
    ("sum(sign(x) .* x .^ 2)", "x"),            # arcsin and arccos live on (-1, 1)
    ("sum(tan(W x)) + sum(arcsin(W x)) + acos(c^T x)", "x"),
]


def _checks(src, wrt):
    p = Problem.of(src)
    yield "gradient", lambda seed: matdiff.check(src, wrt, seed=seed)
    yield "jacobian", lambda seed: jacobian_of(p, wrt).check(seed)
    yield "hessian", lambda seed: hessian_of(p, wrt).check(seed)
    yield "diagonal", lambda seed: hessian_of(p, wrt, diagonal=True).check(seed)


@pytest.mark.parametrize("src, wrt", KINKED, ids=[s.splitlines()[-1] + " | " + w for s, w in KINKED])
def test_a_right_answer_passes_next_to_kinks_at_every_seed(src, wrt):
    for kind, check in _checks(src, wrt):
        for seed in SEEDS:
            report = check(seed)
            if kind == "diagonal" and "an approximation" in report.note:
                continue                        # its difference from the exact diagonal is expected
            assert report.ok, f"{kind}, seed {seed}:\n{report}"


def test_the_report_says_which_inputs_were_drawn_again_and_why():
    report = matdiff.check("logdet(A^T A)", "A")
    assert report.ok
    text = str(report)
    assert "re-drew inputs" in text and "A^T A near singular" in text
    assert "(so at sizes n=4, m=3, not n=3, m=4)" in text          # still distinct sizes
    assert "tolerance: relative 1e-05" in text


def test_the_report_says_the_inputs_were_drawn_small_for_arcsin():
    """arcsin and arccos are defined on (-1, 1): the check draws its inputs small and says so."""
    for report in (matdiff.check("sum(arcsin(W x)) + acos(c^T x)", "x"),
                   hessian_of(Problem.of("sum(arcsin(W x))"), "W").check(0)):
        assert report.ok, str(report)
        assert "inputs drawn at 0.3 times their usual size: the arguments of" in str(report)
        assert "must lie in (-1, 1)" in str(report)
    assert "usual size" not in str(matdiff.check("sum(abs(W x))", "x"))


def test_reach_stops_short_of_arcsins_edge_and_tans_pole():
    for src, near in (("sum(arcsin(x))", 0.996), ("sum(tan(x))", np.pi / 2 - 0.004)):
        p = Problem.of(src)
        points = rough_points((p.f,))
        values = {"x": np.array([[0.1], [-0.2], [near]])}
        V = np.array([[1.0], [1.0], [1.0]])
        r = reach(points, lambda s: {"x": values["x"] + s * V}, {"n": 3}, 1e-5)
        assert 0 < r <= 0.004 / 2 + 1e-9, (src, r)            # half the distance to the edge
        values = {"x": np.array([[0.1], [-0.2], [near + 0.004 - 1e-9]])}
        assert "near" in reach(points, lambda s: {"x": values["x"] + s * V}, {"n": 3}, 1e-5)


def test_hessian_of_relu_next_to_a_kink_is_drawn_again():
    """seed 8 once put relu's argument within a second-difference step of 0: f'' = 264, H = 0."""
    report = hessian_of(Problem.of("sum(relu(A))"), "A").check(8)
    assert report.ok, str(report)
    assert "re-drew inputs" in str(report) and "the argument of relu near 0" in str(report)


def test_reach_stops_short_of_a_kink():
    p = Problem.of("sum(relu(x))")
    points = rough_points((p.f,))
    values = {"x": np.array([[1.0], [-2.0], [0.004]])}
    V = np.array([[1.0], [1.0], [1.0]])
    r = reach(points, lambda s: {"x": values["x"] + s * V}, {"n": 3}, 1e-5)
    assert 0 < r <= 0.004 / 2 + 1e-12                   # half the distance to relu's kink at -0.004
    values = {"x": np.array([[1.0], [-2.0], [1e-9]])}
    assert "relu near 0" in reach(points, lambda s: {"x": values["x"] + s * V}, {"n": 3}, 1e-5)


def test_a_wrong_gradient_next_to_kinks_still_fails():
    """Inputs are drawn again for what the differences cannot do, never because the numbers disagree."""
    p = Problem.of("sum(relu(W x))")
    g = matdiff.derive_gradient("sum(relu(W x))", "W").inlined["W"]
    from matdiff.language.algebra import const, mul
    for seed in range(4):
        report = check_gradients(p.f, {p.var("W"): mul(const(1.01), g)}, p.shaped, seed)
        assert not report.ok and "re-drew" not in str(report)


# ---- tracebacks before (issue 11, item 5) ------------------------------------------------------------

@pytest.mark.parametrize("argv, status, expect", [
    (["jacobian", "A^0", "--wrt", "A", "--check"], 0, "J = 0"),
    (["hessian", "z = W x; L = y^T y", "--wrt", "W", "--check"], 0, "H = 0"),
    (["hessian", "z = W x; L = y^T y", "--wrt", "W", "--check", "--diagonal"], 0, "check passed"),
    (["hessian", "x^T x - x^T x", "--wrt", "x", "--check"], 0, "H = 0"),
    (["jacobian", "x - x", "--wrt", "x", "--check"], 0, "J = 0"),
    (["grad", "x^T x - x^T x", "--wrt", "x", "--check"], 0, "check passed"),
    (["check", "x^T x - x^T x", "--wrt", "x", "--claim", "x"], 1, "the claim is WRONG"),
    (["check", "x^T x - x^T x", "--wrt", "x", "--claim", "0"], 0, "the claim is right"),
    (["jacobian", "x^T x I", "--wrt", "x", "--check"], 0, "J = 2 vec(I) x^T"),
    (["grad", "tr(x^T x I)", "--wrt", "x", "--check"], 0, "check passed"),
    (["hessian", "tr(x^T x I)", "--wrt", "x", "--check"], 0, "check passed"),
    (["hessian", "tr(x^T x I)", "--wrt", "x", "--check", "--diagonal"], 0, "check passed"),
    (["check", "tr(x^T x I)", "--wrt", "x", "--claim", "2 tr(I) x"], 0, "the claim is right"),
])
def test_checks_that_raised_a_traceback(capsys, argv, status, expect):
    assert main(argv) == status
    out, err = capsys.readouterr()
    assert expect in out and "Traceback" not in err, out + err


def test_a_size_no_input_fixes_gets_a_size():
    """tr(x^T x I): the size of I is free; the check gives it one (it counts in the gradient)."""
    report = matdiff.check("tr(x^T x I)", "x")
    assert report.ok and len(report.sizes) == 2
    f = Problem.of("tr(x^T x I)").f
    n, m = report.sizes.values()
    x = np.arange(1.0, n + 1).reshape(-1, 1)
    assert evaluate_many([f], Env({"x": x}, report.sizes))[0][0, 0] == pytest.approx(m * np.sum(x**2))


# ---- sizes too large to sample are refused before anything is allocated --------------------------

@pytest.mark.parametrize("call, where", [
    (lambda: matdiff.check("x^T A x", wrt="x", shapes={"x": (100000,)}), "the input A is 100,000 x 100,000"),
    (lambda: matdiff.check("x^T x", "x", shapes={"x": (10**7,)}), "the input x is 10,000,000 x 1"),
    (lambda: matdiff.check("x^T x", "x", shapes={"x": (10**7,)}, claim="2 x"), "the input x"),
    (lambda: jacobian_of(Problem.of("c^T tanh(W x + b)", {"W": (10**6, 2)}), "W").check(), "the input W"),
    (lambda: hessian_of(Problem.of("c^T tanh(W x + b)", {"W": (1000, 2)}), "W").check(),
     "an intermediate array is 2,000 x 2,000"),
])
def test_a_check_refuses_sizes_too_large_to_sample(call, where):
    """MemoryError in sample (10^12 entries), numpy's _ArrayMemoryError (x^T A x at 10^5), a
    9.5 s Jacobian check: now a LimitError before anything is allocated."""
    import time
    t = time.perf_counter()
    with pytest.raises(matdiff.LimitError, match="declare smaller sizes") as e:
        call()
    assert where in str(e.value) and "max_entries" in str(e.value)
    assert time.perf_counter() - t < 2


def test_the_entries_limit_can_be_raised_and_a_small_check_still_runs():
    from matdiff.limits import LIMITS
    old = LIMITS.max_entries
    try:
        LIMITS.max_entries = 10
        with pytest.raises(matdiff.LimitError, match="the input x is 20 x 1"):
            matdiff.check("x^T x", "x", shapes={"x": (20,)})
    finally:
        LIMITS.max_entries = old
    r = matdiff.check("x^T x", "x", shapes={"x": (20,)})
    assert r.ok and r.error < 1e-6 and r.rows and all(np.isfinite(row.numeric) for row in r.rows)


def test_a_power_with_a_variable_exponent_is_checked_on_its_domain():
    """x .^ p is exp(p log x): defined for a positive base only. The check draws inputs again
    until the base is positive, and says so; a constant positive base needs nothing."""
    report = matdiff.check("sum(x .^ p)", "p", shapes=dict(x=(3,), p=()))
    assert report.ok
    assert "the base of a power with a variable exponent, x, not positive" in str(report)
    assert matdiff.check("c^T (X .^ Y) d", "X").ok                 # a square base: every entry positive
    assert "re-drew" not in str(matdiff.check("sum(2 .^ x)", "x"))
    wrong = matdiff.check("sum(x .^ p)", "p", shapes=dict(x=(3,), p=()), claim="sum(x .^ p)")
    assert not wrong.ok
