"""Matrix Cookbook identities and common ML objectives, each checked two ways.

Equation numbers are those of The Matrix Cookbook (Petersen & Pedersen, version of
November 15, 2012). For every case:

1. matdiff's gradient equals the entrywise central-difference gradient of a NumPy
   function written here by hand;
2. it equals the closed form (the cookbook's right-hand side, or the textbook gradient
   of an ML objective) written here by hand with NumPy; and the closed form itself
   equals the finite differences, so a mistyped closed form cannot pass either;
3. the SymPy result of `matdiff.gradient` equals the closed form too.

Sizes are exact integers with distinct dimensions wherever the identity allows a
rectangular matrix, so that a missing or extra transpose changes the shape or the value.
Where the cookbook assumes a symmetric matrix (W, B, C in (84)-(88), (125)-(127)), the
expression is general and only the sampled value is symmetric.
"""
from __future__ import annotations


import numpy as np
import pytest

import matdiff
from helpers_calculus import (
    Case, as_natural, assert_close, draw_all, fd_gradient, matdiff_value, sigmoid, softmax, sympy_evaluate,
)

inv, det, tr = np.linalg.inv, np.linalg.det, np.trace
mpow = np.linalg.matrix_power


def dtanh(z):
    return 1 - np.tanh(z) ** 2



SQ = dict(X=(3, 3))
WC = dict(X="wellcond")

