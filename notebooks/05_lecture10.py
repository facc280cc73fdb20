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
# # Matrix calculus, lecture 10: a neural network, adjoints, Kronecker forms — worked with matdiff
#
# The lecture notes, in their order and notation:
#
# 1. the forward pass of a two-layer network with squared loss, and why
#    $\frac{\partial\mathcal{L}}{\partial W_1} = \frac{\partial\mathcal{L}}{\partial z}\frac{\partial z}{\partial W_1}$
#    "gets confusing";
# 2. $\mathrm{tr}(A^T B) = \mathrm{sum}(A \circ B)$ and the gradient as a directional derivative;
# 3. the pieces as linear maps: right multiplication $R_X$ is $X^T \otimes I$;
# 4. gradients as adjoints, $\overline{W_1} = \bar z\, x^T$, and the whole reverse pass;
# 5. why it is called an adjoint;
# 6. vector–Jacobian products: reverse versus forward.
#
# Every answer is checked numerically in the notebook.

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Math, display

import matdiff

rng = np.random.default_rng(0)

# %%
from nbtools import show_sheet, sympy_value

# %% [markdown]
# ## 1 The forward pass
#
# $$z = W_1 x + b_1, \quad h = \sigma(z), \quad y = W_2 h + b_2, \quad \mathcal{L} = \tfrac12 \|y - t\|^2.$$
# matdiff reads it line by line ($\sigma$ is the sigmoid; `σ` is accepted too) and infers every shape:

# %%
net = '''
z = W1 x + b1
h = σ(z)
y = W2 h + b2
L = 1/2 ||y - t||^2
'''
display(Math(matdiff.latex(net)))
# !matdiff parse '{net}'

# %% [markdown]
# $\nabla_{W_1}\mathcal{L}$ is a matrix, the shape of $W_1$; $\frac{\partial z}{\partial W_1}$ is not a
# matrix one would want to write down. matdiff's answer never forms it: the gradients come out of
# the reverse pass, with the error signals (`delta_y`, `delta_z`) named as they are passed back.

# %%
g = matdiff.derive_gradient(net, wrt=["W1", "b1", "W2", "b2"])
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# ## 2 The gradient as a directional derivative
#
# $\frac{\partial\mathcal{L}}{\partial W_1}[dW_1] = \mathrm{tr}\big((\nabla_{W_1}\mathcal{L})^T dW_1\big)$, and
# $\mathrm{tr}(A^T B) = A \cdot B = \mathrm{sum}(A \circ B)$. Both forms are one function of $W$, with
# gradient $G$; and as a $1 \times mn$ Jacobian in the vec convention the map is
# $\mathrm{vec}(G)^T$:

# %%
Gv, Wv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
assert np.isclose(np.trace(Gv.T @ Wv), np.sum(Gv * Wv))

for f in ["tr(G^T W)", "sum(G ∘ W)"]:
    display(matdiff.derive_gradient(f, wrt="W"))
    assert matdiff.check(f, wrt="W", claim="G").ok
J = matdiff.derive_jacobian("tr(G^T W)", wrt="W")
display(J)
assert J.check().ok

# %% [markdown]
# ## 3 The pieces
#
# $W_1 \mapsto z$ is linear in $W_1$: $dW_1 \mapsto dW_1\, x$, right multiplication $R_x$. In the vec
# convention its matrix is $x^T \otimes I$ — for a batch $X$ of inputs, $X^T \otimes I$:

# %%
for f in ["W1 x", "W1 X"]:
    J = matdiff.derive_jacobian(f, wrt="W1")
    display(J)
    assert J.check().ok

# %% [markdown]
# The cyclic property turns $\mathrm{tr}\big((\nabla_z\mathcal{L})^T dW_1\, X\big)$ into
# $\mathrm{tr}\big(X(\nabla_z\mathcal{L})^T dW_1\big)$, so $\nabla_{W_1}\mathcal{L} = (\nabla_z\mathcal{L})\, X^T$.
# In vec form this is the transpose of the Kronecker matrix applied to $\mathrm{vec}(\nabla_z\mathcal{L})$:
# $(X^T \otimes I)^T \mathrm{vec}(\bar z) = \mathrm{vec}(\bar z X^T)$. Numerically:

