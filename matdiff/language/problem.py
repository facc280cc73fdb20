"""Shaped program -> Problem: its steps over named symbols, and the same function inline.

A program's named steps stay named: `h = relu(z)` is a step whose right-hand side
refers to the symbol z (a Var), never a copy of z's definition. Back-propagation
then runs step by step, and the result reads like the sheets. `f` is the same
function with every symbol replaced by its definition, a DAG over the inputs, for
evaluation, checking and SymPy.
"""
from __future__ import annotations

from dataclasses import dataclass

from matdiff.language.algebra import is_symmetric, normalize
from matdiff.errors import DerivativeError, MatdiffError, note
from matdiff.language.expr import Expr, Program, Var, postorder, substitute
from matdiff.language.inference import Shaped, infer_shapes
from matdiff.limits import budgeted, tick
from matdiff.language.parse import parse
from matdiff.language.shapes import shape_of


@budgeted
def understand(src, shapes=None, functions=None, syntax: str = "auto") -> Shaped:
    """Parse and shape an expression or program: the function as matdiff understands it
    (syntax: "auto", "latex" or "matdiff", as for parse)."""
    functions = function_names(functions)
    if isinstance(src, Program):
        program = src
    elif isinstance(src, str):
        program = parse(src, functions, syntax)
    else:
        raise MatdiffError(f"expected the text of an expression or program, got {type(src).__name__}")
    shaped = infer_shapes(program, declared_shapes(shapes))
    for reading in shaped.readings:           # a degenerate reading is never silent (see Reading)
        note(str(reading), stacklevel=2)
    return shaped


def user_shape(e: Expr) -> tuple:
    r, c = shape_of(e)
    return () if (r, c) == (1, 1) else (r,) if c == 1 else (r, c)


def listed_inputs(shaped) -> list:
    """The input names as matdiff lists them (`matdiff parse`, the page's variables): matrices,
    then vectors, then scalars, each in the order the input first names them."""
    return sorted(shaped.inputs, key=lambda n: -len(shaped.inputs[n]))


@dataclass
class Problem:
    shaped: Shaped
    steps: list           # [(symbol Var, right-hand side over symbols and inputs)], in program order
    result: Expr          # the function over symbols and inputs
    f: Expr               # the function inline, over the inputs only
    inline: dict          # symbol -> its definition inline
    vars: dict            # input name -> Var

    @classmethod
    def of(cls, src, shapes=None, functions=None, syntax: str = "auto") -> "Problem":
        shaped = understand(src, shapes, functions, syntax)
        symbols: dict = {}                       # shaped node of a step -> its symbol
        steps = []
        for name, node in shaped.defs:
            tick()
            # a step whose node an earlier step already names (`g = W x` after `h = W x`) keeps its
            # own right-hand side, not `g = h`: that symbol steps aside for this one substitution
            # (set aside and put back, not a filtered copy of symbols: a copy per step was quadratic)
            earlier = symbols.pop(node, None)
            rhs = normalize(substitute(node, symbols))
            sym = symbol_for(name, user_shape(node), rhs)
            symbols[node] = earlier if earlier is not None else sym
            steps.append((sym, rhs))
        result = normalize(substitute(shaped.expr, symbols))
        inline: dict = {}
        for sym, rhs in steps:
            tick()
            inline[sym] = substitute(rhs, inline)
        f = substitute(result, inline)
        vars_ = {v.name: v for v in postorder(f) if isinstance(v, Var)}
        return cls(shaped, steps, result, f, inline, vars_)

    @property
    def notes(self) -> list:
        """The degenerate readings inference had to make, as text (also given as MatdiffWarnings)."""
        return [str(r) for r in self.shaped.readings]

    def var(self, name: str) -> Var:
        if not isinstance(name, str):
            raise MatdiffError(f"wrt= names a variable, got {name!r}")
        if name not in self.vars and name in self.shaped.inputs:
            return Var(name, self.shaped.inputs[name], self.shaped.structure.get(name, ""))   # it cancelled out (x^T x - x^T x): gradient 0
        if name not in self.vars:
            known = ", ".join(self.vars) or "none"
            step = f" ({name} is a step of the program; differentiate with respect to an input)" \
                if any(s.name == name for s, _ in self.steps) else ""
            raise DerivativeError(f"{name} is not a variable of this function{step}; its variables: {known}")
        return self.vars[name]

    def require_scalar(self, what: str) -> None:
        if shape_of(self.f) != (1, 1):
            r, c = shape_of(self.f)
            raise DerivativeError(f"the {what} needs a scalar function, but this one is {r}×{c}"
                                  + ("; use jacobian() for a vector function" if c == 1 else ""))


def symbol_for(name: str, shape: tuple, rhs: Expr) -> Var:
    """A step's symbol; a name bound to a symmetric matrix (`Z = X^T X`) is symmetric, as a
    declared one is, so Z^-T is Z^-1 and Z + Z^T is 2 Z in what is derived from it."""
    square = len(shape) == 2 and shape[0] == shape[1]
    return Var(name, shape, "sym" if square and is_symmetric(rhs) else "")


def function_names(functions) -> tuple:
    if functions is None:
        return ()
    if isinstance(functions, str):
        functions = [functions]
    out = []
    for f in functions:
        if not isinstance(f, str) or not f.isidentifier():
            raise MatdiffError(f"a function name is a word such as 'f' or 'Gamma', got {f!r}")
        out.append(f)
    return tuple(out)


def declared_shapes(shapes) -> dict:
    if shapes is None:
        return {}
    if not isinstance(shapes, dict):
        raise MatdiffError(f"shapes= is a dict such as {{'W': ('n', 'n'), 'x': ('n',)}}, got {type(shapes).__name__}")
    return shapes
