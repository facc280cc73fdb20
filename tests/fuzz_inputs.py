"""Hostile input for the fuzz tests and scripts/fuzz.py: random text, token soups, mutants.

`run_all(src)` sends one input through every stage a user can reach and returns the
exception it ended with (None when all went through). The only exceptions allowed are
MatdiffError subclasses; anything else is a bug.
"""
from __future__ import annotations

import random

import matdiff
from matdiff import api
from matdiff.errors import MatdiffError
from matdiff.printing.text import to_text

# the grammar's own terminals and the names and functions users write
TOKENS = ["x", "y", "A", "B", "W", "b", "c", "alpha", "θ", "\\theta", "I", "2", "0.5", "1/2", "0",
          "+", "-", "*", "/", "./", ".*", "∘", "⊙", "⊗", "^T", "'", "ᵀ", "^-1", "^{-1}", "^2", "^{3}",
          ".^ 2", "^-T", "(", ")", ",", "||", "‖", "||_F", "=", "\n", ";", "# note\n",
          "tr(", "Tr(", "det(", "logdet(", "log(", "exp(", "sin(", "cos(", "tanh(", "sigmoid(", "σ(",
          "relu(", "softplus(", "sqrt(", "Phi(", "Psi'(", "Φ(", "φ''(", "softmax(", "logsumexp(",
          "norm(", "sum(", "diag(", "kron(", "vec(", "inv(", " ", "  "]

SEEDS = [
    "c^T Psi((W + V) Phi(W x + b))",
    "z = W x\nh = relu(z)\ntheta = U h\nJ = -y^T log(softmax(theta))",
    "z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nR = 1/2 ||z2 - t||^2",
    "x^T A x + b^T x",
    "logdet(S) + (x - m)^T inv(S) (x - m)",
    "||X W - Y||_F^2 + lambda ||W||_F^2",
    "sum(sigmoid(X w)) + tr(A^2 B)",
    "h1 = 2 x\nh2 = 2 h1^2\nh3 = h1 + y\nl = h2 h3",
    "sum(diag(x) A) + sum(kron(A, B))",
]


def token_soup(rng: random.Random, n: int | None = None) -> str:
    return "".join(rng.choice(TOKENS) + rng.choice(["", " "]) for _ in range(n or rng.randint(1, 25)))


def mutant(rng: random.Random, src: str | None = None) -> str:
    """A valid program with a few characters or tokens deleted, doubled, swapped or inserted."""
    s = src or rng.choice(SEEDS)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(s) + 1)
        op = rng.randrange(4)
        if op == 0 and s:
            s = s[:i] + s[i + 1:]
        elif op == 1:
            s = s[:i] + rng.choice(TOKENS) + s[i:]
        elif op == 2 and i < len(s):
            s = s[:i] + s[i] + s[i:]
        elif s:
            j = rng.randrange(len(s))
            a, b = sorted((i % len(s), j))
            s = s[:a] + s[b:b + 1] + s[a + 1:b] + s[a:a + 1] + s[b + 1:]
    return s


def run_all(src: str, deep: bool = True):
    """Every stage on src; returns the exception it ended with, or None. Non-MatdiffError
    exceptions propagate: they are what the fuzzer looks for."""
    try:
        shaped = api.understand(src)
        to_text(shaped.expr)
        names = list(shaped.inputs)
        if not names or not deep:
            return None
        for wrt in names[:2]:
            try:
                g = api.derive_gradient(src, wrt)
            except MatdiffError:
                continue
            g.text()
            g.sympy()
            g.check()
            _optional(api, "latex", g)
        for call in (lambda: api.sheet(src, wrt=names[0]), lambda: matdiff.lambdify(src, wrt=names[:1])):
            try:
                call()
            except MatdiffError:
                pass
        for name in ("jacobian", "hessian"):
            if hasattr(api, name):
                try:
                    getattr(api, name)(src, wrt=names[0])
                except MatdiffError:
                    pass
        return None
    except MatdiffError as e:
        return e


def _optional(api, name, *args):
    fn = getattr(api, name, None)
    if fn is not None:
        try:
            fn(*args)
        except MatdiffError:
            pass
