"""Write docs/errors.md: every kind of error matdiff reports, an example input, its exact message.

    python scripts/error_catalogue.py          # rewrite docs/errors.md
    python scripts/error_catalogue.py --check  # exit 1 if docs/errors.md is not current (a test runs this)
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import matdiff
from matdiff.cli import main as cli_main

# (kind, what it means, how to call it)
EXAMPLES = [
    ("ParseError", "a character the language does not have", ("grad", "x^T A $ x", "--wrt", "x")),
    ("ParseError", "the input ends too early", ("grad", "x^T A x +", "--wrt", "x")),
    ("ParseError", "a token where it cannot stand", ("grad", "A + * B", "--wrt", "A")),
    ("ParseError", "a program line that is not `name = expression`", ("parse", "W x\nJ = x^T x")),
    ("ParseError", "a function without its argument", ("parse", "Phi + x")),
    ("ParseError", "a function with the wrong number of arguments", ("parse", "kron(A)")),
    ("ParseError", "the input is empty", ("parse", " ")),
    ("UnknownFunctionError", "a misspelt function", ("parse", "tanhh(x)")),
    ("UnknownFunctionError", "a function matdiff does not know", ("parse", "median(x)")),
    ("ShapeError", "a product whose inner sizes differ", ("parse", "A B", "--shape", "A=2,3", "--shape", "B=2,3")),
    ("ShapeError", "a sum of different shapes", ("parse", "A + x", "--shape", "A=2,3", "--shape", "x=3")),
    ("ShapeError", "an inverse of a non-square matrix", ("parse", "inv(A)", "--shape", "A=2,3")),
    ("ShapeError", "a bad --shape", ("parse", "x", "--shape", "x=-1")),
    ("ShapeError", "a dimension too large", ("parse", "x", "--shape", "x=10000000000")),
    ("ShapeError", "a symmetric matrix declared not square", ("parse", "x^T S y", "--shape", "S=n,m,sym")),
    ("ShapeError", "sym or spd where it could be a dimension's name", ("parse", "x^T S x", "--shape", "S=n,sym")),
    ("DerivativeError", "the Hessian's diagonal with respect to a symmetric matrix",
     ("hessian", "logdet(S)", "--wrt", "S", "--shape", "S=n,n,spd", "--diagonal")),
    ("ShapeError", "the 2-norm of a matrix (its spectral norm)", ("grad", "||X||_2", "--wrt", "X")),
    ("ShapeError", "a norm of a matrix without a subscript", ("grad", "||A X - B||^2", "--wrt", "X")),
    ("ShapeError", "softmax of a matrix without saying which way",
     ("grad", "-sum(Y .* log(softmax(X W)))", "--wrt", "W", "--shape", "X=5,3", "--shape", "W=3,4")),
    ("ShapeError", "softmax along rows of one entry", ("grad", "sum(softmax(x, rows))", "--wrt", "x", "--shape", "x=3")),
    ("ParseError", "softmax(Z, ...) along something that is not rows or cols", ("parse", "softmax(Z, 2)")),
    ("ParseError", "a norm subscript matdiff does not compute", ("parse", "||x||_1")),
    ("ShapeError", "a `1` that could be the number or a ones vector of no fixed size", ("parse", "sum(1 b^T)")),
    ("ParseError", "ones(n) with a size that is not a name or a number", ("parse", "ones(x + y)^T z")),
    ("ShapeError", "`/` by what is not a scalar (the grouping), with the parentheses meant",
     ("grad", "x^T A x / x^T x", "--wrt", "x")),
    ("ShapeError", "`/` by a vector, with the elementwise quotient", ("parse", "1/x", "--shape", "x=3")),
    ("ShapeError", "NumPy's dot(x, y) of a matrix x", ("parse", "np.dot(A, y)")),
    ("ParseError", "a NumPy word matdiff does not read", ("parse", "np.pi * x")),
    ("ShapeError", "NumPy's elementwise * that fits only for a scalar (x.T*A*x)", ("parse", "x.T*A*x")),
    ("DerivativeError", "a variable that is not in the function", ("grad", "x^T A x", "--wrt", "y")),
    ("DerivativeError", "the gradient of a vector", ("grad", "A x", "--wrt", "x")),
    ("LimitError", "nesting past the limit", ("parse", " + ".join(["x"] * 300))),
    ("LimitError", "a matrix power past the limit", ("grad", "tr(A^1000)", "--wrt", "A")),
    ("LimitError", "a number of more than 300 digits", ("parse", "x * 1" + "0" * 300)),
    ("LimitError", "a number folded past 300 digits", ("grad", "x^T x * ((10^60)^60)^60", "--wrt", "x")),
    ("LimitError", "a command past its time limit",
     ("grad", "\n".join(f"h{i} = tanh(W h{i - 1})" for i in range(1, 301)) + "\nJ = sum(h300)", "--wrt", "W",
      "--limit", "seconds=0.001")),
    ("LimitError", "a check of sizes too large to sample",
     ("check", "x^T A x", "--wrt", "x", "--shape", "x=100000")),
    ("MatdiffError", "a limit that does not exist", ("parse", "x", "--limit", "speed=3")),
    ("MatdiffError", "--wrt missing", ("grad", "x^T x")),
    ("ParseError", "LaTeX outside $…$ (read as matdiff's notation)", ("parse", r"x^\top A x")),
    ("ParseError", "a LaTeX command matdiff cannot read", ("grad", r"$\frac{\partial}{\partial x} x^\top A x$", "--wrt", "x")),
    ("ParseError", "an unknown LaTeX command", ("parse", r"$\foo x$")),
    ("ParseError", "LaTeX whose translation the parser refuses: located in the LaTeX, the reading shown",
     ("parse", r"$y = \operatorname{tr}(A, B)$")),
    ("ShapeError", "|x| of a vector in LaTeX (the absolute values or the norm?)",
     ("parse", r"$|x| + y$", "--shape", "x=3")),
]


def message(args) -> str:
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(list(args))
    return f"{err.getvalue().rstrip()}\n(exit status {code})"


def render() -> str:
    out = ["# Error catalogue", "",
           "Every error matdiff reports about its input is a `matdiff.MatdiffError`; the command line",
           "prints it after `matdiff: error:` and exits with status 2 (a failed numerical check exits 1).",
           "Each kind below: an example input and its exact message, as `matdiff` prints it.",
           "(This file is generated by `python scripts/error_catalogue.py`; a test keeps it current.)", ""]
    for kind, what, args in EXAMPLES:
        shown = " ".join(shlex.quote(a) for a in args)
        if len(shown) > 120:
            shown = shown[:100] + " …"
        out += [f"## {kind}: {what}", "", "```", f"$ matdiff {shown}", message(args), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if path.exists() and path.read_text(encoding="utf-8") == text else 1)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
