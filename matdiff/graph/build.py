"""Problem + wrt -> the computational graph: the inputs and the auxiliary variables as nodes,
an edge from each argument to the node it is an argument of, labelled with the operation.

The nodes are exactly the equations the solution sheet defines (sheet_equations, which
sheets/derivation.py calls): for an expression, one auxiliary variable per operation
(z0 = W x, z1 = z0 + b, ..., as auxiliary_equations numbers them); for a program, its own
lines. So the sheet's z0..z5 and the picture's nodes are the same by construction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from matdiff.errors import MatdiffError
from matdiff.language import expr as E
from matdiff.language.algebra import normalize
from matdiff.language.expr import Expr, Inverse, Leaf, MatPow, HadamardPow, Mul, Const, Transpose, Var, \
    children, computation_order, postorder, substitute
from matdiff.language.problem import Problem, symbol_for, user_shape
from matdiff.language.shapes import shape_of
from matdiff.limits import tick
from matdiff.printing.latex import function_name, latex_name, number
from matdiff.printing.text import to_text


# ---- the equations the sheet defines ----------------------------------------------------------------

def _trivial(e: Expr) -> bool:
    """Not worth a name: a leaf, under transposes, inverses, powers or a number (c^T, S^-1, -t)."""
    while True:
        if isinstance(e, (Transpose, Inverse, MatPow, HadamardPow)):
            e = e.arg
        elif isinstance(e, Mul) and len(e.args) == 2 and isinstance(e.args[0], Const):
            e = e.args[1]
        else:
            return isinstance(e, Leaf)


def _prefix(taken: set) -> str:
    for p in "zuhqs":
        if not any(re.fullmatch(rf"[{p}{p.upper()}]\d+", n) for n in taken):
            return p
    raise MatdiffError("every name for the auxiliary variables is taken by an input")


def auxiliary_equations(f: Expr, taken: set) -> tuple:
    """One equation per operation of f: ([(sym, rhs over syms and inputs)], {sym: node of f})."""
    p = _prefix(taken)
    named: dict = {}
    eqs = []
    for e in computation_order(f):
        if e == f or _trivial(e):
            continue
        i = len(named)
        rhs = normalize(substitute(e, named))
        sym = symbol_for(f"{p.upper() if shape_of(e)[1] != 1 else p}{i}", user_shape(e), rhs)   # Z0 = X^T X is symmetric
        eqs.append((sym, rhs))
        named[e] = sym
    return eqs, {s: e for e, s in named.items()}, normalize(substitute(f, named))


def function_symbol(p: Problem) -> str:
    """The name of the function's value: the program's own (J, L), else y, f, F or ell, whichever is free."""
    inputs = set(p.vars)
    return p.shaped.name or next(n for n in ("y", "f", "F", "ell") if n not in inputs and
                                 all(s.name != n for s, _ in p.steps))


def sheet_equations(p: Problem) -> tuple:
    """(pairs [(sym, rhs)], inline {sym: definition over the inputs}, result, auxiliary, fname): the
    equations a solution sheet defines, and the computational graph draws. auxiliary is False where
    they are the program's own lines."""
    fname = function_symbol(p)
    if p.steps:
        return list(p.steps), dict(p.inline), p.result, False, fname
    pairs, inline, result = auxiliary_equations(p.f, set(p.vars))
    return pairs, inline, result, True, fname


# ---- the operations on the edges ----------------------------------------------------------------------

# node type -> (text, LaTeX) of the operation; Apply and the powers are spelled from the node
OPERATIONS = {
    E.MatMul: ("·", r"\cdot"), E.Mul: ("·", r"\cdot"), E.Add: ("+", "+"), E.Hadamard: ("∘", r"\circ"),
    E.Kron: ("⊗", r"\otimes"), E.Transpose: ("ᵀ", r"{}^{\top}"), E.Inverse: ("⁻¹", r"{}^{-1}"),
    E.Trace: ("tr", r"\operatorname{tr}"), E.Det: ("det", r"\det"), E.LogDet: ("logdet", r"\log\det"),
    E.Sum: ("sum", r"\operatorname{sum}"), E.Norm: ("‖·‖", r"\lVert\cdot\rVert"),
    E.DiagMat: ("diag", r"\operatorname{diag}"), E.DiagOf: ("diag", r"\operatorname{diag}"),
    E.Vec: ("vec", r"\operatorname{vec}"), E.Unvec: ("unvec", r"\operatorname{unvec}"),
    E.Softmax: ("softmax", r"\operatorname{softmax}"), E.LogSumExp: ("lse", r"\operatorname{lse}"),
    E.BatchSoftmax: ("softmax", r"\operatorname{softmax}"), E.BatchLogSumExp: ("lse", r"\operatorname{lse}"),
    E.LogSoftmax: ("log softmax", r"\log\operatorname{softmax}"), E.Pow: (".^", r"{}^{\circ}"),
}

GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ", "eta": "η",
         "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
         "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
         "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
         "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω"}