COOKBOOK = [
    # ---- 2.1 determinants ----
    Case("(49) det(X)", "det(X)", "X", SQ, lambda X: det(X), lambda X: det(X) * inv(X).T),
    Case("(51) det(A X B)", "det(A X B)", "X", dict(A=(3, 3), X=(3, 3), B=(3, 3)),
         lambda A, X, B: det(A @ X @ B), lambda A, X, B: det(A @ X @ B) * inv(X).T),
    Case("(52) det(X^T A X), X square", "det(X^T A X)", "X", dict(X=(3, 3), A=(3, 3)),
         lambda X, A: det(X.T @ A @ X), lambda X, A: 2 * det(X.T @ A @ X) * inv(X).T),
    Case("(53) det(X^T A X), A symmetric", "det(X^T A X)", "X", dict(X=(4, 3), A=(4, 4)),
         lambda X, A: det(X.T @ A @ X),
         lambda X, A: 2 * det(X.T @ A @ X) * A @ X @ inv(X.T @ A @ X), dict(A="spd")),
    Case("(54) det(X^T A X), A general", "det(X^T A X)", "X", dict(X=(4, 3), A=(4, 4)),
         lambda X, A: det(X.T @ A @ X),
         lambda X, A: det(X.T @ A @ X) * (A @ X @ inv(X.T @ A @ X) + A.T @ X @ inv(X.T @ A.T @ X)),
         dict(A="wellcond")),
    Case("(55) log det(X^T X)", "log(det(X^T X))", "X", dict(X=(4, 3)),
         lambda X: np.log(det(X.T @ X)), lambda X: 2 * np.linalg.pinv(X).T),
    Case("(55) logdet(X^T X)", "logdet(X^T X)", "X", dict(X=(5, 2)),
         lambda X: np.log(det(X.T @ X)), lambda X: 2 * np.linalg.pinv(X).T),
    Case("(57) log det(X)", "log(det(X))", "X", SQ, lambda X: np.log(det(X)), lambda X: inv(X).T, WC),
    Case("(57) logdet(X)", "logdet(X)", "X", dict(X=(4, 4)), lambda X: np.log(det(X)), lambda X: inv(X).T,
         WC),
    Case("(58) det(X^k)", "det(X^3)", "X", SQ, lambda X: det(mpow(X, 3)), lambda X: 3 * det(mpow(X, 3)) * inv(X).T),
    # ---- 2.2 inverses ----
    Case("(61) a^T X^-1 b", "a^T X^-1 b", "X", dict(a=(3,), X=(3, 3), b=(3,)),
         lambda a, X, b: a @ inv(X) @ b, lambda a, X, b: -inv(X).T @ np.outer(a, b) @ inv(X).T, WC),
    Case("(62) det(X^-1)", "det(inv(X))", "X", SQ, lambda X: det(inv(X)), lambda X: -det(inv(X)) * inv(X).T, WC),
    Case("(63) tr(A X^-1 B)", "tr(A X^-1 B)", "X", dict(A=(2, 3), X=(3, 3), B=(3, 2)),
         lambda A, X, B: tr(A @ inv(X) @ B), lambda A, X, B: -(inv(X) @ B @ A @ inv(X)).T, WC),
    Case("(64) tr((X + A)^-1)", "tr((X + A)^-1)", "X", dict(X=(3, 3), A=(3, 3)),
         lambda X, A: tr(inv(X + A)), lambda X, A: -(inv(X + A) @ inv(X + A)).T, dict(X="wellcond", A="wellcond")),
    # ---- 2.4 scalar forms ----
    Case("(69) x^T a", "x^T a", "x", dict(x=(3,), a=(3,)), lambda x, a: x @ a, lambda x, a: a),
    Case("(69) a^T x", "a^T x", "x", dict(x=(3,), a=(3,)), lambda x, a: a @ x, lambda x, a: a),
    Case("(70) a^T X b", "a^T X b", "X", dict(a=(3,), X=(3, 4), b=(4,)),
         lambda a, X, b: a @ X @ b, lambda a, X, b: np.outer(a, b)),
    Case("(71) a^T X^T b", "a^T X^T b", "X", dict(a=(4,), X=(3, 4), b=(3,)),
         lambda a, X, b: a @ X.T @ b, lambda a, X, b: np.outer(b, a)),
    Case("(72) a^T X a", "a^T X a", "X", dict(a=(3,), X=(3, 3)), lambda a, X: a @ X @ a, lambda a, X: np.outer(a, a)),
    Case("(72) a^T X^T a", "a^T X^T a", "X", dict(a=(3,), X=(3, 3)),
         lambda a, X: a @ X.T @ a, lambda a, X: np.outer(a, a)),
    Case("(77) b^T X^T X c", "b^T X^T X c", "X", dict(b=(3,), X=(4, 3), c=(3,)),
         lambda b, X, c: b @ X.T @ X @ c, lambda b, X, c: X @ (np.outer(b, c) + np.outer(c, b))),
    Case("(78) (Bx + b)^T C (Dx + d)", "(B x + b)^T C (D x + d)", "x",
         dict(B=(4, 3), x=(3,), b=(4,), C=(4, 2), D=(2, 3), d=(2,)),
         lambda B, x, b, C, D, d: (B @ x + b) @ C @ (D @ x + d),
         lambda B, x, b, C, D, d: B.T @ C @ (D @ x + d) + D.T @ C.T @ (B @ x + b)),
    Case("(81) x^T B x", "x^T B x", "x", dict(x=(3,), B=(3, 3)), lambda x, B: x @ B @ x, lambda x, B: (B + B.T) @ x),
    Case("(82) b^T X^T D X c", "b^T X^T D X c", "X", dict(b=(3,), X=(4, 3), D=(4, 4), c=(3,)),
         lambda b, X, D, c: b @ X.T @ D @ X @ c,
         lambda b, X, D, c: D.T @ X @ np.outer(b, c) + D @ X @ np.outer(c, b)),
    Case("(83) (Xb + c)^T D (Xb + c)", "(X b + c)^T D (X b + c)", "X", dict(X=(4, 3), b=(3,), c=(4,), D=(4, 4)),
         lambda X, b, c, D: (X @ b + c) @ D @ (X @ b + c),
         lambda X, b, c, D: np.outer((D + D.T) @ (X @ b + c), b)),
    Case("(84) (x - As)^T W (x - As) wrt s", "(x - A s)^T W (x - A s)", "s", dict(x=(4,), A=(4, 3), s=(3,), W=(4, 4)),
         lambda x, A, s, W: (x - A @ s) @ W @ (x - A @ s), lambda x, A, s, W: -2 * A.T @ W @ (x - A @ s),
         dict(W="spd")),
    Case("(85) (x - s)^T W (x - s) wrt x", "(x - s)^T W (x - s)", "x", dict(x=(4,), s=(4,), W=(4, 4)),
         lambda x, s, W: (x - s) @ W @ (x - s), lambda x, s, W: 2 * W @ (x - s), dict(W="spd")),
    Case("(86) (x - s)^T W (x - s) wrt s", "(x - s)^T W (x - s)", "s", dict(x=(4,), s=(4,), W=(4, 4)),
         lambda x, s, W: (x - s) @ W @ (x - s), lambda x, s, W: -2 * W @ (x - s), dict(W="spd")),
    Case("(87) (x - As)^T W (x - As) wrt x", "(x - A s)^T W (x - A s)", "x", dict(x=(4,), A=(4, 3), s=(3,), W=(4, 4)),
         lambda x, A, s, W: (x - A @ s) @ W @ (x - A @ s), lambda x, A, s, W: 2 * W @ (x - A @ s), dict(W="spd")),
    Case("(88) (x - As)^T W (x - As) wrt A", "(x - A s)^T W (x - A s)", "A", dict(x=(4,), A=(4, 3), s=(3,), W=(4, 4)),
         lambda x, A, s, W: (x - A @ s) @ W @ (x - A @ s), lambda x, A, s, W: -2 * np.outer(W @ (x - A @ s), s),
         dict(W="spd")),
    Case("(89) a^T X^n b", "a^T X^3 b", "X", dict(a=(3,), X=(3, 3), b=(3,)),
         lambda a, X, b: a @ mpow(X, 3) @ b,
         lambda a, X, b: sum(mpow(X, r).T @ np.outer(a, b) @ mpow(X, 2 - r).T for r in range(3))),
    Case("(90) a^T (X^n)^T X^n b", "a^T (X^2)^T X^2 b", "X", dict(a=(3,), X=(3, 3), b=(3,)),
         lambda a, X, b: a @ mpow(X, 2).T @ mpow(X, 2) @ b,
         lambda a, X, b: sum(mpow(X, r).T @ (mpow(X, 2) @ (np.outer(b, a) + np.outer(a, b))) @ mpow(X, 1 - r).T
                             for r in range(2))),
    # ---- 2.5 traces, first order ----
    Case("(99) tr(X)", "tr(X)", "X", dict(X=(4, 4)), lambda X: tr(X), lambda X: np.eye(4)),
    Case("(100) tr(X A)", "tr(X A)", "X", dict(X=(3, 4), A=(4, 3)), lambda X, A: tr(X @ A), lambda X, A: A.T),
    Case("(101) tr(A X B)", "tr(A X B)", "X", dict(A=(2, 3), X=(3, 4), B=(4, 2)),
         lambda A, X, B: tr(A @ X @ B), lambda A, X, B: A.T @ B.T),
    Case("(102) tr(A X^T B)", "tr(A X^T B)", "X", dict(A=(2, 4), X=(3, 4), B=(3, 2)),
         lambda A, X, B: tr(A @ X.T @ B), lambda A, X, B: B @ A),
    Case("(103) tr(X^T A)", "tr(X^T A)", "X", dict(X=(3, 4), A=(3, 4)), lambda X, A: tr(X.T @ A), lambda X, A: A),
    Case("(104) tr(A X^T)", "tr(A X^T)", "X", dict(A=(3, 4), X=(3, 4)), lambda A, X: tr(A @ X.T), lambda A, X: A),
    Case("(105) tr(A ⊗ X)", "tr(kron(A, X))", "X", dict(A=(2, 2), X=(3, 3)),
         lambda A, X: tr(np.kron(A, X)), lambda A, X: tr(A) * np.eye(3)),
    # ---- second order ----
    Case("(106) tr(X^2)", "tr(X^2)", "X", SQ, lambda X: tr(X @ X), lambda X: 2 * X.T),
    Case("(107) tr(X^2 B)", "tr(X^2 B)", "X", dict(X=(3, 3), B=(3, 3)),
         lambda X, B: tr(X @ X @ B), lambda X, B: (X @ B + B @ X).T),
    Case("(108) tr(X^T B X)", "tr(X^T B X)", "X", dict(X=(3, 4), B=(3, 3)),
         lambda X, B: tr(X.T @ B @ X), lambda X, B: B @ X + B.T @ X),
    Case("(109) tr(B X X^T)", "tr(B X X^T)", "X", dict(B=(3, 3), X=(3, 4)),
         lambda B, X: tr(B @ X @ X.T), lambda B, X: B @ X + B.T @ X),
    Case("(110) tr(X X^T B)", "tr(X X^T B)", "X", dict(X=(3, 4), B=(3, 3)),
         lambda X, B: tr(X @ X.T @ B), lambda X, B: B @ X + B.T @ X),
    Case("(111) tr(X B X^T)", "tr(X B X^T)", "X", dict(X=(3, 4), B=(4, 4)),
         lambda X, B: tr(X @ B @ X.T), lambda X, B: X @ B.T + X @ B),
    Case("(112) tr(B X^T X)", "tr(B X^T X)", "X", dict(B=(4, 4), X=(3, 4)),
         lambda B, X: tr(B @ X.T @ X), lambda B, X: X @ B.T + X @ B),
    Case("(113) tr(X^T X B)", "tr(X^T X B)", "X", dict(X=(3, 4), B=(4, 4)),
         lambda X, B: tr(X.T @ X @ B), lambda X, B: X @ B.T + X @ B),
    Case("(114) tr(A X B X)", "tr(A X B X)", "X", dict(A=(4, 3), X=(3, 4), B=(4, 3)),
         lambda A, X, B: tr(A @ X @ B @ X), lambda A, X, B: A.T @ X.T @ B.T + B.T @ X.T @ A.T),
    Case("(115) tr(X^T X)", "tr(X^T X)", "X", dict(X=(3, 4)), lambda X: tr(X.T @ X), lambda X: 2 * X),
    Case("(115) tr(X X^T)", "tr(X X^T)", "X", dict(X=(3, 4)), lambda X: tr(X @ X.T), lambda X: 2 * X),
    Case("(116) tr(B^T X^T C X B)", "tr(B^T X^T C X B)", "X", dict(B=(4, 2), X=(3, 4), C=(3, 3)),
         lambda B, X, C: tr(B.T @ X.T @ C @ X @ B), lambda B, X, C: C.T @ X @ B @ B.T + C @ X @ B @ B.T),
    Case("(117) tr(X^T B X C)", "tr(X^T B X C)", "X", dict(X=(3, 4), B=(3, 3), C=(4, 4)),
         lambda X, B, C: tr(X.T @ B @ X @ C), lambda X, B, C: B @ X @ C + B.T @ X @ C.T),
    Case("(118) tr(A X B X^T C)", "tr(A X B X^T C)", "X", dict(A=(2, 3), X=(3, 4), B=(4, 4), C=(3, 2)),
         lambda A, X, B, C: tr(A @ X @ B @ X.T @ C), lambda A, X, B, C: A.T @ C.T @ X @ B.T + C @ A @ X @ B),
    Case("(119) tr((AXB + C)(AXB + C)^T)", "tr((A X B + C) (A X B + C)^T)", "X",
         dict(A=(2, 3), X=(3, 4), B=(4, 5), C=(2, 5)),
         lambda A, X, B, C: tr((A @ X @ B + C) @ (A @ X @ B + C).T),
         lambda A, X, B, C: 2 * A.T @ (A @ X @ B + C) @ B.T),
    Case("(120) tr(X ⊗ X)", "tr(kron(X, X))", "X", SQ, lambda X: tr(np.kron(X, X)), lambda X: 2 * tr(X) * np.eye(3)),
    Case("(120) tr(X) tr(X)", "tr(X) tr(X)", "X", SQ, lambda X: tr(X) ** 2, lambda X: 2 * tr(X) * np.eye(3)),
    # ---- higher order ----
    Case("(121) tr(X^k), k=3", "tr(X^3)", "X", SQ, lambda X: tr(mpow(X, 3)), lambda X: 3 * mpow(X, 2).T),
    Case("(121) tr(X^k), k=4", "tr(X^4)", "X", dict(X=(4, 4)), lambda X: tr(mpow(X, 4)), lambda X: 4 * mpow(X, 3).T),
    Case("(122) tr(A X^k)", "tr(A X^3)", "X", dict(A=(3, 3), X=(3, 3)),
         lambda A, X: tr(A @ mpow(X, 3)),
         lambda A, X: sum((mpow(X, r) @ A @ mpow(X, 2 - r)).T for r in range(3))),
    Case("(123) tr(B^T X^T C X X^T C X B)", "tr(B^T X^T C X X^T C X B)", "X", dict(B=(4, 2), X=(3, 4), C=(3, 3)),
         lambda B, X, C: tr(B.T @ X.T @ C @ X @ X.T @ C @ X @ B),
         lambda B, X, C: (C @ X @ X.T @ C @ X @ B @ B.T + C.T @ X @ B @ B.T @ X.T @ C.T @ X
                          + C @ X @ B @ B.T @ X.T @ C @ X + C.T @ X @ X.T @ C.T @ X @ B @ B.T)),
    # ---- other ----
    Case("(124) tr(A X^-1 B)", "tr(A inv(X) B)", "X", dict(A=(2, 3), X=(3, 3), B=(3, 2)),
         lambda A, X, B: tr(A @ inv(X) @ B), lambda A, X, B: -inv(X).T @ A.T @ B.T @ inv(X).T, WC),
    Case("(125) tr((X^T C X)^-1 A)", "tr((X^T C X)^-1 A)", "X", dict(X=(4, 3), C=(4, 4), A=(3, 3)),
         lambda X, C, A: tr(inv(X.T @ C @ X) @ A),
         lambda X, C, A: -(C @ X @ inv(X.T @ C @ X)) @ (A + A.T) @ inv(X.T @ C @ X), dict(C="spd")),
    Case("(126) tr((X^T C X)^-1 (X^T B X))", "tr((X^T C X)^-1 (X^T B X))", "X", dict(X=(4, 3), C=(4, 4), B=(4, 4)),
         lambda X, C, B: tr(inv(X.T @ C @ X) @ X.T @ B @ X),
         lambda X, C, B: (-2 * C @ X @ inv(X.T @ C @ X) @ X.T @ B @ X @ inv(X.T @ C @ X)
                          + 2 * B @ X @ inv(X.T @ C @ X)),
         dict(C="spd", B="spd")),
    Case("(127) tr((A + X^T C X)^-1 (X^T B X))", "tr((A + X^T C X)^-1 (X^T B X))", "X",
         dict(A=(3, 3), X=(4, 3), C=(4, 4), B=(4, 4)),
         lambda A, X, C, B: tr(inv(A + X.T @ C @ X) @ X.T @ B @ X),
         lambda A, X, C, B: (-2 * C @ X @ inv(A + X.T @ C @ X) @ X.T @ B @ X @ inv(A + X.T @ C @ X)
                             + 2 * B @ X @ inv(A + X.T @ C @ X)),
         dict(A="spd", C="spd", B="spd")),
    # ---- 2.6, 2.7 norms ----
    Case("(129) ||x - a||", "||x - a||", "x", dict(x=(4,), a=(4,)),
         lambda x, a: np.linalg.norm(x - a), lambda x, a: (x - a) / np.linalg.norm(x - a)),
    Case("(131) ||x||^2", "||x||^2", "x", dict(x=(4,)), lambda x: x @ x, lambda x: 2 * x),
    Case("(131) x^T x", "x^T x", "x", dict(x=(4,)), lambda x: x @ x, lambda x: 2 * x),
    Case("(132) ||X||_F^2", "||X||_F^2", "X", dict(X=(3, 4)), lambda X: np.sum(X ** 2), lambda X: 2 * X),
    Case("(132) tr(X X^T) as norm", "||X^T||_F^2", "X", dict(X=(3, 4)), lambda X: np.sum(X ** 2), lambda X: 2 * X),
    Case("||X||_F", "||X||_F", "X", dict(X=(3, 4)), lambda X: np.linalg.norm(X), lambda X: X / np.linalg.norm(X)),
    Case("||A X - B||_F^2", "||A X - B||_F^2", "X", dict(A=(5, 3), X=(3, 4), B=(5, 4)),
         lambda A, X, B: np.sum((A @ X - B) ** 2), lambda A, X, B: 2 * A.T @ (A @ X - B)),
    Case("||A X - B||_F", "||A X - B||_F", "X", dict(A=(5, 3), X=(3, 4), B=(5, 4)),
         lambda A, X, B: np.linalg.norm(A @ X - B),
         lambda A, X, B: A.T @ (A @ X - B) / np.linalg.norm(A @ X - B)),
    Case("||X^-1||_F^2", "||inv(X)||_F^2", "X", SQ, lambda X: np.sum(inv(X) ** 2),
         lambda X: -2 * inv(X).T @ inv(X) @ inv(X).T, WC),
    Case("tr(X^-1)", "tr(X^-1)", "X", SQ, lambda X: tr(inv(X)), lambda X: -(inv(X) @ inv(X)).T, WC),
    Case("tr(X^-2)", "tr(X^-2)", "X", SQ, lambda X: tr(mpow(inv(X), 2)), lambda X: -2 * mpow(inv(X), 3).T, WC),
]


