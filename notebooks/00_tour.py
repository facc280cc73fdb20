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
# # A tour of matdiff
#
# matdiff is a symbolic matrix-calculus calculator. You write a scalar function of matrices and
# vectors the way a course sheet writes it, and get its gradient in closed form — as text, as
# LaTeX, as a SymPy expression, as a step-by-step solution sheet, or as generated NumPy code —
# always with a numerical check beside it. This notebook walks through all of it; the other
# notebooks work five course sheets with it:
#
# | notebook | course sheet |
# |---|---|
# | [01_tutorial12](01_tutorial12.ipynb) | Deep Learning, tutorial 12: trace, external definition of the gradient, Question 1 |
# | [02_exercise_series_4](02_exercise_series_4.ipynb) | Deep Learning, exercise series 4: chain rule, diagonal Hessian, ‖Wx‖², tr(BA) |
# | [03_ai6104_tutorial6](03_ai6104_tutorial6.ipynb) | AI6104 tutorial 6: inverse, linear layer, activations, softmax network |
# | [04_machine_perception](04_machine_perception.ipynb) | Machine Perception: chain rule on graphs, the L-layer tanh MLP |
# | [05_lecture10](05_lecture10.ipynb) | Lecture 10: two-layer network, adjoints, Kronecker forms, vjp |

# %%
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Math, display

import matdiff

rng = np.random.default_rng(0)

# %%
from nbtools import show_sheet

# %% [markdown]
# ## A first gradient
#
# The gradient of $y = c^T\Psi((W + V)\Phi(Wx + b))$ with respect to $W$. `derive_gradient` returns a
# result object that Jupyter shows as LaTeX:

# %%
f = "c^T Psi((W + V) Phi(W x + b))"
g = matdiff.derive_gradient(f, wrt="W")
g

# %% [markdown]
# The same as text, and checked numerically: the abstract $\Phi$ and $\Psi$ are replaced by two
# different concrete functions, and $\langle g, \Delta\rangle$ is compared with central
# differences of $f$ along random directions $\Delta$ at random inputs.

# %%
print(g.text())
report = g.check()
print(report)
assert report.ok

# %% [markdown]
# `matdiff.latex` gives the LaTeX of any result, and `matdiff.gradient` the gradient as a SymPy
# expression, made of SymPy's own classes (`MatrixSymbol`, `MatMul`, `HadamardProduct`,
# `ElementwiseApplyFunction`, ...):

# %%
print(matdiff.latex(g))
G = matdiff.gradient("x^T A x", wrt="x")
print(repr(G), type(G).__name__, G.shape)

# %%
matdiff.gradient(f, wrt="W")

# %% [markdown]
# ## The language
#
# matdiff reads the notation of the sheets: juxtaposition for products, `^T` (or `'`, `ᵀ`) for
# transposes, `inv(A)` or `A^-1`, `∘` or `.*` for elementwise products, `tr`, `det`, `logdet`,
# elementwise functions (`exp log tanh sigmoid σ relu softplus sqrt ...`), abstract ones
# (`Phi Psi phi psi`, derivative `Phi'`), `softmax`, `logsumexp`, norms `||x||`, `||X||_F^2`,
# `sum`, `diag`, `kron` / `⊗`, `vec`, `I`. Different spellings, one meaning:

# %%
for a, b in [("A^T B", "A' B"), ("inv(A) x", "A^{-1} x"), ("x .* y", "x ∘ y"),
             ("||x||^2", "x^T x"), ("log(det(X))", "logdet(X)")]:
    display(Math(matdiff.latex(a) + r"\quad\text{and}\quad " + matdiff.latex(b)))

# %%
examples = [("tr(A X B)", "X"), ("log(det(X))", "X"), ("(a^T X b) / (c^T X d)", "X"),
            ("||X w - y||^2 + 1/2 ||w||^2", "w"), ("-y^T log(softmax(W x))", "W"),
            ("sum(exp(X) ∘ Y)", "X"), ("x^T inv(S) x", "S")]
for e, wrt in examples:
    g = matdiff.derive_gradient(e, wrt=wrt)
    display(Math(r"f = " + matdiff.latex(e)), g)
    assert g.check().ok

# %% [markdown]
# ## Shapes
#
# Shapes may be left out: an upper-case name is a matrix, a lower-case name a vector, and the
# expression's constraints fix the sizes. `matdiff parse` (or `matdiff.understand`) shows what was
# understood, every free dimension named:

# %%
# !matdiff parse '(a^T X b) / (c^T X d)'
# !matdiff parse 'x^T A y'
# !matdiff parse 'alpha ||w||^2 + sum(X w)'

# %% [markdown]
# or they are given (`shapes=` in Python, `--shape` on the command line; `()` is a scalar). An
# expression whose shapes cannot agree is an error naming the sub-expression and both shapes, and
# a typo points at its column:

# %%
print(matdiff.understand("A x", shapes={"A": (3, 4), "x": (4,)}).inputs)
for bad in ["A x + y", "tr(W x"]:
    try:
        matdiff.understand(bad, shapes={"A": (3, 4), "x": (4,), "y": (4,)})
    except matdiff.MatdiffError as e:
        print(f"{type(e).__name__}: {e}\n")

# %% [markdown]
# ## Programs
#
# A program is a few lines `name = expression`; the last line is the function. Back-propagation
# runs through its steps and names the error signals it passes back (`delta_theta` is
# $\partial J/\partial\theta$):

# %%
network = '''
z = W x
h = relu(z)
theta = U h
J = -y^T log(softmax(theta))
'''
g = matdiff.derive_gradient(network, wrt=["U", "W"])
display(g)
assert g.check().ok

