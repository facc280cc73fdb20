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
# # Tutorial 12: Deep Learning — worked with matdiff
#
# This notebook follows the course sheet *Tutorial 12: Deep Learning* in its order and
# notation: the reminder on the trace, the external definition of the gradient and
# elementwise functions, then **Question 1**, the gradient of
#
# $$y = c^T \Psi\big((W + V)\,\Phi(W x + b)\big)$$
#
# with respect to $W$, derived with auxiliary variables, differentials and the trace, as the
# sheet derives it. Every answer is checked numerically in the notebook (`assert`), and
# the sheet's misprinted last line is caught.

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Math, display

import matdiff

rng = np.random.default_rng(0)

# %%
from nbtools import show_sheet     # a solution sheet (LaTeX) shown as Markdown

# %% [markdown]
# ## 1 Reminder
#
# ### Matrix trace
#
# $\mathrm{Tr}(A) = \sum_i A_{ii}$. The trace is linear, invariant under cyclic permutations,
# $\mathrm{Tr}(ABC) = \mathrm{Tr}(CAB) = \mathrm{Tr}(BCA)$, and equal to the sum of the
# eigenvalues. First numerically, with rectangular $A$ (3×4), $B$ (4×5), $C$ (5×3): the three
# products are 3×3, 5×5 and 4×4, and still have one trace.

# %%
A, B, C = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
print(f"Tr(ABC) = {np.trace(A @ B @ C):+.12f}")
print(f"Tr(CAB) = {np.trace(C @ A @ B):+.12f}")
print(f"Tr(BCA) = {np.trace(B @ C @ A):+.12f}")
assert np.isclose(np.trace(A @ B @ C), np.trace(C @ A @ B))
assert np.isclose(np.trace(A @ B @ C), np.trace(B @ C @ A))

S, T = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
assert np.isclose(np.trace(2 * S + 3 * T), 2 * np.trace(S) + 3 * np.trace(T))   # linear
assert np.isclose(np.trace(S), np.linalg.eigvals(S).sum().real)                  # sum of eigenvalues

# %% [markdown]
# The cyclic property is how a gradient is read off, and matdiff uses it the same way. The three
# orders are one function of $A, B, C$, so they have one gradient; with respect to $B$ it is
# $A^T C^T$. `check(..., claim=...)` tests a claimed answer against matdiff's at random inputs.

# %%
shapes = {"A": (3, 4), "B": (4, 5), "C": (5, 3)}
for f in ["tr(A B C)", "tr(C A B)", "tr(B C A)"]:
    display(matdiff.derive_gradient(f, wrt="B", shapes=shapes))
    report = matdiff.check(f, wrt="B", shapes=shapes, claim="A^T C^T")
    assert report.ok
print(report)

# %% [markdown]
# ### External definition of the gradient
#
# If $df = \langle g(x), dx \rangle$, then $g(x)$ is the gradient of $f$. matdiff works exactly so:
# it computes the differential $df$ and reads off what stands beside $dx$. For
# $f(x) = x^T A x$:

# %%
display(Math(r"df = " + matdiff.latex(matdiff.differential("x^T A x", wrt="x"))))
g = matdiff.derive_gradient("x^T A x", wrt="x")
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# $\mathrm{Tr}(dx^T A x + x^T A\,dx) = \langle A x, dx\rangle + \langle A^T x, dx\rangle$, so
# $g = (A + A^T)\,x$. The check compares $\langle g, \Delta\rangle$ with central differences
# of $f$ along random directions $\Delta$ at random inputs.
#
# ### Elementwise functions
#
# $\Phi(x) = [\phi(x_1), \dots, \phi(x_n)]^T$ has a diagonal Jacobian,
# $J_\Phi = \mathrm{diag}(\phi'(x_1), \dots, \phi'(x_n))$. `Phi`, `Psi`, `phi`, `psi` (and
# Φ Ψ φ ψ) are abstract elementwise functions in matdiff, and their derivative is written `Phi'`:

# %%
J = matdiff.derive_jacobian("Phi(x)", wrt="x")
display(J)
report = J.check()
print(report)
assert report.ok

# %% [markdown]
# A diagonal Jacobian times a vector is an elementwise product,
# $\mathrm{diag}(\phi'(x))\,v = \phi'(x) \odot v$; gradients below are written with $\odot$,
# solution sheets (further down) with $\mathrm{diag}$, as the course sheet does.
#
# ## 2 Practice — Question 1
#
# $$y = c^T \Psi((W + V)\Phi(Wx + b)),$$
# where $y \in \mathbb{R}$, $x, b, c \in \mathbb{R}^n$, $W, V \in \mathbb{R}^{n \times n}$ and $\Psi$,
# $\Phi$ are elementwise functions. Compute the gradient of $y$ with respect to $W$.
#
# matdiff reads the sheet's notation as it stands. No shapes are given: upper-case names are
# matrices, lower-case names vectors, and the expression makes them all one size $n$
# (`matdiff parse` shows what it understood):