# %%
m, n, N = 3, 4, 5
shapes = {"W1": (m, n), "X": (n, N)}
X = rng.normal(size=(n, N))
K = sympy_value(matdiff.jacobian("W1 X", wrt="W1", shapes=shapes), {"X": X})
vec = lambda A: A.reshape(-1, order="F")
assert np.allclose(K, np.kron(X.T, np.eye(m)))            # X^T ⊗ I, (m N) × (m n)

W1 = rng.normal(size=(m, n))
assert np.allclose(K @ vec(W1), vec(W1 @ X))              # R_X: vec(W1 X)
zbar = rng.normal(size=(m, N))
assert np.allclose(K.T @ vec(zbar), vec(zbar @ X.T))      # its adjoint: zbar X^T
print("K =", K.shape, "= X^T ⊗ I;  K vec(W1) = vec(W1 X);  K^T vec(zbar) = vec(zbar X^T)")

# %% [markdown]
# ## 4 Gradients as adjoints
#
# Write $\overline{\text{any}} = \nabla_{\text{any}}\mathcal{L}$. Then $\boxed{\overline{W_1} = \bar z\, x^T}$,
# and one step further back, through $h = \sigma(z)$ with $D = \mathrm{diag}(\sigma'(z))$:
# $dy = \bar h^T (D\, dz) = (D \bar h)^T dz$, so $\bar z = D\bar h = \sigma'(z) \circ \bar h$; through
# $y = W_2 h + b_2$: $\bar h = W_2^T \bar y$. The whole reverse pass:
# $$\bar y = y - t,\quad \overline{W_2} = \bar y\, h^T,\quad \bar b_2 = \bar y,\quad
#   \bar h = W_2^T \bar y,\quad \bar z = \bar h \circ \sigma'(z),\quad
#   \overline{W_1} = \bar z\, x^T,\quad \bar b_1 = \bar z.$$
# matdiff's `delta_y` is $\bar y$ and `delta_z` is $\bar z$. Each line of the lecture as a claim:

# %%
forward = "z = W1 x + b1\nh = σ(z)\ny = W2 h + b2\n"
bars = "ybar = y - t\nhbar = W2^T ybar\nzbar = hbar ∘ σ'(z)\n"
claims = {"W2": "ybar h^T", "b2": "ybar", "W1": "zbar x^T", "b1": "zbar"}
for wrt, claim in claims.items():
    report = matdiff.check(net, wrt=wrt, claim=forward + bars + claim)
    print(f"{wrt}bar = {claim:9s} {'right' if report.ok else 'WRONG'}")
    assert report.ok

# %% [markdown]
# A wrong adjoint is caught: $\overline{W_1} = x\,\bar z^T$ (the transpose, a common slip) does not even
# have the shape of $W_1$ unless $W_1$ is square; with a square $W_1$ it has the shape and is still wrong:

# %%
square = {"W1": ("n", "n"), "x": ("n",), "W2": ("k", "n")}
wrong = matdiff.check(net, wrt="W1", shapes=square, claim=forward + bars + "x zbar^T")
print(wrong)
assert not wrong.ok

# %% [markdown]
# The derivation of $\overline{W_1}$ as the differentials and the trace give it, step by step:

# %%
display(show_sheet(matdiff.sheet(net, wrt="W1")))

# %% [markdown]
# ## 5 Why is this called an adjoint?
#
# The adjoint $L^*$ of a linear map $L$ satisfies $\langle y, Lx\rangle = \langle L^* y, x\rangle$. For
# $L = R_A$ (right multiplication) $R_A^* = R_{A^T}$; for matrix–vector multiplication the adjoint is
# multiplication by $A^T$; and $x \mapsto v \circ x$ is self-adjoint. The Jacobian of $v \circ x$ is
# the symmetric $\mathrm{diag}(v)$:

# %%
inner = lambda a, b: np.sum(a * b)
A, Xm, Ym = rng.normal(size=(4, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
assert np.isclose(inner(Ym, Xm @ A), inner(Ym @ A.T, Xm))          # (R_A)* = R_{A^T}
xv, yv, v = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
assert np.isclose(inner(yv, A @ xv), inner(A.T @ yv, xv))          # <y, A x> = <A^T y, x>
assert np.isclose(inner(yv, v * xv), inner(v * yv, xv))            # v ∘ x is self-adjoint

display(matdiff.derive_jacobian("v ∘ x", wrt="x"))
display(matdiff.derive_jacobian("X A", wrt="X"))
print("adjoint identities hold")

# %% [markdown]
# ## 6 Vector–Jacobian products
#
# $x_1 \xrightarrow{J_1} x_2 \xrightarrow{J_2} x_3 \xrightarrow{g^T} \text{scalar}$: the gradient is
# $(g^T J_2 J_1)^T = J_1^T (J_2^T g)$. Reverse mode multiplies vectors by Jacobians from the end
# (vjp), forward mode multiplies the Jacobians first. Take $x_2 = \tanh(A x_1)$,
# $x_3 = B x_2$, $f = g^T x_3$:

# %%
dims = {"A": ("n2", "n1"), "B": ("n3", "n2"), "x1": ("n1",), "x2": ("n2",), "g": ("n3",)}
J1 = matdiff.derive_jacobian("tanh(A x1)", wrt="x1", shapes=dims)
J2 = matdiff.derive_jacobian("B x2", wrt="x2", shapes=dims)
grad = matdiff.derive_gradient("g^T B tanh(A x1)", wrt="x1", shapes=dims)
for d in (J1, J2, grad):
    display(d)
    assert d.check().ok

# %% [markdown]
# matdiff's gradient is the reverse product, $A^T(\tanh'(Ax_1) \circ B^T g) = J_1^T (J_2^T g)$.
# Numerically, both orders give it:

# %%
n1, n2, n3 = 5, 4, 3
sizes = {"A": (n2, n1), "B": (n3, n2), "x1": (n1,), "x2": (n2,), "g": (n3,)}
v = {k: rng.normal(size=s) for k, s in sizes.items()}
v["x2"] = np.tanh(v["A"] @ v["x1"])
J1n = sympy_value(matdiff.jacobian("tanh(A x1)", wrt="x1", shapes=sizes), v)
J2n = sympy_value(matdiff.jacobian("B x2", wrt="x2", shapes=sizes), v)
reverse = J1n.T @ (J2n.T @ v["g"])             # vjp, from the end
forward = (v["g"] @ (J2n @ J1n))                # Jacobians first
_, grads = matdiff.lambdify("g^T B tanh(A x1)", wrt="x1", shapes=sizes)(A=v["A"], B=v["B"], x1=v["x1"], g=v["g"])
assert np.allclose(reverse, forward) and np.allclose(reverse, grads["x1"])
print("reverse = forward = matdiff's gradient:", grads["x1"].round(4))

# %% [markdown]
# The orders cost differently. For a chain of $k$ layers of width $n$ ending in a scalar, forward
# mode multiplies $n \times n$ matrices ($\approx k n^3$ operations), reverse mode multiplies
# vectors by them ($\approx k n^2$): the reason back-propagation runs backwards.

# %%
widths = np.array([10, 30, 100, 300, 1000, 3000])
k = 10
forward_cost = k * widths ** 3          # J_k ... J_1 (matrix-matrix), then g^T
reverse_cost = k * widths ** 2          # g^T J_k, then ... J_1 (vector-matrix)

fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.loglog(widths, forward_cost, "o-", label="forward: Jacobians first")
ax.loglog(widths, reverse_cost, "s-", label="reverse: vector–Jacobian products")
ax.set_xlabel("layer width $n$")
ax.set_ylabel(f"multiplications ({k} layers)")
ax.legend()
plt.show()
assert np.all(reverse_cost * widths == forward_cost)
