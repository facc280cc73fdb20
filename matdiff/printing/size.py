"""The size of a printed answer, in symbols: the measure of issue 15 ("answers in the form a
textbook writes them"), used to decide where an auxiliary name pays (calculus/gradient.py) and
by the textbook corpus test (tests/test_textbook.py).

What counts, one symbol each: a name (x, W1, delta_z, z0), a function name with its primes
(sigmoid, tanh', logdet), a number (2, 0.5; 1/2 is three: 1, /, 2), an operator (+ - / ∘ ⊗ = .* ./ .^
^ and the norm bars ||), a transpose (^T or ᵀ), a power or inverse with its exponent (^-1, ^2,
^-T, ^{-1/2}). What is free: parentheses, commas, spaces and juxtaposition (the product A x costs
its two factors, nothing for the product). A ones vector with its size, 1_n, is one symbol.

An answer's text is measured line by line: `∂f/∂x = `, `H = `, `J = `, `diag H = ` at a line's
start are the answer's label, not counted; a definition `z0 = x^T x` counts its name and its `=`,
as the name is what it costs to introduce. Lines in parentheses (the note on a variable declared
symmetric, on the Hessian's diagonal) and the commutation matrix's gloss are remarks, not part
of the answer.
"""
from __future__ import annotations

import re

from matdiff.printing.text import to_text

_TOKEN = re.compile(
    r"\^-?T|ᵀ"                                    # a transpose, an inverse transpose
    r"|\^\{?\(?-?\d+(/\d+)?\)?\}?"                 # a power with its exponent: ^-1, ^2, ^{-1/2}
    r"|\.\^|\./|\.\*"                              # the elementwise operators
    r"|\d+_[A-Za-z0-9]+"                           # a sized ones vector, 1_n
    r"|[A-Za-z_\u0391-\u03c9][A-Za-z0-9_\u0391-\u03c9]*'*"    # a name or function name, primes included
    r"|\d+(\.\d+)?"                                # a number
    r"|[-+∘⊗/=]|\|\||\^")                          # the other operators
_LABEL = re.compile(r"^(∂\w+/∂\w+|H|J|diag H) = ")


def expression_size(text: str) -> int:
    """The symbols of one expression's text (see the module's docstring)."""
    return sum(1 for _ in _TOKEN.finditer(text))


def printed_size(e, names=None) -> int:
    """The symbols of an expression as the text printer writes it (with these auxiliary names):
    what the simplifier's rules and the naming compare where a form must pay."""
    return expression_size(to_text(e, names))


def answer_size(text: str) -> int:
    """The symbols of a printed answer (Gradient.text(), DerivativeMatrix.text()): every line's,
    the label `∂f/∂x = ` left out, the remarks in parentheses and the commutation matrix's gloss
    not counted."""
    n = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("(") or ": the commutation matrix" in line:
            continue
        n += expression_size(_LABEL.sub("", line))
    return n