# %%
q1 = "c^T Psi((W + V) Phi(W x + b))"
display(Math("y = " + matdiff.latex(q1)))
# !matdiff parse '{q1}'

# %% [markdown]
# ### The computational graph
#
# `matdiff.computational_graph` draws the graph the sheet below defines: the inputs (grey) and
# the auxiliary variables as nodes, an edge from each argument labelled with its operation, and
# $W$ highlighted. Each node carries (shown on hover) its definition, its value and its adjoint
# $\partial y / \partial z$ at the numerical check's random inputs, with $\Phi$ and $\Psi$ replaced
# by the check's concrete stand-ins; the adjoints are back-propagated exactly, and the adjoint of
# $W$ is the gradient there. The solution sheet draws the same layout with TikZ.

# %%
cg = matdiff.computational_graph(q1, wrt="W")
display(cg)
print(cg.tooltip(cg.node("z4")))
assert [n.id for n in cg.nodes if n.role != "input"] == ["z0", "z1", "z2", "Z3", "z4", "z5", "y"]
assert np.allclose(cg.adjoints["z5"], cg.inputs["c"])     # y = c^T z5: the adjoint of z5 is c

# %% [markdown]
# ### The solution, step by step
#
# The sheet draws the computational graph and names every node: $z_0 = Wx$, $z_1 = z_0 + b$,
# $z_2 = \Phi(z_1)$, $Z_3 = W + V$, $z_4 = Z_3 z_2$, $z_5 = \Psi(z_4)$, $y = c^T z_5$; it takes
# the differential of each equation, back-substitutes until only $dW$ is left, moves $dW$ to the
# end with the trace, and reads off $g$ from $dy = \mathrm{Tr}(g^T dW)$. `matdiff sheet` writes
# that solution (as LaTeX, for pdflatex; shown here as Markdown), every line produced by the
# rule that was applied:

# %%
display(show_sheet(matdiff.sheet(q1, wrt="W", check=True)))

# %% [markdown]
# ### The gradient
#
# The same answer as a result object: it renders as LaTeX, prints as text (`g.text()`), converts
# to SymPy (`matdiff.gradient`), and checks itself numerically (Φ and Ψ replaced by two different concrete functions).
# matdiff names $z_1 = Wx + b$ and $z_4 = (W+V)\Phi(z_1)$ because the answer uses them twice.

# %%
g = matdiff.derive_gradient(q1, wrt="W")
display(g)
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# The sheet's auxiliary variables can also be typed in as a program; back-propagation then
# runs through the sheet's own steps and names the error signals it passes back (`delta_z4`
# is $\partial y / \partial z_4$):

# %%
q1_graph = '''
z0 = W x
z1 = z0 + b
z2 = Phi(z1)
Z3 = W + V
z4 = Z3 z2
z5 = Psi(z4)
y = c^T z5
'''
g_graph = matdiff.derive_gradient(q1_graph, wrt="W")
display(g_graph)
assert g_graph.check().ok

# %% [markdown]
# ### The sheet's final answer, checked
#
# The sheet's answer in its auxiliary variables,
# $g = \Psi'(z_4)\, c\, z_2^T + \Phi'(z_1)\, Z_3^T\, \Psi'(z_4)\, c\, x^T$
# (with $\Psi'(z_4)$ standing for the Jacobian $\mathrm{diag}(\Psi'(z_4))$), is right. A claim can
# be a program too:

# %%
sheet_line1 = """
z1 = W x + b
z2 = Phi(z1)
Z3 = W + V
z4 = Z3 z2
diag(Psi'(z4)) c z2^T + diag(Phi'(z1)) Z3^T diag(Psi'(z4)) c x^T
"""
report = matdiff.check(q1, wrt="W", claim=sheet_line1)
print(report)
assert report.ok

# %% [markdown]
# Its last line, with everything substituted back, is printed with a misprint: it writes
# $\Psi(Wx + b)$ where $\Phi(Wx + b)$ is meant,
# $$g = \Psi'\big((W + V)\,\Psi(Wx + b)\big)\, c\, \Psi(Wx + b)^T
#     + \Phi'(Wx + b)\,(W + V)^T\, \Psi'\big((W + V)\,\Psi(Wx + b)\big)\, c\, x^T.$$
# `check` rejects it with a counterexample, and accepts the corrected line:

# %%
misprint = ("diag(Psi'((W + V) Psi(W x + b))) c Psi(W x + b)^T"
            " + diag(Phi'(W x + b)) (W + V)^T diag(Psi'((W + V) Psi(W x + b))) c x^T")
corrected = misprint.replace("Psi(W x + b)", "Phi(W x + b)")

wrong = matdiff.check(q1, wrt="W", claim=misprint)
print(wrong)
assert not wrong.ok

right = matdiff.check(q1, wrt="W", claim=corrected)
print()
print(right)
assert right.ok

