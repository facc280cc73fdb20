"""The public API (SPEC §3): text in, SymPy out. Each function runs the pipeline stages in order:

    text --parse--> Program --infer_shapes--> shaped DAG --normalize--> f
       --backprop (diff + canon)--> gradients --simplify--> text | SymPy | check
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .algebra import normalize
from .canon import backprop
from .checking import CheckReport, check_gradients
from .diff import differential as _differential
from .errors import DerivativeError, MatdiffError
from .expr import Expr, Program, Transpose, Var, postorder, children, Leaf
from .parse import parse
from .printing.text import to_text
from .shapes import Shaped, infer_shapes, shape_of
from .simplify import simplify


def understand(src, shapes=None, functions=None) -> Shaped:
    """Parse and shape an expression or program: the function as matdiff understands it."""
    functions = _names(functions)
    if isinstance(src, Program):
        program = src
    elif isinstance(src, str):
        program = parse(src, functions)
    else:
        raise MatdiffError(f"expected the text of an expression or program, got {type(src).__name__}")
    return infer_shapes(program, _shapes(shapes))


@dataclass
class Problem:
    """A scalar function ready for the calculus: f normalized, its inputs by name, its named steps."""
    shaped: Shaped
    f: Expr
    vars: dict                 # name -> Var (as it occurs in f)
    names: dict                # node -> program name, for printing

    @classmethod
    def of(cls, src, shapes=None, functions=None) -> "Problem":
        shaped = understand(src, shapes, functions)
        memo: dict = {}
        defs = [(n, normalize(e, memo)) for n, e in shaped.defs]
        f = normalize(shaped.expr, memo)
        vars_ = {v.name: v for v in postorder(f) if isinstance(v, Var)}
        return cls(shaped, f, vars_, {e: n for n, e in defs if not isinstance(e, Leaf)})

    def var(self, name: str) -> Var:
        if not isinstance(name, str):
            raise MatdiffError(f"wrt= names a variable, got {name!r}")
        if name not in self.vars:
            known = ", ".join(self.vars) or "none"
            defined = f" ({name} is an intermediate of the program; differentiate with respect to an input)" \
                if name in dict(self.shaped.defs) else ""
            raise DerivativeError(f"{name} is not a variable of this function{defined}; its variables: {known}")
        return self.vars[name]

    def require_scalar(self, what: str) -> None:
        if shape_of(self.f) != (1, 1):
            r, c = shape_of(self.f)
            raise DerivativeError(f"the {what} needs a scalar function, but this one is {r}×{c}"
                                  + ("; use jacobian() for a vector function" if c == 1 else ""))


@dataclass
class Gradient:
    """Gradients of one scalar function: {name: Expr}, and how to print them as a person would."""
    problem: Problem
    grads: dict                                  # name -> simplified gradient Expr (inline)
    names: dict = field(default_factory=dict)    # node -> name for printing (program names, z1, ...)

    def text(self) -> str:
        """`∂f/∂W = ...` lines, with the named steps they use defined first."""
        f = self.problem.shaped.name or "f"
        used = _used_names(list(self.grads.values()), self.names)
        lines = [f"{n} = {to_text(e, self.names)}" for e, n in used]
        lines += [f"∂{f}/∂{w} = {to_text(g, self.names)}" for w, g in self.grads.items()]
        return "\n".join(lines)

    def sympy(self) -> dict:
        from .printing.to_sympy import to_sympy   # SymPy costs half a second: load it when asked
        return {w: to_sympy(g) for w, g in self.grads.items()}

    def check(self, seed: int = 0) -> CheckReport:
        p = self.problem
        return check_gradients(p.f, {p.vars[w]: g for w, g in self.grads.items()}, p.shaped, seed)


def derive_gradient(expr, wrt, shapes=None, functions=None) -> Gradient:
    """The gradients as matdiff's own expressions (the engine behind gradient() and `matdiff grad`)."""
    p = Problem.of(expr, shapes, functions)
    p.require_scalar("gradient")
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise MatdiffError("wrt= names at least one variable")
    targets = [p.var(w) for w in names]
    raw = backprop(p.f, targets)
    grads = {w: simplify(raw[v]) for w, v in zip(names, targets)}
    names = p.names or auto_names(p.f, list(grads.values()))   # a program names its own steps
    return Gradient(p, grads, names)