def _mixed_power_grad(a, X, b):
    """f = a^T K^-1 b with K = X^2 + X^T: G_K = -K^-T a b^T K^-T, and dK = dX X + X dX + dX^T,
    so G_X = G_K X^T + X^T G_K + G_K^T."""
    K = X @ X + X.T
    GK = -inv(K).T @ np.outer(a, b) @ inv(K).T
    return GK @ X.T + X.T @ GK + GK.T


def two_layer(W1, b1, W2, b2, x, t):
    return 0.5 * np.sum((W2 @ np.tanh(W1 @ x + b1) + b2 - t) ** 2)


def two_layer_grads(W1, b1, W2, b2, x, t):
    z = W1 @ x + b1
    h = np.tanh(z)
    r = W2 @ h + b2 - t
    delta = (W2.T @ r) * dtanh(z)
    return dict(W1=np.outer(delta, x), b1=delta, W2=np.outer(r, h), b2=r, x=W1.T @ delta)


TWO_LAYER = "z = W1 x + b1\nh = tanh(z)\ny = W2 h + b2\nL = 1/2 ||y - t||^2"
TWO_LAYER_SHAPES = dict(W1=(4, 3), b1=(4,), W2=(2, 4), b2=(2,), x=(3,), t=(2,))


def residual2_grads(W, h, c):
    z0 = W @ h
    h1 = np.tanh(z0) + h
    z1 = W @ h1
    g1 = c * dtanh(z1)
    d1 = W.T @ g1 + c
    g0 = d1 * dtanh(z0)
    return dict(W=np.outer(g1, h1) + np.outer(g0, h), h=W.T @ g0 + d1)


