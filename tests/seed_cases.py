"""The seed problems of the acceptance check, in one place (a user's clone has no ../shared).

The programs and their declared shapes are named constants, imported by every test that uses
them; `SEEDS` is the 25 problems as the acceptance check poses them, each a `Case` with the
function written by hand in NumPy; `SEED_BY_ID` finds one by its id. Variants that several
tests share (the softmax network with the loss on one line, a two-layer tanh MLP) are here too.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from helpers_calculus import Case, relu, sigmoid, softmax

S = ()

# ---- Tutorial 12, Question 1: abstract elementwise functions --------------------------------------
TUTORIAL12 = "c^T Psi((W + V) Phi(W x + b))"
TUTORIAL12_UNICODE = "cᵀ Ψ((W + V) Φ(W x + b))"
TUTORIAL12_CONCRETE = "c^T tanh((W + V) sigmoid(W x + b))"
SEED000 = dict(W=("n", "n"), V=("n", "n"), x=("n",), b=("n",), c=("n",))

# ---- exercise series 4: a scalar computational graph; ||W x||^2 ------------------------------------
GRAPH001 = "h1 = 2 x\nh2 = 2 h1^2\nh3 = h1 + y\nl = h2 h3"
GRAPH001_SHAPES = dict(x=S, y=S)
NORM001_SHAPES = dict(W=("d1", "d2"), x=("d2",))

# ---- AI6104: a one-hidden-layer softmax network -----------------------------------------------------
NET002 = "z = W x\nh = relu(z)\ntheta = U h\nyhat = softmax(theta)\nJ = -y^T log(yhat)"
NET002_SHAPES = dict(W=("M", "D"), x=("D",), U=("C", "M"), y=("C",))
SOFTMAX_NET = "z = W x\nh = relu(z)\ntheta = U h\nJ = -y^T log(softmax(theta))"   # NET002, the loss on one line

# ---- Machine Perception: a scalar graph; an L-layer tanh MLP --------------------------------------
GRAPH003 = "c1 = tanh(w1 x1 + w2 x2)\nc2 = tanh(w2 x2 + w3 x3)\nh2 = sigmoid(c1 c2)\ny = log(h2)"
GRAPH003_SHAPES = dict(x1=S, x2=S, x3=S, w1=S, w2=S, w3=S)
MLP003 = "z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\nR = 1/2 ||z3 - t||^2"
MLP003_SHAPES = dict(W1=("n1", "n0"), b1=("n1",), W2=("n2", "n1"), b2=("n2",), W3=("n3", "n2"), b3=("n3",),
                     x=("n0",), t=("n3",))
MLP2 = "z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nR = 1/2 ||z2 - t||^2"        # MLP003 with two layers

# ---- CR lecture 10: a two-layer network with squared loss -------------------------------------------
NET004 = "z = W1 x + b1\nh = sigmoid(z)\ny = W2 h + b2\nL = 1/2 ||y - t||^2"
NET004_SHAPES = dict(W1=("m", "n"), b1=("m",), W2=("k", "m"), b2=("k",), x=("n",), t=("k",))


# ---- the functions by hand ----------------------------------------------------------------------------

def tutorial12_abstract(W, V, x, b, c):
    """Tutorial 12 with Phi = tanh and Psi = sin (the `functions` of the abstract seeds)."""
    return c @ np.sin((W + V) @ np.tanh(W @ x + b))


def tutorial12_concrete(W, V, x, b, c):
    return c @ np.tanh((W + V) @ sigmoid(W @ x + b))


def net002(W, x, U, y):
    return -y @ np.log(softmax(U @ relu(W @ x)))


def mlp003(W1, b1, W2, b2, W3, b3, x, t):
    return 0.5 * np.sum((np.tanh(W3 @ np.tanh(W2 @ np.tanh(W1 @ x + b1) + b2) + b3) - t) ** 2)


def net004(W1, b1, W2, b2, x, t):
    return 0.5 * np.sum((W2 @ sigmoid(W1 @ x + b1) + b2 - t) ** 2)


# ---- the 25 seed problems, as the acceptance check poses them -----------------------------------------

SEEDS = [
    # Tutorial 12, Question 1: abstract elementwise functions, Unicode, concrete, other variables.
    Case("seed000-abstract", TUTORIAL12, "W", SEED000, tutorial12_abstract,
         functions=dict(Psi=sp.sin, Phi=sp.tanh)),
    Case("seed000-unicode", TUTORIAL12_UNICODE, "W", SEED000, tutorial12_abstract,
         functions={"Ψ": sp.sin, "Φ": sp.tanh}),
    Case("seed000-concrete", TUTORIAL12_CONCRETE, "W", SEED000, tutorial12_concrete),
    Case("seed000-wrt-V", TUTORIAL12_CONCRETE, "V", SEED000, tutorial12_concrete),
    Case("seed000-wrt-b", TUTORIAL12_CONCRETE, "b", SEED000, tutorial12_concrete),
    # Exercise series 4: scalar computational graph; ||Wx||^2; tr(BA).
    Case("seed001-graph", GRAPH001, "x", GRAPH001_SHAPES, lambda x, y: (2 * (2 * x) ** 2) * (2 * x + y)),
    Case("seed001-norm", "||W x||^2", "W", NORM001_SHAPES, lambda W, x: np.sum((W @ x) ** 2)),
    Case("seed001-norm-program", "y = W x\nL = y^T y", "W", NORM001_SHAPES, lambda W, x: np.sum((W @ x) ** 2)),
    Case("seed001-trace", "tr(B A)", "A", dict(B=("m", "n"), A=("n", "m")), lambda B, A: np.trace(B @ A)),
    # AI6104: linear layer Y = X W, activations, one-hidden-layer softmax network.
    Case("seed002-linear-W", "sum(tanh(X W))", "W", dict(X=("N", "D"), W=("D", "M")),
         lambda X, W: np.sum(np.tanh(X @ W))),
    Case("seed002-linear-X", "sum(tanh(X W))", "X", dict(X=("N", "D"), W=("D", "M")),
         lambda X, W: np.sum(np.tanh(X @ W))),
    Case("seed002-sigmoid", "sum(sigmoid(y))", "y", dict(y=("n",)), lambda y: np.sum(sigmoid(y))),
    Case("seed002-relu", "sum(relu(W x))", "W", dict(W=("m", "n"), x=("n",)), lambda W, x: np.sum(relu(W @ x))),
    *[Case(f"seed002-net-{v}", NET002, v, NET002_SHAPES, net002, kinds=dict(y="simplex")) for v in ("U", "W", "x")],
    # Machine Perception: scalar graph with sigmoid, tanh, log; L-layer tanh MLP.
    Case("seed003-graph", GRAPH003, "x2", GRAPH003_SHAPES,
         lambda x1, x2, x3, w1, w2, w3: np.log(sigmoid(np.tanh(w1 * x1 + w2 * x2) * np.tanh(w2 * x2 + w3 * x3)))),
    *[Case(f"seed003-mlp-{v}", MLP003, v, MLP003_SHAPES, mlp003) for v in ("W1", "b1", "W2", "b3")],
    # CR lecture 10: two-layer network with squared loss.
    *[Case(f"seed004-net-{v}", NET004, v, NET004_SHAPES, net004) for v in ("W1", "b1", "W2", "b2")],
]
assert len(SEEDS) == 25 and len({c.id for c in SEEDS}) == 25

SEED_BY_ID = {c.id: c for c in SEEDS}

# Tutorial 12 as written (abstract Phi, Psi), in Unicode, and with tanh and sigmoid
TUTORIAL12_SPELLINGS = [SEED_BY_ID[i] for i in ("seed000-abstract", "seed000-unicode", "seed000-concrete")]
