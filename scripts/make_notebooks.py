"""Write notebooks/*.ipynb from the cells below, execute them, and store their outputs.

    python scripts/make_notebooks.py                  # write and execute every notebook
    python scripts/make_notebooks.py 01_tutorial12    # only the notebooks named (file name without .ipynb)
    python scripts/make_notebooks.py --no-execute     # write the cells only (outputs empty)

Each notebook is a list of cells: md("...") for Markdown, code("...") for Python. Edit them
here, not in Jupyter, and run this script: the stored outputs are what GitHub shows, and
tests/test_notebooks.py executes every notebook again in a fresh kernel.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def md(text: str):
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str):
    return new_code_cell(textwrap.dedent(text).strip("\n"))


SETUP = code("""
    import numpy as np
    import matplotlib.pyplot as plt
    from IPython.display import Math, display

    import matdiff

    rng = np.random.default_rng(0)
""")

# ---- the notebooks ------------------------------------------------------------------------------------

def tour():
    return [
        md(r"""
            # A tour of matdiff

            matdiff is a symbolic matrix-calculus calculator. You write a scalar function of matrices and
            vectors the way a course sheet writes it, and get its gradient in closed form — as text, as
            LaTeX, as a SymPy expression, as a step-by-step solution sheet, or as generated NumPy code —
            always with a numerical check beside it. This notebook walks through all of it; the other
            notebooks work five course sheets with it:

            | notebook | course sheet |
            |---|---|
            | [01_tutorial12](01_tutorial12.ipynb) | Deep Learning, tutorial 12: trace, external definition of the gradient, Question 1 |
            | [02_exercise_series_4](02_exercise_series_4.ipynb) | Deep Learning, exercise series 4: chain rule, diagonal Hessian, ‖Wx‖², tr(BA) |
            | [03_ai6104_tutorial6](03_ai6104_tutorial6.ipynb) | AI6104 tutorial 6: inverse, linear layer, activations, softmax network |
            | [04_machine_perception](04_machine_perception.ipynb) | Machine Perception: chain rule on graphs, the L-layer tanh MLP |
            | [05_lecture10](05_lecture10.ipynb) | Lecture 10: two-layer network, adjoints, Kronecker forms, vjp |
        """),
        SETUP,
        code("""
            from nbtools import show_sheet
        """),
        md(r"""
            ## A first gradient

            The gradient of $y = c^T\Psi((W + V)\Phi(Wx + b))$ with respect to $W$. `derive_gradient` returns a
            result object that Jupyter shows as LaTeX:
        """),
        code("""
            f = "c^T Psi((W + V) Phi(W x + b))"
            g = matdiff.derive_gradient(f, wrt="W")
            g
        """),
        md(r"""
            The same as text, and checked numerically: the abstract $\Phi$ and $\Psi$ are replaced by two
            different concrete functions, and $\langle g, \Delta\rangle$ is compared with central
            differences of $f$ along random directions $\Delta$ at random inputs.
        """),
        code("""
            print(g.text())
            report = g.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            `matdiff.latex` gives the LaTeX of any result, and `matdiff.gradient` the gradient as a SymPy
            expression, made of SymPy's own classes (`MatrixSymbol`, `MatMul`, `HadamardProduct`,
            `ElementwiseApplyFunction`, ...):
        """),
        code("""
            print(matdiff.latex(g))
            G = matdiff.gradient("x^T A x", wrt="x")
            print(repr(G), type(G).__name__, G.shape)
        """),
        code("""
            matdiff.gradient(f, wrt="W")
        """),
        md(r"""
            ## The language

            matdiff reads the notation of the sheets: juxtaposition for products, `^T` (or `'`, `ᵀ`) for
            transposes, `inv(A)` or `A^-1`, `∘` or `.*` for elementwise products, `tr`, `det`, `logdet`,
            elementwise functions (`exp log tanh sigmoid σ relu softplus sqrt ...`), abstract ones
            (`Phi Psi phi psi`, derivative `Phi'`), `softmax`, `logsumexp`, norms `||x||`, `||X||_F^2`,
            `sum`, `diag`, `kron` / `⊗`, `vec`, `I`. Different spellings, one meaning:
        """),
        code("""
            for a, b in [("A^T B", "A' B"), ("inv(A) x", "A^{-1} x"), ("x .* y", "x ∘ y"),
                         ("||x||^2", "x^T x"), ("log(det(X))", "logdet(X)")]:
                display(Math(matdiff.latex(a) + r"\\quad\\text{and}\\quad " + matdiff.latex(b)))
        """),
        code("""
            examples = [("tr(A X B)", "X"), ("log(det(X))", "X"), ("(a^T X b) / (c^T X d)", "X"),
                        ("||X w - y||^2 + 1/2 ||w||^2", "w"), ("-y^T log(softmax(W x))", "W"),
                        ("sum(exp(X) ∘ Y)", "X"), ("x^T inv(S) x", "S")]
            for e, wrt in examples:
                g = matdiff.derive_gradient(e, wrt=wrt)
                display(Math(r"f = " + matdiff.latex(e)), g)
                assert g.check().ok
        """),
        md(r"""
            ## Shapes

            Shapes may be left out: an upper-case name is a matrix, a lower-case name a vector, and the
            expression's constraints fix the sizes. `matdiff parse` (or `matdiff.understand`) shows what was
            understood, every free dimension named:
        """),
        code("""
            !matdiff parse '(a^T X b) / (c^T X d)'
            !matdiff parse 'x^T A y'
            !matdiff parse 'alpha ||w||^2 + sum(X w)'
        """),
        md(r"""
            or they are given (`shapes=` in Python, `--shape` on the command line; `()` is a scalar). An
            expression whose shapes cannot agree is an error naming the sub-expression and both shapes, and
            a typo points at its column:
        """),
        code("""
            print(matdiff.understand("A x", shapes={"A": (3, 4), "x": (4,)}).inputs)
            for bad in ["A x + y", "tr(W x"]:
                try:
                    matdiff.understand(bad, shapes={"A": (3, 4), "x": (4,), "y": (4,)})
                except matdiff.MatdiffError as e:
                    print(f"{type(e).__name__}: {e}\\n")
        """),
        md(r"""
            ## Programs

            A program is a few lines `name = expression`; the last line is the function. Back-propagation
            runs through its steps and names the error signals it passes back (`delta_theta` is
            $\partial J/\partial\theta$):
        """),
        code("""
            network = '''
            z = W x
            h = relu(z)
            theta = U h
            J = -y^T log(softmax(theta))
            '''
            g = matdiff.derive_gradient(network, wrt=["U", "W"])
            display(g)
            assert g.check().ok
        """),
        md(r"""
            ## Differentials, Jacobians, Hessians

            The differential (`dA` is the matrix symbol named `dA`), the Jacobian ($m \times n$ for
            $y \in \mathbb{R}^m$, $x \in \mathbb{R}^n$; with respect to a matrix, in the vec convention), and
            the Hessian — or only its diagonal, back-propagated as Becker and LeCun do:
        """),
        code("""
            display(Math(r"d\\,A^{-1} = " + matdiff.latex(matdiff.differential("inv(A)"))))
            display(Math(r"d \\log\\det X = " + matdiff.latex(matdiff.differential("log(det(X))"))))
            for d in [matdiff.derive_jacobian("tanh(W x)", wrt="x"),
                      matdiff.derive_jacobian("A X B", wrt="X"),
                      matdiff.derive_hessian("x^T A x", wrt="x"),
                      matdiff.derive_hessian("log(det(X))", wrt="X"),
                      matdiff.derive_hessian("1/2 ||W2 tanh(W1 x) - t||^2", wrt="W1", diagonal=True)]:
                display(d)
                assert d.check().ok
        """),
        md(r"""
            ## Is a claimed answer right?

            `check(..., claim=...)` compares a gradient someone wrote down with matdiff's, at random inputs. A
            wrong claim gets a counterexample:
        """),
        code("""
            right = matdiff.check("x^T A x", wrt="x", claim="(A + A^T) x")
            wrong = matdiff.check("x^T A x", wrt="x", claim="2 A x")     # only for a symmetric A
            print(right, "\\n")
            print(wrong)
            assert right.ok and not wrong.ok
        """),
        md(r"""
            ## The command line

            Everything above is also a command: `matdiff parse`, `grad`, `diff`, `jacobian`, `hessian`,
            `check`, `sheet`. An argument is an expression, a file holding a program, or `-` for standard
            input. A failed check exits with status 1, bad input with 2 and a message (no traceback).
        """),
        code("""
            !matdiff grad 'c^T Psi((W + V) Phi(W x + b))' --wrt W --check
        """),
        code("""
            !matdiff diff 'inv(A)'
            !matdiff jacobian 'tanh(W x)' --wrt x
            !matdiff hessian 'x^T A x' --wrt x
            !matdiff check 'x^T A x' --wrt x --claim '2 A x' | head -n 2
        """),
        code("""
            import subprocess

            run = subprocess.run(["matdiff", "grad", "W x +", "--wrt", "W"], capture_output=True, text=True)
            print(run.stderr, f"(exit status {run.returncode})")
            assert run.returncode == 2
        """),
        md(r"""
            ## Solution sheets

            `matdiff sheet` (and `matdiff.sheet`) writes the derivation as a course sheet would: the question,
            auxiliary variables, differentials, back-substitution, the trace steps, the boxed answer, and with
            `--check` the numerical check. It is LaTeX for pdflatex (`--pdf` compiles it); a notebook can show
            it as Markdown:
        """),
        code("""
            display(show_sheet(matdiff.sheet("x^T A x", wrt="x", check=True)))
        """),
        code("""
            import os, tempfile

            folder = tempfile.mkdtemp()
            !cd {folder} && matdiff sheet 'c^T Psi((W + V) Phi(W x + b))' --wrt W -o question1.tex
            with open(os.path.join(folder, "question1.tex")) as fh:
                tex = fh.read()
            print(tex[:400], "...")
            assert r"\\begin{document}" in tex and r"\\boxed{" in tex
        """),
        md(r"""
            ## Generated code

            `matdiff.lambdify` turns a function into NumPy (or JAX, PyTorch) code returning the value and the
            gradients: one forward pass, one backward pass, every shared value computed once, no diagonal or
            Kronecker matrix ever formed. `matdiff grad ... --emit numpy` prints the code.
        """),
        code("""
            fn = matdiff.lambdify(network, wrt=["U", "W"])
            print(fn.source)
        """),
        code("""
            !matdiff grad '1/2 ||X w - y||^2' --wrt w --emit numpy
        """),
        md(r"""
            Logistic regression on two clouds of points with the generated gradient: labels $y_i = \pm 1$,
            a column of ones in $X$ for the bias, and the loss
            $\ell(w) = \mathrm{sum}(\mathrm{softplus}(-y \circ Xw))$:
        """),
        code("""
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
        """),
    ]


def tutorial12():
    return [
        md(r"""
            # Tutorial 12: Deep Learning — worked with matdiff

            This notebook follows the course sheet *Tutorial 12: Deep Learning* in its order and
            notation: the reminder on the trace, the external definition of the gradient and
            elementwise functions, then **Question 1**, the gradient of

            $$y = c^T \Psi\big((W + V)\,\Phi(W x + b)\big)$$

            with respect to $W$, derived with auxiliary variables, differentials and the trace, as the
            sheet derives it. Every answer is checked numerically in the notebook (`assert`), and
            the sheet's misprinted last line is caught.
        """),
        SETUP,
        code("""
            from nbtools import show_sheet     # a solution sheet (LaTeX) shown as Markdown
        """),
        md(r"""
            ## 1 Reminder

            ### Matrix trace

            $\mathrm{Tr}(A) = \sum_i A_{ii}$. The trace is linear, invariant under cyclic permutations,
            $\mathrm{Tr}(ABC) = \mathrm{Tr}(CAB) = \mathrm{Tr}(BCA)$, and equal to the sum of the
            eigenvalues. First numerically, with rectangular $A$ (3×4), $B$ (4×5), $C$ (5×3): the three
            products are 3×3, 5×5 and 4×4, and still have one trace.
        """),
        code("""
            A, B, C = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
            print(f"Tr(ABC) = {np.trace(A @ B @ C):+.12f}")
            print(f"Tr(CAB) = {np.trace(C @ A @ B):+.12f}")
            print(f"Tr(BCA) = {np.trace(B @ C @ A):+.12f}")
            assert np.isclose(np.trace(A @ B @ C), np.trace(C @ A @ B))
            assert np.isclose(np.trace(A @ B @ C), np.trace(B @ C @ A))

            S, T = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
            assert np.isclose(np.trace(2 * S + 3 * T), 2 * np.trace(S) + 3 * np.trace(T))   # linear
            assert np.isclose(np.trace(S), np.linalg.eigvals(S).sum().real)                  # sum of eigenvalues
        """),
        md(r"""
            The cyclic property is how a gradient is read off, and matdiff uses it the same way. The three
            orders are one function of $A, B, C$, so they have one gradient; with respect to $B$ it is
            $A^T C^T$. `check(..., claim=...)` tests a claimed answer against matdiff's at random inputs.
        """),
        code("""
            shapes = {"A": (3, 4), "B": (4, 5), "C": (5, 3)}
            for f in ["tr(A B C)", "tr(C A B)", "tr(B C A)"]:
                display(matdiff.derive_gradient(f, wrt="B", shapes=shapes))
                report = matdiff.check(f, wrt="B", shapes=shapes, claim="A^T C^T")
                assert report.ok
            print(report)
        """),
        md(r"""
            ### External definition of the gradient

            If $df = \langle g(x), dx \rangle$, then $g(x)$ is the gradient of $f$. matdiff works exactly so:
            it computes the differential $df$ and reads off what stands beside $dx$. For
            $f(x) = x^T A x$:
        """),
        code("""
            display(Math(r"df = " + matdiff.latex(matdiff.differential("x^T A x", wrt="x"))))
            g = matdiff.derive_gradient("x^T A x", wrt="x")
            display(g)
            report = g.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            $\mathrm{Tr}(dx^T A x + x^T A\,dx) = \langle A x, dx\rangle + \langle A^T x, dx\rangle$, so
            $g = (A + A^T)\,x$. The check compares $\langle g, \Delta\rangle$ with central differences
            of $f$ along random directions $\Delta$ at random inputs.

            ### Elementwise functions

            $\Phi(x) = [\phi(x_1), \dots, \phi(x_n)]^T$ has a diagonal Jacobian,
            $J_\Phi = \mathrm{diag}(\phi'(x_1), \dots, \phi'(x_n))$. `Phi`, `Psi`, `phi`, `psi` (and
            Φ Ψ φ ψ) are abstract elementwise functions in matdiff, and their derivative is written `Phi'`:
        """),
        code("""
            J = matdiff.derive_jacobian("Phi(x)", wrt="x")
            display(J)
            report = J.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            A diagonal Jacobian times a vector is an elementwise product,
            $\mathrm{diag}(\phi'(x))\,v = \phi'(x) \odot v$; gradients below are written with $\odot$,
            solution sheets (further down) with $\mathrm{diag}$, as the course sheet does.

            ## 2 Practice — Question 1

            $$y = c^T \Psi((W + V)\Phi(Wx + b)),$$
            where $y \in \mathbb{R}$, $x, b, c \in \mathbb{R}^n$, $W, V \in \mathbb{R}^{n \times n}$ and $\Psi$,
            $\Phi$ are elementwise functions. Compute the gradient of $y$ with respect to $W$.

            matdiff reads the sheet's notation as it stands. No shapes are given: upper-case names are
            matrices, lower-case names vectors, and the expression makes them all one size $n$
            (`matdiff parse` shows what it understood):
        """),
        code("""
            q1 = "c^T Psi((W + V) Phi(W x + b))"
            display(Math("y = " + matdiff.latex(q1)))
            !matdiff parse '{q1}'
        """),
        md(r"""
            ### The solution, step by step

            The sheet draws the computational graph and names every node: $z_0 = Wx$, $z_1 = z_0 + b$,
            $z_2 = \Phi(z_1)$, $Z_3 = W + V$, $z_4 = Z_3 z_2$, $z_5 = \Psi(z_4)$, $y = c^T z_5$; it takes
            the differential of each equation, back-substitutes until only $dW$ is left, moves $dW$ to the
            end with the trace, and reads off $g$ from $dy = \mathrm{Tr}(g^T dW)$. `matdiff sheet` writes
            that solution (as LaTeX, for pdflatex; shown here as Markdown), every line produced by the
            rule that was applied:
        """),
        code("""
            display(show_sheet(matdiff.sheet(q1, wrt="W", check=True)))
        """),
        md(r"""
            ### The gradient

            The same answer as a result object: it renders as LaTeX, prints as text (`g.text()`), converts
            to SymPy (`matdiff.gradient`), and checks itself numerically (Φ and Ψ replaced by two different concrete functions).
            matdiff names $z_1 = Wx + b$ and $z_4 = (W+V)\Phi(z_1)$ because the answer uses them twice.
        """),
        code("""
            g = matdiff.derive_gradient(q1, wrt="W")
            display(g)
            report = g.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            The sheet's auxiliary variables can also be typed in as a program; back-propagation then
            runs through the sheet's own steps and names the error signals it passes back (`delta_z4`
            is $\partial y / \partial z_4$):
        """),
        code("""
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
        """),
        md(r"""
            ### The sheet's final answer, checked

            The sheet's answer in its auxiliary variables,
            $g = \Psi'(z_4)\, c\, z_2^T + \Phi'(z_1)\, Z_3^T\, \Psi'(z_4)\, c\, x^T$
            (with $\Psi'(z_4)$ standing for the Jacobian $\mathrm{diag}(\Psi'(z_4))$), is right. A claim can
            be a program too:
        """),
        code('''
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
        '''),
        md(r"""
            Its last line, with everything substituted back, is printed with a misprint: it writes
            $\Psi(Wx + b)$ where $\Phi(Wx + b)$ is meant,
            $$g = \Psi'\big((W + V)\,\Psi(Wx + b)\big)\, c\, \Psi(Wx + b)^T
                + \Phi'(Wx + b)\,(W + V)^T\, \Psi'\big((W + V)\,\Psi(Wx + b)\big)\, c\, x^T.$$
            `check` rejects it with a counterexample, and accepts the corrected line:
        """),
        code("""
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
        """),
        md(r"""
            The same from the command line: `matdiff check` exits with status 1 on a wrong claim and 0 on
            a right one.
        """),
        code("""
            import subprocess

            for claim, status in [(misprint, 1), (corrected, 0)]:
                run = subprocess.run(["matdiff", "check", q1, "--wrt", "W", "--claim", claim],
                                     capture_output=True, text=True)
                print(run.stdout.splitlines()[0], f"   (exit status {run.returncode})")
                assert run.returncode == status
        """),
        md(r"""
            ### What the external definition says, in a picture

            $dy = \langle g, dW \rangle$ means $y(W + h\Delta) - y(W) = h\,\langle g, \Delta\rangle + O(h^2)$
            for every direction $\Delta$. Take concrete functions, $\Phi = \tanh$ and $\Psi = \sin$, evaluate
            matdiff's gradient with generated NumPy code (`matdiff.lambdify`), and type the sheet's
            misprinted line into NumPy by hand. The remainder
            $r(h) = y(W + h\Delta) - y(W) - h\langle g, \Delta\rangle$ falls like $h^2$ for the right
            gradient and only like $h$ for the misprint: the misprint is not a gradient at all.
        """),
        code("""
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
            ax.set_ylabel(r"$|y(W + h\\Delta) - y(W) - h\\langle g, \\Delta\\rangle|$")
            ax.set_title("First-order remainder")
            ax.legend()
            plt.show()

            slope = lambda r: np.polyfit(np.log(hs[5:20]), np.log(r[5:20]), 1)[0]
            print(f"slope: right gradient {slope(r_right):.2f}, misprint {slope(r_wrong):.2f}")
            assert abs(slope(r_right) - 2) < 0.2 and abs(slope(r_wrong) - 1) < 0.2
        """),
        md(r"""
            ### Choosing the step of a finite difference

            A numerical check compares $\langle g, \Delta\rangle$ with a difference quotient. The
            quotient's error has two parts: truncation, which falls with $h$ (like $h$ for the forward
            difference $(y(W + h\Delta) - y(W))/h$, like $h^2$ for the central difference
            $(y(W + h\Delta) - y(W - h\Delta))/2h$), and rounding, which grows like $\varepsilon/h$
            ($\varepsilon \approx 2.2 \cdot 10^{-16}$). On a log-log plot the error is a V; its bottom is
            near $h = \sqrt{\varepsilon} \approx 10^{-8}$ for the forward difference and near
            $\varepsilon^{1/3} \approx 10^{-5}$ for the central one, which is why matdiff's check uses
            central differences with steps around $10^{-6}$.
        """),
        code("""
            exact = np.sum(G * D)
            hs = np.logspace(-14, -1, 80)
            forward = np.array([abs((y(W + h * D) - y0) / h - exact) for h in hs])
            central = np.array([abs((y(W + h * D) - y(W - h * D)) / (2 * h) - exact) for h in hs])

            fig, ax = plt.subplots(figsize=(6, 4))
            ax.loglog(hs, forward, ".-", label="forward difference")
            ax.loglog(hs, central, ".-", label="central difference")
            ax.set_xlabel("step $h$")
            ax.set_ylabel(r"error against $\\langle g, \\Delta\\rangle$")
            ax.set_title("Finite-difference error against the step size")
            ax.legend()
            plt.show()

            best_f, best_c = hs[np.argmin(forward)], hs[np.argmin(central)]
            print(f"best step: forward {best_f:.0e} (error {forward.min():.1e}), "
                  f"central {best_c:.0e} (error {central.min():.1e})")
            assert 1e-10 < best_f < 1e-6 and 1e-8 < best_c < 1e-3 and central.min() < 1e-8
        """),
    ]


def series4():
    return [
        md(r"""
            # Deep Learning, exercise series 4 — worked with matdiff

            The solutions of *Exercise series 4* (Deep Learning), in their order and notation:

            1. back-propagation on a small computational graph (the chain rule);
            2. the diagonal approximation of the Hessian of a feed-forward network;
            3. the chain rule with Jacobians of more than two dimensions: $\|Wx\|^2$ and $\mathrm{tr}(BA)$.

            Every answer is checked numerically in the notebook.
        """),
        SETUP,
        code("""
            import sympy as sp
            from nbtools import show_sheet, sympy_value      # a solution sheet as Markdown; a SymPy result at numbers
        """),
        md(r"""
            ## Solution 1 (Back-propagation and computational graphs)

            **a)** On a chain $h_1 \to h_2 \to h_3 \to l$ the chain rule multiplies the local derivatives,
            $\frac{\partial l}{\partial h_1} = \frac{\partial l}{\partial h_3}\frac{\partial h_3}{\partial h_2}
            \frac{\partial h_2}{\partial h_1}$. With abstract scalar functions matdiff shows exactly that
            product, passing the error signal $\partial l/\partial h_2$ (`delta_h2`) back:
        """),
        code("""
            chain = '''
            h2 = phi(h1)
            h3 = psi(h2)
            l = f(h3)
            '''
            g = matdiff.derive_gradient(chain, wrt="h1", shapes={"h1": ()}, functions=["f"])
            display(g)
            assert g.check().ok
        """),
        md(r"""
            **b)** The graph of part b) (its figure is missing from the sheet; the functions follow from the
            partial derivatives the solution lists: $\partial l/\partial h_2 = h_3 = 2x + y$,
            $\partial l/\partial h_3 = h_2 = 8x^2$, $\partial h_2/\partial h_1 = 4h_1$,
            $\partial h_3/\partial h_1 = 1$, $\partial h_1/\partial x = 2$) is
            $h_1 = 2x$, $h_2 = 2h_1^2$, $h_3 = h_1 + y$, $l = h_2 h_3$. Then
            $$\frac{\partial l}{\partial x} = \Big(\frac{\partial l}{\partial h_2}\frac{\partial h_2}{\partial h_1}
            + \frac{\partial l}{\partial h_3}\frac{\partial h_3}{\partial h_1}\Big)\frac{\partial h_1}{\partial x}
            = 48x^2 + 16xy.$$
            matdiff's `delta_h1` is the bracket, $h_3 \cdot 4h_1 + h_2 \cdot 1$:
        """),
        code("""
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
            display(Math(r"\\frac{\\partial l}{\\partial x} = " + sp.latex(dl_dx) + " = " + sp.latex(sp.expand(dl_dx))))
            assert sp.expand(dl_dx - (48 * x**2 + 16 * x * y)) == 0
        """),
        md(r"""
            A picture of $l(x) = 8x^2(2x + y)$ and its derivative for $y = 1$: the derivative vanishes at
            $x = 0$ and $x = -y/3$, where $l$ has its extrema.
        """),
        code("""
            l_of = sp.lambdify((x, y), 8 * x**2 * (2 * x + y))
            dl_of = sp.lambdify((x, y), dl_dx)
            xs = np.linspace(-0.8, 0.4, 200)

            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.plot(xs, l_of(xs, 1.0), label="$l(x)$, $y = 1$")
            ax.plot(xs, dl_of(xs, 1.0), label=r"$\\partial l / \\partial x$ (matdiff)")
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
        """),
        md(r"""
            ## Solution 2 (Approximate Hessian for feed-forward networks)

            In a feed-forward network $a_j = \sum_i w_{ji} z_i$ and $z_j = h(a_j)$. The sheet shows
            **(1)** $\frac{\partial^2 L_n}{\partial w_{ji}^2} = \frac{\partial^2 L_n}{\partial a_j^2}\, z_i^2$ (eq. 5) and,
            neglecting the off-diagonal second derivatives, **(3)** the backward recursion
            $$\frac{\partial^2 L_n}{\partial a_j^2} = h'(a_j)^2 \sum_k w_{kj}^2 \frac{\partial^2 L_n}{\partial a_k^2}
            + h''(a_j) \sum_k w_{kj} \frac{\partial L_n}{\partial a_k} \qquad (10)$$
            — Becker and LeCun's diagonal approximation, $O(W)$ work instead of $O(W^2)$.
            `matdiff.hessian(f, wrt, diagonal=True)` back-propagates exactly this, in matrix form.

            Take a network with one hidden layer, $h = \tanh$ and the squared loss:
            $L = \frac12 \|W_2 \tanh(W_1 x) - t\|^2$.
        """),
        code("""
            net = "1/2 ||W2 tanh(W1 x) - t||^2"
            diag_W2 = matdiff.derive_hessian(net, wrt="W2", diagonal=True)
            display(diag_W2)
            print(diag_W2.text().splitlines()[-1])
            assert diag_W2.check().ok
        """),
        md(r"""
            For the output weights $W_2$, $\partial^2 L/\partial a_k^2 = 1$ (squared loss, linear output), so
            eq. (5) gives $\partial^2 L / \partial (W_2)_{ki}^2 = z_i^2$: the matrix $\mathbf{1}\,(z^{\circ 2})^T$
            with $z = \tanh(W_1 x)$, as above. For the first layer eq. (10) gives, with
            $\sum_k w_{kj}^2 \cdot 1 = ((W_2^{\circ 2})^T \mathbf{1})_j$ and
            $\sum_k w_{kj}\,\partial L/\partial a_k = (W_2^T (W_2 z - t))_j$, and $z_i = x_i$:
        """),
        code("""
            diag_W1 = matdiff.derive_hessian(net, wrt="W1", diagonal=True)
            display(diag_W1)
            print(diag_W1.text().splitlines()[-1])
            report = diag_W1.check()
            print(report)
            assert report.ok and diag_W1.exact
        """),
        md(r"""
            Here the approximation is exact: with one hidden layer and a linear output, the neglected
            terms $\partial^2 L/\partial a_k \partial a_{k'}$ ($k \ne k'$) of the output layer are zero.
            With two hidden layers they are not, and matdiff says so (`exact` is `False`). Compare the
            approximation with the exact diagonal, taken from the full Hessian that `matdiff.lambdify(...,
            hessian=True)` evaluates, and with the sheet's recursion (10) typed into NumPy:
        """),
        code("""
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
            ax.set_xlabel(r"exact $\\partial^2 L / \\partial (W_1)_{ji}^2$")
            ax.set_ylabel("Becker–LeCun approximation")
            ax.set_title("Diagonal of the Hessian, two hidden layers")
            plt.show()
        """),
        md(r"""
            The points lie near the diagonal but not on it: the approximation is good where the neglected
            cross terms are small. For the one-hidden-layer network it matches exactly:
        """),
        code("""
            shapes1 = {"W1": (6, 4), "W2": (3, 6), "x": (4,), "t": (3,)}
            vals1 = {k: rng.normal(size=s) for k, s in shapes1.items()}
            D1 = sympy_value(matdiff.hessian(net, wrt="W1", shapes=shapes1, diagonal=True), vals1)
            _, _, H1 = matdiff.lambdify(net, wrt="W1", shapes=shapes1, hessian=True)(**vals1)
            assert np.allclose(D1, np.diag(H1["W1"]).reshape(shapes1["W1"], order="F"))
            print("one hidden layer: the diagonal approximation equals the exact diagonal")
        """),
        md(r"""
            ## Solution 3 (Chain rule and Jacobians in more than 2 dimensions)

            **1.** $\frac{\partial L}{\partial W_{jk}} = \sum_i \frac{\partial L}{\partial y_i}\frac{\partial y_i}{\partial W_{jk}}$.

            **2.** $L = \|y\|^2$ with $y = Wx$: $\frac{\partial L}{\partial W} = 2 y x^T$.
        """),
        code("""
            display(matdiff.derive_gradient("||W x||^2", wrt="W"))
            g = matdiff.derive_gradient("y = W x\\nL = y^T y", wrt="W")
            display(g)
            assert g.check().ok
            report = matdiff.check("||W x||^2", wrt="W", claim="2 W x x^T")
            print(report)
            assert report.ok
        """),
        md(r"""
            Without tensors: the differential $dL = 2y^T dy = 2y^T dW\,x = \mathrm{tr}(2 x y^T dW)$ gives the
            gradient $2yx^T$ in three lines, the way a solution sheet writes it:
        """),
        code("""
            display(show_sheet(matdiff.sheet("y = W x\\nL = y^T y", wrt="W", shapes={"W": ("d1", "d2"), "x": ("d2",)})))
        """),
        md(r"""
            The sheet builds $\frac{\partial y}{\partial W}$ as a three-index tensor
            $T \in \mathbb{R}^{d_1 \times d_1 \times d_2}$, $T_{i,j,k} = \mathbb{1}_{i=j}\, x_k$, and contracts
            $\frac{\partial L}{\partial y} = 2y$ with its first index. matdiff's Jacobian with respect to a
            matrix uses $\mathrm{vec}$ (columns stacked) and is the Kronecker product $x^T \otimes I$, a
            $d_1 \times d_1 d_2$ matrix; folding its columns back into $(j, k)$ gives the sheet's tensor.
        """),
        code("""
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
        """),
        md(r"""
            **4.** $\frac{\partial}{\partial A}\mathrm{tr}(BA) = \frac{\partial\, \mathrm{tr}(BA)}{\partial BA}
            \times_{i_1, i_2} \frac{\partial BA}{\partial A} = B^T$. In vec form the two Jacobians are
            $\mathrm{vec}(I)^T$ and $I \otimes B$, and their product is $\mathrm{vec}(B^T)^T$:
        """),
        code("""
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
        """),
    ]


def ai6104():
    return [
        md(r"""
            # AI6104 Mathematics for AI, tutorial 6: matrix calculus — worked with matdiff

            The four problems of the tutorial, in its order and notation:

            1. the derivative of the inverse, $\frac{\partial A^{-1}}{\partial \alpha} = -A^{-1}\frac{\partial A}{\partial \alpha}A^{-1}$;
            2. back-propagation through a linear layer $Y = XW$, and why nobody forms its Jacobian;
            3. the derivatives of ReLU, sigmoid and tanh;
            4. a network with one hidden layer, softmax and cross-entropy: $\partial J/\partial U$,
               $\partial J/\partial W$, $\partial J/\partial x$.

            Every answer is checked numerically in the notebook.
        """),
        SETUP,
        code("""
            import sympy as sp
            from nbtools import show_sheet, sympy_value
        """),
        md(r"""
            ## Problem 1

            Let $A$ be an invertible $m \times m$ matrix whose entries are functions of a scalar $\alpha$. Prove
            $\frac{\partial A^{-1}}{\partial \alpha} = -A^{-1}\frac{\partial A}{\partial \alpha}A^{-1}$.

            The differential says it at once: $d(A^{-1}) = -A^{-1}\,dA\,A^{-1}$, and dividing by $d\alpha$ gives
            the claim. The sheet's proof differentiates $A^{-1}A = I$: $d(A^{-1})\,A + A^{-1}\,dA = 0$.
        """),
        code("""
            dinv = matdiff.differential("inv(A)")
            display(Math(r"d(A^{-1}) = " + matdiff.latex(dinv)))
            !matdiff diff 'inv(A)'
        """),
        md(r"""
            Numerically: take $A(\alpha) = A_0 + \alpha A_1$, so $\partial A/\partial\alpha = A_1$, and compare
            $-A^{-1} A_1 A^{-1}$ with central differences of $\alpha \mapsto A(\alpha)^{-1}$ for a range of steps.
            The error is the V of every finite difference: truncation ($\propto h^2$) on the right,
            rounding ($\propto \varepsilon / h$) on the left.
        """),
        code("""
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
            ax.set_ylabel(r"$\\max |$central difference $+ A^{-1} A_1 A^{-1}|$")
            ax.set_title(r"$\\partial A^{-1} / \\partial \\alpha$: finite-difference error")
            plt.show()

            print(f"smallest error {min(errors):.1e} at h = {hs[np.argmin(errors)]:.0e}")
            assert min(errors) < 1e-9
        """),
        md(r"""
            In the vec convention the same derivative is a Jacobian, $-(A^{-T} \otimes A^{-1})$, an
            $m^2 \times m^2$ matrix:
        """),
        code("""
            J = matdiff.derive_jacobian("inv(A)", wrt="A")
            display(J)
            report = J.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            ## Problem 2

            A linear layer $Y = f(X, W) = XW$ with $X \in \mathbb{R}^{N \times D}$ (N samples of dimension D),
            $W \in \mathbb{R}^{D \times M}$ and $Y \in \mathbb{R}^{N \times M}$, inside a network with a
            scalar loss $L$.

            **(a)** $\frac{\partial L}{\partial X} = \frac{\partial L}{\partial Y}\frac{\partial Y}{\partial X}$
            and $\frac{\partial L}{\partial W} = \frac{\partial L}{\partial Y}\frac{\partial Y}{\partial W}$.
            With $G = \partial L/\partial Y$ the upstream gradient, the rest of the network is
            $L = \langle G, Y \rangle = \mathrm{tr}(G^T X W)$ to first order, and matdiff gives the familiar
            $\partial L/\partial X = G W^T$, $\partial L / \partial W = X^T G$:
        """),
        code("""
            layer = {"X": ("N", "D"), "W": ("D", "M"), "G": ("N", "M")}
            g = matdiff.derive_gradient("tr(G^T X W)", wrt=["X", "W"], shapes=layer)
            display(g)
            assert g.check().ok
        """),
        md(r"""
            For instance with $L = \mathrm{sum}(\tanh(XW))$, the upstream gradient is $G = \tanh'(XW)$:
        """),
        code("""
            g = matdiff.derive_gradient("sum(tanh(X W))", wrt=["X", "W"], shapes=layer)
            display(g)
            report = g.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            **(b)** Forming $\partial Y / \partial X$ explicitly is the difficulty: it is an
            $(N M) \times (N D)$ matrix, here $W^T \otimes I_N$.
        """),
        code("""
            J = matdiff.derive_jacobian("X W", wrt="X", shapes=layer)
            display(J)

            N, M, D = 64, 4096, 4096
            entries = (N * M) * (N * D)
            print(f"dY/dX has {entries:.3g} entries: {entries * 4 / 2**30:.0f} GiB in 32-bit floats")
            print(f"G W^T needs N·M·D = {N * M * D:.3g} multiplications and no Jacobian at all")
            assert entries * 4 == 256 * 2**30
        """),
        md(r"""
            At a small size the Jacobian can be formed, to see that it is right and that
            $\mathrm{vec}(\partial L/\partial X) = J^T \mathrm{vec}(G)$ is $G W^T$:
        """),
        code("""
            small = {"X": (2, 3), "W": (3, 4)}
            Xv, Wv, Gv = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
            Jn = sympy_value(matdiff.jacobian("X W", wrt="X", shapes=small), {"W": Wv})
            vec = lambda Z: Z.reshape(-1, order="F")
            fd = np.column_stack([vec((Xv + 1e-6 * E) @ Wv - (Xv - 1e-6 * E) @ Wv) / 2e-6
                                  for E in np.eye(6).reshape(6, 3, 2).transpose(0, 2, 1)])
            assert np.allclose(Jn, fd)
            assert np.allclose(Jn.T @ vec(Gv), vec(Gv @ Wv.T))
            print("J = W^T ⊗ I:", np.allclose(Jn, np.kron(Wv.T, np.eye(2))), "  J^T vec(G) = vec(G W^T): True")
        """),
        md(r"""
            ## Problem 3

            The derivatives of the activations, applied to a scalar:
            (a) $R'(Y) = 1$ for $Y > 0$, $0$ otherwise; (b) $S'(Y) = S(Y)(1 - S(Y))$;
            (c) $\tanh'(Y) = 1 - \tanh^2(Y)$. matdiff's answers, as SymPy expressions:
        """),
        code("""
            Y = sp.Symbol("Y")
            derivs = {}
            for name in ["relu", "sigmoid", "tanh"]:
                derivs[name] = d = matdiff.gradient(f"{name}(Y)", wrt="Y", shapes={"Y": ()})
                display(Math(rf"\\frac{{d}}{{dY}}\\,\\mathrm{{{name}}}(Y) = " + sp.latex(d)))

            S = 1 / (1 + sp.exp(-Y))
            assert sp.simplify(derivs["sigmoid"] - S * (1 - S)) == 0
            assert sp.simplify(derivs["tanh"] - (1 - sp.tanh(Y) ** 2)) == 0
            assert derivs["relu"].subs(Y, 2) == 1 and derivs["relu"].subs(Y, -2) == 0
        """),
        md(r"""
            $\theta(Y)$ is the Heaviside step. Applied to a matrix, the functions act entrywise and their
            Jacobians are diagonal; in a gradient the derivative multiplies elementwise:
        """),
        code("""
            for name in ["relu", "sigmoid", "tanh"]:
                g = matdiff.derive_gradient(f"sum({name}(X W))", wrt="W")
                display(g)
                assert g.check().ok
        """),
        code("""
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
        """),
        md(r"""
            ## Problem 4

            One hidden layer, softmax and cross-entropy:
            $z = Wx$, $h = \mathrm{ReLU}(z)$, $\theta = Uh$, $\hat y = \mathrm{softmax}(\theta)$,
            $J = \mathrm{CrossEntropy}(y, \hat y) = -\sum_j y_j \log \hat y_j$.
            As a matdiff program, line by line:
        """),
        code("""
            network = '''
            z = W x
            h = relu(z)
            theta = U h
            yhat = softmax(theta)
            J = -y^T log(yhat)
            '''
            sizes = {"W": ("M", "D"), "x": ("D",), "U": ("C", "M"), "y": ("C",)}     # the sheet's D, M, C
            !matdiff parse '{network}' --shape W=M,D --shape x=D --shape U=C,M --shape y=C
        """),
        md(r"""
            **The gradient with respect to the logits.** The sheet finds $\partial J / \partial \theta = \hat y - y$:
        """),
        code("""
            logits = {"theta": ("C",), "y": ("C",)}        # a Greek name alone would be taken for a scalar
            g = matdiff.derive_gradient("-y^T log(softmax(theta))", wrt="theta", shapes=logits)
            display(g)
            assert g.check().ok
        """),
        md(r"""
            matdiff writes $\mathrm{sum}(y)\,\mathrm{softmax}(\theta) - y$: the sheet's $\hat y - y$ uses
            $\sum_j y_j = 1$, true for a label vector but not for every $y$. `check` finds the difference
            with a counterexample at random $y$, and confirms the answer when $y$ sums to one:
        """),
        code("""
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
            print("\\nfor a one-hot y, dJ/dθ = ŷ - y:", grads["theta"].round(4))
        """),
        md(r"""
            **All the network's gradients.** The sheet names $\delta_1 = \partial J/\partial\theta = (\hat y - y)^T$
            and $\delta_2 = \partial J/\partial z = \delta_1 U \circ \mathrm{sgn}(h)$ (row vectors), and finds
            $\frac{\partial J}{\partial U} = \delta_1^T h^T$, $\frac{\partial J}{\partial W} = \delta_2^T x^T$,
            $\frac{\partial J}{\partial x} = (\delta_2 W)^T$. matdiff's error signals are the columns
            `delta_theta` $= \delta_1^T$ and `delta_z` $= \delta_2^T$
            ($\mathrm{relu}'(z) = \mathrm{sgn}(h)$):
        """),
        code("""
            g = matdiff.derive_gradient(network, wrt=["U", "W", "x"], shapes=sizes)
            display(g)
            report = g.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            The sheet's three formulas as claims (with $\sum_j y_j$ kept, so that they hold for every $y$):
        """),
        code("""
            forward = "z = W x\\nh = relu(z)\\ntheta = U h\\nyhat = softmax(theta)\\n"
            delta1 = "d1 = sum(y) yhat - y\\n"
            delta2 = "d2 = relu'(z) ∘ U^T d1\\n"
            claims = {"U": delta1 + "d1 h^T", "W": delta1 + delta2 + "d2 x^T", "x": delta1 + delta2 + "W^T d2"}
            for wrt, claim in claims.items():
                report = matdiff.check(network, wrt=wrt, shapes=sizes, claim=forward + claim)
                print(f"dJ/d{wrt} = {claim.splitlines()[-1]:8s} {'right' if report.ok else 'WRONG'}")
                assert report.ok
        """),
        md(r"""
            The derivation of $\partial J / \partial W$, step by step, as a solution sheet:
        """),
        code("""
            display(show_sheet(matdiff.sheet(network, wrt="W", shapes=sizes)))
        """),
        md(r"""
            ### Training the network with the generated gradient

            `matdiff.lambdify` turns the program into NumPy code that computes the loss and all three
            gradients in one forward and one backward pass. Plain gradient descent on one sample:
        """),
        code("""
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
        """),
        code("""
            print(fn.source)
        """),
    ]


def machine_perception():
    return [
        md(r"""
            # Machine Perception: back-propagation (pen and paper) — worked with matdiff

            The exercises of the sheet, in its order and notation:

            1. the multivariable chain rule — 1.1 for Jacobians, 1.2 on a graph with $\sigma$, $\tanh$ and $\log$;
            2. back-propagation in a multilayer perceptron $F = F^L \circ \dots \circ F^1$ with
               $F^l(z) = \tanh(W^l z + b^l)$: the error signals $\delta^l = \partial\mathcal{R}/\partial z^l$
               and the gradients with respect to $W^l$ and $b^l$.

            Every answer is checked numerically in the notebook.
        """),
        SETUP,
        code("""
            import sympy as sp
            from nbtools import show_sheet, sympy_value
        """),
        md(r"""
            ## 1 Multivariable chain rule

            The Jacobian of $\mathbf{g}: \mathbb{R}^n \to \mathbb{R}^m$ is the $m \times n$ matrix
            $J_{ij} = \partial y_i / \partial x_j$ (matdiff's convention too), and the gradient of a scalar
            function is the transposed $1 \times n$ Jacobian.

            ### 1.1 Chain rule for Jacobians

            For $\mathbf{y} = \mathbf{g}(\mathbf{x})$ and $\mathbf{z} = \mathbf{f}(\mathbf{y})$:
            $\frac{\partial z}{\partial x} = \frac{\partial z}{\partial y}\frac{\partial y}{\partial x} \in \mathbb{R}^{l \times n}$.
            Take $\mathbf{g}(x) = \sigma(Bx)$ with $B \in \mathbb{R}^{m \times n}$ and
            $\mathbf{f}(y) = \tanh(Ay)$ with $A \in \mathbb{R}^{l \times m}$:
        """),
        code("""
            dims = {"A": ("l", "m"), "B": ("m", "n"), "x": ("n",), "y": ("m",)}
            Jf = matdiff.derive_jacobian("tanh(A y)", wrt="y", shapes=dims)
            Jg = matdiff.derive_jacobian("sigmoid(B x)", wrt="x", shapes=dims)
            Jfg = matdiff.derive_jacobian("tanh(A sigmoid(B x))", wrt="x", shapes=dims)
            for J in (Jf, Jg, Jfg):
                display(J)
                assert J.check().ok
        """),
        md(r"""
            The composite's Jacobian is $\mathrm{diag}(\tanh'(A y))\,A$ times $\mathrm{diag}(\sigma'(Bx))\,B$ at
            $y = \sigma(Bx)$: $l \times m$ times $m \times n$. Numerically, at sizes $l, m, n = 2, 3, 4$:
        """),
        code("""
            sizes = {"A": (2, 3), "B": (3, 4), "x": (4,), "y": (3,)}
            v = {k: rng.normal(size=s) for k, s in sizes.items()}
            v["y"] = 1 / (1 + np.exp(-v["B"] @ v["x"]))           # y = g(x)
            Jf_n = sympy_value(matdiff.jacobian("tanh(A y)", wrt="y", shapes=sizes), v)
            Jg_n = sympy_value(matdiff.jacobian("sigmoid(B x)", wrt="x", shapes=sizes), v)
            Jfg_n = sympy_value(matdiff.jacobian("tanh(A sigmoid(B x))", wrt="x", shapes=sizes), v)
            print("shapes:", Jf_n.shape, "@", Jg_n.shape, "=", Jfg_n.shape)
            assert np.allclose(Jf_n @ Jg_n, Jfg_n)
        """),
        md(r"""
            ### 1.2 Chain rule for graphs

            The graph (its figure is missing from the sheet; the edges follow from the partial derivatives it
            lists) is $c_1 = \tanh(w_1 x_1 + w_2 x_2)$, $c_2 = \tanh(w_2 x_2 + w_3 x_3)$,
            $h_2 = \sigma(c_1 c_2)$, $y = \log h_2$. **a)** Derive $\partial y / \partial x_2$:
            $$\frac{\partial y}{\partial x_2} = \frac{\partial y}{\partial h_2}\Big(\frac{\partial h_2}{\partial c_1}\frac{\partial c_1}{\partial x_2}
            + \frac{\partial h_2}{\partial c_2}\frac{\partial c_2}{\partial x_2}\Big)
            = (1 - h_2)\, w_2\, (c_1 + c_2 - c_2 c_1^2 - c_1 c_2^2).$$
            matdiff back-propagates through the graph; `delta_c1` and `delta_c2` are
            $\partial y/\partial c_1$ and $\partial y/\partial c_2$:
        """),
        code("""
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
        """),
        md(r"""
            The sheet's closed form, as a claim, and symbolically with SymPy:
        """),
        code("""
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
        """),
        md(r"""
            A picture: $y$ over the $(x_1, x_2)$ plane for fixed $x_3, w_1, w_2, w_3$, with matdiff's gradient
            $(\partial y/\partial x_1, \partial y/\partial x_2)$ as arrows — perpendicular to the contour lines,
            pointing uphill.
        """),
        code("""
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
            ax.set_title(r"$y = \\log\\sigma(c_1 c_2)$ and its gradient")
            plt.show()

            h = 1e-6                                             # the arrows against central differences
            fd = (y_of(Q1, Q2 + h, **fixed) - y_of(Q1, Q2 - h, **fixed)) / (2 * h)
            assert np.allclose(gx2(Q1, Q2, **fixed), fd, atol=1e-7)
        """),
        md(r"""
            ## 2 Back-propagation in a multilayer perceptron

            $z^0 = x$, $z^l = F^l(z^{l-1}) = \tanh(W^l z^{l-1} + b^l)$, $y = z^L$, and a loss $\mathcal{R}(z^L)$.
            The sheet leaves $\mathcal{R}$ open; take the squared error $\mathcal{R} = \frac12\|z^L - t\|^2$ and
            $L = 3$ layers, written as the sheet writes the network:
        """),
        code("""
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
        """),
        md(r"""
            **a)** $\delta^l = \delta^{l+1}\,\frac{\partial z^{l+1}}{\partial z^l}$. The Jacobian of one layer is
            $\frac{\partial z^{l+1}}{\partial z^l} = \mathrm{diag}(1 - \tanh^2(a^{l+1}))\, W^{l+1}$ with
            $a^{l+1} = W^{l+1} z^l + b^{l+1}$:
        """),
        code("""
            layer = matdiff.derive_jacobian("tanh(W2 z1 + b2)", wrt="z1")
            display(layer)
            assert layer.check().ok
        """),
        md(r"""
            The sheet's $\delta^l$ are row vectors; matdiff's `delta_z1`, `delta_z2`, `delta_z3` above are the
            same error signals as columns:
            $\delta^{l\,T} = \big(\frac{\partial z^{l+1}}{\partial z^l}\big)^T \delta^{l+1\,T}
            = W^{l+1\,T}\big(\tanh'(a^{l+1}) \odot \delta^{l+1\,T}\big)$, starting from $\delta^3 = (z^3 - t)^T$.
            That $\delta^1$ is the gradient with respect to $z^1$ can be checked by making $z^1$ an input:
        """),
        code("""
            from_z1 = "z2 = tanh(W2 z1 + b2)\\nz3 = tanh(W3 z2 + b3)\\nR = 1/2 ||z3 - t||^2"
            delta_claim = ("z2 = tanh(W2 z1 + b2)\\nz3 = tanh(W3 z2 + b3)\\n"
                           "d3 = z3 - t\\n"
                           "d2 = W3^T (tanh'(W3 z2 + b3) ∘ d3)\\n"
                           "W2^T (tanh'(W2 z1 + b2) ∘ d2)")
            report = matdiff.check(from_z1, wrt="z1", claim=delta_claim)
            print(report)
            assert report.ok
        """),
        md(r"""
            **b)** $\frac{\partial \mathcal{R}}{\partial w^l_{ij}} = \delta^l\,\frac{\partial z^l}{\partial w^l_{ij}}$
            with $\big[\frac{\partial z^l}{\partial w^l_{ij}}\big]_k = (1 - \tanh^2(a))_k\, z^{l-1}_j$ if $k = i$,
            0 otherwise; so $\frac{\partial \mathcal{R}}{\partial w^l_{ij}} = \delta^l_i\,(1 - \tanh^2(a_i))\, z^{l-1}_j$,
            all entries at once $\big((1 - \tanh^2(a^l)) \odot \delta^{l\,T}\big)\, z^{l-1\,T}$, and
            $\frac{\partial \mathcal{R}}{\partial b^l} = (1 - \tanh^2(a^l)) \odot \delta^{l\,T}$. The term passed back from
            layer $l+1$ to layer $l$ is $\delta^{l+1}$. As claims, for layer 2:
        """),
        code("""
            forward = "z1 = tanh(W1 x + b1)\\nz2 = tanh(W2 z1 + b2)\\nz3 = tanh(W3 z2 + b3)\\n"
            deltas = "d3 = z3 - t\\nd2 = W3^T ((1 - z3 .^ 2) ∘ d3)\\n"
            for wrt, claim in [("W2", "((1 - z2 .^ 2) ∘ d2) z1^T"), ("b2", "(1 - z2 .^ 2) ∘ d2")]:
                report = matdiff.check(mlp, wrt=wrt, shapes=widths, claim=forward + deltas + claim)
                print(f"dR/d{wrt} = {claim:28s} {'right' if report.ok else 'WRONG'}")
                assert report.ok
        """),
        md(r"""
            The same derivation with differentials, as a solution sheet: $dz^2$, $dz^3$ and $d\mathcal{R}$,
            back-substituted until only $dW^2$ is left, then read off with the trace. The boxed answer is
            $\mathrm{diag}(\tanh'(a^2))\, W^{3\,T}\, \mathrm{diag}(\tanh'(a^3))\,(z^3 - t)\, z^{1\,T}$, the sheet's
            $\delta^2_i\,(1 - \tanh^2(a_i))\, z^1_j$ for all $i, j$ at once:
        """),
        code("""
            display(show_sheet(matdiff.sheet(mlp, wrt="W2", shapes=widths)))
        """),
        md(r"""
            ### Deeper networks: the error signal fades

            The same program for any $L$. With generated code (`matdiff.lambdify`) the gradients of a 12-layer
            network take one forward and one backward pass; $\|\partial\mathcal{R}/\partial b^l\|$ per layer shows
            how $\delta^l$ shrinks on its way back through the $\tanh$ layers when the weights are small, and
            survives when they are larger — the vanishing gradient, read off the deltas.
        """),
        code("""
            def tanh_mlp(L):
                lines = [f"z{l} = tanh(W{l} {'x' if l == 1 else f'z{l - 1}'} + b{l})" for l in range(1, L + 1)]
                return "\\n".join(lines + [f"R = 1/2 ||z{L} - t||^2"])


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
            ax.set_ylabel(r"$\\|\\partial \\mathcal{R} / \\partial b^l\\|$")
            ax.set_title(f"Error signals in a {L}-layer tanh network")
            ax.legend()
            plt.show()
        """),
    ]


def lecture10():
    return [
        md(r"""
            # Matrix calculus, lecture 10: a neural network, adjoints, Kronecker forms — worked with matdiff

            The lecture notes, in their order and notation:

            1. the forward pass of a two-layer network with squared loss, and why
               $\frac{\partial\mathcal{L}}{\partial W_1} = \frac{\partial\mathcal{L}}{\partial z}\frac{\partial z}{\partial W_1}$
               "gets confusing";
            2. $\mathrm{tr}(A^T B) = \mathrm{sum}(A \circ B)$ and the gradient as a directional derivative;
            3. the pieces as linear maps: right multiplication $R_X$ is $X^T \otimes I$;
            4. gradients as adjoints, $\overline{W_1} = \bar z\, x^T$, and the whole reverse pass;
            5. why it is called an adjoint;
            6. vector–Jacobian products: reverse versus forward.

            Every answer is checked numerically in the notebook.
        """),
        SETUP,
        code("""
            from nbtools import show_sheet, sympy_value
        """),
        md(r"""
            ## 1 The forward pass

            $$z = W_1 x + b_1, \quad h = \sigma(z), \quad y = W_2 h + b_2, \quad \mathcal{L} = \tfrac12 \|y - t\|^2.$$
            matdiff reads it line by line ($\sigma$ is the sigmoid; `σ` is accepted too) and infers every shape:
        """),
        code("""
            net = '''
            z = W1 x + b1
            h = σ(z)
            y = W2 h + b2
            L = 1/2 ||y - t||^2
            '''
            display(Math(matdiff.latex(net)))
            !matdiff parse '{net}'
        """),
        md(r"""
            $\nabla_{W_1}\mathcal{L}$ is a matrix, the shape of $W_1$; $\frac{\partial z}{\partial W_1}$ is not a
            matrix one would want to write down. matdiff's answer never forms it: the gradients come out of
            the reverse pass, with the error signals (`delta_y`, `delta_z`) named as they are passed back.
        """),
        code("""
            g = matdiff.derive_gradient(net, wrt=["W1", "b1", "W2", "b2"])
            display(g)
            report = g.check()
            print(report)
            assert report.ok
        """),
        md(r"""
            ## 2 The gradient as a directional derivative

            $\frac{\partial\mathcal{L}}{\partial W_1}[dW_1] = \mathrm{tr}\big((\nabla_{W_1}\mathcal{L})^T dW_1\big)$, and
            $\mathrm{tr}(A^T B) = A \cdot B = \mathrm{sum}(A \circ B)$. Both forms are one function of $W$, with
            gradient $G$; and as a $1 \times mn$ Jacobian in the vec convention the map is
            $\mathrm{vec}(G)^T$:
        """),
        code("""
            Gv, Wv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
            assert np.isclose(np.trace(Gv.T @ Wv), np.sum(Gv * Wv))

            for f in ["tr(G^T W)", "sum(G ∘ W)"]:
                display(matdiff.derive_gradient(f, wrt="W"))
                assert matdiff.check(f, wrt="W", claim="G").ok
            J = matdiff.derive_jacobian("tr(G^T W)", wrt="W")
            display(J)
            assert J.check().ok
        """),
        md(r"""
            ## 3 The pieces

            $W_1 \mapsto z$ is linear in $W_1$: $dW_1 \mapsto dW_1\, x$, right multiplication $R_x$. In the vec
            convention its matrix is $x^T \otimes I$ — for a batch $X$ of inputs, $X^T \otimes I$:
        """),
        code("""
            for f in ["W1 x", "W1 X"]:
                J = matdiff.derive_jacobian(f, wrt="W1")
                display(J)
                assert J.check().ok
        """),
        md(r"""
            The cyclic property turns $\mathrm{tr}\big((\nabla_z\mathcal{L})^T dW_1\, X\big)$ into
            $\mathrm{tr}\big(X(\nabla_z\mathcal{L})^T dW_1\big)$, so $\nabla_{W_1}\mathcal{L} = (\nabla_z\mathcal{L})\, X^T$.
            In vec form this is the transpose of the Kronecker matrix applied to $\mathrm{vec}(\nabla_z\mathcal{L})$:
            $(X^T \otimes I)^T \mathrm{vec}(\bar z) = \mathrm{vec}(\bar z X^T)$. Numerically:
        """),
        code("""
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
        """),
        md(r"""
            ## 4 Gradients as adjoints

            Write $\overline{\text{any}} = \nabla_{\text{any}}\mathcal{L}$. Then $\boxed{\overline{W_1} = \bar z\, x^T}$,
            and one step further back, through $h = \sigma(z)$ with $D = \mathrm{diag}(\sigma'(z))$:
            $dy = \bar h^T (D\, dz) = (D \bar h)^T dz$, so $\bar z = D\bar h = \sigma'(z) \circ \bar h$; through
            $y = W_2 h + b_2$: $\bar h = W_2^T \bar y$. The whole reverse pass:
            $$\bar y = y - t,\quad \overline{W_2} = \bar y\, h^T,\quad \bar b_2 = \bar y,\quad
              \bar h = W_2^T \bar y,\quad \bar z = \bar h \circ \sigma'(z),\quad
              \overline{W_1} = \bar z\, x^T,\quad \bar b_1 = \bar z.$$
            matdiff's `delta_y` is $\bar y$ and `delta_z` is $\bar z$. Each line of the lecture as a claim:
        """),
        code("""
            forward = "z = W1 x + b1\\nh = σ(z)\\ny = W2 h + b2\\n"
            bars = "ybar = y - t\\nhbar = W2^T ybar\\nzbar = hbar ∘ σ'(z)\\n"
            claims = {"W2": "ybar h^T", "b2": "ybar", "W1": "zbar x^T", "b1": "zbar"}
            for wrt, claim in claims.items():
                report = matdiff.check(net, wrt=wrt, claim=forward + bars + claim)
                print(f"{wrt}bar = {claim:9s} {'right' if report.ok else 'WRONG'}")
                assert report.ok
        """),
        md(r"""
            A wrong adjoint is caught: $\overline{W_1} = x\,\bar z^T$ (the transpose, a common slip) does not even
            have the shape of $W_1$ unless $W_1$ is square; with a square $W_1$ it has the shape and is still wrong:
        """),
        code("""
            square = {"W1": ("n", "n"), "x": ("n",), "W2": ("k", "n")}
            wrong = matdiff.check(net, wrt="W1", shapes=square, claim=forward + bars + "x zbar^T")
            print(wrong)
            assert not wrong.ok
        """),
        md(r"""
            The derivation of $\overline{W_1}$ as the differentials and the trace give it, step by step:
        """),
        code("""
            display(show_sheet(matdiff.sheet(net, wrt="W1")))
        """),
        md(r"""
            ## 5 Why is this called an adjoint?

            The adjoint $L^*$ of a linear map $L$ satisfies $\langle y, Lx\rangle = \langle L^* y, x\rangle$. For
            $L = R_A$ (right multiplication) $R_A^* = R_{A^T}$; for matrix–vector multiplication the adjoint is
            multiplication by $A^T$; and $x \mapsto v \circ x$ is self-adjoint. The Jacobian of $v \circ x$ is
            the symmetric $\mathrm{diag}(v)$:
        """),
        code("""
            inner = lambda a, b: np.sum(a * b)
            A, Xm, Ym = rng.normal(size=(4, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
            assert np.isclose(inner(Ym, Xm @ A), inner(Ym @ A.T, Xm))          # (R_A)* = R_{A^T}
            xv, yv, v = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
            assert np.isclose(inner(yv, A @ xv), inner(A.T @ yv, xv))          # <y, A x> = <A^T y, x>
            assert np.isclose(inner(yv, v * xv), inner(v * yv, xv))            # v ∘ x is self-adjoint

            display(matdiff.derive_jacobian("v ∘ x", wrt="x"))
            display(matdiff.derive_jacobian("X A", wrt="X"))
            print("adjoint identities hold")
        """),
        md(r"""
            ## 6 Vector–Jacobian products

            $x_1 \xrightarrow{J_1} x_2 \xrightarrow{J_2} x_3 \xrightarrow{g^T} \text{scalar}$: the gradient is
            $(g^T J_2 J_1)^T = J_1^T (J_2^T g)$. Reverse mode multiplies vectors by Jacobians from the end
            (vjp), forward mode multiplies the Jacobians first. Take $x_2 = \tanh(A x_1)$,
            $x_3 = B x_2$, $f = g^T x_3$:
        """),
        code("""
            dims = {"A": ("n2", "n1"), "B": ("n3", "n2"), "x1": ("n1",), "x2": ("n2",), "g": ("n3",)}
            J1 = matdiff.derive_jacobian("tanh(A x1)", wrt="x1", shapes=dims)
            J2 = matdiff.derive_jacobian("B x2", wrt="x2", shapes=dims)
            grad = matdiff.derive_gradient("g^T B tanh(A x1)", wrt="x1", shapes=dims)
            for d in (J1, J2, grad):
                display(d)
                assert d.check().ok
        """),
        md(r"""
            matdiff's gradient is the reverse product, $A^T(\tanh'(Ax_1) \circ B^T g) = J_1^T (J_2^T g)$.
            Numerically, both orders give it:
        """),
        code("""
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
        """),
        md(r"""
            The orders cost differently. For a chain of $k$ layers of width $n$ ending in a scalar, forward
            mode multiplies $n \times n$ matrices ($\approx k n^3$ operations), reverse mode multiplies
            vectors by them ($\approx k n^2$): the reason back-propagation runs backwards.
        """),
        code("""
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
        """),
    ]


NOTEBOOK_CELLS = {
    "00_tour": tour,
    "01_tutorial12": tutorial12,
    "02_exercise_series_4": series4,
    "03_ai6104_tutorial6": ai6104,
    "04_machine_perception": machine_perception,
    "05_lecture10": lecture10,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOK_CELLS[name]())
    for i, cell in enumerate(nb.cells):         # stable ids: a rerun changes only what changed
        cell.id = f"cell-{i:02d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 120) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    for cell in nb.cells:                       # timestamps would make every run a diff
        cell.metadata.pop("execution", None)
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="notebooks to write (default: all)")
    ap.add_argument("--no-execute", action="store_true", help="write the cells without running them")
    a = ap.parse_args(argv)
    names = a.names or list(NOTEBOOK_CELLS)
    unknown = [n for n in names if n not in NOTEBOOK_CELLS]
    if unknown:
        ap.error(f"no such notebook: {', '.join(unknown)} (one of {', '.join(NOTEBOOK_CELLS)})")
    # the kernel runs `!matdiff ...`: the matdiff command next to this Python comes first on PATH
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    failed = []
    for name in names:
        nb = build(name)
        start = time.perf_counter()
        note = ""
        if not a.no_execute:
            from nbclient.exceptions import CellExecutionError
            try:
                execute(nb)
                note = f" ({time.perf_counter() - start:.1f} s)"
            except CellExecutionError as e:          # written all the same, to read the error in place
                failed.append(name)
                note = f": FAILED\n{str(e)[-2000:]}"
        path = NOTEBOOKS / f"{name}.ipynb"
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(ROOT)}{note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