def residual2(W, h, c):
    h1 = np.tanh(W @ h) + h
    return c @ (np.tanh(W @ h1) + h1)


def gauss_nll(S, mu, x):
    return 0.5 * np.log(det(S)) + 0.5 * (x - mu) @ inv(S) @ (x - mu)


GAUSS = "1/2 logdet(S) + 1/2 (x - mu)^T inv(S) (x - mu)"
GAUSS_SHAPES = dict(S=(3, 3), mu=(3,), x=(3,))

ML = [
    Case("least squares ||A x - b||^2", "||A x - b||^2", "x", dict(A=(5, 3), x=(3,), b=(5,)),
         lambda A, x, b: np.sum((A @ x - b) ** 2), lambda A, x, b: 2 * A.T @ (A @ x - b)),
    Case("least squares (A x - b)^T (A x - b) wrt A", "(A x - b)^T (A x - b)", "A", dict(A=(5, 3), x=(3,), b=(5,)),
         lambda A, x, b: np.sum((A @ x - b) ** 2), lambda A, x, b: 2 * np.outer(A @ x - b, x)),
    Case("weighted least squares", "(A x - b)^T W (A x - b)", "x", dict(A=(5, 3), x=(3,), b=(5,), W=(5, 5)),
         lambda A, x, b, W: (A @ x - b) @ W @ (A @ x - b), lambda A, x, b, W: A.T @ (W + W.T) @ (A @ x - b)),
    Case("ridge wrt x", "||A x - b||^2 + lambda ||x||^2", "x", dict(A=(5, 3), x=(3,), b=(5,), **{"lambda": ()}),
         lambda A, x, b, **k: np.sum((A @ x - b) ** 2) + k["lambda"] * (x @ x),
         lambda A, x, b, **k: 2 * A.T @ (A @ x - b) + 2 * k["lambda"] * x),
    Case("ridge wrt lambda", "||A x - b||^2 + lambda ||x||^2", "lambda", dict(A=(5, 3), x=(3,), b=(5,), **{"lambda": ()}),
         lambda A, x, b, **k: np.sum((A @ x - b) ** 2) + k["lambda"] * (x @ x), lambda A, x, b, **k: x @ x),
    Case("ridge, matrix form", "||X w - y||^2 + alpha w^T w", "w", dict(X=(6, 3), w=(3,), y=(6,), alpha=()),
         lambda X, w, y, alpha: np.sum((X @ w - y) ** 2) + alpha * (w @ w),
         lambda X, w, y, alpha: 2 * X.T @ (X @ w - y) + 2 * alpha * w),
    Case("logistic regression", "sum(softplus(X w)) - y^T X w", "w", dict(X=(6, 3), w=(3,), y=(6,)),
         lambda X, w, y: np.sum(np.logaddexp(0, X @ w)) - y @ X @ w,
         lambda X, w, y: X.T @ (sigmoid(X @ w) - y)),
    Case("logistic regression wrt X", "sum(softplus(X w)) - y^T X w", "X", dict(X=(6, 3), w=(3,), y=(6,)),
         lambda X, w, y: np.sum(np.logaddexp(0, X @ w)) - y @ X @ w,
         lambda X, w, y: np.outer(sigmoid(X @ w) - y, w)),
    Case("logistic regression, log-sigmoid form", "-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", "w",
         dict(X=(6, 3), w=(3,), y=(6,)),
         lambda X, w, y: -y @ np.log(sigmoid(X @ w)) - (1 - y) @ np.log(1 - sigmoid(X @ w)),
         lambda X, w, y: X.T @ (sigmoid(X @ w) - y)),
    Case("Gaussian NLL wrt mu", GAUSS, "mu", GAUSS_SHAPES, gauss_nll,
         lambda S, mu, x: -inv(S) @ (x - mu), dict(S="spd")),
    Case("Gaussian NLL wrt S", GAUSS, "S", GAUSS_SHAPES, gauss_nll,
         lambda S, mu, x: 0.5 * (inv(S).T - inv(S).T @ np.outer(x - mu, x - mu) @ inv(S).T), dict(S="spd")),
    Case("Gaussian NLL, log(det) spelling, wrt S", "1/2 log(det(S)) + 1/2 (x - mu)^T S^-1 (x - mu)", "S",
         GAUSS_SHAPES, gauss_nll,
         lambda S, mu, x: 0.5 * (inv(S).T - inv(S).T @ np.outer(x - mu, x - mu) @ inv(S).T), dict(S="spd")),
    Case("Gaussian batch NLL wrt S", "N/2 logdet(S) + 1/2 tr(inv(S) C)", "S", dict(N=(), S=(3, 3), C=(3, 3)),
         lambda N, S, C: N / 2 * np.log(det(S)) + 0.5 * tr(inv(S) @ C),
         lambda N, S, C: N / 2 * inv(S).T - 0.5 * inv(S).T @ C.T @ inv(S).T, dict(S="spd", N="pos")),
    Case("Mahalanobis wrt S", "(x - mu)^T inv(S) (x - mu)", "S", GAUSS_SHAPES,
         lambda S, mu, x: (x - mu) @ inv(S) @ (x - mu),
         lambda S, mu, x: -inv(S).T @ np.outer(x - mu, x - mu) @ inv(S).T, dict(S="spd")),
    Case("batch loss ||X W - Y||_F^2 wrt W", "||X W - Y||_F^2", "W", dict(X=(6, 4), W=(4, 3), Y=(6, 3)),
         lambda X, W, Y: np.sum((X @ W - Y) ** 2), lambda X, W, Y: 2 * X.T @ (X @ W - Y)),
    Case("batch loss ||X W - Y||_F^2 wrt X", "||X W - Y||_F^2", "X", dict(X=(6, 4), W=(4, 3), Y=(6, 3)),
         lambda X, W, Y: np.sum((X @ W - Y) ** 2), lambda X, W, Y: 2 * (X @ W - Y) @ W.T),
    Case("batch loss with bias", "||X W + o b^T - Y||_F^2", "b", dict(X=(6, 4), W=(4, 3), o=(6,), b=(3,), Y=(6, 3)),
         lambda X, W, o, b, Y: np.sum((X @ W + np.outer(o, b) - Y) ** 2),
         lambda X, W, o, b, Y: 2 * (X @ W + np.outer(o, b) - Y).T @ o, dict(o="ones")),
    Case("softmax cross-entropy wrt W", "-y^T log(softmax(W x))", "W", dict(y=(4,), W=(4, 3), x=(3,)),
         lambda y, W, x: -y @ np.log(softmax(W @ x)),
         lambda y, W, x: np.outer(softmax(W @ x) * y.sum() - y, x)),
    Case("softmax cross-entropy wrt x", "-y^T log(softmax(W x))", "x", dict(y=(4,), W=(4, 3), x=(3,)),
         lambda y, W, x: -y @ np.log(softmax(W @ x)),
         lambda y, W, x: W.T @ (softmax(W @ x) * y.sum() - y)),
    Case("softmax cross-entropy, probability y", "-y^T log(softmax(W x))", "W", dict(y=(4,), W=(4, 3), x=(3,)),
         lambda y, W, x: -y @ np.log(softmax(W @ x)),
         lambda y, W, x: np.outer(softmax(W @ x) - y, x), dict(y="simplex")),
    Case("logsumexp form of cross-entropy", "logsumexp(W x) - y^T W x", "W", dict(y=(4,), W=(4, 3), x=(3,)),
         lambda y, W, x: np.log(np.sum(np.exp(W @ x))) - y @ W @ x,
         lambda y, W, x: np.outer(softmax(W @ x) - y, x)),
    *[Case(f"two-layer tanh network wrt {v}", TWO_LAYER, v, TWO_LAYER_SHAPES, two_layer,
           (lambda v: lambda **k: two_layer_grads(**k)[v])(v)) for v in ("W1", "b1", "W2", "b2", "x")],
    Case("two-layer tanh network, one line", "1/2 ||W2 tanh(W1 x + b1) + b2 - t||^2", "W1", TWO_LAYER_SHAPES,
         two_layer, lambda **k: two_layer_grads(**k)["W1"]),
    Case("residual block wrt W", "c^T (tanh(W h) + h)", "W", dict(c=(3,), W=(3, 3), h=(3,)),
         lambda c, W, h: c @ (np.tanh(W @ h) + h), lambda c, W, h: np.outer(c * dtanh(W @ h), h)),
    Case("residual block wrt h", "c^T (tanh(W h) + h)", "h", dict(c=(3,), W=(3, 3), h=(3,)),
         lambda c, W, h: c @ (np.tanh(W @ h) + h), lambda c, W, h: W.T @ (c * dtanh(W @ h)) + c),
    *[Case(f"two residual blocks sharing W wrt {v}", "h1 = tanh(W h) + h\nh2 = tanh(W h1) + h1\nf = c^T h2", v,
           dict(W=(3, 3), h=(3,), c=(3,)), residual2, (lambda v: lambda **k: residual2_grads(**k)[v])(v))
      for v in ("W", "h")],
    Case("PCA reconstruction ||X - X W W^T||_F^2", "||X - X W W^T||_F^2", "W", dict(X=(6, 4), W=(4, 2)),
         lambda X, W: np.sum((X - X @ W @ W.T) ** 2),
         lambda X, W: -2 * (X.T @ (X - X @ W @ W.T) @ W + (X - X @ W @ W.T).T @ X @ W)),
    Case("matrix factorization wrt U", "||Y - U V^T||_F^2 + lambda (||U||_F^2 + ||V||_F^2)", "U",
         dict(Y=(5, 4), U=(5, 2), V=(4, 2), **{"lambda": ()}),
         lambda Y, U, V, **k: np.sum((Y - U @ V.T) ** 2) + k["lambda"] * (np.sum(U ** 2) + np.sum(V ** 2)),
         lambda Y, U, V, **k: -2 * (Y - U @ V.T) @ V + 2 * k["lambda"] * U),
    Case("Rayleigh quotient", "(x^T A x) / (x^T x)", "x", dict(x=(4,), A=(4, 4)),
         lambda x, A: (x @ A @ x) / (x @ x),
         lambda x, A: (A + A.T) @ x / (x @ x) - 2 * (x @ A @ x) * x / (x @ x) ** 2),
    Case("attention readout c^T softmax(K^T q)", "c^T softmax(K^T q)", "q", dict(c=(5,), K=(3, 5), q=(3,)),
         lambda c, K, q: c @ softmax(K.T @ q),
         lambda c, K, q: K @ (softmax(K.T @ q) * c - softmax(K.T @ q) * (softmax(K.T @ q) @ c))),
    Case("X inside an inverse and a function: tr(X^-1 exp(X))", "tr(inv(X) exp(X))", "X", SQ,
         lambda X: tr(inv(X) @ np.exp(X)),
         lambda X: -inv(X).T @ np.exp(X).T @ inv(X).T + np.exp(X) * inv(X).T, WC),
    Case("X in a power, transposed, and inverted: a^T (X^2 + X^T)^-1 b", "a^T (X^2 + X^T)^-1 b", "X",
         dict(a=(3,), X=(3, 3), b=(3,)),
         lambda a, X, b: a @ inv(X @ X + X.T) @ b,
         _mixed_power_grad, WC),
    Case("smooth L1 penalty", "||A x - b||^2 + sum(sqrt(x .^ 2 + e))", "x", dict(A=(5, 3), x=(3,), b=(5,), e=(3,)),
         lambda A, x, b, e: np.sum((A @ x - b) ** 2) + np.sum(np.sqrt(x ** 2 + e)),
         lambda A, x, b, e: 2 * A.T @ (A @ x - b) + x / np.sqrt(x ** 2 + e), dict(e="pos")),
]

