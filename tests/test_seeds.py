"""Every seed problem of the course sheets, as the acceptance check poses it, written as our own test.

For each case: `matdiff.gradient(...)` returns SymPy; that expression is evaluated by
the SymPy walker in helpers_calculus (abstract Phi, Psi replaced by tanh, sin), and
compared with central differences of an independent NumPy implementation of the
function. Then the same problems through the command line with `--check`, and the
Tutorial 12 answer as printed text (also checked numerically).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import sympy as sp

import matdiff
from helpers_calculus import (
    as_natural, assert_close, fd_gradient, matdiff_value, sigmoid, softmax, sympy_evaluate,
)
from matdiff.cli import main

DIMS = dict(n=3, m=4, k=5, N=6, D=4, M=3, C=4, d1=3, d2=4, n0=3, n1=4, n2=5, n3=2)
CONCRETE = dict(sin=sp.sin, tanh=sp.tanh)


def relu(z):
    return np.maximum(z, 0)


S = ()


@dataclass
class Seed:
    id: str
    expr: str
    wrt: str
    shapes: dict
    ref: Callable
    sample: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)   # abstract name -> concrete name


SEED000 = dict(W=("n", "n"), V=("n", "n"), x=("n",), b=("n",), c=("n",))
NET002 = "z = W x\nh = relu(z)\ntheta = U h\nyhat = softmax(theta)\nJ = -y^T log(yhat)"
MLP003 = "z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\nR = 1/2 ||z3 - t||^2"
NET004 = "z = W1 x + b1\nh = sigmoid(z)\ny = W2 h + b2\nL = 1/2 ||y - t||^2"
TUTORIAL12 = "c^T Psi((W + V) Phi(W x + b))"

SEEDS = [
    # Tutorial 12, Question 1: abstract elementwise functions, Unicode, concrete, other variables.
    Seed("seed000-abstract", TUTORIAL12, "W", SEED000,
         lambda W, V, x, b, c: c @ np.sin((W + V) @ np.tanh(W @ x + b)), functions=dict(Psi="sin", Phi="tanh")),
    Seed("seed000-unicode", "cᵀ Ψ((W + V) Φ(W x + b))", "W", SEED000,
         lambda W, V, x, b, c: c @ np.sin((W + V) @ np.tanh(W @ x + b)), functions={"Ψ": "sin", "Φ": "tanh"}),
    Seed("seed000-concrete", "c^T tanh((W + V) sigmoid(W x + b))", "W", SEED000,
         lambda W, V, x, b, c: c @ np.tanh((W + V) @ sigmoid(W @ x + b))),
    Seed("seed000-wrt-V", "c^T tanh((W + V) sigmoid(W x + b))", "V", SEED000,
         lambda W, V, x, b, c: c @ np.tanh((W + V) @ sigmoid(W @ x + b))),
    Seed("seed000-wrt-b", "c^T tanh((W + V) sigmoid(W x + b))", "b", SEED000,
         lambda W, V, x, b, c: c @ np.tanh((W + V) @ sigmoid(W @ x + b))),
    # Exercise series 4: scalar computational graph; ||Wx||^2; tr(BA).
    Seed("seed001-graph", "h1 = 2 x\nh2 = 2 h1^2\nh3 = h1 + y\nl = h2 h3", "x", dict(x=S, y=S),
         lambda x, y: (2 * (2 * x) ** 2) * (2 * x + y)),
    Seed("seed001-norm", "||W x||^2", "W", dict(W=("d1", "d2"), x=("d2",)), lambda W, x: np.sum((W @ x) ** 2)),
    Seed("seed001-norm-program", "y = W x\nL = y^T y", "W", dict(W=("d1", "d2"), x=("d2",)),
         lambda W, x: np.sum((W @ x) ** 2)),
    Seed("seed001-trace", "tr(B A)", "A", dict(B=("m", "n"), A=("n", "m")), lambda B, A: np.trace(B @ A)),
    # AI6104: linear layer Y = X W, activations, one-hidden-layer softmax network.
    Seed("seed002-linear-W", "sum(tanh(X W))", "W", dict(X=("N", "D"), W=("D", "M")),
         lambda X, W: np.sum(np.tanh(X @ W))),
    Seed("seed002-linear-X", "sum(tanh(X W))", "X", dict(X=("N", "D"), W=("D", "M")),
         lambda X, W: np.sum(np.tanh(X @ W))),
    Seed("seed002-sigmoid", "sum(sigmoid(y))", "y", dict(y=("n",)), lambda y: np.sum(sigmoid(y))),
    Seed("seed002-relu", "sum(relu(W x))", "W", dict(W=("m", "n"), x=("n",)), lambda W, x: np.sum(relu(W @ x))),
    *[Seed(f"seed002-net-{v}", NET002, v, dict(W=("M", "D"), x=("D",), U=("C", "M"), y=("C",)),
           lambda W, x, U, y: -y @ np.log(softmax(U @ relu(W @ x))), sample=dict(y="simplex"))
      for v in ("U", "W", "x")],
    # Machine Perception: scalar graph with sigmoid, tanh, log; L-layer tanh MLP.
    Seed("seed003-graph",
         "c1 = tanh(w1 x1 + w2 x2)\nc2 = tanh(w2 x2 + w3 x3)\nh2 = sigmoid(c1 c2)\ny = log(h2)", "x2",
         dict(x1=S, x2=S, x3=S, w1=S, w2=S, w3=S),
         lambda x1, x2, x3, w1, w2, w3: np.log(sigmoid(np.tanh(w1 * x1 + w2 * x2) * np.tanh(w2 * x2 + w3 * x3)))),
    *[Seed(f"seed003-mlp-{v}", MLP003, v,
           dict(W1=("n1", "n0"), b1=("n1",), W2=("n2", "n1"), b2=("n2",), W3=("n3", "n2"), b3=("n3",),
                x=("n0",), t=("n3",)),
           lambda W1, b1, W2, b2, W3, b3, x, t: 0.5 * np.sum(
               (np.tanh(W3 @ np.tanh(W2 @ np.tanh(W1 @ x + b1) + b2) + b3) - t) ** 2))
      for v in ("W1", "b1", "W2", "b3")],
    # CR lecture 10: two-layer network with squared loss.
    *[Seed(f"seed004-net-{v}", NET004, v,
           dict(W1=("m", "n"), b1=("m",), W2=("k", "m"), b2=("k",), x=("n",), t=("k",)),
           lambda W1, b1, W2, b2, x, t: 0.5 * np.sum((W2 @ sigmoid(W1 @ x + b1) + b2 - t) ** 2))
      for v in ("W1", "b1", "W2", "b2")],
]
assert len(SEEDS) == 25


def sample(kind, shape, rng):
    if kind == "simplex":
        e = np.exp(rng.normal(size=shape))
        return e / e.sum()
    return rng.normal(size=shape) if shape else float(rng.normal())


def values_for(c: Seed, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = {k: tuple(DIMS[d] for d in s) for k, s in c.shapes.items()}
    return {k: sample(c.sample.get(k), shapes[k], rng) for k in c.shapes}


def natural_shape(c: Seed) -> tuple:
    return tuple(DIMS[d] for d in c.shapes[c.wrt])


@pytest.mark.parametrize("c", SEEDS, ids=[c.id for c in SEEDS])
def test_seed_sympy_result_against_finite_differences(c: Seed):
    g = matdiff.gradient(c.expr, wrt=c.wrt, shapes=dict(c.shapes))
    assert isinstance(g, sp.Basic)
    functions = {k: CONCRETE[v] for k, v in c.functions.items()}
    for seed in (0, 1):
        values = values_for(c, seed)
        ref = fd_gradient(c.ref, values, c.wrt)
        got = as_natural(sympy_evaluate(g, values, DIMS, functions), natural_shape(c))
        assert_close(got, ref)


CONCRETE_SEEDS = [c for c in SEEDS if not c.functions]   # abstract stand-ins: test_diff_rules covers them


@pytest.mark.parametrize("c", CONCRETE_SEEDS, ids=[c.id for c in CONCRETE_SEEDS])
def test_seed_matdiff_evaluator_agrees(c: Seed):
    """matdiff's own expression of the gradient, evaluated by matdiff, is the same gradient."""
    g = matdiff.derive_gradient(c.expr, c.wrt, shapes=dict(c.shapes)).inlined[c.wrt]
    values = values_for(c, 3)
    got = as_natural(matdiff_value(g, values, DIMS), natural_shape(c))
    assert_close(got, fd_gradient(c.ref, values, c.wrt))