# %% [markdown]
# The same from the command line: `matdiff check` exits with status 1 on a wrong claim and 0 on
# a right one.

# %%
import subprocess

for claim, status in [(misprint, 1), (corrected, 0)]:
    run = subprocess.run(["matdiff", "check", q1, "--wrt", "W", "--claim", claim],
                         capture_output=True, text=True)
    print(run.stdout.splitlines()[0], f"   (exit status {run.returncode})")
    assert run.returncode == status

# %% [markdown]
# ### What the external definition says, in a picture
#
# $dy = \langle g, dW \rangle$ means $y(W + h\Delta) - y(W) = h\,\langle g, \Delta\rangle + O(h^2)$
# for every direction $\Delta$. Take concrete functions, $\Phi = \tanh$ and $\Psi = \sin$, evaluate
# matdiff's gradient with generated NumPy code (`matdiff.lambdify`), and type the sheet's
# misprinted line into NumPy by hand. The remainder
# $r(h) = y(W + h\Delta) - y(W) - h\langle g, \Delta\rangle$ falls like $h^2$ for the right
# gradient and only like $h$ for the misprint: the misprint is not a gradient at all.

# %%
fn = matdiff.lambdify(q1, wrt="W", functions={"Phi": "tanh", "Psi": "sin"})
n = 4
vals = {"W": rng.normal(size=(n, n)), "V": rng.normal(size=(n, n)),
        "x": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)}
y0, grads = fn(**vals)
G = grads["W"]


def y(W):
    return fn(**{**vals, "W": W})[0]


def g_misprint(W, V, x, b, c):
    z1 = W @ x + b
    s = np.sin(z1)                        # Psi(W x + b): the misprint
    d = np.cos((W + V) @ s) * c           # Psi'((W + V) Psi(W x + b)) c
    return np.outer(d, s) + np.outer((1 - np.tanh(z1) ** 2) * ((W + V).T @ d), x)


D = rng.normal(size=(n, n))
hs = np.logspace(-5, 0, 26)
W = vals["W"]
r_right = [abs(y(W + h * D) - y0 - h * np.sum(G * D)) for h in hs]
r_wrong = [abs(y(W + h * D) - y0 - h * np.sum(g_misprint(**vals) * D)) for h in hs]

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(hs, r_right, "o-", ms=3, label="matdiff's gradient")
ax.loglog(hs, r_wrong, "s-", ms=3, label="the sheet's misprinted line")
ax.loglog(hs, hs ** 2, "k:", lw=1, label="$h^2$")
ax.loglog(hs, hs, "k--", lw=1, label="$h$")
ax.set_xlabel("step $h$")
ax.set_ylabel(r"$|y(W + h\Delta) - y(W) - h\langle g, \Delta\rangle|$")
ax.set_title("First-order remainder")
ax.legend()
plt.show()

slope = lambda r: np.polyfit(np.log(hs[5:20]), np.log(r[5:20]), 1)[0]
print(f"slope: right gradient {slope(r_right):.2f}, misprint {slope(r_wrong):.2f}")
assert abs(slope(r_right) - 2) < 0.2 and abs(slope(r_wrong) - 1) < 0.2

# %% [markdown]
# ### Choosing the step of a finite difference
#
# A numerical check compares $\langle g, \Delta\rangle$ with a difference quotient. The
# quotient's error has two parts: truncation, which falls with $h$ (like $h$ for the forward
# difference $(y(W + h\Delta) - y(W))/h$, like $h^2$ for the central difference
# $(y(W + h\Delta) - y(W - h\Delta))/2h$), and rounding, which grows like $\varepsilon/h$
# ($\varepsilon \approx 2.2 \cdot 10^{-16}$). On a log-log plot the error is a V; its bottom is
# near $h = \sqrt{\varepsilon} \approx 10^{-8}$ for the forward difference and near
# $\varepsilon^{1/3} \approx 10^{-5}$ for the central one, which is why matdiff's check uses
# central differences with steps around $10^{-6}$.

# %%
exact = np.sum(G * D)
hs = np.logspace(-14, -1, 80)
forward = np.array([abs((y(W + h * D) - y0) / h - exact) for h in hs])
central = np.array([abs((y(W + h * D) - y(W - h * D)) / (2 * h) - exact) for h in hs])

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(hs, forward, ".-", label="forward difference")
ax.loglog(hs, central, ".-", label="central difference")
ax.set_xlabel("step $h$")
ax.set_ylabel(r"error against $\langle g, \Delta\rangle$")
ax.set_title("Finite-difference error against the step size")
ax.legend()
plt.show()

best_f, best_c = hs[np.argmin(forward)], hs[np.argmin(central)]
print(f"best step: forward {best_f:.0e} (error {forward.min():.1e}), "
      f"central {best_c:.0e} (error {central.min():.1e})")
assert 1e-10 < best_f < 1e-6 and 1e-8 < best_c < 1e-3 and central.min() < 1e-8
