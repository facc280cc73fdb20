"""matdiff: symbolic matrix-differential calculus in the notation of a course sheet.

>>> import matdiff
>>> matdiff.gradient("x^T A x", wrt="x")
(A + A.T)*x
"""
from matdiff.api import (
    check, computational_graph, derive_gradient, derive_hessian, derive_jacobian, differential, gradient, hessian, jacobian, latex,
    sheet, understand,
)
from matdiff.errors import (
    DerivativeError, LimitError, MatdiffError, MatdiffWarning, ParseError, ShapeError, UnknownFunctionError,
)
from matdiff.limits import LIMITS
from matdiff.language.parse import parse

__all__ = ["gradient", "jacobian", "hessian", "differential", "check", "latex", "sheet", "understand", "derive_gradient",
           "derive_jacobian", "derive_hessian", "computational_graph", "lambdify", "parse", "CheckReport", "LIMITS",
           "MatdiffError", "MatdiffWarning", "ParseError", "ShapeError", "UnknownFunctionError", "DerivativeError", "LimitError"]
__version__ = "0.1.0"


def __getattr__(name):
    """matdiff.CheckReport and matdiff.lambdify are loaded on first use: the one brings NumPy, the
    other the code generator, and the command line needs neither to print a gradient (start-up
    time, issue 6)."""
    if name == "CheckReport":
        from matdiff.checking.check import CheckReport
        return CheckReport
    if name == "lambdify":
        from matdiff.codegen.generate import lambdify
        return lambdify
    raise AttributeError(f"module 'matdiff' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"CheckReport", "lambdify"})
