"""Every seed problem of the course sheets, as the acceptance check poses it, written as our own test.

For each case: `matdiff.gradient(...)` returns SymPy; that expression is evaluated by
the SymPy walker in helpers_calculus (abstract Phi, Psi replaced by tanh, sin), and
compared with central differences of an independent NumPy implementation of the
function. Then the same problems through the command line with `--check`, and the
Tutorial 12 answer as printed text (also checked numerically).
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import matdiff
from helpers_calculus import Case, as_natural, assert_close, fd_gradient, matdiff_value, sympy_evaluate
from matdiff.cli import main
from seed_cases import SEED000, SEEDS, TUTORIAL12, TUTORIAL12_UNICODE, SEED_BY_ID

DIMS = dict(n=3, m=4, k=5, N=6, D=4, M=3, C=4, d1=3, d2=4, n0=3, n1=4, n2=5, n3=2)


def sample(kind, shape, rng):
    if kind == "simplex":
        e = np.exp(rng.normal(size=shape))
        return e / e.sum()
    return rng.normal(size=shape) if shape else float(rng.normal())


def values_for(c: Case, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = {k: tuple(DIMS[d] for d in s) for k, s in c.shapes.items()}
    return {k: sample(c.kinds.get(k), shapes[k], rng) for k in c.shapes}


def natural_shape(c: Case) -> tuple:
    return tuple(DIMS[d] for d in c.shapes[c.wrt])


@pytest.mark.parametrize("c", SEEDS, ids=[c.id for c in SEEDS])
def test_seed_sympy_result_against_finite_differences(c: Case):
    g = matdiff.gradient(c.src, wrt=c.wrt, shapes=dict(c.shapes))
    assert isinstance(g, sp.Basic)
    for seed in (0, 1):
        values = values_for(c, seed)
        ref = fd_gradient(c.f, values, c.wrt)
        got = as_natural(sympy_evaluate(g, values, DIMS, c.functions), natural_shape(c))
        assert_close(got, ref)


CONCRETE_SEEDS = [c for c in SEEDS if not c.functions]   # abstract stand-ins: test_diff_rules covers them


@pytest.mark.parametrize("c", CONCRETE_SEEDS, ids=[c.id for c in CONCRETE_SEEDS])
def test_seed_matdiff_evaluator_agrees(c: Case):
    """matdiff's own expression of the gradient, evaluated by matdiff, is the same gradient."""
    g = matdiff.derive_gradient(c.src, c.wrt, shapes=dict(c.shapes)).inlined[c.wrt]
    values = values_for(c, 3)
    got = as_natural(matdiff_value(g, values, DIMS), natural_shape(c))
    assert_close(got, fd_gradient(c.f, values, c.wrt))


def test_seed_several_variables_at_once():
    """wrt=[...] returns a dict, each entry the same as asked alone."""
    c = SEED_BY_ID["seed004-net-W1"]
    gs = matdiff.gradient(c.src, wrt=["W1", "b1", "W2", "b2"], shapes=dict(c.shapes))
    assert set(gs) == {"W1", "b1", "W2", "b2"}
    values = values_for(c, 4)
    for v, g in gs.items():
        shape = tuple(DIMS[d] for d in c.shapes[v])
        assert_close(as_natural(sympy_evaluate(g, values, DIMS), shape), fd_gradient(c.f, values, v))


# ---- the command line: matdiff grad ... --check on every seed problem ---------------------------

def shape_args(shapes: dict) -> list:
    out = []
    for k, s in shapes.items():
        out += ["--shape", f"{k}={','.join(s)}"]
    return out


@pytest.mark.parametrize("c", SEEDS, ids=[c.id for c in SEEDS])
def test_seed_cli_check(c: Case, capsys):
    code = main(["grad", c.src, "--wrt", c.wrt, *shape_args(c.shapes), "--check"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert f"/∂{c.wrt} = " in out.out
    assert "check passed" in out.out


def test_seed_cli_several_variables(capsys):
    """--wrt W1 --wrt b1 ...: one pass, every gradient printed and checked."""
    c = SEED_BY_ID["seed004-net-W1"]
    wrts = ["W1", "b1", "W2", "b2"]
    code = main(["grad", c.src, *[a for w in wrts for a in ("--wrt", w)], *shape_args(c.shapes), "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    for w in wrts:
        assert f"∂L/∂{w} = " in out
    assert "check passed" in out


def test_seed_cli_check_without_shapes(capsys):
    """Shapes left out are inferred; the check still passes."""
    code = main(["grad", TUTORIAL12, "--wrt", "W", "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "check passed" in out


# ---- Tutorial 12 as text ----------------------------------------------------------------------------

T12_ANSWER = "(Psi'(z4) ∘ c) Phi(z1)^T + (Phi'(z1) ∘ (W + V)^T (Psi'(z4) ∘ c)) x^T"


@pytest.mark.parametrize("shapes", [SEED000, None], ids=["declared", "inferred"])
def test_tutorial12_text(shapes):
    g = matdiff.derive_gradient(TUTORIAL12, "W", shapes=shapes)
    text = g.text()
    assert T12_ANSWER in text
    lines = text.splitlines()
    assert "z1 = W x + b" in lines
    assert "z4 = (W + V) Phi(z1)" in lines
    assert lines[-1] == f"∂f/∂W = {T12_ANSWER}"
    assert g.check().ok


def test_tutorial12_text_is_numerically_the_gradient():
    """The golden text, parsed back with z1, z4 substituted, is the gradient: checked as a claim
    and by evaluating it against finite differences (Phi = tanh, Psi = sin via the SymPy path)."""
    inline = T12_ANSWER.replace("z4", "((W + V) Phi(z1))").replace("z1", "(W x + b)")
    report = matdiff.check(TUTORIAL12, "W", shapes=SEED000, claim=inline)
    assert report.ok, str(report)
    wrong = inline.replace("Phi(", "Psi(", 1)          # confuse Phi and Psi once: must be caught
    assert not matdiff.check(TUTORIAL12, "W", shapes=SEED000, claim=wrong).ok


def test_tutorial12_unicode_text():
    g = matdiff.derive_gradient(TUTORIAL12_UNICODE, "W", shapes=SEED000)
    assert g.check().ok
    last = g.text().splitlines()[-1]
    assert "∘" in last and last.startswith("∂f/∂W = ")
