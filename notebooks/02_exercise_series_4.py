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
# # Deep Learning, exercise series 4 — worked with matdiff
#
# The solutions of *Exercise series 4* (Deep Learning), in their order and notation:
#
# 1. back-propagation on a small computational graph (the chain rule);
# 2. the diagonal approximation of the Hessian of a feed-forward network;
# 3. the chain rule with Jacobians of more than two dimensions: $\|Wx\|^2$ and $\mathrm{tr}(BA)$.
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
from nbtools import show_sheet, sympy_value      # a solution sheet as Markdown; a SymPy result at numbers

# %% [markdown]
# ## Solution 1 (Back-propagation and computational graphs)
#
# **a)** On a chain $h_1 \to h_2 \to h_3 \to l$ the chain rule multiplies the local derivatives,
# $\frac{\partial l}{\partial h_1} = \frac{\partial l}{\partial h_3}\frac{\partial h_3}{\partial h_2}
# \frac{\partial h_2}{\partial h_1}$. With abstract scalar functions matdiff shows exactly that
# product, passing the error signal $\partial l/\partial h_2$ (`delta_h2`) back:

# %%
chain = '''
h2 = phi(h1)
h3 = psi(h2)
l = f(h3)
'''
g = matdiff.derive_gradient(chain, wrt="h1", shapes={"h1": ()}, functions=["f"])
display(g)
assert g.check().ok

# %% [markdown]
# **b)** The graph of part b) (its figure is missing from the sheet; the functions follow from the
# partial derivatives the solution lists: $\partial l/\partial h_2 = h_3 = 2x + y$,
# $\partial l/\partial h_3 = h_2 = 8x^2$, $\partial h_2/\partial h_1 = 4h_1$,
# $\partial h_3/\partial h_1 = 1$, $\partial h_1/\partial x = 2$) is
# $h_1 = 2x$, $h_2 = 2h_1^2$, $h_3 = h_1 + y$, $l = h_2 h_3$. Then
# $$\frac{\partial l}{\partial x} = \Big(\frac{\partial l}{\partial h_2}\frac{\partial h_2}{\partial h_1}
# + \frac{\partial l}{\partial h_3}\frac{\partial h_3}{\partial h_1}\Big)\frac{\partial h_1}{\partial x}
# = 48x^2 + 16xy.$$
# matdiff's `delta_h1` is the bracket, $h_3 \cdot 4h_1 + h_2 \cdot 1$:

# %%
graph = '''
h1 = 2 x
h2 = 2 h1^2
h3 = h1 + y
l = h2 h3
'''
scalars = {"x": (), "y": ()}
g = matdiff.derive_gradient(graph, wrt="x", shapes=scalars)
display(g)
report = g.check()
print(report)
assert report.ok

dl_dx = matdiff.gradient(graph, wrt="x", shapes=scalars)     # SymPy, in x and y
x, y = sp.symbols("x y")
display(Math(r"\frac{\partial l}{\partial x} = " + sp.latex(dl_dx) + " = " + sp.latex(sp.expand(dl_dx))))
assert sp.expand(dl_dx - (48 * x**2 + 16 * x * y)) == 0

# %% [markdown]
# A picture of $l(x) = 8x^2(2x + y)$ and its derivative for $y = 1$: the derivative vanishes at
# $x = 0$ and $x = -y/3$, where $l$ has its extrema.

# %%
l_of = sp.lambdify((x, y), 8 * x**2 * (2 * x + y))
dl_of = sp.lambdify((x, y), dl_dx)
xs = np.linspace(-0.8, 0.4, 200)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(xs, l_of(xs, 1.0), label="$l(x)$, $y = 1$")
ax.plot(xs, dl_of(xs, 1.0), label=r"$\partial l / \partial x$ (matdiff)")
ax.plot(xs[1:-1], (l_of(xs[2:], 1.0) - l_of(xs[:-2], 1.0)) / (xs[2:] - xs[:-2]), "k:",
        label="central differences of $l$")
for x0 in (0.0, -1 / 3):
    ax.axvline(x0, color="grey", lw=0.5)
ax.axhline(0, color="grey", lw=0.5)
ax.set_xlabel("$x$")
ax.legend()
plt.show()

assert np.allclose(dl_of(xs, 1.0), 48 * xs**2 + 16 * xs)
assert abs(dl_of(-1 / 3, 1.0)) < 1e-12

# %% [markdown]
# ## Solution 2 (Approximate Hessian for feed-forward networks)
#
# In a feed-forward network $a_j = \sum_i w_{ji} z_i$ and $z_j = h(a_j)$. The sheet shows
# **(1)** $\frac{\partial^2 L_n}{\partial w_{ji}^2} = \frac{\partial^2 L_n}{\partial a_j^2}\, z_i^2$ (eq. 5) and,
# neglecting the off-diagonal second derivatives, **(3)** the backward recursion
# $$\frac{\partial^2 L_n}{\partial a_j^2} = h'(a_j)^2 \sum_k w_{kj}^2 \frac{\partial^2 L_n}{\partial a_k^2}
# + h''(a_j) \sum_k w_{kj} \frac{\partial L_n}{\partial a_k} \qquad (10)$$
# — Becker and LeCun's diagonal approximation, $O(W)$ work instead of $O(W^2)$.
# `matdiff.hessian(f, wrt, diagonal=True)` back-propagates exactly this, in matrix form.
#
# Take a network with one hidden layer, $h = \tanh$ and the squared loss:
# $L = \frac12 \|W_2 \tanh(W_1 x) - t\|^2$.

