"""Fuzz: hostile input through every entry point, the API and every CLI subcommand (in-process).

Inputs and probes are fuzz_inputs.py's: random text, token soups, mutants of a corpus of valid
programs, splices, deep nesting, huge numbers, unicode, odd functions= names, odd shapes, and
random valid functions from test_properties' generator. A probe asserts that only MatdiffErrors
escape, that no call overruns LIMITS.max_seconds (5 s here) by more than 2 s, and that
generated code computes what matdiff's own evaluator computes.

Bounded for CI (about a minute on two cores): fixed samples here; the long run is
`python scripts/fuzz.py --minutes 30`.

Every entry point is probed here, generated code called with arrays of the wrong sizes,
keyword and look-alike function names in generated code and huge declared shapes included.
"""
from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_inputs as fz
import matdiff
from matdiff.errors import MatdiffError
from matdiff.limits import LIMITS

FAST = dict(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])

ENTRIES = list(fz.ENTRIES)


def assert_clean(case, entries=None):
    findings = fz.probe(case, entries or ENTRIES)
    assert not findings, "\n".join(str(f) for f in findings)


@pytest.fixture(autouse=True)
def _quiet_numpy():
    import numpy as np
    with np.errstate(all="ignore"):
        yield


# ---- the harness finds what it is meant to find ---------------------------------------------------

def test_the_probe_reports_a_foreign_exception(monkeypatch):
    monkeypatch.setitem(fz.ENTRIES, "parse", lambda case: {}["missing"])
    findings = fz.probe(fz.Case("x^T x"), ["parse"])
    assert [f.kind for f in findings] == ["exception"] and findings[0].error.startswith("KeyError")
    assert "test_fuzz.py" in findings[0].frame


def test_the_probe_lets_a_matdiff_error_through():
    assert fz.probe(fz.Case("x^T (", wrt="x"), ["parse", "derive_gradient", "cli grad"]) == []


def test_the_probe_reports_a_slow_call(monkeypatch):
    monkeypatch.setattr(fz, "MARGIN", 0.0)
    findings = []
    fz.call("sleep", fz.Case("x"), lambda: time.sleep(0.3), findings, limit=0.1)
    assert [f.kind for f in findings] == ["slow"]


def test_the_probe_restores_the_limits():
    """`--limit` sets LIMITS for the process: the probe puts them back after each call."""
    before = (LIMITS.max_seconds, LIMITS.max_depth)
    out = []
    code = fz.call("cli", fz.Case("x"), lambda: fz.run_cli(["parse", "x^T x", "--limit", "depth=30"])[0], out)
    assert code == 0 and out == []
    assert (LIMITS.max_seconds, LIMITS.max_depth) == before


def test_the_probe_reports_a_traceback_printed_by_the_cli(monkeypatch):
    from matdiff import cli

    def crash(argv):
        import sys
        print("Traceback (most recent call last):", file=sys.stderr)
        return 2
    monkeypatch.setattr(cli, "main", crash)
    findings = fz.probe(fz.Case("x^T x", wrt="x"), ["cli parse"])
    assert [f.kind for f in findings] == ["wrong"] and "traceback" in findings[0].error


def test_the_probe_reports_generated_code_that_disagrees(monkeypatch):
    import matdiff.checking.check  # noqa: F401 - loaded (binding the real evaluator) before the patch, not
    import matdiff.claims          # noqa: F401 - during it: they would keep the patched one for the session
    from matdiff.checking import numeric
    right = numeric.evaluate_many
    monkeypatch.setattr(numeric, "evaluate_many", lambda roots, env, **kw: [2 * v for v in right(roots, env, **kw)])
    findings = fz.probe(fz.Case("x^T A x", wrt="x"), ["lambdify"])
    assert [f.kind for f in findings] == ["wrong"] and "evaluator" in findings[0].error


def test_the_probe_reports_emitted_code_that_does_not_compile(monkeypatch):
    from matdiff.codegen import generate as codegen
    monkeypatch.setattr(codegen, "emit", lambda *a, **k: "def f(:\n")
    findings = fz.probe(fz.Case("x^T x", wrt="x"), ["emit"])
    assert [f.kind for f in findings] == ["wrong"] and "does not compile" in findings[0].error


# ---- random text and token soups: the text stages -------------------------------------------------

@settings(**FAST)
@given(st.text(max_size=60))
def test_random_text(src):
    assert_clean(fz.Case(src, wrt=fz._first_name(src)), fz.CHEAP)


