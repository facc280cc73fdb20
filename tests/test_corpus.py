"""A corpus of our own (issue 13): ML objectives and Matrix Cookbook identities as courses and the
Cookbook write them, in users' natural spellings (the ones vector `1`, `1_n`, `vector(1)`,
broadcasting `X W + b^T` and `x - alpha`, `mean`, `abs`, `sign`, `||x||_1`, `norm1`, `norm2`,
trigonometric and hyperbolic functions, variable exponents, `softmax(Z, rows)`, `logsumexp`,
`log_softmax`, kron of a variable, symmetric and positive-definite variables declared by shape).

Every problem is checked independently of how matdiff reads it:

1. matdiff's value of the function equals a NumPy transcription written here by hand (so the
   spelling is read as its users mean it), and matdiff's gradient equals central differences of
   that transcription, entry by entry (for a symmetric variable their symmetric part, the gradient
   on the symmetric matrices), at two random inputs;
2. the SymPy result (evaluated by an independent walker) and the generated NumPy code
   (`matdiff.lambdify`) give matdiff's numbers;
3. where the textbook gradient is known, it is given as a claim, written here the way a course
   writes it, and `matdiff.check(..., claim=...)` judges it right; twice the claim is judged wrong;
4. a sample of vector functions through `jacobian` and of scalar ones through `hessian`, against
   finite differences of the same transcriptions.

Sizes are small and distinct where the problem allows; a named size (1_n) is drawn as SIZES says.
"""
from __future__ import annotations

import numpy as np
import pytest

import matdiff
from helpers_calculus import (
    Case, as_natural, assert_close, draw, fd_gradient, matdiff_value, sigmoid, softmax, sympy_evaluate, to2d,
)

inv, det, tr, logdet = np.linalg.inv, np.linalg.det, np.trace, (lambda M: np.linalg.slogdet(M)[1])
SIZES = {"n": 4, "m": 3}          # the size of each named dimension, where a problem names one