# %%
net = "1/2 ||W2 tanh(W1 x) - t||^2"
diag_W2 = matdiff.derive_hessian(net, wrt="W2", diagonal=True)
display(diag_W2)
print(diag_W2.text().splitlines()[-1])
assert diag_W2.check().ok

# %% [markdown]
# For the output weights $W_2$, $\partial^2 L/\partial a_k^2 = 1$ (squared loss, linear output), so
# eq. (5) gives $\partial^2 L / \partial (W_2)_{ki}^2 = z_i^2$: the matrix $\mathbf{1}\,(z^{\circ 2})^T$
# with $z = \tanh(W_1 x)$, as above. For the first layer eq. (10) gives, with
# $\sum_k w_{kj}^2 \cdot 1 = ((W_2^{\circ 2})^T \mathbf{1})_j$ and
# $\sum_k w_{kj}\,\partial L/\partial a_k = (W_2^T (W_2 z - t))_j$, and $z_i = x_i$:

# %%
diag_W1 = matdiff.derive_hessian(net, wrt="W1", diagonal=True)
display(diag_W1)
print(diag_W1.text().splitlines()[-1])
report = diag_W1.check()
print(report)
assert report.ok and diag_W1.exact

# %% [markdown]
# Here the approximation is exact: with one hidden layer and a linear output, the neglected
# terms $\partial^2 L/\partial a_k \partial a_{k'}$ ($k \ne k'$) of the output layer are zero.
# With two hidden layers they are not, and matdiff says so (`exact` is `False`). Compare the
# approximation with the exact diagonal, taken from the full Hessian that `matdiff.lambdify(...,
# hessian=True)` evaluates, and with the sheet's recursion (10) typed into NumPy:

# %%
deep = "1/2 ||W3 tanh(W2 tanh(W1 x)) - t||^2"
shapes = {"W1": (6, 4), "W2": (5, 6), "W3": (3, 5), "x": (4,), "t": (3,)}
approx = matdiff.derive_hessian(deep, wrt="W1", shapes=shapes, diagonal=True)
display(approx)
print("exact:", approx.exact)
assert not approx.exact

vals = {k: rng.normal(size=s) for k, s in shapes.items()}
D_matdiff = sympy_value(matdiff.hessian(deep, wrt="W1", shapes=shapes, diagonal=True), vals)

_, _, H = matdiff.lambdify(deep, wrt="W1", shapes=shapes, hessian=True)(**vals)
D_exact = np.diag(H["W1"]).reshape(shapes["W1"], order="F")    # vec stacks the columns


def becker_lecun(W1, W2, W3, x, t):
    '''The sheet's eq. (5) and (10): second derivatives back-propagated, off-diagonals dropped.'''
    a1 = W1 @ x;  z1 = np.tanh(a1)
    a2 = W2 @ z1; z2 = np.tanh(a2)
    a3 = W3 @ z2                                  # linear output, L = 1/2 ||a3 - t||^2
    g3, s3 = a3 - t, np.ones_like(a3)             # dL/da3, d2L/da3^2
    h1 = lambda a: 1 - np.tanh(a) ** 2            # h'
    h2 = lambda a: -2 * np.tanh(a) * h1(a)        # h''
    g2 = h1(a2) * (W3.T @ g3)
    s2 = h1(a2) ** 2 * ((W3 ** 2).T @ s3) + h2(a2) * (W3.T @ g3)     # eq. (10)
    s1 = h1(a1) ** 2 * ((W2 ** 2).T @ s2) + h2(a1) * (W2.T @ g2)     # eq. (10)
    return np.outer(s1, x ** 2)                                      # eq. (5)


D_sheet = becker_lecun(**vals)
assert np.allclose(D_matdiff, D_sheet)
print("matdiff's diagonal = the sheet's recursion:", np.allclose(D_matdiff, D_sheet))
print(f"largest gap to the exact diagonal: {np.max(np.abs(D_matdiff - D_exact)):.3g} "
      f"(entries up to {np.max(np.abs(D_exact)):.3g})")

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(D_exact.ravel(), D_matdiff.ravel(), s=14)
lim = np.max(np.abs(D_exact)) * 1.1
ax.plot([-lim, lim], [-lim, lim], "k:", lw=1)
ax.set_xlabel(r"exact $\partial^2 L / \partial (W_1)_{ji}^2$")
ax.set_ylabel("Becker–LeCun approximation")
ax.set_title("Diagonal of the Hessian, two hidden layers")
plt.show()