ALL = COOKBOOK + ML


def _params(cases):
    return [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail
            else pytest.param(c, id=c.id) for c in cases]


def _values(c: Case, seed: int) -> dict:
    return draw_all(c.shapes, np.random.default_rng(seed), c.kinds)


@pytest.mark.parametrize("c", _params(ALL))
def test_gradient(c: Case):
    """matdiff's gradient == closed form == entrywise finite differences, at two random inputs."""
    g = matdiff.derive_gradient(c.src, c.wrt, shapes=c.shapes).inlined[c.wrt]
    for seed in (0, 1):
        values = _values(c, seed)
        fd = fd_gradient(c.f, values, c.wrt)
        closed = c.grad(**values)
        assert_close(closed, fd, what="the closed form written in the test vs finite differences: ")
        got = as_natural(matdiff_value(g, values), c.shapes[c.wrt])
        assert_close(got, fd, what="matdiff vs finite differences: ")
        assert_close(got, closed, tol=1e-8, what="matdiff vs the closed form: ")


@pytest.mark.parametrize("c", _params(ALL))
def test_sympy_result(c: Case):
    """The SymPy expression of matdiff.gradient, evaluated by an independent walker, is the closed form."""
    values = _values(c, seed=2)
    g = matdiff.gradient(c.src, c.wrt, shapes=c.shapes)
    got = as_natural(sympy_evaluate(g, values), c.shapes[c.wrt])
    assert_close(got, c.grad(**values), tol=1e-8)


