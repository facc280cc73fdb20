"""matdiff: symbolic matrix-differential calculus in the notation of a course sheet.

>>> import matdiff
>>> print(matdiff.understand("c^T Psi((W + V) Phi(W x + b))").inputs["W"])
('n', 'n')
"""
from .api import understand
from .errors import DerivativeError, LimitError, MatdiffError, ParseError, ShapeError, UnknownFunctionError
from .parse import parse

__all__ = ["understand", "parse", "MatdiffError", "ParseError", "ShapeError", "UnknownFunctionError",
           "DerivativeError", "LimitError"]
__version__ = "0.1.0"