def softmax_rows(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def softmax_cols(Z):
    return softmax_rows(Z.T).T


def lse_rows(Z):
    return np.log(np.exp(Z).sum(axis=1))


def vec(M):
    return M.reshape(-1, order="F")


# ---- the corpus ---------------------------------------------------------------------------------
# C(id, text, variable, shapes, NumPy function, claim, kinds): kinds draws inputs where the function
# needs them ("pos" positive, "spd", "sym", "wellcond" invertible, "unit" in (-0.8, 0.8), "small").

CLAIMS: dict = {}


def C(cid, src, wrt, shapes, f, claim=None, kinds=None, xfail=None):
    if claim is not None:
        CLAIMS[cid] = claim
    return Case(cid, src, wrt, shapes, f, None, dict(kinds or {}), xfail=xfail)


SYM3, SPD3 = (3, 3, "sym"), (3, 3, "spd")
LR = dict(X=(5, 3), w=(3,), y=(5,))                     # a regression: 5 examples, 3 features
NET = dict(W1=(4, 3), W2=(2, 4), x=(3,), y=(2,))         # a two-layer net, 3 -> 4 -> 2

CORPUS = [
    # -- linear and quadratic forms (Cookbook 2.4)
    C("a^T x", "a^T x", "x", dict(a=(3,), x=(3,)), lambda a, x: a @ x, "a"),
    C("x^T a", "x^T a", "x", dict(a=(3,), x=(3,)), lambda a, x: x @ a, "a"),
    C("x^T A x", "x^T A x", "x", dict(A=(3, 3), x=(3,)), lambda A, x: x @ A @ x, "(A + A^T) x"),
    C("x^T A x, A symmetric", "x^T A x", "x", dict(A=SYM3, x=(3,)), lambda A, x: x @ A @ x, "2 A x",
      dict(A="sym")),
    C("x' A x (prime)", "x' A x", "x", dict(A=(3, 3), x=(3,)), lambda A, x: x @ A @ x, "A x + A' x"),
    C("a^T X b", "a^T X b", "X", dict(a=(2,), X=(2, 3), b=(3,)), lambda a, X, b: a @ X @ b, "a b^T"),
    C("a^T X^T b", "a^T X^T b", "X", dict(a=(3,), X=(2, 3), b=(2,)), lambda a, X, b: a @ X.T @ b, "b a^T"),
    C("b^T X^T X c", "b^T X^T X c", "X", dict(b=(3,), X=(4, 3), c=(3,)), lambda b, X, c: b @ X.T @ X @ c,
      "X (b c^T + c b^T)"),
    C("(A x + b)^T C (D x + e)", "(A x + b)^T C (D x + e)", "x",
      dict(A=(4, 3), x=(3,), b=(4,), C=(4, 2), D=(2, 3), e=(2,)),
      lambda A, x, b, C, D, e: (A @ x + b) @ C @ (D @ x + e), "D^T C^T (A x + b) + A^T C (D x + e)"),
    # -- traces (Cookbook 2.5)
    C("tr(A X)", "tr(A X)", "X", dict(A=(3, 2), X=(2, 3)), lambda A, X: tr(A @ X), "A^T"),
    C("Tr(X^T A)", "Tr(X^T A)", "X", dict(A=(3, 2), X=(3, 2)), lambda A, X: tr(X.T @ A), "A"),
    C("tr(A X B)", "tr(A X B)", "X", dict(A=(2, 3), X=(3, 4), B=(4, 2)), lambda A, X, B: tr(A @ X @ B), "A^T B^T"),
    C("trace(X^T X)", "trace(X^T X)", "X", dict(X=(3, 2)), lambda X: tr(X.T @ X), "2 X"),
    C("tr(X A X^T)", "tr(X A X^T)", "X", dict(X=(2, 3), A=(3, 3)), lambda X, A: tr(X @ A @ X.T), "X (A + A^T)"),
    C("tr(X^T A X)", "tr(X^T A X)", "X", dict(X=(3, 2), A=(3, 3)), lambda X, A: tr(X.T @ A @ X), "(A + A^T) X"),
    C("tr(X^2)", "tr(X^2)", "X", dict(X=(3, 3)), lambda X: tr(X @ X), "2 X^T"),
    C("tr(X^3)", "tr(X^3)", "X", dict(X=(3, 3)), lambda X: tr(X @ X @ X), "3 (X^2)^T"),
    C("tr(X^-1 A)", "tr(X^-1 A)", "X", dict(X=(3, 3), A=(3, 3)), lambda X, A: tr(inv(X) @ A),
      "-X^-T A^T X^-T", dict(X="wellcond")),
    C("tr(inv(X))", "tr(inv(X))", "X", dict(X=(3, 3)), lambda X: tr(inv(X)), "-(X^-1 X^-1)^T", dict(X="wellcond")),
    C("tr(diag(x) A)", "tr(diag(x) A)", "x", dict(x=(3,), A=(3, 3)), lambda x, A: tr(np.diag(x) @ A), "diag(A)"),
    C("sum(diag(X))", "sum(diag(X))", "X", dict(X=(3, 3)), lambda X: np.trace(X), "I"),
    # -- determinants, inverses (Cookbook 2.1, 2.2)
    C("det(X)", "det(X)", "X", dict(X=(3, 3)), lambda X: det(X), "det(X) X^-T", dict(X="wellcond")),
    C("det(X)^2", "det(X)^2", "X", dict(X=(3, 3)), lambda X: det(X) ** 2, "2 det(X)^2 inv(X)^T",
      dict(X="wellcond")),
    C("logdet(X)", "logdet(X)", "X", dict(X=(3, 3)), lambda X: logdet(X), "X^-T", dict(X="wellcond")),
    C("log(det(X))", "log(det(X))", "X", dict(X=(3, 3)), lambda X: np.log(det(X)), "inv(X)^T", dict(X="wellcond")),
    C("logdet(X^T X)", "logdet(X^T X)", "X", dict(X=(4, 3)), lambda X: logdet(X.T @ X), "2 X (X^T X)^-1"),
    C("log(det(A X B))", "log(det(A X B))", "X", dict(A=(3, 3), X=(3, 3), B=(3, 3)),
      lambda A, X, B: np.log(det(A @ X @ B)), "X^-T", dict(A="wellcond", X="wellcond", B="wellcond")),
    C("a^T X^-1 b", "a^T X^-1 b", "X", dict(a=(3,), X=(3, 3), b=(3,)), lambda a, X, b: a @ inv(X) @ b,
      "-X^-T a b^T X^-T", dict(X="wellcond")),
    # -- norms
    C("||x||^2", "||x||^2", "x", dict(x=(4,)), lambda x: x @ x, "2 x"),
    C("||x||", "||x||", "x", dict(x=(4,)), lambda x: np.sqrt(x @ x), "x / ||x||"),
    C("norm2(x)", "norm2(x)", "x", dict(x=(4,)), lambda x: np.sqrt(x @ x), "x / norm(x)"),
    C("||x - y||_2", "||x - y||_2", "x", dict(x=(4,), y=(4,)), lambda x, y: np.linalg.norm(x - y),
      "(x - y) / ||x - y||"),
    C("||X||_F^2", "||X||_F^2", "X", dict(X=(2, 3)), lambda X: np.sum(X ** 2), "2 X"),
    C("||X - Y||_F", "||X - Y||_F", "X", dict(X=(2, 3), Y=(2, 3)), lambda X, Y: np.linalg.norm(X - Y),
      "(X - Y) / ||X - Y||_F"),
    C("norm2(X) (Frobenius)", "norm2(X)", "X", dict(X=(2, 3)), lambda X: np.linalg.norm(X), "X / norm2(X)"),
    C("||A X B - C||_F^2", "||A X B - C||_F^2", "X", dict(A=(4, 2), X=(2, 3), B=(3, 5), C=(4, 5)),
      lambda A, X, B, C: np.sum((A @ X @ B - C) ** 2), "2 A^T (A X B - C) B^T"),
    C("||X^T X - I||_F^2", "||X^T X - I||_F^2", "X", dict(X=(4, 3)),
      lambda X: np.sum((X.T @ X - np.eye(3)) ** 2), "4 X (X^T X - I)"),
    # -- the 1-norm, abs, sign, Huber-like losses
    C("||x||_1", "||x||_1", "x", dict(x=(4,)), lambda x: np.sum(np.abs(x)), "sign(x)"),
    C("norm1(X)", "norm1(X)", "X", dict(X=(2, 3)), lambda X: np.sum(np.abs(X)), "sign(X)"),
    C("sum(abs(x - y))", "sum(abs(x - y))", "x", dict(x=(4,), y=(4,)), lambda x, y: np.sum(np.abs(x - y)),
      "sign(x - y)"),
    C("||A x - b||_1", "||A x - b||_1", "x", dict(A=(5, 3), x=(3,), b=(5,)),
      lambda A, x, b: np.sum(np.abs(A @ x - b)), "A^T sign(A x - b)"),
    C("abs(a^T x)", "abs(a^T x)", "x", dict(a=(3,), x=(3,)), lambda a, x: abs(a @ x), "sign(a^T x) a"),
    C("mean(abs(x - y))", "mean(abs(x - y))", "x", dict(x=(4,), y=(4,)), lambda x, y: np.mean(np.abs(x - y)),
      "1/4 sign(x - y)"),
    C("pseudo-Huber", "sum(sqrt(1 + (x - y) .^ 2) - 1)", "x", dict(x=(4,), y=(4,)),
      lambda x, y: np.sum(np.sqrt(1 + (x - y) ** 2) - 1), "(x - y) ./ sqrt(1 + (x - y) .^ 2)"),
    C("sign(x)^T x", "sign(x)^T x", "x", dict(x=(4,)), lambda x: np.sign(x) @ x, "sign(x)"),
    # -- regression
    C("least squares ||A x - b||^2", "||A x - b||^2", "x", dict(A=(5, 3), x=(3,), b=(5,)),
      lambda A, x, b: np.sum((A @ x - b) ** 2), "2 A^T (A x - b)"),
    C("1/2 ||X w - y||^2", "1/2 ||X w - y||^2", "w", LR, lambda X, w, y: 0.5 * np.sum((X @ w - y) ** 2),
      "X^T (X w - y)"),
    C("(X w - y)^T (X w - y)", "(X w - y)^T (X w - y)", "w", LR, lambda X, w, y: (X @ w - y) @ (X @ w - y),
      "2 X^T X w - 2 X^T y"),
    C("ridge", "||X w - y||^2 + lambda ||w||^2", "w", {**LR, "lambda": ()},
      lambda X, w, y, **k: np.sum((X @ w - y) ** 2) + k["lambda"] * (w @ w), "2 X^T (X w - y) + 2 lambda w"),
    C("ridge, alpha", "1/2 ||y - X w||^2 + alpha/2 w^T w", "w", {**LR, "alpha": ()},
      lambda X, w, y, alpha: 0.5 * np.sum((y - X @ w) ** 2) + alpha / 2 * (w @ w), "X^T (X w - y) + alpha w"),
    C("lasso", "1/2 ||X w - y||^2 + lambda ||w||_1", "w", {**LR, "lambda": ()},
      lambda X, w, y, **k: 0.5 * np.sum((X @ w - y) ** 2) + k["lambda"] * np.sum(np.abs(w)),
      "X^T (X w - y) + lambda sign(w)"),
    C("lasso, norm1", "1/2 ||X w - y||^2 + mu norm1(w)", "w", {**LR, "mu": ()},
      lambda X, w, y, mu: 0.5 * np.sum((X @ w - y) ** 2) + mu * np.sum(np.abs(w)),
      "X^T (X w - y) + mu sign(w)"),
    C("weighted least squares", "(y - X w)^T diag(d) (y - X w)", "w", {**LR, "d": (5,)},
      lambda X, w, y, d: (y - X @ w) @ np.diag(d) @ (y - X @ w), "-2 X^T (d ∘ (y - X w))"),
    C("linear regression with bias", "||X w + beta - y||^2", "beta", {**LR, "beta": ()},
      lambda X, w, y, beta: np.sum((X @ w + beta - y) ** 2), "2 sum(X w + beta - y)"),
    C("multi-output regression", "||X W - Y||_F^2", "W", dict(X=(5, 3), W=(3, 2), Y=(5, 2)),
      lambda X, W, Y: np.sum((X @ W - Y) ** 2), "2 X^T (X W - Y)"),
    C("X W + b^T wrt b", "||X W + b^T - Y||_F^2", "b", dict(X=(5, 3), W=(3, 2), Y=(5, 2), b=(2,)),
      lambda X, W, Y, b: np.sum((X @ W + b - Y) ** 2), "2 (X W + 1 b^T - Y)^T 1"),
    C("X W + b^T wrt W", "||X W + b^T - Y||_F^2", "W", dict(X=(5, 3), W=(3, 2), Y=(5, 2), b=(2,)),
      lambda X, W, Y, b: np.sum((X @ W + b - Y) ** 2), "2 X^T (X W + 1 b^T - Y)"),
    C("X W + 1 b^T wrt b", "1/2 ||X W + 1 b^T - Y||_F^2", "b", dict(X=(5, 3), W=(3, 2), Y=(5, 2), b=(2,)),
      lambda X, W, Y, b: 0.5 * np.sum((X @ W + b - Y) ** 2), "(X W + 1 b^T - Y)^T vector(1)"),
    # -- classification
    C("logistic regression, labels ±1", "sum(log(1 + exp(-y .* (X w))))", "w", LR,
      lambda X, w, y: np.sum(np.log(1 + np.exp(-y * (X @ w)))), "-X^T (y ∘ sigmoid(-y ∘ (X w)))"),
    C("logistic regression, labels 0/1", "-(y^T log(sigmoid(X w)) + (1 - y)^T log(1 - sigmoid(X w)))", "w", LR,
      lambda X, w, y: -(y @ np.log(sigmoid(X @ w)) + (1 - y) @ np.log(1 - sigmoid(X @ w))),
      "X^T (sigmoid(X w) - y)", dict(y="pos")),
    C("logistic regression, softplus", "sum(softplus(X w)) - y^T X w", "w", LR,
      lambda X, w, y: np.sum(np.logaddexp(0, X @ w)) - y @ X @ w, "X^T (sigmoid(X w) - y)"),
    C("logistic, one example", "log(1 + exp(w^T x))", "w", dict(w=(3,), x=(3,)),
      lambda w, x: np.log(1 + np.exp(w @ x)), "sigmoid(w^T x) x"),
    C("logistic, L2", "sum(log(1 + exp(-y .* (X w)))) + lambda/2 ||w||^2", "w", {**LR, "lambda": ()},
      lambda X, w, y, **k: np.sum(np.log(1 + np.exp(-y * (X @ w)))) + k["lambda"] / 2 * (w @ w),
      "-X^T (y .* sigmoid(-y .* (X w))) + lambda w"),
    C("cross-entropy of softmax", "-y^T log(softmax(W x))", "W", dict(W=(4, 3), x=(3,), y=(4,)),
      lambda W, x, y: -y @ np.log(softmax(W @ x)), "(sum(y) softmax(W x) - y) x^T"),
    C("logsumexp(x)", "logsumexp(x)", "x", dict(x=(4,)), lambda x: np.log(np.sum(np.exp(x))), "softmax(x)"),
    C("log(sum(exp(x)))", "log(sum(exp(x)))", "x", dict(x=(4,)), lambda x: np.log(np.sum(np.exp(x))),
      "exp(x) / sum(exp(x))"),
    C("y^T log_softmax(z)", "y^T log_softmax(z)", "z", dict(y=(4,), z=(4,)),
      lambda y, z: y @ np.log(softmax(z)), "y - sum(y) softmax(z)"),
    C("softmax regression, batch by rows", "-sum(Y .* log(softmax(X W, rows)))", "W",
      dict(X=(5, 3), W=(3, 4), Y=(5, 4)), lambda X, W, Y: -np.sum(Y * np.log(softmax_rows(X @ W))),
      "X^T (diag(Y 1) softmax(X W, rows) - Y)"),
    C("softmax regression, trace form", "-tr(Y^T log(softmax(X W, rows)))", "W",
      dict(X=(5, 3), W=(3, 4), Y=(5, 4)), lambda X, W, Y: -np.trace(Y.T @ np.log(softmax_rows(X @ W))),
      "X^T (diag(Y 1) softmax(X W, rows) - Y)"),
    C("softmax regression, log_softmax", "-sum(Y .* log_softmax(X W, rows))", "W",
      dict(X=(5, 3), W=(3, 4), Y=(5, 4)), lambda X, W, Y: -np.sum(Y * np.log(softmax_rows(X @ W))),
      "X^T (diag(Y 1) softmax(X W, rows) - Y)"),
    C("softmax regression, logsumexp", "sum(logsumexp(X W, rows)) - tr(Y^T X W)", "W",
      dict(X=(5, 3), W=(3, 4), Y=(5, 4)), lambda X, W, Y: np.sum(lse_rows(X @ W)) - np.trace(Y.T @ X @ W),
      "X^T (softmax(X W, rows) - Y)"),
    C("softmax regression, by columns", "-sum(Y .* log(softmax(W X, cols)))", "W",
      dict(X=(3, 5), W=(4, 3), Y=(4, 5)), lambda X, W, Y: -np.sum(Y * np.log(softmax_cols(W @ X))),
      "(softmax(W X, cols) diag(Y^T 1) - Y) X^T"),
    C("softmax regression with bias", "-sum(Y .* log(softmax(X W + b^T, rows)))", "b",
      dict(X=(5, 3), W=(3, 4), Y=(5, 4), b=(4,)),
      lambda X, W, Y, b: -np.sum(Y * np.log(softmax_rows(X @ W + b))),
      "(diag(Y 1) softmax(X W + 1 b^T, rows) - Y)^T 1"),
    # -- Gaussians, symmetric and positive-definite variables
    C("Mahalanobis wrt x", "1/2 (x - mu)^T Sigma^-1 (x - mu)", "x", dict(x=(3,), mu=(3,), Sigma=SPD3),
      lambda x, mu, Sigma: 0.5 * (x - mu) @ inv(Sigma) @ (x - mu), "Sigma^-1 (x - mu)", dict(Sigma="spd")),
    C("Mahalanobis wrt mu", "(x - mu)^T inv(Sigma) (x - mu)", "mu", dict(x=(3,), mu=(3,), Sigma=SPD3),
      lambda x, mu, Sigma: (x - mu) @ inv(Sigma) @ (x - mu), "-2 Sigma^-1 (x - mu)", dict(Sigma="spd")),
    C("Gaussian log-likelihood wrt Sigma", "-1/2 logdet(Sigma) - 1/2 (x - mu)^T Sigma^-1 (x - mu)", "Sigma",
      dict(x=(3,), mu=(3,), Sigma=SPD3),
      lambda x, mu, Sigma: -0.5 * logdet(Sigma) - 0.5 * (x - mu) @ inv(Sigma) @ (x - mu),
      "1/2 Sigma^-1 (x - mu) (x - mu)^T Sigma^-1 - 1/2 Sigma^-1", dict(Sigma="spd")),
    C("Gaussian log-likelihood, scatter", "-1/2 tr(S^-1 C) - 1/2 logdet(S)", "S", dict(S=SPD3, C=SYM3),
      lambda S, C: -0.5 * tr(inv(S) @ C) - 0.5 * logdet(S), "1/2 S^-1 C S^-1 - 1/2 S^-1", dict(S="spd", C="sym")),
    C("Gaussian, scalar variance", "4 log(sigma) + ||x - mu||^2 / (2 sigma^2)", "sigma",
      dict(x=(4,), mu=(), sigma=()), lambda x, mu, sigma: 4 * np.log(sigma) + np.sum((x - mu) ** 2) / (2 * sigma ** 2),
      "4 / sigma - ||x - mu||^2 / sigma^3", dict(sigma="pos")),
    C("Gaussian, scalar mean", "||x - mu||^2 / (2 sigma^2)", "mu", dict(x=(4,), mu=(), sigma=()),
      lambda x, mu, sigma: np.sum((x - mu) ** 2) / (2 * sigma ** 2), "-sum(x - mu) / sigma^2", dict(sigma="pos")),
    C("logdet(S), S spd", "logdet(S)", "S", dict(S=SPD3), lambda S: logdet(S), "S^-1", dict(S="spd")),
    C("tr(S^-1), S spd", "tr(S^-1)", "S", dict(S=SPD3), lambda S: tr(inv(S)), "-S^-1 S^-1", dict(S="spd")),
    C("tr(S A), S symmetric", "tr(S A)", "S", dict(S=SYM3, A=(3, 3)), lambda S, A: tr(S @ A), "1/2 (A + A^T)",
      dict(S="sym")),
    C("x^T S x wrt S symmetric", "x^T S x", "S", dict(S=SYM3, x=(3,)), lambda S, x: x @ S @ x, "x x^T",
      dict(S="sym")),
    C("1/2 x^T S x - b^T x", "1/2 x^T S x - b^T x", "x", dict(S=SYM3, x=(3,), b=(3,)),
      lambda S, x, b: 0.5 * x @ S @ x - b @ x, "S x - b", dict(S="sym")),
    C("tr(W^T S W), S symmetric", "tr(W^T S W)", "W", dict(S=SYM3, W=(3, 2)), lambda S, W: tr(W.T @ S @ W),
      "2 S W", dict(S="sym")),
    # -- PCA and Rayleigh quotients
    C("PCA variance tr(W^T C W)", "tr(W^T C W)", "W", dict(W=(3, 2), C=(3, 3)), lambda W, C: tr(W.T @ C @ W),
      "(C + C^T) W"),
    C("Rayleigh quotient", "(x^T A x) / (x^T x)", "x", dict(x=(3,), A=SYM3),
      lambda x, A: (x @ A @ x) / (x @ x), "2 (A x - (x^T A x) / (x^T x) x) / (x^T x)", dict(A="sym")),
    C("PCA reconstruction", "||X - X W W^T||_F^2", "W", dict(X=(5, 3), W=(3, 2)),
      lambda X, W: np.sum((X - X @ W @ W.T) ** 2)),
    C("matrix factorisation wrt U", "||M - U V^T||_F^2", "U", dict(M=(4, 3), U=(4, 2), V=(3, 2)),
      lambda M, U, V: np.sum((M - U @ V.T) ** 2), "-2 (M - U V^T) V"),
    C("matrix factorisation wrt V", "||M - U V^T||_F^2 + lambda (||U||_F^2 + ||V||_F^2)", "V",
      {"M": (4, 3), "U": (4, 2), "V": (3, 2), "lambda": ()},
      lambda M, U, V, **k: np.sum((M - U @ V.T) ** 2) + k["lambda"] * (np.sum(U ** 2) + np.sum(V ** 2)),
      "-2 (M - U V^T)^T U + 2 lambda V"),
    # -- neural networks
    C("two-layer tanh net wrt W1", "||W2 tanh(W1 x) - y||^2", "W1", NET,
      lambda W1, W2, x, y: np.sum((W2 @ np.tanh(W1 @ x) - y) ** 2),
      "2 ((1 - tanh(W1 x) .^ 2) ∘ W2^T (W2 tanh(W1 x) - y)) x^T"),
    C("two-layer tanh net wrt W2", "||W2 tanh(W1 x) - y||^2", "W2", NET,
      lambda W1, W2, x, y: np.sum((W2 @ np.tanh(W1 @ x) - y) ** 2), "2 (W2 tanh(W1 x) - y) tanh(W1 x)^T"),
    C("relu net wrt b1", "1/2 ||W2 relu(W1 x + b1) + b2 - y||^2", "b1", {**NET, "b1": (4,), "b2": (2,)},
      lambda W1, W2, x, y, b1, b2: 0.5 * np.sum((W2 @ np.maximum(W1 @ x + b1, 0) + b2 - y) ** 2),
      "relu'(W1 x + b1) ∘ W2^T (W2 relu(W1 x + b1) + b2 - y)"),
    C("sigmoid layer wrt b", "c^T sigmoid(W x + b)", "b", dict(c=(4,), W=(4, 3), x=(3,), b=(4,)),
      lambda c, W, x, b: c @ sigmoid(W @ x + b), "c ∘ sigmoid(W x + b) ∘ (1 - sigmoid(W x + b))"),
    C("batch tanh net wrt W2", "||tanh(X W1) W2 - Y||_F^2", "W2", dict(X=(5, 3), W1=(3, 4), W2=(4, 2), Y=(5, 2)),
      lambda X, W1, W2, Y: np.sum((np.tanh(X @ W1) @ W2 - Y) ** 2), "2 tanh(X W1)^T (tanh(X W1) W2 - Y)"),
    C("batch relu net with bias wrt W1", "sum(relu(X W1 + b1^T) W2)", "W1", dict(X=(5, 3), W1=(3, 4), b1=(4,), W2=(4, 2)),
      lambda X, W1, b1, W2: np.sum(np.maximum(X @ W1 + b1, 0) @ W2), "X^T (relu'(X W1 + 1 b1^T) ∘ 1 1^T W2^T)"),
    C("softmax classifier with hidden layer", "-y^T log(softmax(W2 sigmoid(W1 x)))", "W1", NET,
      lambda W1, W2, x, y: -y @ np.log(softmax(W2 @ sigmoid(W1 @ x)))),
    C("sinh and cosh layer", "c^T cosh(W x)", "W", dict(c=(4,), W=(4, 3), x=(3,)),
      lambda c, W, x: c @ np.cosh(W @ x), "(c ∘ sinh(W x)) x^T"),
    # -- the ones vector, centering, means, broadcasting
    C("1^T x", "1^T x", "x", dict(x=(4,)), lambda x: np.sum(x), "vector(1)"),
    C("1_n^T x", "1_n^T x", "x", dict(x=("n",)), lambda x: np.sum(x), "1_n"),
    C("𝟙^T exp(x)", "𝟙^T exp(x)", "x", dict(x=(4,)), lambda x: np.sum(np.exp(x)), "exp(x)"),
    C("1^T X 1", "1^T X 1", "X", dict(X=(2, 3)), lambda X: np.sum(X), "1 1^T"),
    C("ones(n)^T X ones(m)", "ones(n)^T X ones(m)", "X", dict(X=("n", "m")), lambda X: np.sum(X), "ones(n, m)"),
    C("1^T exp(X) 1", "1^T exp(X) 1", "X", dict(X=(2, 3)), lambda X: np.sum(np.exp(X)), "exp(X)"),
    C("centering c^T (I - 1/3 1 1^T) x", "c^T (I - 1/3 1 1^T) x", "x", dict(c=(3,), x=(3,)),
      lambda c, x: c @ (np.eye(3) - np.ones((3, 3)) / 3) @ x, "(I - 1/3 1 1^T) c"),
    C("centred norm ||(I - 1/4 1 1^T) x||^2", "||(I - 1/4 1 1^T) x||^2", "x", dict(x=(4,)),
      lambda x: np.sum((x - x.mean()) ** 2), "2 (I - 1/4 1 1^T) x"),
    C("variance ||x - mean(x)||^2", "||x - mean(x)||^2", "x", dict(x=(4,)),
      lambda x: np.sum((x - x.mean()) ** 2), "2 (x - mean(x))"),
    C("x - sum(x) 1/n", "||x - sum(x) 1/4||^2", "x", dict(x=(4,)), lambda x: np.sum((x - x.sum() / 4) ** 2),
      "2 (x - mean(x))"),
    C("mean(x)", "mean(x)", "x", dict(x=(4,)), lambda x: np.mean(x), "1/4 ones(4)"),
    C("mean(X .^ 2)", "mean(X .^ 2)", "X", dict(X=(3, 4)), lambda X: np.mean(X ** 2), "1/6 X"),
    C("x - alpha wrt x", "||x - alpha||^2", "x", dict(x=(4,), alpha=()), lambda x, alpha: np.sum((x - alpha) ** 2),
      "2 (x - alpha)"),
    C("x - alpha wrt alpha", "||x - alpha||^2", "alpha", dict(x=(4,), alpha=()),
      lambda x, alpha: np.sum((x - alpha) ** 2), "-2 sum(x - alpha)"),
    C("exp(beta) x", "a^T (exp(beta) x)", "beta", dict(a=(4,), x=(4,), beta=()),
      lambda a, x, beta: a @ (np.exp(beta) * x), "exp(beta) a^T x"),
    C("X + alpha", "sum(log(X + alpha))", "alpha", dict(X=(2, 3), alpha=()),
      lambda X, alpha: np.sum(np.log(X + alpha)), "sum(1 ./ (X + alpha))", dict(X="pos", alpha="pos")),
    # -- elementwise: logs, entropies, powers
    C("sum(log(x))", "sum(log(x))", "x", dict(x=(4,)), lambda x: np.sum(np.log(x)), "1 ./ x", dict(x="pos")),
    C("entropy", "-sum(p .* log(p))", "p", dict(p=(4,)), lambda p: -np.sum(p * np.log(p)), "-log(p) - 1",
      dict(p="pos")),
    C("KL divergence wrt q", "sum(p .* log(p ./ q))", "q", dict(p=(4,), q=(4,)),
      lambda p, q: np.sum(p * np.log(p / q)), "-p ./ q", dict(p="pos", q="pos")),
    C("sum(sqrt(x))", "sum(sqrt(x))", "x", dict(x=(4,)), lambda x: np.sum(np.sqrt(x)), "0.5 x .^ -0.5",
      dict(x="pos")),
    C("exp(a^T x)", "exp(a^T x)", "x", dict(a=(3,), x=(3,)), lambda a, x: np.exp(a @ x), "exp(a^T x) a",
      dict(x="small")),
    C("x^T diag(d) x wrt d", "x^T diag(d) x", "d", dict(x=(3,), d=(3,)), lambda x, d: x @ np.diag(d) @ x, "x .^ 2"),
    C("x^T diag(d) x wrt x", "x^T diag(d) x", "x", dict(x=(3,), d=(3,)), lambda x, d: x @ np.diag(d) @ x,
      "2 d ∘ x"),
    C("a^b wrt b", "a^b", "b", dict(a=(), b=()), lambda a, b: a ** b, "a^b log(a)", dict(a="pos")),
    C("a^b wrt a", "a^b", "a", dict(a=(), b=()), lambda a, b: a ** b, "b a^(b - 1)", dict(a="pos")),
    C("x .^ p wrt p", "sum(x .^ p)", "p", dict(x=(4,), p=()), lambda x, p: np.sum(x ** p), "sum(x .^ p ∘ log(x))",
      dict(x="pos")),
    C("x .^ p wrt x", "sum(x .^ p)", "x", dict(x=(4,), p=()), lambda x, p: np.sum(x ** p), "p x .^ (p - 1)",
      dict(x="pos")),
    C("2 .^ x", "sum(2 .^ x)", "x", dict(x=(4,)), lambda x: np.sum(2.0 ** x), "log(2) 2 .^ x"),
    C("x .^ y wrt y", "sum(x .^ y)", "y", dict(x=(4,), y=(4,)), lambda x, y: np.sum(x ** y), "x .^ y ∘ log(x)",
      dict(x="pos")),
    # -- trigonometric and hyperbolic
    C("sum(tan(x))", "sum(tan(x))", "x", dict(x=(4,)), lambda x: np.sum(np.tan(x)), "1 + tan(x) .^ 2",
      dict(x="unit")),
    C("sum(arcsin(x))", "sum(arcsin(x))", "x", dict(x=(4,)), lambda x: np.sum(np.arcsin(x)),
      "1 ./ sqrt(1 - x .^ 2)", dict(x="unit")),
    C("sum(acos(x))", "sum(acos(x))", "x", dict(x=(4,)), lambda x: np.sum(np.arccos(x)),
      "-1 ./ sqrt(1 - x .^ 2)", dict(x="unit")),
    C("sum(atan(x))", "sum(atan(x))", "x", dict(x=(4,)), lambda x: np.sum(np.arctan(x)), "1 ./ (1 + x .^ 2)"),
    C("a^T arctan(W x)", "a^T arctan(W x)", "x", dict(a=(4,), W=(4, 3), x=(3,)),
      lambda a, W, x: a @ np.arctan(W @ x), "W^T (a ./ (1 + (W x) .^ 2))"),
    C("sum(asin(X))", "sum(asin(X))", "X", dict(X=(2, 3)), lambda X: np.sum(np.arcsin(X)),
      "1 ./ sqrt(1 - X .^ 2)", dict(X="unit")),
    C("sinh .* cosh", "sum(sinh(x) .* cosh(x))", "x", dict(x=(4,)), lambda x: np.sum(np.sinh(x) * np.cosh(x)),
      "cosh(x) .^ 2 + sinh(x) .^ 2"),
    C("sin and cos", "sum(sin(x) .* cos(x))", "x", dict(x=(4,)), lambda x: np.sum(np.sin(x) * np.cos(x)),
      "cos(x) .^ 2 - sin(x) .^ 2"),
    # -- Kronecker products and vec
    C("tr(kron(X, X))", "tr(kron(X, X))", "X", dict(X=(3, 3)), lambda X: np.trace(np.kron(X, X)), "2 tr(X) I"),
    C("tr(kron(A, X))", "tr(kron(A, X))", "X", dict(A=(2, 2), X=(3, 3)), lambda A, X: np.trace(np.kron(A, X)),
      "tr(A) I"),
    C("sum(kron(A, X))", "sum(kron(A, X))", "X", dict(A=(2, 3), X=(3, 4)), lambda A, X: np.sum(np.kron(A, X)),
      "sum(A) ones(3, 4)"),
    C("tr(kron(A, X) B)", "tr(kron(A, X) B)", "X", dict(A=(2, 3), X=(2, 2), B=(6, 4)),
      lambda A, X, B: np.trace(np.kron(A, X) @ B)),
    C("A ⊗ X in a product", "c^T (A ⊗ X) d", "X", dict(A=(2, 3), X=(2, 2), c=(4,), d=(6,)),
      lambda A, X, c, d: c @ np.kron(A, X) @ d),
    C("vec(X)^T A vec(X)", "vec(X)^T A vec(X)", "X", dict(X=(3, 2), A=(6, 6)),
      lambda X, A: vec(X) @ A @ vec(X), "unvec((A + A^T) vec(X), 3, 2)"),
    C("vec(X)^T vec(Y)", "vec(X)^T vec(Y)", "X", dict(X=(3, 2), Y=(3, 2)), lambda X, Y: vec(X) @ vec(Y), "Y"),
    # -- MATLAB and NumPy habits, losses as lecture notes write them
    C("x' * A * x", "x' * A * x", "x", dict(A=(3, 3), x=(3,)), lambda A, x: x @ A @ x, "(A' + A) * x"),
    C("sum((X*w - y).^2)", "sum((X*w - y).^2)", "w", LR, lambda X, w, y: np.sum((X @ w - y) ** 2),
      "2*X'*(X*w - y)"),
    C("norm(X w - y)^2", "norm(X w - y)^2", "w", LR, lambda X, w, y: np.sum((X @ w - y) ** 2), "2 X^T (X w - y)"),
    C("||x||_2^2", "||x||_2^2", "x", dict(x=(4,)), lambda x: x @ x, "2 x"),
    C("trace(X'*X)", "trace(X'*X)", "X", dict(X=(3, 2)), lambda X: tr(X.T @ X), "2*X"),
    C("w' * w / 2", "w' * w / 2", "w", dict(w=(3,)), lambda w: w @ w / 2, "w"),
    C("mean squared error", "mean((X w - y) .^ 2)", "w", LR, lambda X, w, y: np.mean((X @ w - y) ** 2),
      "2/5 X^T (X w - y)"),
    C("mean logistic loss", "mean(log(1 + exp(-y .* (X w))))", "w", LR,
      lambda X, w, y: np.mean(np.log(1 + np.exp(-y * (X @ w)))), "-1/5 X^T (y .* sigmoid(-y .* (X w)))"),
    C("RBF kernel", "exp(-||x - y||^2 / (2 sigma^2))", "x", dict(x=(3,), y=(3,), sigma=()),
      lambda x, y, sigma: np.exp(-np.sum((x - y) ** 2) / (2 * sigma ** 2)),
      "-exp(-||x - y||^2 / (2 sigma^2)) (x - y) / sigma^2", dict(sigma="pos", x="small", y="small")),
    C("hinge loss via relu", "sum(relu(1 - y .* (X w)))", "w", LR,
      lambda X, w, y: np.sum(np.maximum(1 - y * (X @ w), 0)), "-X^T (y .* relu'(1 - y .* (X w)))"),
    C("soft-margin SVM", "1/2 w^T w + C sum(relu(1 - y .* (X w)))", "w", {**LR, "C": ()},
      lambda X, w, y, C: 0.5 * w @ w + C * np.sum(np.maximum(1 - y * (X @ w), 0)),
      "w - C X^T (y ∘ relu'(1 - y ∘ X w))"),
    C("-log(sigmoid(y w^T x))", "-log(sigmoid(y w^T x))", "w", dict(y=(), w=(3,), x=(3,)),
      lambda y, w, x: -np.log(sigmoid(y * (w @ x))), "-(1 - sigmoid(y w^T x)) y x"),
    C("x^T inv(A) x", "x^T inv(A) x", "A", dict(x=(3,), A=(3, 3)), lambda x, A: x @ inv(A) @ x,
      "-A^-T x x^T A^-T", dict(A="wellcond")),
    C("x^T A^-1 x", "x^T A^-1 x", "x", dict(x=(3,), A=(3, 3)), lambda x, A: x @ inv(A) @ x,
      "(A^-1 + A^-T) x", dict(A="wellcond")),
    C("log(det(Sigma)), Sigma spd", "log(det(Sigma))", "Sigma", dict(Sigma=SPD3), lambda Sigma: logdet(Sigma),
      "inv(Sigma)", dict(Sigma="spd")),
    C("tr(A^T X)", "tr(A^T X)", "X", dict(A=(3, 2), X=(3, 2)), lambda A, X: tr(A.T @ X), "A"),
    C("tr(X A^T)", "tr(X A^T)", "X", dict(A=(3, 2), X=(3, 2)), lambda A, X: tr(X @ A.T), "A"),
    C("a^T X X b", "a^T X X b", "X", dict(a=(3,), X=(3, 3), b=(3,)), lambda a, X, b: a @ X @ X @ b,
      "a b^T X^T + X^T a b^T"),
    C("det(X^T X)", "det(X^T X)", "X", dict(X=(4, 3)), lambda X: det(X.T @ X), "2 det(X^T X) X (X^T X)^-1"),
    C("tr(X^{-1})", "tr(X^{-1})", "X", dict(X=(3, 3)), lambda X: tr(inv(X)), "-X^{-T} X^{-T}", dict(X="wellcond")),
    C("||W||_F^2 / 2", "||W||_F^2 / 2", "W", dict(W=(2, 3)), lambda W: np.sum(W ** 2) / 2, "W"),
    C("Gaussian in its precision", "1/2 logdet(P) - 1/2 (x - mu)^T P (x - mu)", "P",
      dict(P=SPD3, x=(3,), mu=(3,)), lambda P, x, mu: 0.5 * logdet(P) - 0.5 * (x - mu) @ P @ (x - mu),
      "1/2 P^-1 - 1/2 (x - mu) (x - mu)^T", dict(P="spd")),
    C("tr((X^T X)^-1)", "tr((X^T X)^-1)", "X", dict(X=(4, 3)), lambda X: tr(inv(X.T @ X)),
      "-2 X (X^T X)^-1 (X^T X)^-1"),
    C("x^T (A + A^T) x", "x^T (A + A^T) x", "x", dict(A=(3, 3), x=(3,)), lambda A, x: x @ (A + A.T) @ x,
      "2 (A + A^T) x"),
    C("elastic net", "||X w - y||^2 + l1 ||w||_1 + l2 ||w||^2", "w", {**LR, "l1": (), "l2": ()},
      lambda X, w, y, l1, l2: np.sum((X @ w - y) ** 2) + l1 * np.sum(np.abs(w)) + l2 * (w @ w),
      "2 X^T (X w - y) + l1 sign(w) + 2 l2 w"),
    C("norm1(x - y)", "norm1(x - y)", "x", dict(x=(4,), y=(4,)), lambda x, y: np.sum(np.abs(x - y)), "sign(x - y)"),
    C("norm2(X)^2", "norm2(X)^2", "X", dict(X=(2, 3)), lambda X: np.sum(X ** 2), "2 X"),
    C("cosine similarity", "(a^T x) / (||a|| ||x||)", "x", dict(a=(3,), x=(3,)),
      lambda a, x: (a @ x) / (np.linalg.norm(a) * np.linalg.norm(x)),
      "a / (||a|| ||x||) - (a^T x) x / (||a|| ||x||^3)"),
    C("smoothed norm sqrt(x^T x + ε)", "sqrt(x^T x + ε)", "x", dict(x=(3,), ε=()),
      lambda x, **k: np.sqrt(x @ x + k["ε"]), "x / sqrt(x^T x + ε)", {"ε": "pos"}),
    C("sum(tanh(W x + b) .^ 2)", "sum(tanh(W x + b) .^ 2)", "b", dict(W=(4, 3), x=(3,), b=(4,)),
      lambda W, x, b: np.sum(np.tanh(W @ x + b) ** 2),
      "2 tanh(W x + b) .* (1 - tanh(W x + b) .^ 2)"),
    C("attention scores", "sum(softmax(Q K^T, rows) V)", "Q", dict(Q=(3, 2), K=(4, 2), V=(4, 2)),
      lambda Q, K, V: np.sum(softmax_rows(Q @ K.T) @ V)),
    C("log(1^T exp(x))", "log(1^T exp(x))", "x", dict(x=(4,)), lambda x: np.log(np.sum(np.exp(x))), "softmax(x)"),
    C("x^T 1 1^T x", "x^T 1 1^T x", "x", dict(x=(4,)), lambda x: np.sum(x) ** 2, "2 sum(x) vector(1)"),
    C("1^T (X .* X) 1", "1^T (X .* X) 1", "X", dict(X=(2, 3)), lambda X: np.sum(X * X), "2 X"),
    C("sum(x)^2", "sum(x)^2", "x", dict(x=(4,)), lambda x: np.sum(x) ** 2, "2 sum(x) ones(4)"),
    C("tr(X)^2", "tr(X)^2", "X", dict(X=(3, 3)), lambda X: np.trace(X) ** 2, "2 tr(X) I"),
    C("sum(sign(x) .* x)", "sum(sign(x) .* x)", "x", dict(x=(4,)), lambda x: np.sum(np.sign(x) * x), "sign(x)"),
    C("||x||_1 + ||x||^2", "||x||_1 + ||x||^2", "x", dict(x=(4,)), lambda x: np.sum(np.abs(x)) + x @ x,
      "sign(x) + 2 x"),
    C("log-cosh loss", "sum(log(cosh(x - y)))", "x", dict(x=(4,), y=(4,)),
      lambda x, y: np.sum(np.log(np.cosh(x - y))), "tanh(x - y)"),
    C("sum(x .* tanh(x))", "sum(x .* tanh(x))", "x", dict(x=(4,)), lambda x: np.sum(x * np.tanh(x)),
      "tanh(x) + x .* (1 - tanh(x) .^ 2)"),
    C("arctan(a^T x)", "arctan(a^T x)", "x", dict(a=(3,), x=(3,)), lambda a, x: np.arctan(a @ x),
      "a / (1 + (a^T x)^2)"),
    C("sum(x .^ 3)", "sum(x .^ 3)", "x", dict(x=(4,)), lambda x: np.sum(x ** 3), "3 x .^ 2"),
    C("exp(alpha) ||x||^2", "exp(alpha) ||x||^2", "alpha", dict(alpha=(), x=(3,)),
      lambda alpha, x: np.exp(alpha) * (x @ x), "exp(alpha) x^T x"),
    C("alpha^2 x^T x", "alpha^2 x^T x", "alpha", dict(alpha=(), x=(3,)), lambda alpha, x: alpha ** 2 * (x @ x),
      "2 alpha x^T x"),
    C("2^alpha", "2^alpha", "alpha", dict(alpha=()), lambda alpha: 2.0 ** alpha, "log(2) 2^alpha"),
    C("alpha^beta wrt beta", "alpha^beta", "beta", dict(alpha=(), beta=()), lambda alpha, beta: alpha ** beta,
      "log(alpha) alpha^beta", dict(alpha="pos")),
]

BY_ID = {c.id: c for c in CORPUS}


# ---- inputs and the independent evaluation ------------------------------------------------------

def natural_shape(shape) -> tuple:
    """A declared shape as NumPy's: the structure word dropped, each named size as SIZES says."""
    dims = shape[:2] if len(shape) == 3 else shape
    return tuple(SIZES[d] if isinstance(d, str) else d for d in dims)


def values_for(c: Case, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in c.shapes.items():
        s, kind = natural_shape(shape), c.kinds.get(name)
        if kind == "sym":
            v = rng.normal(size=s)
            out[name] = (v + v.T) / 2
        elif kind == "unit":
            out[name] = rng.uniform(-0.8, 0.8, size=s) if s else float(rng.uniform(-0.8, 0.8))
        else:
            out[name] = draw(kind, s, rng)
    return out


def structure(c: Case) -> str:
    shape = c.shapes[c.wrt]
    return shape[2] if len(shape) == 3 else ""


def reference_gradient(c: Case, values: dict):
    """Central differences of the NumPy transcription; for a symmetric variable their symmetric part
    (df = tr(G^T dS) for every symmetric dS: the gradient on the symmetric matrices)."""
    fd = fd_gradient(c.f, values, c.wrt)
    return (fd + fd.T) / 2 if structure(c) else fd


def dims_of(c: Case) -> dict:
    return {d: SIZES[d] for s in c.shapes.values() for d in s if isinstance(d, str) and d in SIZES}


def params(cases):
    return [pytest.param(c, id=c.id, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail
            else pytest.param(c, id=c.id) for c in cases]


# ---- the checks ------------------------------------------------------------------------------------

def test_the_corpus_is_large_and_mostly_by_hand():
    assert len(CORPUS) >= 80 and len(BY_ID) == len(CORPUS)
    assert sum(c.f is not None for c in CORPUS) >= 30
    assert len(CLAIMS) >= 60


@pytest.mark.parametrize("c", params(CORPUS))
def test_value_and_gradient_against_finite_differences(c: Case):
    """matdiff reads the spelling as the transcription means it, and its gradient is the finite
    differences of that transcription."""
    shaped = matdiff.understand(c.src, shapes=c.shapes)
    g = matdiff.derive_gradient(c.src, c.wrt, shapes=c.shapes).inlined[c.wrt]
    for seed in (0, 1):
        values = values_for(c, seed)
        value = float(np.asarray(matdiff_value(shaped.expr, values, dims_of(c))).reshape(()))
        assert value == pytest.approx(float(c.f(**values)), rel=1e-9, abs=1e-12), f"{c.src} is read otherwise"
        got = as_natural(matdiff_value(g, values, dims_of(c)), natural_shape(c.shapes[c.wrt]))
        assert_close(got, reference_gradient(c, values), tol=1e-5, what=f"{c.src} wrt {c.wrt}: ")


@pytest.mark.parametrize("c", params(CORPUS))
def test_sympy_and_generated_code_agree_with_matdiff(c: Case):
    """The SymPy result and the generated NumPy code give matdiff's own numbers (and the value)."""
    values = values_for(c, seed=2)
    dims = dims_of(c)
    ours = matdiff_value(matdiff.derive_gradient(c.src, c.wrt, shapes=c.shapes).inlined[c.wrt], values, dims)
    sym = sympy_evaluate(matdiff.gradient(c.src, c.wrt, shapes=c.shapes), values, dims)
    assert_close(to2d(sym), ours, tol=1e-8, what="SymPy vs matdiff: ")
    fn = matdiff.lambdify(c.src, c.wrt, shapes=c.shapes)
    value, grads = fn(**values)
    assert float(value) == pytest.approx(float(c.f(**values)), rel=1e-9, abs=1e-12)
    assert_close(to2d(grads[c.wrt]), ours, tol=1e-8, what="generated code vs matdiff: ")


@pytest.mark.parametrize("c", params([c for c in CORPUS if c.id in CLAIMS]))
def test_the_textbook_gradient_is_judged_right(c: Case):
    """The gradient as a course writes it is right; twice it is wrong."""
    claim = CLAIMS[c.id]
    report = matdiff.check(c.src, c.wrt, shapes=c.shapes, claim=claim)
    assert report.ok, f"{claim}\n{report}"
    assert not matdiff.check(c.src, c.wrt, shapes=c.shapes, claim=f"2 ({claim})").ok


# ---- Jacobians and Hessians of a sample ---------------------------------------------------------

def fd_jacobian(f, values: dict, name: str, h: float = 1e-6) -> np.ndarray:
    """d vec(f) / d vec(values[name])^T (vec stacks columns), by central differences."""
    x = np.array(values[name], dtype=float)
    cols = []
    for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = h
        step = step.reshape(x.shape, order="F")
        plus, minus = f(**{**values, name: x + step}), f(**{**values, name: x - step})
        cols.append((np.ravel(plus, order="F") - np.ravel(minus, order="F")) / (2 * h))
    return np.array(cols).T


def fd_hessian(f, values: dict, name: str, h: float = 1e-4) -> np.ndarray:
    """Second central differences of f in vec(values[name])."""
    x = np.array(values[name], dtype=float)
    n = x.size

    def at(steps):
        d = np.zeros(n)
        for k, s in steps:
            d[k] += s * h
        return float(f(**{**values, name: x + d.reshape(x.shape, order="F")}))
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            H[i, j] = (at([(i, 1), (j, 1)]) - at([(i, 1), (j, -1)]) - at([(i, -1), (j, 1)])
                       + at([(i, -1), (j, -1)])) / (4 * h * h)
    return H


JACOBIANS = [
    C("J softmax(x)", "softmax(x)", "x", dict(x=(4,)), lambda x: softmax(x)),
    C("J sigmoid(W x + b) wrt x", "sigmoid(W x + b)", "x", dict(W=(4, 3), x=(3,), b=(4,)),
      lambda W, x, b: sigmoid(W @ x + b)),
    C("J W x wrt W", "W x", "W", dict(W=(2, 3), x=(3,)), lambda W, x: W @ x),
    C("J tanh(X) B wrt X", "tanh(X) B", "X", dict(X=(2, 3), B=(3, 2)), lambda X, B: np.tanh(X) @ B),
    C("J x - mean(x)", "x - mean(x)", "x", dict(x=(4,)), lambda x: x - x.mean()),
    C("J abs(x) .* x", "abs(x) .* x", "x", dict(x=(4,)), lambda x: np.abs(x) * x),
    C("J softmax(Z, rows)", "softmax(Z, rows)", "Z", dict(Z=(2, 3)), lambda Z: softmax_rows(Z)),
    C("J X W + b^T wrt b", "X W + b^T", "b", dict(X=(3, 2), W=(2, 2), b=(2,)), lambda X, W, b: X @ W + b),
    C("J kron(A, X) wrt X", "kron(A, X)", "X", dict(A=(2, 2), X=(2, 2)), lambda A, X: np.kron(A, X)),
    C("J x .^ p wrt x", "x .^ p", "x", dict(x=(3,), p=()), lambda x, p: x ** p, kinds=dict(x="pos")),
]

HESSIANS = [
    C("H x^T A x", "x^T A x", "x", dict(A=(3, 3), x=(3,)), lambda A, x: x @ A @ x),
    C("H logsumexp(x)", "logsumexp(x)", "x", dict(x=(4,)), lambda x: np.log(np.sum(np.exp(x)))),
    C("H logistic loss", "sum(log(1 + exp(X w)))", "w", dict(X=(5, 3), w=(3,)),
      lambda X, w: np.sum(np.log(1 + np.exp(X @ w)))),
    C("H ridge", "1/2 ||A x - b||^2 + lambda/2 ||x||^2", "x", {"A": (4, 3), "x": (3,), "b": (4,), "lambda": ()},
      lambda A, x, b, **k: 0.5 * np.sum((A @ x - b) ** 2) + k["lambda"] / 2 * (x @ x)),
    C("H -logdet(X)", "-logdet(X)", "X", dict(X=(2, 2)), lambda X: -logdet(X), kinds=dict(X="wellcond")),
    C("H ||X||_F^2 + tr(X^3)", "||X||_F^2 + tr(X^3)", "X", dict(X=(2, 2)),
      lambda X: np.sum(X ** 2) + np.trace(X @ X @ X)),
    C("H sum(x .^ p)", "sum(x .^ p)", "x", dict(x=(3,), p=()), lambda x, p: np.sum(x ** p), kinds=dict(x="pos")),
    C("H a^T arctan(W x)", "a^T arctan(W x)", "x", dict(a=(3,), W=(3, 2), x=(2,)),
      lambda a, W, x: a @ np.arctan(W @ x)),
]


@pytest.mark.parametrize("c", params(JACOBIANS))
def test_jacobian_against_finite_differences(c: Case):
    values = values_for(c, seed=3)
    J = matdiff.derive_jacobian(c.src, c.wrt, shapes=c.shapes).matrix
    ref = fd_jacobian(c.f, values, c.wrt)
    assert_close(matdiff_value(J, values), ref, tol=1e-6, what=f"J of {c.src}: ")
    assert_close(sympy_evaluate(matdiff.jacobian(c.src, c.wrt, shapes=c.shapes), values), ref, tol=1e-6,
                 what=f"SymPy J of {c.src}: ")


@pytest.mark.parametrize("c", params(HESSIANS))
def test_hessian_against_finite_differences(c: Case):
    values = values_for(c, seed=4)
    H = matdiff.derive_hessian(c.src, c.wrt, shapes=c.shapes).matrix
    ref = fd_hessian(c.f, values, c.wrt)
    assert_close(matdiff_value(H, values), ref, tol=1e-5, what=f"H of {c.src}: ")
    assert_close(sympy_evaluate(matdiff.hessian(c.src, c.wrt, shapes=c.shapes), values), ref, tol=1e-5,
                 what=f"SymPy H of {c.src}: ")