def operation(e: Expr) -> tuple:
    """(text, LaTeX) of the operation at the top of e."""
    if isinstance(e, E.Apply):
        primes = "′" * e.fn.order
        return GREEK.get(e.fn.name, e.fn.name) + primes, function_name(e.fn.name) + "'" * e.fn.order
    if isinstance(e, E.MatPow):
        return f"^{e.k}", rf"{{}}^{{{e.k}}}"
    if isinstance(e, E.HadamardPow):
        return f".^{e.k}", rf"{{}}^{{\circ {e.k}}}"
    return OPERATIONS.get(type(e), (type(e).__name__.lower(),) * 2)


def edge_labels(rhs: Expr, args: list) -> dict:
    """arg -> (text, LaTeX): the operation applied to each argument where it occurs in rhs, a
    transpose on the way said too (c^T z5: c enters by ᵀ·, z5 by ·); `g = h` is a copy, "="."""
    parents: dict = {}
    for n in postorder(rhs):
        for c in children(n):
            parents.setdefault(c, [])
            if n not in parents[c]:
                parents[c].append(n)
    out = {}
    for a in args:
        texts, latexes = [], []
        for p in parents.get(a, []):
            t, lx = "", ""
            while isinstance(p, Transpose) and parents.get(p):
                t, lx = t + "ᵀ", lx + r"{}^{\top}"
                p = parents[p][0]
            if isinstance(p, Mul) and len(p.args) == 2 and isinstance(p.args[0], Const) and p.args[1] != p.args[0]:
                k = p.args[0].value           # z3 - t: t enters by −; 1/2 z6 by 1/2·
                ot, ol = ("−", "-") if k == -1 else (f"{k}·", number(k) + r"\cdot")
            else:
                ot, ol = operation(p)
            if (t + ot) not in texts:
                texts.append(t + ot)
                latexes.append(lx + ol)
        out[a] = (", ".join(texts) or "=", ", ".join(latexes) or "=")
    return out


# ---- the graph ---------------------------------------------------------------------------------------

@dataclass
class Node:
    id: str                      # the input's or the auxiliary variable's name (z0, Z3, h, J)
    role: str                    # "input", "auxiliary" or "output"
    symbol: Var                  # the node as a Var (its shape and structure)
    rhs: Expr | None = None      # its definition over its arguments' symbols (None for an input)
    args: list = field(default_factory=list)     # the ids of its arguments, first use first
    wrt: bool = False

    @property
    def label(self) -> str:
        return self.id

    @property
    def latex(self) -> str:
        return latex_name(self.id)

    @property
    def definition(self) -> str:
        if self.rhs is None:
            return f"{self.id}: input, {shape_text(self.symbol)}"
        return f"{self.id} = {to_text(self.rhs)}"

    @property
    def shape(self) -> tuple:
        """(rows, cols) as matdiff's shape rules give them: symbolic sizes, 1 for a vector's columns."""
        return shape_of(self.symbol)


@dataclass
class Edge:
    source: str
    target: str
    label: str                   # the operation, as text (·, +, Φ, ᵀ·)
    latex: str                   # the same in LaTeX (\cdot, +, \Phi)


def shape_text(v: Var) -> str:
    """'n×m', 'n' or 'scalar'."""
    s = user_shape(v)
    return "×".join(map(_dim, s)) if s else "scalar"


def _dim(d) -> str:
    if isinstance(d, tuple):
        return f"{_dim(d[1])}{_dim(d[2])}"
    return str(d)


def graph_structure(p: Problem, wrt=None) -> tuple:
    """(nodes, edges, equations): the nodes in an order where every argument comes before its use,
    the inputs first as the function first uses them; equations [(sym, rhs)] with the output last."""
    pairs, _, result, auxiliary, fname = sheet_equations(p)
    wrts = set() if wrt is None else {wrt} if isinstance(wrt, str) else set(wrt)
    output = Var(fname, user_shape(p.f))
    eqs = pairs + [(output, result)]
    symbols = {s.name for s, _ in eqs}
    nodes: dict = {}
    edges = []
    for sym, rhs in eqs:
        tick()
        args = list(dict.fromkeys(n for n in postorder(rhs) if isinstance(n, Var)))
        for a in args:
            if a.name not in symbols and a.name not in nodes:
                nodes[a.name] = Node(a.name, "input", a, wrt=a.name in wrts)
        labels = edge_labels(rhs, args)
        nodes[sym.name] = Node(sym.name, "output" if sym is output else "auxiliary", sym, rhs,
                               [a.name for a in args])
        edges += [Edge(a.name, sym.name, *labels[a]) for a in args]
    inputs = [n for n in nodes.values() if n.role == "input"]
    others = [n for n in nodes.values() if n.role != "input"]
    return inputs + others, edges, eqs


__all__ = ["auxiliary_equations", "sheet_equations", "function_symbol", "graph_structure", "Node", "Edge",
           "edge_labels", "operation", "shape_text", "GREEK"]
