# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # AI6104 Mathematics for AI, tutorial 6: matrix calculus — worked with matdiff
#
# The four problems of the tutorial, in its order and notation:
#
# 1. the derivative of the inverse, $\frac{\partial A^{-1}}{\partial \alpha} = -A^{-1}\frac{\partial A}{\partial \alpha}A^{-1}$;
# 2. back-propagation through a linear layer $Y = XW$, and why nobody forms its Jacobian;
# 3. the derivatives of ReLU, sigmoid and tanh;
# 4. a network with one hidden layer, softmax and cross-entropy: $\partial J/\partial U$,
#    $\partial J/\partial W$, $\partial J/\partial x$.
#
# Every answer is checked numerically in the notebook.

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Math, display

import matdiff

rng = np.random.default_rng(0)

# %%
import sympy as sp
from nbtools import show_sheet, sympy_value

# %% [markdown]
# ## Problem 1
#
# Let $A$ be an invertible $m \times m$ matrix whose entries are functions of a scalar $\alpha$. Prove
# $\frac{\partial A^{-1}}{\partial \alpha} = -A^{-1}\frac{\partial A}{\partial \alpha}A^{-1}$.
#
# The differential says it at once: $d(A^{-1}) = -A^{-1}\,dA\,A^{-1}$, and dividing by $d\alpha$ gives
# the claim. The sheet's proof differentiates $A^{-1}A = I$: $d(A^{-1})\,A + A^{-1}\,dA = 0$.

# %%
dinv = matdiff.differential("inv(A)")
display(Math(r"d(A^{-1}) = " + matdiff.latex(dinv)))
# !matdiff diff 'inv(A)'

# %% [markdown]
# Numerically: take $A(\alpha) = A_0 + \alpha A_1$, so $\partial A/\partial\alpha = A_1$, and compare
# $-A^{-1} A_1 A^{-1}$ with central differences of $\alpha \mapsto A(\alpha)^{-1}$ for a range of steps.
# The error is the V of every finite difference: truncation ($\propto h^2$) on the right,
# rounding ($\propto \varepsilon / h$) on the left.

# %%
m = 4
A0 = m * np.eye(m) + rng.normal(size=(m, m))
A1 = rng.normal(size=(m, m))
A = lambda a: A0 + a * A1
alpha = 0.3
Ainv = np.linalg.inv(A(alpha))
formula = -Ainv @ A1 @ Ainv                      # -A^-1 (dA/dα) A^-1

hs = np.logspace(-13, -1, 60)
errors = [np.max(np.abs((np.linalg.inv(A(alpha + h)) - np.linalg.inv(A(alpha - h))) / (2 * h) - formula))
          for h in hs]

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.loglog(hs, errors, ".-")
ax.set_xlabel("step $h$")
ax.set_ylabel(r"$\max |$central difference $+ A^{-1} A_1 A^{-1}|$")
ax.set_title(r"$\partial A^{-1} / \partial \alpha$: finite-difference error")
plt.show()

print(f"smallest error {min(errors):.1e} at h = {hs[np.argmin(errors)]:.0e}")
assert min(errors) < 1e-9

# %% [markdown]
# In the vec convention the same derivative is a Jacobian, $-(A^{-T} \otimes A^{-1})$, an
# $m^2 \times m^2$ matrix:

# %%
J = matdiff.derive_jacobian("inv(A)", wrt="A")
display(J)
report = J.check()
print(report)
assert report.ok

# %% [markdown]
# ## Problem 2
#
# A linear layer $Y = f(X, W) = XW$ with $X \in \mathbb{R}^{N \times D}$ (N samples of dimension D),
# $W \in \mathbb{R}^{D \times M}$ and $Y \in \mathbb{R}^{N \times M}$, inside a network with a
# scalar loss $L$.
#
# **(a)** $\frac{\partial L}{\partial X} = \frac{\partial L}{\partial Y}\frac{\partial Y}{\partial X}$
# and $\frac{\partial L}{\partial W} = \frac{\partial L}{\partial Y}\frac{\partial Y}{\partial W}$.
# With $G = \partial L/\partial Y$ the upstream gradient, the rest of the network is
# $L = \langle G, Y \rangle = \mathrm{tr}(G^T X W)$ to first order, and matdiff gives the familiar
# $\partial L/\partial X = G W^T$, $\partial L / \partial W = X^T G$:

# %%
layer = {"X": ("N", "D"), "W": ("D", "M"), "G": ("N", "M")}
g = matdiff.derive_gradient("tr(G^T X W)", wrt=["X", "W"], shapes=layer)
display(g)
assert g.check().ok

# %% [markdown]
# For instance with $L = \mathrm{sum}(\tanh(XW))$, the upstream gradient is $G = \tanh'(XW)$:

# %%
g = matdiff.derive_gradient("sum(tanh(X W))", wrt=["X", "W"], shapes=layer)
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# **(b)** Forming $\partial Y / \partial X$ explicitly is the difficulty: it is an
# $(N M) \times (N D)$ matrix, here $W^T \otimes I_N$.

# %%
J = matdiff.derive_jacobian("X W", wrt="X", shapes=layer)
display(J)

N, M, D = 64, 4096, 4096
entries = (N * M) * (N * D)
print(f"dY/dX has {entries:.3g} entries: {entries * 4 / 2**30:.0f} GiB in 32-bit floats")
print(f"G W^T needs N·M·D = {N * M * D:.3g} multiplications and no Jacobian at all")
assert entries * 4 == 256 * 2**30

# %% [markdown]
# At a small size the Jacobian can be formed, to see that it is right and that
# $\mathrm{vec}(\partial L/\partial X) = J^T \mathrm{vec}(G)$ is $G W^T$:

# %%
small = {"X": (2, 3), "W": (3, 4)}
Xv, Wv, Gv = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
Jn = sympy_value(matdiff.jacobian("X W", wrt="X", shapes=small), {"W": Wv})
vec = lambda Z: Z.reshape(-1, order="F")
fd = np.column_stack([vec((Xv + 1e-6 * E) @ Wv - (Xv - 1e-6 * E) @ Wv) / 2e-6
                      for E in np.eye(6).reshape(6, 3, 2).transpose(0, 2, 1)])
assert np.allclose(Jn, fd)
assert np.allclose(Jn.T @ vec(Gv), vec(Gv @ Wv.T))
print("J = W^T ⊗ I:", np.allclose(Jn, np.kron(Wv.T, np.eye(2))), "  J^T vec(G) = vec(G W^T): True")

# %% [markdown]
# ## Problem 3
#
# The derivatives of the activations, applied to a scalar:
# (a) $R'(Y) = 1$ for $Y > 0$, $0$ otherwise; (b) $S'(Y) = S(Y)(1 - S(Y))$;
# (c) $\tanh'(Y) = 1 - \tanh^2(Y)$. matdiff's answers, as SymPy expressions:

# %%
Y = sp.Symbol("Y")
derivs = {}
for name in ["relu", "sigmoid", "tanh"]:
    derivs[name] = d = matdiff.gradient(f"{name}(Y)", wrt="Y", shapes={"Y": ()})
    display(Math(rf"\frac{{d}}{{dY}}\,\mathrm{{{name}}}(Y) = " + sp.latex(d)))

S = 1 / (1 + sp.exp(-Y))
assert sp.simplify(derivs["sigmoid"] - S * (1 - S)) == 0
assert sp.simplify(derivs["tanh"] - (1 - sp.tanh(Y) ** 2)) == 0
assert derivs["relu"].subs(Y, 2) == 1 and derivs["relu"].subs(Y, -2) == 0

# %% [markdown]
# $\theta(Y)$ is the Heaviside step. Applied to a matrix, the functions act entrywise and their
# Jacobians are diagonal; in a gradient the derivative multiplies elementwise:

# %%
for name in ["relu", "sigmoid", "tanh"]:
    g = matdiff.derive_gradient(f"sum({name}(X W))", wrt="W")
    display(g)
    assert g.check().ok

# %%
ys = np.linspace(-4, 4, 401)
curves = {"relu": np.maximum(ys, 0), "sigmoid": 1 / (1 + np.exp(-ys)), "tanh": np.tanh(ys)}
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, (name, f) in zip(axes, curves.items()):
    d = sp.lambdify(Y, derivs[name], modules=[{"Heaviside": lambda t, at0=0.0: np.heaviside(t, at0)}, "numpy"])
    dv = np.broadcast_to(d(ys), ys.shape)
    ax.plot(ys, f, label=name)
    ax.plot(ys, dv, label=name + "'")
    ax.plot(ys[1:-1], (f[2:] - f[:-2]) / (ys[2:] - ys[:-2]), "k:", lw=1, label="differences")
    ax.set_title(name)
    ax.legend(fontsize=8)
    mask = np.abs(ys[1:-1]) > 0.05                    # relu has a kink at 0
    assert np.allclose(dv[1:-1][mask], ((f[2:] - f[:-2]) / (ys[2:] - ys[:-2]))[mask], atol=1e-3)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Problem 4
#
# One hidden layer, softmax and cross-entropy:
# $z = Wx$, $h = \mathrm{ReLU}(z)$, $\theta = Uh$, $\hat y = \mathrm{softmax}(\theta)$,
# $J = \mathrm{CrossEntropy}(y, \hat y) = -\sum_j y_j \log \hat y_j$.
# As a matdiff program, line by line:

# %%
network = '''
z = W x
h = relu(z)
theta = U h
yhat = softmax(theta)
J = -y^T log(yhat)
'''
sizes = {"W": ("M", "D"), "x": ("D",), "U": ("C", "M"), "y": ("C",)}     # the sheet's D, M, C
# !matdiff parse '{network}' --shape W=M,D --shape x=D --shape U=C,M --shape y=C

# %% [markdown]
# **The gradient with respect to the logits.** The sheet finds $\partial J / \partial \theta = \hat y - y$:

# %%
logits = {"theta": ("C",), "y": ("C",)}        # a Greek name alone would be taken for a scalar
g = matdiff.derive_gradient("-y^T log(softmax(theta))", wrt="theta", shapes=logits)
display(g)
assert g.check().ok

# %% [markdown]
# matdiff writes $\mathrm{sum}(y)\,\mathrm{softmax}(\theta) - y$: the sheet's $\hat y - y$ uses
# $\sum_j y_j = 1$, true for a label vector but not for every $y$. `check` finds the difference
# with a counterexample at random $y$, and confirms the answer when $y$ sums to one:

# %%
sheet_answer = "softmax(theta) - y"
report = matdiff.check("-y^T log(softmax(theta))", wrt="theta", shapes=logits, claim=sheet_answer)
print(report)
assert not report.ok

fn = matdiff.lambdify("-y^T log(softmax(theta))", wrt="theta", shapes=logits)
theta = rng.normal(size=5)
label = np.eye(5)[2]                                  # a one-hot label
_, grads = fn(theta=theta, y=label)
softmax = np.exp(theta) / np.exp(theta).sum()
assert np.allclose(grads["theta"], softmax - label)
print("\nfor a one-hot y, dJ/dθ = ŷ - y:", grads["theta"].round(4))

# %% [markdown]
# **All the network's gradients.** The sheet names $\delta_1 = \partial J/\partial\theta = (\hat y - y)^T$
# and $\delta_2 = \partial J/\partial z = \delta_1 U \circ \mathrm{sgn}(h)$ (row vectors), and finds
# $\frac{\partial J}{\partial U} = \delta_1^T h^T$, $\frac{\partial J}{\partial W} = \delta_2^T x^T$,
# $\frac{\partial J}{\partial x} = (\delta_2 W)^T$. matdiff's error signals are the columns
# `delta_theta` $= \delta_1^T$ and `delta_z` $= \delta_2^T$
# ($\mathrm{relu}'(z) = \mathrm{sgn}(h)$):

# %%
g = matdiff.derive_gradient(network, wrt=["U", "W", "x"], shapes=sizes)
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# The sheet's three formulas as claims (with $\sum_j y_j$ kept, so that they hold for every $y$):

# %%
forward = "z = W x\nh = relu(z)\ntheta = U h\nyhat = softmax(theta)\n"
delta1 = "d1 = sum(y) yhat - y\n"
delta2 = "d2 = relu'(z) ∘ U^T d1\n"
claims = {"U": delta1 + "d1 h^T", "W": delta1 + delta2 + "d2 x^T", "x": delta1 + delta2 + "W^T d2"}
for wrt, claim in claims.items():
    report = matdiff.check(network, wrt=wrt, shapes=sizes, claim=forward + claim)
    print(f"dJ/d{wrt} = {claim.splitlines()[-1]:8s} {'right' if report.ok else 'WRONG'}")
    assert report.ok

# %% [markdown]
# The derivation of $\partial J / \partial W$, step by step, as a solution sheet:

# %%
display(show_sheet(matdiff.sheet(network, wrt="W", shapes=sizes)))

# %% [markdown]
# ### Training the network with the generated gradient
#
# `matdiff.lambdify` turns the program into NumPy code that computes the loss and all three
# gradients in one forward and one backward pass. Plain gradient descent on one sample:

# %%
fn = matdiff.lambdify(network, wrt=["U", "W"])
D, M, C = 5, 8, 3
params = {"W": rng.normal(size=(M, D)) / np.sqrt(D), "U": rng.normal(size=(C, M)) / np.sqrt(M)}
data = {"x": rng.normal(size=D), "y": np.eye(C)[1]}
losses = []
for step in range(60):
    J, grads = fn(**params, **data)
    losses.append(J)
    for k in params:
        params[k] = params[k] - 0.2 * grads[k]

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.semilogy(losses)
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy $J$")
ax.set_title("Gradient descent with matdiff's gradients")
plt.show()
assert losses[-1] < 0.1 * losses[0]

# %%
print(fn.source)