@settings(**FAST)
@given(st.randoms(use_true_random=False))
def test_token_soup(rng):
    src = fz.token_soup(rng)
    assert_clean(fz.Case(src, wrt=fz._first_name(src)), fz.CHEAP)


def test_parse_errors_are_located():
    """A ParseError on text with a position says where (line and column) in its message."""
    from matdiff.errors import ParseError
    rng = random.Random(5)
    located = 0
    for _ in range(200):
        src = fz.token_soup(rng)
        try:
            matdiff.understand(src)
        except ParseError as e:
            if e.line is not None:
                assert f"line {e.line}, column {e.column}" in str(e)
                located += 1
        except MatdiffError:
            pass
    assert located > 50


# ---- every entry point ----------------------------------------------------------------------------

@pytest.mark.parametrize("src, shapes, wrt", fz.CORPUS[::4], ids=lambda v: None)
def test_corpus_through_every_entry_point(src, shapes, wrt):
    case = fz.Case(src, shapes, None, wrt or fz._pick_wrt(random.Random(0), src, shapes), seed=len(src))
    assert_clean(case)


# a fixed sample of every kind of hostile case (mutants, splices, nesting, huge numbers,
# unicode, odd names and shapes)
SAMPLE_SEED, SAMPLE_SIZE = 7, 24


def _sample():
    """Inputs up to 2,000 characters (3,000 nested calls take 20 s through every entry point:
    scripts/fuzz.py covers those)."""
    rng = random.Random(SAMPLE_SEED)
    stream = fz.cases(rng)
    out = []
    while len(out) < SAMPLE_SIZE:
        case = next(stream)
        if len(case.src) <= 2000:
            out.append(case)
    return out


@pytest.mark.parametrize("case", _sample(), ids=lambda c: c.short(30))
def test_a_fixed_sample_through_every_entry_point(case):
    assert_clean(case)


@pytest.mark.parametrize("name", [n for n in fz.ODD_FUNCTIONS])
def test_odd_function_names(name):
    """A declared name a user may pick (keywords, np, t1, Phi_prime, NFKC look-alikes), generated
    code included: it compiles and agrees with the evaluator, or matdiff refuses."""
    case = fz.Case(f"sum({name}(W x + b)) + c^T Phi(x)", None, [name], "W", seed=3)
    entries = ["parse", "understand", "derive_gradient", "differential", "jacobian", "check", "latex[text]",
               "lambdify", "emit", "cli parse", "cli diff", "cli check"]
    assert_clean(case, entries)


@pytest.mark.parametrize("dim", fz.ODD_DIMS, ids=repr)
def test_odd_shapes(dim):
    for shapes in ({"x": (dim,)}, {"W": (dim, 2)}, {"W": (2, dim)}, {"b": (dim, dim, dim)}, {"I": (dim,)}):
        case = fz.Case("c^T tanh(W x + b)", shapes, None, "W", seed=1)
        assert_clean(case, ["understand", "derive_gradient", "check", "jacobian", "lambdify", "cli grad", "cli parse"])


# ---- random valid functions: generated code agrees with the evaluator ---------------------------

from test_properties import scalar_functions  # noqa: E402 - the property tests' generator, reused


@settings(deadline=None, max_examples=12, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(g=scalar_functions, k=st.integers(0, 1000))
def test_generated_code_agrees_with_the_evaluator_on_random_functions(g, k):
    names = [n for n, _ in g.vars]
    if not names:
        return
    case = fz.Case(g.text, dict(g.vars), None, names[k % len(names)], seed=k)
    assert_clean(case, ["lambdify", "emit", "jacobian", "hessian[diagonal]", "latex[result]"])


# ---- what a long fuzz run (scripts/fuzz.py) found, kept as regressions ---------------------------

@pytest.mark.parametrize("src, message", [
    ("h1 = 2 x\nh2 = h2 h1^2\nl = 2 h2", "h2 is used before it is defined"),
    ("z = h x\nh = relu(z)\nJ = sum(h)", "h is used before it is defined"),
    ("c^T Psi((W + V) Phi(W x⊗x + b))", "cannot multiply"),           # n = n·n: no cycle, an error
    ("x^T x / 0", "division by zero"),
    ("1/0 x^T x", "division by zero"),
])
def test_found_by_fuzzing(src, message):
    with pytest.raises(MatdiffError, match=message):
        matdiff.derive_gradient(src, "x")
