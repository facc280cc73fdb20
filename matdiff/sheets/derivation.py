"""Problem + wrt -> Derivation: the steps of a worked solution, recorded from the calculus itself.

The sheets derive a gradient in five moves, and each is a run of matdiff's own rules
with a recorder attached (record.Step), never a template filled in afterwards:

1. the computational graph: one auxiliary variable per operation (z0 = W x, z1 = z0 + b,
   ... numbered as gradient.auto_names numbers them), or the program's own steps;
2. the differential of every equation: diff.differential with record=, constants dropped;
3. back-substitution: df rewritten, equation by equation, until only dW is left;
4. the trace steps: canon.pullback with record= from <1, df> = Tr(df), each rule one
   trace identity (linearity, cyclic permutation, the Hadamard swap, ...);
5. df = Tr(g^T dW): g read off, simplified, and with the auxiliary variables put back.

In the `diag` notation (the sheets' own) an elementwise product with a differential,
a ∘ dx, is written as the Jacobian times dx, diag(a) dx; in `hadamard` it stays a ∘ dx.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from matdiff.language.algebra import ONE, add, matmul, normalize, transpose
from matdiff.calculus.canon import pullback
from matdiff.checking.check import CheckReport, check_gradients
from matdiff.calculus.diff import differential
from matdiff.errors import DerivativeError, LimitError, MatdiffError
from matdiff.graph.build import auxiliary_equations, sheet_equations
from matdiff.limits import tick
from matdiff.language.expr import (
    Add, Const, Differential, Expr, Hadamard, Trace, Var, Zero, children, computation_order, postorder, substitute,
)
from matdiff.language.problem import Problem
from matdiff.calculus.record import Recorder, Step
from matdiff.language.shapes import shape_of
from matdiff.sheets.rules import distribute, elementwise_form, expand, hadamard_as_diag, rewrite, tidy
from matdiff.calculus.gradient import symmetric_part
from matdiff.calculus.simplify import simplify

NOTATIONS = ("diag", "hadamard")
# simplify's rules that cancel through the elementwise identities (calculus/entrywise.py): where one
# fires on the answer written elementwise, the sheet shows that form too
CANCELLING = {"entrywise_normal_form", "diag_sums", "even_derivatives", "half_powers"}


@dataclass
class Equation:
    """sym = rhs, and (when it depends on wrt) d(sym) = d, with the rule applications that gave d."""
    sym: Var
    rhs: Expr
    d: Expr | None = None                     # None: constant with respect to wrt
    steps: list = field(default_factory=list)


@dataclass
class Line:
    """One line of a chain of equalities, and the steps that led to it from the line before."""
    expr: Expr
    steps: list = field(default_factory=list)
    substituted: tuple = ()                   # back-substitution: the symbols whose differential was replaced


@dataclass
class Derivation:
    problem: Problem
    wrt: Var
    notation: str
    fname: str                                # y, f, or the program's own name (J, L)
    equations: list                           # [Equation], the last one fname = result
    auxiliary: bool                           # True: the equations are ours (z0, z1, ...), not the program's
    constants: list                           # the inputs other than wrt: their differentials are 0
    backsub: list                             # [Line]: df, down to an expression in dW only
    trace: list                               # [Line]: each expr a sum of <M, E> pairs printed as Tr(M^T E)
    pairs: list                               # [[(M, E), ...]] for each trace line
    terms: list                               # [M_i]: df = sum_i <M_i, dW>
    g: Expr                                   # the gradient over the equations' symbols
    g_inline: Expr                            # the gradient over the inputs only
    inline: dict                              # symbol -> its definition over the inputs
    g_read: Expr = None                       # g as read off, before multiplying out
    simplification: list = field(default_factory=list)   # the Steps from g_read to g (if any)
    g_general: Expr = None                    # wrt declared symmetric: g for every dW, before sym(g)
    g_elementwise: Expr = None                # g_inline with diag(a) b = a ∘ b, where that is shorter
    elementwise_steps: list = field(default_factory=list)   # the Steps from g_inline to g_elementwise

    @property
    def kind(self) -> str:
        """'matrix', 'vector' or 'scalar': how df = <g, dW> is written."""
        r, c = shape_of(self.wrt)
        return "scalar" if (r, c) == (1, 1) else "vector" if c == 1 else "matrix"

    def check(self, seed: int = 0) -> CheckReport:
        """The sheet's own answer, g_inline, against central differences of f."""
        p = self.problem
        return check_gradients(p.f, {self.wrt: self.g_inline}, p.shaped, seed)


