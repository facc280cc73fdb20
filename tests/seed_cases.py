"""The 25 seed problems of the acceptance check, copied here (a user's clone has no ../shared):
(id, expression, wrt, shapes), for the tests that run every seed through one stage."""
from __future__ import annotations

TUTORIAL12 = "c^T Psi((W + V) Phi(W x + b))"
S = ()
SEED000 = dict(W=("n", "n"), V=("n", "n"), x=("n",), b=("n",), c=("n",))
NET002 = "z = W x\nh = relu(z)\ntheta = U h\nyhat = softmax(theta)\nJ = -y^T log(yhat)"
NET002_SHAPES = dict(W=("M", "D"), x=("D",), U=("C", "M"), y=("C",))
MLP003 = "z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\nR = 1/2 ||z3 - t||^2"
MLP003_SHAPES = dict(W1=("n1", "n0"), b1=("n1",), W2=("n2", "n1"), b2=("n2",), W3=("n3", "n2"), b3=("n3",),
                     x=("n0",), t=("n3",))
NET004 = "z = W1 x + b1\nh = sigmoid(z)\ny = W2 h + b2\nL = 1/2 ||y - t||^2"
NET004_SHAPES = dict(W1=("m", "n"), b1=("m",), W2=("k", "m"), b2=("k",), x=("n",), t=("k",))

# the 25 seed problems: (id, expression, wrt, shapes)
SEEDS = [
    ("seed000-abstract", TUTORIAL12, "W", SEED000),
    ("seed000-unicode", "cᵀ Ψ((W + V) Φ(W x + b))", "W", SEED000),
    ("seed000-concrete", "c^T tanh((W + V) sigmoid(W x + b))", "W", SEED000),
    ("seed000-wrt-V", "c^T tanh((W + V) sigmoid(W x + b))", "V", SEED000),
    ("seed000-wrt-b", "c^T tanh((W + V) sigmoid(W x + b))", "b", SEED000),
    ("seed001-graph", "h1 = 2 x\nh2 = 2 h1^2\nh3 = h1 + y\nl = h2 h3", "x", dict(x=S, y=S)),
    ("seed001-norm", "||W x||^2", "W", dict(W=("d1", "d2"), x=("d2",))),
    ("seed001-norm-program", "y = W x\nL = y^T y", "W", dict(W=("d1", "d2"), x=("d2",))),
    ("seed001-trace", "tr(B A)", "A", dict(B=("m", "n"), A=("n", "m"))),
    ("seed002-linear-W", "sum(tanh(X W))", "W", dict(X=("N", "D"), W=("D", "M"))),
    ("seed002-linear-X", "sum(tanh(X W))", "X", dict(X=("N", "D"), W=("D", "M"))),
    ("seed002-sigmoid", "sum(sigmoid(y))", "y", dict(y=("n",))),
    ("seed002-relu", "sum(relu(W x))", "W", dict(W=("m", "n"), x=("n",))),
    *[(f"seed002-net-{v}", NET002, v, NET002_SHAPES) for v in ("U", "W", "x")],
    ("seed003-graph", "c1 = tanh(w1 x1 + w2 x2)\nc2 = tanh(w2 x2 + w3 x3)\nh2 = sigmoid(c1 c2)\ny = log(h2)", "x2",
     dict(x1=S, x2=S, x3=S, w1=S, w2=S, w3=S)),
    *[(f"seed003-mlp-{v}", MLP003, v, MLP003_SHAPES) for v in ("W1", "b1", "W2", "b3")],
    *[(f"seed004-net-{v}", NET004, v, NET004_SHAPES) for v in ("W1", "b1", "W2", "b2")],
]