# %% [markdown]
# ## Differentials, Jacobians, Hessians
#
# The differential (`dA` is the matrix symbol named `dA`), the Jacobian ($m \times n$ for
# $y \in \mathbb{R}^m$, $x \in \mathbb{R}^n$; with respect to a matrix, in the vec convention), and
# the Hessian — or only its diagonal, back-propagated as Becker and LeCun do:

# %%
display(Math(r"d\,A^{-1} = " + matdiff.latex(matdiff.differential("inv(A)"))))
display(Math(r"d \log\det X = " + matdiff.latex(matdiff.differential("log(det(X))"))))
for d in [matdiff.derive_jacobian("tanh(W x)", wrt="x"),
          matdiff.derive_jacobian("A X B", wrt="X"),
          matdiff.derive_hessian("x^T A x", wrt="x"),
          matdiff.derive_hessian("log(det(X))", wrt="X"),
          matdiff.derive_hessian("1/2 ||W2 tanh(W1 x) - t||^2", wrt="W1", diagonal=True)]:
    display(d)
    assert d.check().ok

# %% [markdown]
# ## Is a claimed answer right?
#
# `check(..., claim=...)` compares a gradient someone wrote down with matdiff's, at random inputs. A
# wrong claim gets a counterexample:

# %%
right = matdiff.check("x^T A x", wrt="x", claim="(A + A^T) x")
wrong = matdiff.check("x^T A x", wrt="x", claim="2 A x")     # only for a symmetric A
print(right, "\n")
print(wrong)
assert right.ok and not wrong.ok

# %% [markdown]
# ## The command line
#
# Everything above is also a command: `matdiff parse`, `grad`, `diff`, `jacobian`, `hessian`,
# `check`, `sheet`. An argument is an expression, a file holding a program, or `-` for standard
# input. A failed check exits with status 1, bad input with 2 and a message (no traceback).

# %%
# !matdiff grad 'c^T Psi((W + V) Phi(W x + b))' --wrt W --check

# %%
# !matdiff diff 'inv(A)'
# !matdiff jacobian 'tanh(W x)' --wrt x
# !matdiff hessian 'x^T A x' --wrt x
# !matdiff check 'x^T A x' --wrt x --claim '2 A x' | head -n 2

# %%
import subprocess

run = subprocess.run(["matdiff", "grad", "W x +", "--wrt", "W"], capture_output=True, text=True)
print(run.stderr, f"(exit status {run.returncode})")
assert run.returncode == 2

# %% [markdown]
# ## Solution sheets
#
# `matdiff sheet` (and `matdiff.sheet`) writes the derivation as a course sheet would: the question,
# auxiliary variables, differentials, back-substitution, the trace steps, the boxed answer, and with
# `--check` the numerical check. It is LaTeX for pdflatex (`--pdf` compiles it); a notebook can show
# it as Markdown:

# %%
display(show_sheet(matdiff.sheet("x^T A x", wrt="x", check=True)))

# %%
import os, tempfile

folder = tempfile.mkdtemp()
# !cd {folder} && matdiff sheet 'c^T Psi((W + V) Phi(W x + b))' --wrt W -o question1.tex
with open(os.path.join(folder, "question1.tex")) as fh:
    tex = fh.read()
print(tex[:400], "...")
assert r"\begin{document}" in tex and r"\boxed{" in tex

# %% [markdown]
# ## Generated code
#
# `matdiff.lambdify` turns a function into NumPy (or JAX, PyTorch) code returning the value and the
# gradients: one forward pass, one backward pass, every shared value computed once, no diagonal or
# Kronecker matrix ever formed. `matdiff grad ... --emit numpy` prints the code.

# %%
fn = matdiff.lambdify(network, wrt=["U", "W"])
print(fn.source)

# %%
# !matdiff grad '1/2 ||X w - y||^2' --wrt w --emit numpy

# %% [markdown]
# Logistic regression on two clouds of points with the generated gradient: labels $y_i = \pm 1$,
# a column of ones in $X$ for the bias, and the loss
# $\ell(w) = \mathrm{sum}(\mathrm{softplus}(-y \circ Xw))$:

# %%
N = 200
labels = np.where(rng.random(N) < 0.5, -1.0, 1.0)
points = rng.normal(size=(N, 2)) + 1.3 * labels[:, None] * np.array([1.0, 0.6])
X = np.column_stack([points, np.ones(N)])
logistic = "sum(softplus(-(y ∘ X w)))"
fn = matdiff.lambdify(logistic, wrt="w")
print(matdiff.derive_gradient(logistic, wrt="w").text())

w, losses = np.zeros(3), []
for step in range(200):
    loss, grads = fn(X=X, y=labels, w=w)
    losses.append(loss)
    w = w - 0.01 * grads["w"]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax1.plot(losses)
ax1.set_xlabel("step")
ax1.set_ylabel("loss")
ax2.scatter(*points[labels > 0].T, s=8, label="$y = +1$")
ax2.scatter(*points[labels < 0].T, s=8, label="$y = -1$")
xs = np.linspace(points[:, 0].min(), points[:, 0].max(), 2)
ax2.plot(xs, -(w[0] * xs + w[2]) / w[1], "k-", label="decision boundary")
ax2.set_ylim(points[:, 1].min(), points[:, 1].max())
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()
accuracy = np.mean(np.sign(X @ w) == labels)
print(f"training accuracy {accuracy:.2f}")
assert losses[-1] < 0.5 * losses[0] and accuracy > 0.85