# ---- 1. the computational graph ---------------------------------------------------------------------

# auxiliary_equations and sheet_equations live in the graph room (matdiff/graph/build.py): the
# sheet's z0..z5 and the drawn graph's nodes are the same equations


# ---- 2. differentials -----------------------------------------------------------------------------------

def _equation_differential(rhs: Expr, varying: set, named: dict, notation: str) -> tuple:
    rec = Recorder()
    d = differential(rhs, varying, record=rec)
    d = substitute(d, named)                      # softmax(theta) met again is yhat, ||z0|| is z1
    if notation == "diag":
        d = rewrite(d, {Hadamard: hadamard_as_diag}, rec)
    return tidy(d), list(rec)


# ---- 3. back-substitution -----------------------------------------------------------------------------

MAX_LINE = 1500       # symbols one line of a sheet may print: a residual network's differential,
                      # written out as sheets write it, doubles with every layer


def printed_size(e: Expr, cap: int = MAX_LINE + 1) -> int:
    """How many nodes e prints as a tree (a shared node once per use), counted up to cap."""
    size: dict = {}
    for n in postorder(e):
        size[n] = min(cap, 1 + sum(size[c] for c in children(n)))
    return size[e]


def small(e: Expr) -> Expr:
    """e, or a LimitError when it is too long to print as one line of a sheet."""
    if printed_size(e) > MAX_LINE:
        raise LimitError(f"this derivation is too long for a solution sheet: a line of it would print "
                         f"more than {MAX_LINE} symbols (matdiff.sheets.derivation.MAX_LINE); matdiff grad "
                         f"gives the gradient with its shared parts named")
    return e


def back_substitute(df: Expr, eqs: list) -> list:
    """df, then each line with the differentials of the equations put in, latest equation first.
    All the symbols whose every user is already substituted go in together, as the sheets do."""
    d = {q.sym: q.d for q in eqs if q.d is not None}
    uses = {q.sym: {n for n in postorder(q.rhs) if isinstance(n, Var) and n in d} for q in eqs}
    below: dict = {}                              # sym -> every symbol it is computed from
    for q in eqs:
        below[q.sym] = set().union(*([uses[q.sym]] + [below[s] for s in uses[q.sym]]))
    order = {s: i for i, s in enumerate(d)}
    lines = [Line(df)]
    e = df
    while True:
        tick()                                    # one line per round: a long program has many
        # one walk over e, and only its own differentials looked up: linear per line, not per symbol
        present = sorted({n.of for n in postorder(e) if isinstance(n, Differential) and n.of in d}, key=order.get)
        if not present:
            break
        ready = tuple(s for s in present if not any(s in below[t] for t in present if t != s))
        rec = Recorder()
        e = distribute(small(e), rec)
        e = small(normalize(substitute(e, {Differential(s): d[s] for s in ready})))
        lines.append(Line(e, list(rec), ready))
    rec = Recorder()
    final = small(distribute(e, rec))
    if final != e:
        lines.append(Line(final, list(rec)))
    return lines


# ---- 4. the trace steps ---------------------------------------------------------------------------------

@dataclass
class _Node:
    pair: tuple
    step: Step | None = None
    kids: list = field(default_factory=list)


def _tree(pair, steps) -> _Node:
    """The pull-back's records (depth-first pre-order) as a tree of <M, E> pairs."""
    node = _Node(pair)
    if not isinstance(pair[1], Differential):
        node.step = next(steps)
        node.kids = [_tree(p, steps) for p in node.step.after]
    return node