# %% [markdown]
# The points lie near the diagonal but not on it: the approximation is good where the neglected
# cross terms are small. For the one-hidden-layer network it matches exactly:

# %%
shapes1 = {"W1": (6, 4), "W2": (3, 6), "x": (4,), "t": (3,)}
vals1 = {k: rng.normal(size=s) for k, s in shapes1.items()}
D1 = sympy_value(matdiff.hessian(net, wrt="W1", shapes=shapes1, diagonal=True), vals1)
_, _, H1 = matdiff.lambdify(net, wrt="W1", shapes=shapes1, hessian=True)(**vals1)
assert np.allclose(D1, np.diag(H1["W1"]).reshape(shapes1["W1"], order="F"))
print("one hidden layer: the diagonal approximation equals the exact diagonal")

# %% [markdown]
# ## Solution 3 (Chain rule and Jacobians in more than 2 dimensions)
#
# **1.** $\frac{\partial L}{\partial W_{jk}} = \sum_i \frac{\partial L}{\partial y_i}\frac{\partial y_i}{\partial W_{jk}}$.
#
# **2.** $L = \|y\|^2$ with $y = Wx$: $\frac{\partial L}{\partial W} = 2 y x^T$.

# %%
display(matdiff.derive_gradient("||W x||^2", wrt="W"))
g = matdiff.derive_gradient("y = W x\nL = y^T y", wrt="W")
display(g)
assert g.check().ok
report = matdiff.check("||W x||^2", wrt="W", claim="2 W x x^T")
print(report)
assert report.ok

# %% [markdown]
# Without tensors: the differential $dL = 2y^T dy = 2y^T dW\,x = \mathrm{tr}(2 x y^T dW)$ gives the
# gradient $2yx^T$ in three lines, the way a solution sheet writes it:

# %%
display(show_sheet(matdiff.sheet("y = W x\nL = y^T y", wrt="W", shapes={"W": ("d1", "d2"), "x": ("d2",)})))

# %% [markdown]
# The sheet builds $\frac{\partial y}{\partial W}$ as a three-index tensor
# $T \in \mathbb{R}^{d_1 \times d_1 \times d_2}$, $T_{i,j,k} = \mathbb{1}_{i=j}\, x_k$, and contracts
# $\frac{\partial L}{\partial y} = 2y$ with its first index. matdiff's Jacobian with respect to a
# matrix uses $\mathrm{vec}$ (columns stacked) and is the Kronecker product $x^T \otimes I$, a
# $d_1 \times d_1 d_2$ matrix; folding its columns back into $(j, k)$ gives the sheet's tensor.

# %%
d1, d2 = 3, 4
J = matdiff.derive_jacobian("W x", wrt="W", shapes={"W": (d1, d2), "x": (d2,)})
display(J)

W, xv = rng.normal(size=(d1, d2)), rng.normal(size=d2)
Jn = sympy_value(matdiff.jacobian("W x", wrt="W", shapes={"W": (d1, d2), "x": (d2,)}), {"x": xv})
T = Jn.reshape(d1, d1, d2, order="F")                 # column j + d1 k of J is T[:, j, k]
assert np.allclose(T, np.einsum("ij,k->ijk", np.eye(d1), xv))      # T_ijk = 1[i=j] x_k

yv = W @ xv
grad = np.einsum("i,ijk->jk", 2 * yv, T)              # dL/dy contracted with the first index
assert np.allclose(grad, 2 * np.outer(yv, xv))
print("2y contracted with T = 2 y x^T:", np.allclose(grad, 2 * np.outer(yv, xv)))

# %% [markdown]
# **4.** $\frac{\partial}{\partial A}\mathrm{tr}(BA) = \frac{\partial\, \mathrm{tr}(BA)}{\partial BA}
# \times_{i_1, i_2} \frac{\partial BA}{\partial A} = B^T$. In vec form the two Jacobians are
# $\mathrm{vec}(I)^T$ and $I \otimes B$, and their product is $\mathrm{vec}(B^T)^T$:

# %%
m, n = 3, 4
tr_shapes = {"B": (m, n), "A": (n, m)}
for f in ["tr(M)", "B A", "tr(B A)"]:
    wrt = "M" if f == "tr(M)" else "A"
    J = matdiff.derive_jacobian(f, wrt=wrt, shapes={"M": (m, m)} if wrt == "M" else tr_shapes)
    display(J)
    assert J.check().ok

Bv = rng.normal(size=(m, n))
vecI = np.eye(m).reshape(-1, order="F")
chained = vecI @ np.kron(np.eye(m), Bv)                   # vec(I)^T (I ⊗ B)
assert np.allclose(chained, Bv.T.reshape(-1, order="F"))   # = vec(B^T)^T

g = matdiff.derive_gradient("tr(B A)", wrt="A", shapes=tr_shapes)
display(g)
assert matdiff.check("tr(B A)", wrt="A", shapes=tr_shapes, claim="B^T").ok