def gradient(expr, wrt, shapes=None, functions=None):
    """The gradient of a scalar function as a SymPy expression (a dict for a list of names).

    >>> import matdiff
    >>> matdiff.gradient("x^T A x", wrt="x")
    (A + A.T)*x
    """
    g = derive_gradient(expr, wrt, shapes, functions).sympy()
    return g[wrt] if isinstance(wrt, str) else g


def differential(expr, wrt=None, shapes=None, functions=None):
    """The differential as a SymPy expression; dA is the MatrixSymbol named dA.

    Without wrt, every variable varies: differential("inv(A)") is -A^-1 dA A^-1.
    """
    from .printing.to_sympy import to_sympy
    return to_sympy(derive_differential(expr, wrt, shapes, functions)[1])


def derive_differential(expr, wrt=None, shapes=None, functions=None):
    p = Problem.of(expr, shapes, functions)
    names = list(p.vars) if wrt is None else [wrt] if isinstance(wrt, str) else list(wrt)
    return p, simplify(_differential(p.f, {p.var(w) for w in names}))


def check(expr, wrt, shapes=None, functions=None, claim=None, seed: int = 0) -> CheckReport:
    """Check matdiff's gradient (or a claimed one) against finite differences at random inputs."""
    if claim is None:
        return derive_gradient(expr, wrt, shapes, functions).check(seed)
    from .claims import check_claim
    return check_claim(expr, wrt, claim, shapes, functions, seed)


def auto_names(f: Expr, outputs: list) -> dict:
    """Auxiliary names for what the result repeats: the sheets' z0, z1, ... numbering the steps
    of f as it is computed, innermost first; only the steps used twice or more get named."""
    steps: list = []
    seen: set = set()
    stack = [(f, False)]
    while stack:                                 # post-order, right to left, as the sheets number
        e, done = stack.pop()
        if done:
            steps.append(e)
        elif e not in seen:
            seen.add(e)
            stack.append((e, True))
            stack.extend((c, False) for c in children(e))
    numbered = {}
    for e in steps:
        if not isinstance(e, Leaf) and not (isinstance(e, Transpose) and isinstance(e.arg, Leaf)) and e != f:
            numbered[e] = len(numbered)
    names: dict = {}
    for e in sorted(numbered, key=numbered.get, reverse=True):    # outermost first
        if _occurrences(e, outputs, names) >= 2:
            names[e] = ("Z" if shape_of(e)[1] != 1 else "z") + str(numbered[e])
    return names


def _occurrences(target: Expr, outputs: list, opaque: dict, limit: int = 2) -> int:
    """How often target shows in the printed outputs, where named nodes print as their name."""
    count = 0
    stack = list(outputs)
    while stack and count < limit:
        e = stack.pop()
        if e == target:
            count += 1
        elif e not in opaque:
            stack.extend(children(e))
    return count


def _used_names(outputs: list, names: dict) -> list:
    """The named nodes the outputs use, innermost first, each once: (node, name)."""
    used: list = []
    seen: set = set()

    def visit(e, top):
        stack = [(e, top, False)]
        while stack:
            n, is_top, done = stack.pop()
            if done:
                used.append((n, names[n]))
                continue
            if n in names and not is_top:
                if n in seen:
                    continue
                seen.add(n)
                stack.append((n, False, True))
                stack.extend((c, False, False) for c in reversed(children(n)))
                continue
            stack.extend((c, False, False) for c in reversed(children(n)))
    for o in outputs:
        visit(o, True)
    return used


def _names(functions) -> tuple:
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


def _shapes(shapes) -> dict:
    if shapes is None:
        return {}
    if not isinstance(shapes, dict):
        raise MatdiffError(f"shapes= is a dict such as {{'W': ('n', 'n'), 'x': ('n',)}}, got {type(shapes).__name__}")
    return shapes