def trace_rounds(df: Expr) -> tuple:
    """<1, df> pulled back to sum_i <M_i, dW>, every pair one rule per round: ([(pairs, steps)], [M_i])."""
    rec = Recorder()
    got = pullback(ONE, df, record=rec)
    frontier = [_tree((ONE, df), iter(rec))]
    rounds = [([n.pair for n in frontier], [])]
    while any(n.step for n in frontier):
        steps = [n.step for n in frontier if n.step]
        frontier = [k for n in frontier for k in (n.kids if n.step else [n])]
        rounds.append(([n.pair for n in frontier], steps))
    return rounds, [M for _, M in got]


def pair_expr(M: Expr, E: Expr, matrix: bool) -> Expr:
    """<M, E> as the sheets write it: Tr(M^T E), or M^T E where that is already a scalar."""
    Mt = simplify(transpose(M))
    body = matmul(Mt, E)
    if isinstance(body, Trace) or not (matrix or shape_of(E)[1] != 1):
        return body
    return Trace(body)


def sum_of(terms: list) -> Expr:
    """The terms as one sum, as they are: no collecting, no reordering."""
    if not terms:
        return Const(0)
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


# ---- the whole derivation ---------------------------------------------------------------------------------

def derive(p: Problem, wrt: str, notation: str = "diag") -> Derivation:
    """The worked solution for the gradient of p with respect to wrt."""
    if notation not in NOTATIONS:
        raise MatdiffError(f"the notation is one of {', '.join(NOTATIONS)}, not {notation!r}")
    p.require_scalar("gradient")
    W = p.var(wrt)
    pairs, inline, result, auxiliary, fname = sheet_equations(p)
    eqs = [Equation(s, r) for s, r in pairs] + [Equation(Var(fname, ()), result)]
    named = {r: s for s, r in pairs}
    varying = {W}
    for q in eqs:
        if any(isinstance(n, Var) and n in varying for n in postorder(q.rhs)):
            q.d, q.steps = _equation_differential(q.rhs, varying, named, notation)
            varying.add(q.sym)
    if eqs[-1].d is None:
        # (this was a DerivativeError from the pull-back of None before rebuild refused unknown nodes)
        raise DerivativeError(f"{fname} does not depend on {wrt}: its gradient is 0, and there is "
                              f"no derivation to write")
    lines = back_substitute(eqs[-1].d, eqs[:-1])
    rounds, terms = trace_rounds(lines[-1].expr)
    matrix = shape_of(W)[1] != 1
    trace = [Line(sum_of([pair_expr(M, E, matrix) for M, E in ps]), steps) for ps, steps in rounds]
    g = g_read = tidy(substitute(add(*terms), named)) if terms else Zero(shape_of(W))
    simplification = []
    if printed_size(g) <= 200:                # multiplied out, it may cancel: keep that, and say how
        rec = Recorder()
        shorter = expand(g, rec)
        if len(str(shorter)) < len(str(g)):
            g, simplification = shorter, list(rec)
    g_inline = simplify(substitute(g, inline)) if auxiliary else substitute(g, inline)
    g_general = None
    if W.structure:                           # the gradient on the symmetric matrices (calculus.gradient)
        g_general, g, g_inline = g, symmetric_part(g), symmetric_part(g_inline)
        if g == g_general:
            g_general = None                  # already symmetric: nothing to say
    constants = [v for n, v in p.vars.items() if v != W]
    g_elementwise, elementwise_steps = None, []
    if g_general is None and printed_size(g_inline) <= 200:   # the elementwise identities may cancel
        rec = Recorder()
        shorter = elementwise_form(g_inline, rec)
        cancelled = any(step.rule in CANCELLING for step in rec)     # not the notation alone
        if cancelled and len(str(shorter)) < len(str(g_inline)):
            g_elementwise, elementwise_steps = shorter, list(rec)
    return Derivation(p, W, notation, fname, eqs, auxiliary, constants, lines, trace,
                      [ps for ps, _ in rounds], terms, g, g_inline, inline, g_read, simplification, g_general,
                      g_elementwise, elementwise_steps)


__all__ = ["derive", "Derivation", "Equation", "Line", "NOTATIONS", "computation_order",
           "auxiliary_equations", "back_substitute", "trace_rounds", "pair_expr"]
