"""Problem -> gradients: back-propagation step by step through a program, deltas named.

Each step `z = rhs` gets the summed cotangent of z (its delta) and passes it to
the symbols and inputs of rhs with canon.backprop, which runs over rhs's own DAG.
A delta that more than one thing uses becomes a symbol `delta_z`, so the answer
to a network reads like the sheets' back-propagation and stays linear in size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fractions import Fraction

from matdiff.language.algebra import add, is_symmetric, mul, transpose
from matdiff.calculus.canon import backprop
from matdiff import limits
from matdiff.limits import budgeted
from matdiff.errors import MatdiffError
from matdiff.language.expr import (
    Add, Const, Expr, HadamardPow, Inverse, Leaf, MatPow, Transpose, Var, Zero, children, computation_order, postorder,
    substitute,
)
from matdiff.printing.latex import aligned, latex_name, to_latex
from matdiff.printing.size import printed_size
from matdiff.printing.text import to_text
from matdiff.language.problem import Problem
from matdiff.language.shapes import shape_of
from matdiff.calculus.simplify import simplify

if TYPE_CHECKING:                                 # NumPy is loaded only when a check is asked for
    from matdiff.checking.check import CheckReport


@dataclass
class Gradient:
    """Gradients of one scalar function, as matdiff's expressions, and how to print them."""
    problem: Problem
    stepwise: dict                                # name -> gradient over the steps' symbols and deltas, as printed
    deltas: list = field(default_factory=list)    # [(delta symbol, its expression)], output side first
    names: dict = field(default_factory=dict)     # node -> auxiliary name (z1, z4) for printing
    projected: set = field(default_factory=set)   # symmetric wrt whose gradient on all matrices was not symmetric
    inlined: dict = field(init=False)             # name -> gradient over the inputs only (SymPy, the check)

    def __post_init__(self):
        mapping = dict(self.problem.inline)       # deltas and steps replaced by what they stand for
        for d, e in self.deltas:
            mapping[d] = substitute(e, mapping)
        self.inlined = {w: substitute(g, mapping) for w, g in self.stepwise.items()}

    @budgeted
    def text(self) -> str:
        """The program's steps, the deltas used, then `∂f/∂W = ...` for each variable."""
        p = self.problem
        f = p.shaped.name or "f"
        lines = [f"{s.name} = {to_text(e, self.names)}" for s, e in p.steps]
        lines += [f"{n} = {to_text(e, self.names)}" for e, n in _used_names(list(self.stepwise.values()), self.names)]
        lines += [f"{d.name} = {to_text(e)}" for d, e in self.deltas]
        lines += [f"∂{f}/∂{w} = {to_text(g, self.names)}" for w, g in self.stepwise.items()]
        symmetric = [w for w in self.stepwise if w in self.projected]   # where sym(G) = G, nothing to say
        if symmetric:
            w = symmetric[0] if len(symmetric) == 1 else "X"
            lines.append(f"({', '.join(symmetric)} declared symmetric: {'its' if len(symmetric) == 1 else 'each'} "
                         f"gradient is the one on the symmetric matrices, sym(G) = (G + G^T)/2 for the gradient "
                         f"G on all matrices: d{f} = Tr(sym(G)^T d{w}) for every symmetric d{w})")
        return "\n".join(lines)

    @budgeted
    def latex_lines(self) -> list:
        """The lines of text() as LaTeX (left side, right side) pairs."""
        p = self.problem
        f = latex_name(p.shaped.name or "f")
        lines = [(latex_name(s.name), to_latex(e, self.names)) for s, e in p.steps]
        lines += [(latex_name(n), to_latex(e, self.names))
                  for e, n in _used_names(list(self.stepwise.values()), self.names)]
        lines += [(latex_name(d.name), to_latex(e)) for d, e in self.deltas]
        lines += [(rf"\frac{{\partial {f}}}{{\partial {latex_name(w)}}}", to_latex(g, self.names))
                  for w, g in self.stepwise.items()]
        return lines

    def _repr_latex_(self) -> str:
        """Jupyter renders a Gradient as its LaTeX lines."""
        return "$$" + aligned(self.latex_lines()) + "$$"

    @budgeted
    def sympy(self) -> dict:
        return {w: _sympy_of(g) for w, g in self.inlined.items()}

    @budgeted
    def check(self, seed: int = 0) -> CheckReport:
        from matdiff.checking.check import check_gradients     # NumPy costs ~50 ms at start-up: load it when asked
        p = self.problem
        return check_gradients(p.f, {p.var(w): g for w, g in self.inlined.items()}, p.shaped, seed)


