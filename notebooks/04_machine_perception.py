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
# # Machine Perception: back-propagation (pen and paper) — worked with matdiff
#
# The exercises of the sheet, in its order and notation:
#
# 1. the multivariable chain rule — 1.1 for Jacobians, 1.2 on a graph with $\sigma$, $\tanh$ and $\log$;
# 2. back-propagation in a multilayer perceptron $F = F^L \circ \dots \circ F^1$ with
#    $F^l(z) = \tanh(W^l z + b^l)$: the error signals $\delta^l = \partial\mathcal{R}/\partial z^l$
#    and the gradients with respect to $W^l$ and $b^l$.
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
# ## 1 Multivariable chain rule
#
# The Jacobian of $\mathbf{g}: \mathbb{R}^n \to \mathbb{R}^m$ is the $m \times n$ matrix
# $J_{ij} = \partial y_i / \partial x_j$ (matdiff's convention too), and the gradient of a scalar
# function is the transposed $1 \times n$ Jacobian.
#
# ### 1.1 Chain rule for Jacobians
#
# For $\mathbf{y} = \mathbf{g}(\mathbf{x})$ and $\mathbf{z} = \mathbf{f}(\mathbf{y})$:
# $\frac{\partial z}{\partial x} = \frac{\partial z}{\partial y}\frac{\partial y}{\partial x} \in \mathbb{R}^{l \times n}$.
# Take $\mathbf{g}(x) = \sigma(Bx)$ with $B \in \mathbb{R}^{m \times n}$ and
# $\mathbf{f}(y) = \tanh(Ay)$ with $A \in \mathbb{R}^{l \times m}$:

# %%
dims = {"A": ("l", "m"), "B": ("m", "n"), "x": ("n",), "y": ("m",)}
Jf = matdiff.derive_jacobian("tanh(A y)", wrt="y", shapes=dims)
Jg = matdiff.derive_jacobian("sigmoid(B x)", wrt="x", shapes=dims)
Jfg = matdiff.derive_jacobian("tanh(A sigmoid(B x))", wrt="x", shapes=dims)
for J in (Jf, Jg, Jfg):
    display(J)
    assert J.check().ok

# %% [markdown]
# The composite's Jacobian is $\mathrm{diag}(\tanh'(A y))\,A$ times $\mathrm{diag}(\sigma'(Bx))\,B$ at
# $y = \sigma(Bx)$: $l \times m$ times $m \times n$. Numerically, at sizes $l, m, n = 2, 3, 4$:

# %%
sizes = {"A": (2, 3), "B": (3, 4), "x": (4,), "y": (3,)}
v = {k: rng.normal(size=s) for k, s in sizes.items()}
v["y"] = 1 / (1 + np.exp(-v["B"] @ v["x"]))           # y = g(x)
Jf_n = sympy_value(matdiff.jacobian("tanh(A y)", wrt="y", shapes=sizes), v)
Jg_n = sympy_value(matdiff.jacobian("sigmoid(B x)", wrt="x", shapes=sizes), v)
Jfg_n = sympy_value(matdiff.jacobian("tanh(A sigmoid(B x))", wrt="x", shapes=sizes), v)
print("shapes:", Jf_n.shape, "@", Jg_n.shape, "=", Jfg_n.shape)
assert np.allclose(Jf_n @ Jg_n, Jfg_n)

# %% [markdown]
# ### 1.2 Chain rule for graphs
#
# The graph (its figure is missing from the sheet; the edges follow from the partial derivatives it
# lists) is $c_1 = \tanh(w_1 x_1 + w_2 x_2)$, $c_2 = \tanh(w_2 x_2 + w_3 x_3)$,
# $h_2 = \sigma(c_1 c_2)$, $y = \log h_2$. **a)** Derive $\partial y / \partial x_2$:
# $$\frac{\partial y}{\partial x_2} = \frac{\partial y}{\partial h_2}\Big(\frac{\partial h_2}{\partial c_1}\frac{\partial c_1}{\partial x_2}
# + \frac{\partial h_2}{\partial c_2}\frac{\partial c_2}{\partial x_2}\Big)
# = (1 - h_2)\, w_2\, (c_1 + c_2 - c_2 c_1^2 - c_1 c_2^2).$$
# matdiff back-propagates through the graph; `delta_c1` and `delta_c2` are
# $\partial y/\partial c_1$ and $\partial y/\partial c_2$:

# %%
graph = '''
c1 = tanh(w1 x1 + w2 x2)
c2 = tanh(w2 x2 + w3 x3)
h2 = sigmoid(c1 c2)
y = log(h2)
'''
scalars = {name: () for name in ["x1", "x2", "x3", "w1", "w2", "w3"]}
g = matdiff.derive_gradient(graph, wrt="x2", shapes=scalars)
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# The sheet's closed form, as a claim, and symbolically with SymPy:

# %%
sheet_answer = '''
c1 = tanh(w1 x1 + w2 x2)
c2 = tanh(w2 x2 + w3 x3)
h2 = sigmoid(c1 c2)
(1 - h2) w2 (c1 + c2 - c2 c1^2 - c1 c2^2)
'''
report = matdiff.check(graph, wrt="x2", shapes=scalars, claim=sheet_answer)
print(report)
assert report.ok

dy = matdiff.gradient(graph, wrt="x2", shapes=scalars)                # SymPy, in x1..w3
x1, x2, x3, w1, w2, w3 = sp.symbols("x1 x2 x3 w1 w2 w3")
c1, c2 = sp.tanh(w1 * x1 + w2 * x2), sp.tanh(w2 * x2 + w3 * x3)
h2 = 1 / (1 + sp.exp(-c1 * c2))
closed = (1 - h2) * w2 * (c1 + c2 - c2 * c1**2 - c1 * c2**2)
assert sp.simplify((dy - closed).rewrite(sp.exp)) == 0
print("SymPy: matdiff's ∂y/∂x2 - the sheet's closed form = 0")

# %% [markdown]
# A picture: $y$ over the $(x_1, x_2)$ plane for fixed $x_3, w_1, w_2, w_3$, with matdiff's gradient
# $(\partial y/\partial x_1, \partial y/\partial x_2)$ as arrows — perpendicular to the contour lines,
# pointing uphill.

# %%
fixed = {"x3": 0.5, "w1": 1.0, "w2": -0.8, "w3": 1.2}
grad = matdiff.gradient(graph, wrt=["x1", "x2"], shapes=scalars)
args = (x1, x2, x3, w1, w2, w3)
y_of = sp.lambdify(args, sp.log(h2))
gx1, gx2 = (sp.lambdify(args, grad[k]) for k in ("x1", "x2"))

X1, X2 = np.meshgrid(np.linspace(-2, 2, 81), np.linspace(-2, 2, 81))
Q1, Q2 = np.meshgrid(np.linspace(-1.8, 1.8, 13), np.linspace(-1.8, 1.8, 13))
fig, ax = plt.subplots(figsize=(5.5, 4.6))
cs = ax.contourf(X1, X2, y_of(X1, X2, **fixed), levels=20, cmap="viridis")
fig.colorbar(cs, label="$y$")
ax.quiver(Q1, Q2, gx1(Q1, Q2, **fixed), gx2(Q1, Q2, **fixed), color="white")
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.set_title(r"$y = \log\sigma(c_1 c_2)$ and its gradient")
plt.show()

h = 1e-6                                             # the arrows against central differences
fd = (y_of(Q1, Q2 + h, **fixed) - y_of(Q1, Q2 - h, **fixed)) / (2 * h)
assert np.allclose(gx2(Q1, Q2, **fixed), fd, atol=1e-7)

# %% [markdown]
# ## 2 Back-propagation in a multilayer perceptron
#
# $z^0 = x$, $z^l = F^l(z^{l-1}) = \tanh(W^l z^{l-1} + b^l)$, $y = z^L$, and a loss $\mathcal{R}(z^L)$.
# The sheet leaves $\mathcal{R}$ open; take the squared error $\mathcal{R} = \frac12\|z^L - t\|^2$ and
# $L = 3$ layers, written as the sheet writes the network:

# %%
mlp = '''
z1 = tanh(W1 x + b1)
z2 = tanh(W2 z1 + b2)
z3 = tanh(W3 z2 + b3)
R = 1/2 ||z3 - t||^2
'''
widths = {"x": ("n0",), "t": ("n3",)}              # W^l is n_l × n_(l-1), b^l has n_l entries
for l in (1, 2, 3):
    widths[f"W{l}"], widths[f"b{l}"] = (f"n{l}", f"n{l - 1}"), (f"n{l}",)
g = matdiff.derive_gradient(mlp, wrt=["W1", "b1", "W2", "b2", "W3", "b3"], shapes=widths)
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# **a)** $\delta^l = \delta^{l+1}\,\frac{\partial z^{l+1}}{\partial z^l}$. The Jacobian of one layer is
# $\frac{\partial z^{l+1}}{\partial z^l} = \mathrm{diag}(1 - \tanh^2(a^{l+1}))\, W^{l+1}$ with
# $a^{l+1} = W^{l+1} z^l + b^{l+1}$:

# %%
layer = matdiff.derive_jacobian("tanh(W2 z1 + b2)", wrt="z1")
display(layer)
assert layer.check().ok

# %% [markdown]
# The sheet's $\delta^l$ are row vectors; matdiff's `delta_z1`, `delta_z2`, `delta_z3` above are the
# same error signals as columns:
# $\delta^{l\,T} = \big(\frac{\partial z^{l+1}}{\partial z^l}\big)^T \delta^{l+1\,T}
# = W^{l+1\,T}\big(\tanh'(a^{l+1}) \odot \delta^{l+1\,T}\big)$, starting from $\delta^3 = (z^3 - t)^T$.
# That $\delta^1$ is the gradient with respect to $z^1$ can be checked by making $z^1$ an input:

# %%
from_z1 = "z2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\nR = 1/2 ||z3 - t||^2"
delta_claim = ("z2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\n"
               "d3 = z3 - t\n"
               "d2 = W3^T (tanh'(W3 z2 + b3) ∘ d3)\n"
               "W2^T (tanh'(W2 z1 + b2) ∘ d2)")
report = matdiff.check(from_z1, wrt="z1", claim=delta_claim)
print(report)
assert report.ok

# %% [markdown]
# **b)** $\frac{\partial \mathcal{R}}{\partial w^l_{ij}} = \delta^l\,\frac{\partial z^l}{\partial w^l_{ij}}$
# with $\big[\frac{\partial z^l}{\partial w^l_{ij}}\big]_k = (1 - \tanh^2(a))_k\, z^{l-1}_j$ if $k = i$,
# 0 otherwise; so $\frac{\partial \mathcal{R}}{\partial w^l_{ij}} = \delta^l_i\,(1 - \tanh^2(a_i))\, z^{l-1}_j$,
# all entries at once $\big((1 - \tanh^2(a^l)) \odot \delta^{l\,T}\big)\, z^{l-1\,T}$, and
# $\frac{\partial \mathcal{R}}{\partial b^l} = (1 - \tanh^2(a^l)) \odot \delta^{l\,T}$. The term passed back from
# layer $l+1$ to layer $l$ is $\delta^{l+1}$. As claims, for layer 2:

# %%
forward = "z1 = tanh(W1 x + b1)\nz2 = tanh(W2 z1 + b2)\nz3 = tanh(W3 z2 + b3)\n"
deltas = "d3 = z3 - t\nd2 = W3^T ((1 - z3 .^ 2) ∘ d3)\n"
for wrt, claim in [("W2", "((1 - z2 .^ 2) ∘ d2) z1^T"), ("b2", "(1 - z2 .^ 2) ∘ d2")]:
    report = matdiff.check(mlp, wrt=wrt, shapes=widths, claim=forward + deltas + claim)
    print(f"dR/d{wrt} = {claim:28s} {'right' if report.ok else 'WRONG'}")
    assert report.ok

# %% [markdown]
# The same derivation with differentials, as a solution sheet: $dz^2$, $dz^3$ and $d\mathcal{R}$,
# back-substituted until only $dW^2$ is left, then read off with the trace. The boxed answer is
# $\mathrm{diag}(\tanh'(a^2))\, W^{3\,T}\, \mathrm{diag}(\tanh'(a^3))\,(z^3 - t)\, z^{1\,T}$, the sheet's
# $\delta^2_i\,(1 - \tanh^2(a_i))\, z^1_j$ for all $i, j$ at once:

# %%
display(show_sheet(matdiff.sheet(mlp, wrt="W2", shapes=widths)))


# %% [markdown]
# ### Deeper networks: the error signal fades
#
# The same program for any $L$. With generated code (`matdiff.lambdify`) the gradients of a 12-layer
# network take one forward and one backward pass; $\|\partial\mathcal{R}/\partial b^l\|$ per layer shows
# how $\delta^l$ shrinks on its way back through the $\tanh$ layers when the weights are small, and
# survives when they are larger — the vanishing gradient, read off the deltas.

# %%
def tanh_mlp(L):
    lines = [f"z{l} = tanh(W{l} {'x' if l == 1 else f'z{l - 1}'} + b{l})" for l in range(1, L + 1)]
    return "\n".join(lines + [f"R = 1/2 ||z{L} - t||^2"])


L, n = 12, 16
print(tanh_mlp(3))
fn = matdiff.lambdify(tanh_mlp(L), wrt=[f"b{l}" for l in range(1, L + 1)])

fig, ax = plt.subplots(figsize=(6, 3.8))
for scale in (0.5, 1.0, 1.5):
    values = {"x": rng.normal(size=n), "t": rng.normal(size=n)}
    for l in range(1, L + 1):
        values[f"W{l}"] = scale * rng.normal(size=(n, n)) / np.sqrt(n)
        values[f"b{l}"] = np.zeros(n)
    _, grads = fn(**values)
    norms = [np.linalg.norm(grads[f"b{l}"]) for l in range(1, L + 1)]
    ax.semilogy(range(1, L + 1), norms, "o-", label=f"weights × {scale}")
    if scale == 0.5:
        assert norms[0] < 1e-2 * norms[-1]               # faded by orders of magnitude
ax.set_xlabel("layer $l$")
ax.set_ylabel(r"$\|\partial \mathcal{R} / \partial b^l\|$")
ax.set_title(f"Error signals in a {L}-layer tanh network")
ax.legend()
plt.show()