@pytest.mark.parametrize("c", _params(ALL))
def test_builtin_check_passes(c: Case):
    """matdiff's own numerical check agrees (symbolic dimensions replaced by its sizes)."""
    assert matdiff.check(c.src, c.wrt, shapes=c.shapes).ok


# ---- golden results: the closed form as matdiff prints it (each also checked numerically above) ----

GOLDEN = [
    ("(100) tr(X A)", "A^T"),
    ("(101) tr(A X B)", "A^T B^T"),
    ("(102) tr(A X^T B)", "B A"),
    ("(103) tr(X^T A)", "A"),
    ("(70) a^T X b", "a b^T"),
    ("(71) a^T X^T b", "b a^T"),
    ("(81) x^T B x", "(B + B^T) x"),
    ("(132) ||X||_F^2", "2 X"),
    ("(131) ||x||^2", "2 x"),
    ("batch loss ||X W - Y||_F^2 wrt W", "2 X^T (X W - Y)"),
]


@pytest.mark.parametrize("cid, text", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_text(cid, text):
    c = next(c for c in ALL if c.id == cid)
    out = matdiff.derive_gradient(c.src, c.wrt, shapes=c.shapes).text()
    assert out.splitlines()[-1] == f"∂f/∂{c.wrt} = {text}"