def test_seed_several_variables_at_once():
    """wrt=[...] returns a dict, each entry the same as asked alone."""
    c = next(c for c in SEEDS if c.id == "seed004-net-W1")
    gs = matdiff.gradient(c.expr, wrt=["W1", "b1", "W2", "b2"], shapes=dict(c.shapes))
    assert set(gs) == {"W1", "b1", "W2", "b2"}
    values = values_for(c, 4)
    for v, g in gs.items():
        shape = tuple(DIMS[d] for d in c.shapes[v])
        assert_close(as_natural(sympy_evaluate(g, values, DIMS), shape), fd_gradient(c.ref, values, v))


# ---- the command line: matdiff grad ... --check on every seed problem ---------------------------

def shape_args(shapes: dict) -> list:
    out = []
    for k, s in shapes.items():
        out += ["--shape", f"{k}={','.join(s)}"]
    return out


@pytest.mark.parametrize("c", SEEDS, ids=[c.id for c in SEEDS])
def test_seed_cli_check(c: Seed, capsys):
    code = main(["grad", c.expr, "--wrt", c.wrt, *shape_args(c.shapes), "--check"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert f"/∂{c.wrt} = " in out.out
    assert "check passed" in out.out


def test_seed_cli_several_variables(capsys):
    """--wrt W1 --wrt b1 ...: one pass, every gradient printed and checked."""
    c = next(c for c in SEEDS if c.id == "seed004-net-W1")
    wrts = ["W1", "b1", "W2", "b2"]
    code = main(["grad", c.expr, *[a for w in wrts for a in ("--wrt", w)], *shape_args(c.shapes), "--check"])
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
    g = matdiff.derive_gradient("cᵀ Ψ((W + V) Φ(W x + b))", "W", shapes=SEED000)
    assert g.check().ok
    last = g.text().splitlines()[-1]
    assert "∘" in last and last.startswith("∂f/∂W = ")