def _sympy_of(g: Expr):
    """g as SymPy, from the simplified gradient (sympy_form)."""
    from matdiff.printing.to_sympy import to_sympy   # SymPy costs half a second: load it when asked
    return to_sympy(sympy_form(g))


def sympy_form(g: Expr) -> Expr:
    """The form of g a SymPy result is built from: g simplified, as the text is (issue 15). Inlining
    a program's steps and deltas leaves what the text never shows ((B + B^T) x with B = A^T is
    (A^T + A^T^T) x inline, A X + A^T X is (A + A^T) X), and simplifying also collapses a 2,000-step
    chain inline (h2000 = (((x + x) + x) + ...), to 2000 x) in linear time, before SymPy's classes,
    which recurse over their arguments, would meet its depth (still too deep: LimitError).
    Except where simplifying grows the DAG (a residual chain h_i = tanh(W h_(i-1)) + h_(i-1) inline,
    each sum flattened into all the terms before it: quadratic in the layers): SymPy's MatAdd
    checks every argument's shape by walking it without a cache, seconds for 128 layers, so
    there the form as derived, the same value, is converted."""
    simplified = simplify(g)
    return simplified if _edges(simplified) <= 2 * _edges(g) + 16 else g


def _edges(e: Expr) -> int:
    """The size of e as a DAG: its nodes' arguments, counted once per node."""
    return sum(len(children(n)) for n in postorder(e))


def gradient_of(p: Problem, wrt) -> Gradient:
    p.require_scalar("gradient")
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise MatdiffError("wrt= names at least one variable")
    targets = [p.var(w) for w in names]
    target_set = frozenset(targets)
    active = set(targets)
    for sym, rhs in p.steps:                      # the steps that depend on a target
        if any(isinstance(n, Var) and n in active for n in postorder(rhs)):
            active.add(sym)
    cot: dict = {}
    # a step's right-hand side met again inside a derivative (softmax(theta) in d softmax) is
    # written as the step's name (yhat), so that what cancels against yhat is seen to cancel
    named = {rhs: sym for sym, rhs in p.steps}
    _pass_on(p.result, None, active, cot, named)
    deltas = []
    for sym, rhs in reversed(p.steps):
        if sym not in cot:
            continue
        M = simplify(add(*cot.pop(sym)))
        if isinstance(M, Zero):
            continue
        users = {n for n in postorder(rhs) if isinstance(n, Var) and n in active}
        limits.tick()
        # a delta used twice or more, or grown big (a long chain of one-input steps), gets a name:
        # that keeps every printed line short and the whole derivation linear in the program
        if not isinstance(M, Leaf) and (len(users) > 1 or users & target_set or len(postorder(M)) > 40):
            d = Var(f"delta_{sym.name}", sym.shape, "sym" if sym.structure and is_symmetric(M) else "")
            deltas.append((d, M))
            M = d
        _pass_on(rhs, M, users, cot, named)
    stepwise = {w: simplify(add(*cot[v])) if v in cot else Zero(shape_of(v)) for w, v in zip(names, targets)}
    general = stepwise
    stepwise = {w: symmetric_part(g) if v.structure else g for (w, g), v in zip(stepwise.items(), targets)}
    projected = {w for w in stepwise if stepwise[w] != general[w]}
    deltas = _used_deltas(list(stepwise.values()), deltas)
    names_ = {} if p.steps else auto_names(p.f, list(stepwise.values()))
    return Gradient(p, stepwise, deltas, names_, projected)


def symmetric_part(G: Expr) -> Expr:
    """sym(G) = (G + G^T)/2: the gradient with respect to a matrix declared symmetric (or spd).
    df = Tr(G^T dS) for every dS; for the symmetric dS that S can move along, Tr(G^T dS) =
    Tr(sym(G)^T dS), and sym(G) is the one gradient that is itself symmetric: it lies in the space
    S moves in (README, "Symmetric matrices"). G + G^T - diag(G) is another thing: the partial
    derivatives with respect to the independent entries S_ij, i <= j."""
    terms = list(G.args) if isinstance(G, Add) else [G]
    transposed = [simplify(transpose(t)) for t in terms]     # a transpose stays outside a sum: go term by term
    symmetric = [t for t, tt in zip(terms, transposed) if t == tt]
    rest = [(t, tt) for t, tt in zip(terms, transposed) if t != tt]
    if not rest:
        return G
    half = mul(Const(Fraction(1, 2)), add(*(t for t, _ in rest), *(tt for _, tt in rest)))
    return simplify(add(*symmetric, half))


def _pass_on(rhs: Expr, seed, active: set, cot: dict, named: dict) -> None:
    """Back-propagate seed through rhs into the cotangents of the active symbols and inputs."""
    targets = [n for n in dict.fromkeys(postorder(rhs)) if isinstance(n, Var) and n in active]
    if not targets:
        return
    got = backprop(rhs, targets) if seed is None else backprop(rhs, targets, seed=seed)
    for v, g in got.items():
        if not isinstance(g, Zero):
            cot.setdefault(v, []).append(substitute(g, named))


def _used_deltas(outputs: list, deltas: list) -> list:
    """The deltas the outputs use, directly or through other deltas (each walked once)."""
    defined = dict(deltas)
    used: set = set()
    seen: set = set()
    stack = list(outputs)
    while stack:
        for n in postorder(stack.pop(), done=seen):
            seen.add(n)
            if n in defined and n not in used:
                used.add(n)
                stack.append(defined[n])
    return [(d, e) for d, e in deltas if d in used]


def auto_names(f: Expr, outputs: list) -> dict:
    """Auxiliary names where they pay (issue 15): the sheets' z0, z1, ... numbering the steps of f
    as it is computed, innermost first. A step is a candidate when the outputs print it twice or
    more; it is named only when the name makes the printed answer shorter, its definition
    `z0 = x^T x` counted (printing.size: symbols of the definitions plus the answer, a tie inlined).
    So no name is printed unused (a z1 = z0^-1 the outputs print as `/ z0`), and none used once."""
    steps = computation_order(f)                 # post-order, right to left, as the sheets number
    numbered: dict = {}
    for e in steps:
        if not _trivial(e) and e != f:
            numbered[e] = len(numbered)
    outermost_first = sorted(numbered, key=numbered.get, reverse=True)

    def name(e):
        return ("Z" if shape_of(e)[1] != 1 else "z") + str(numbered[e])
    names: dict = {}
    for e in outermost_first:                    # every candidate named first: the print stays compact
        limits.tick()                            # one walk of the outputs per step: quadratic, so on the clock
        if _occurrences(e, outputs, names) >= 2:
            names[e] = name(e)
    # then each name is dropped where it does not pay, a part named where it now does; a trial
    # inlines one definition at its uses (never a shared part printed out exponentially)
    size = _printed_size(outputs, names)
    if size > _TRIAL_LIMIT:
        return names                             # each trial prints the whole answer: past a textbook's
    for _ in range(3):                           # size, the compact naming stands (nested Hessians)
        changed = False
        for e in outermost_first:
            limits.tick()
            if e in names:
                if _occurrences(e, outputs, names) >= 2 and printed_size(e, names) > 4:
                    continue                     # printed twice, inline twice its D > 4 symbols: D + 4 with it
                trial = {k: n for k, n in names.items() if k != e}
            elif _occurrences(e, outputs, names) >= 2:
                trial = {**names, e: name(e)}
            else:
                continue
            trial_size = _printed_size(outputs, trial)
            if trial_size < size or (e in names and trial_size == size):
                names, size, changed = trial, trial_size, True
        if not changed:
            break
    return names


_TRIAL_LIMIT = 1500      # symbols; a 30-deep softplus Hessian prints ~10,000, and its trials took seconds


def _printed_size(outputs: list, names: dict) -> int:
    """The symbols of the answer as printed with these names: the definitions of the names it
    uses (`z0 = x^T x`: the name, the `=` and the right-hand side) and the outputs themselves."""
    used = _used_names(outputs, names)
    return sum(2 + printed_size(e, names) for e, _ in used) + sum(printed_size(o, names) for o in outputs)


def _trivial(e: Expr) -> bool:
    """A leaf under transposes, inverses and powers (S^-1, A^-T): a name would not be shorter."""
    while isinstance(e, (Transpose, Inverse, MatPow, HadamardPow)):
        e = e.arg
    return isinstance(e, Leaf)


def _occurrences(target: Expr, outputs: list, opaque: dict, cap: int = 2) -> int:
    """How often target shows in the printed outputs (named nodes print as their name);
    counted over the DAG with a memo, so shared sub-expressions cost once."""
    memo: dict = {}

    def count(root):
        for e in postorder(root):
            if e not in memo:
                memo[e] = 1 if e == target else 0 if e in opaque else \
                    min(cap, sum(memo[c] for c in children(e)))
        return memo[root]
    return min(cap, sum(count(o) for o in outputs))


def _used_names(outputs: list, names: dict) -> list:
    """The named nodes the outputs use, innermost first, each once: (node, name)."""
    used: list = []
    seen: set = set()
    stack = [(o, True, False) for o in reversed(outputs)]
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
    return used
