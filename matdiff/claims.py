"""Is a claimed gradient right? Equal at several random inputs, or a concrete counterexample."""
from __future__ import annotations

import warnings

import numpy as np

from matdiff.language.algebra import normalize
from matdiff.checking.check import EQUAL_RTOL, NOISE, CheckReport, Row, compare
from matdiff.errors import MatdiffError, ShapeError, note
from matdiff.language.dims import FRESH
from matdiff.language.expr import (
    ONE, Add, Apply, Assign, Const, Expr, Hadamard, Mul, Ones, Program, Unvec, Var, Zero, children, postorder, transform,
    with_children,
)
from matdiff.language.functions import ELEMENTWISE
from matdiff.calculus.gradient import gradient_of
from matdiff.language.inference import infer_shapes
from matdiff.checking.numeric import Env, evaluate, stand_in
from matdiff.language.parse import parse
from matdiff.language.problem import Problem, understand
from matdiff.language.shapes import shape_of
from matdiff.calculus.simplify import simplify


def check_claim(expr, wrt, claim, shapes=None, functions=None, seed: int = 0, syntax: str = "auto") -> CheckReport:
    """Is `claim` the gradient of expr with respect to wrt? Right (equal symbolically after
    simplification, or entry by entry at several random inputs), or wrong with a counterexample:
    the inputs, the entry where claim and matdiff's gradient differ most, both values, and where
    it can tell, the term of the claim that differs."""
    if not isinstance(wrt, str):
        raise MatdiffError("a claim is the gradient with respect to one variable: wrt='W'")
    g = gradient_of(Problem.of(expr, shapes, functions, syntax), wrt)
    p = g.problem
    right = g.inlined[wrt]
    declared = {**p.shaped.inputs, **(shapes or {})}
    # the claim in $…$ is LaTeX whatever the function's syntax; without them, matdiff's notation
    parsed = parse(claim, tuple(functions or ()), "matdiff" if syntax == "matdiff" else "auto")
    # The sizes the claim names: as matdiff names them without shapes (the claim it printed then),
    # else any sizes that fit (see _open_sizes).
    printed = _open_sizes(parsed, declared, _printed_names(expr, shapes, functions, p.shaped.inputs, syntax))
    readings = list(dict.fromkeys([printed, _open_sizes(parsed, declared, {})]))
    for reading in readings:   # the claim has wrt's shape: a size it leaves open (the I of 2 tr(X) I) is wrt's
        try:
            shaped = infer_shapes(Program(reading.defs, Hadamard((reading.result, Var(wrt)))), declared)
            # a claim that is a number scales wrt (c ∘ X is c X, 1 ∘ X is X): the number is the claim
            claimed = shaped.expr.args[0] if isinstance(shaped.expr, (Hadamard, Mul)) else ONE
            break
        except ShapeError:
            continue
    else:                # it has not: say how it does not fit, without the constraint
        try:
            shaped = infer_shapes(Program(printed.defs, printed.result), declared)
        except ShapeError as e:
            raise ShapeError(f"the claim does not fit the function's shapes: {e}") from None
        claimed = shaped.expr
    for reading in shaped.readings:   # a degenerate reading of the claim is never silent either
        note(f"in the claim: {reading}", stacklevel=2)
    G = normalize(claimed)
    var = p.var(wrt)                  # an input that cancels (x^T x - x^T x) has the gradient 0
    want = shape_of(var)
    if shape_of(G) != want and _is_zero(G):
        G = Zero(want)                # `0` claims the zero gradient, whatever its shape
    if shape_of(G) != want:
        raise ShapeError(f"the claim is {_shape(shape_of(G))}, but the gradient with respect to {wrt} "
                         f"is {_shape(want)} (the shape of {wrt})")
    unknown = set(shaped.inputs) - set(p.shaped.inputs)
    if unknown:
        raise MatdiffError(f"the claim uses {', '.join(sorted(unknown))}, which the function does not")
    symbolic = simplify(G) == right
    c = compare(G, right, p.shaped, p.f, seed)
    ok = symbolic or c.ok
    values, A, B, idx, scale, dims = c.worst if c.worst is not None else (None,) * 6
    report = CheckReport(ok, c.error, [], c.dims, labels=("claim", "matdiff's gradient"),
                         method="the claim against matdiff's gradient, " + c.describe(),
                         verdicts=("the claim is right", "the claim is WRONG"),
                         tolerance=f"tolerance per entry: relative {EQUAL_RTOL:g} plus {NOISE} times "
                                   f"the rounding noise of each side", redrawn=c.redrawn)
    answer = "\n".join("    " + line for line in g.text().splitlines())
    if A is not None:
        where = f"[{idx[0]}, {idx[1]}]" if A.shape[1] > 1 else f"[{idx[0]}]"
        report.rows = [Row(f"{wrt}{where}", float(A[idx]), float(B[idx]), c.error, ok)]
    if ok:
        how = "symbolically, after simplification" if symbolic else \
            f"at every entry, at random inputs at scales {', '.join(f'{s:g}' for s in c.scales)}"
        report.note = f"the claim equals matdiff's gradient ({how}):\n{answer}"
        return report
    at = "" if scale == 1 else f" (random inputs times {scale:g})"
    report.note = (f"counterexample: at the inputs{at}\n{_inputs(values)}{_stand_ins(p.f)}\n"
                   f"  entry {where} of the claim is {A[idx]:+.6g}, of matdiff's gradient {B[idx]:+.6g}\n"
                   f"matdiff's gradient:\n{answer}"
                   + (_misprint(G, right) or _differing_term(G, right, p, dims, values))
                   + _symmetric_hint(var, A, B))
    return report


def _printed_names(expr, shapes, functions, inputs: dict, syntax: str = "auto") -> dict:
    """The names matdiff gives the function's dimensions when no shape is declared (n, m, k, ...:
    what `matdiff grad` prints without --shape), each mapped to the size the declared shapes give
    it; {} when nothing is declared, or the function has no shapes without them."""
    if not shapes:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bare = understand(expr, None, functions, syntax).inputs
    except MatdiffError:
        return {}
    seen: dict = {}

    def pair(a, b):
        if isinstance(a, tuple) and isinstance(b, tuple):
            pair(a[1], b[1]), pair(a[2], b[2])
        elif isinstance(a, str):
            seen.setdefault(a, set()).add(b)
    for name, s in bare.items():
        t = inputs.get(name)
        if t is not None and len(s) == len(t):
            for a, b in zip(s, t):
                pair(a, b)
    return {a: next(iter(bs)) for a, bs in seen.items() if len(bs) == 1}


def _open_sizes(parsed: Program, declared: dict, names: dict) -> Program:
    """A size the claim names (1_k, ones(k), unvec(v, n, m)) that is no dimension of the function
    is the size the shapes fix, not a new one: with --shape X=4,5 the claim matdiff printed without
    shapes, (1_n^T ⊗ I) ..., is still the same claim. Such a name is the size `names` gives it (the
    function's dimension matdiff calls so without shapes), else a free dimension (every use of it
    the same); a name the function has keeps its size."""
    own: set = set()

    def collect(d):
        if isinstance(d, tuple):
            collect(d[1]), collect(d[2])
        elif isinstance(d, str):
            own.add(d)
    for shape in declared.values():
        for d in (shape if isinstance(shape, (tuple, list)) else (shape,)):
            collect(d)

    def open_dim(d):
        if isinstance(d, tuple):
            return ("*", open_dim(d[1]), open_dim(d[2]))
        if not isinstance(d, str) or d in own or d.startswith(FRESH):
            return d
        return names.get(d, FRESH + d)

    def rebuild(e: Expr, kids: list) -> Expr:
        if isinstance(e, Ones) and e.shape is not None:
            return Ones(tuple(None if d is None else open_dim(d) for d in e.shape))
        if isinstance(e, Unvec):
            return Unvec(open_dim(e.rows), open_dim(e.cols), kids[0])
        return with_children(e, kids) if kids else e

    memo: dict = {}
    defs = tuple(Assign(a.name, transform(a.value, rebuild, memo)) for a in parsed.defs)
    return Program(defs, transform(parsed.result, rebuild, memo), parsed.name)


def _symmetric_hint(var, A: np.ndarray, B: np.ndarray) -> str:
    """With respect to a matrix declared symmetric, the two claims that are right in another sense:
    a G with the right df along symmetric directions that is not symmetric itself, and the
    derivative with respect to the independent entries, G + G^T - diag(G) (README)."""
    if not var.structure:
        return ""
    w = var.name
    if np.allclose((A + A.T) / 2, B, rtol=1e-7, atol=1e-10):
        return (f"\n  the claim's symmetric part, (G + G^T)/2, is matdiff's gradient: the claim gives the right "
                f"df along every symmetric d{w}, but {w} is declared symmetric, and its gradient is the one "
                f"symmetric matrix that does, (G + G^T)/2")
    if np.allclose(A, 2 * B - np.diag(np.diag(B)), rtol=1e-7, atol=1e-10):
        return (f"\n  the claim is G + G^T - diag(G), the derivatives with respect to the independent entries "
                f"{w}_ij, i <= j; matdiff's gradient with respect to the symmetric {w} is (G + G^T)/2, "
                f"with df = Tr(grad^T d{w}) for every symmetric d{w}")
    return ""


def _is_zero(e: Expr) -> bool:
    """The number 0 (or a zero of any shape): how a claim says the gradient is zero."""
    return isinstance(e, Zero) or isinstance(e, Const) and e.value == 0


def _inputs(values: dict) -> str:
    out = []
    for k, v in values.items():
        head = f"    {k} = "
        v = v.reshape(-1) if v.shape[1] == 1 else v          # a vector on one line
        out.append(head + np.array2string(v, precision=4, suppress_small=True, prefix=head))
    return "\n".join(out)


def _stand_ins(f) -> str:
    """Abstract functions are evaluated as distinct concrete ones: say which."""
    names = sorted({n.fn.name for n in postorder(f) if isinstance(n, Apply) and n.fn.name not in ELEMENTWISE})
    if not names:
        return ""
    parts = [f"{n}(t) = sin({a:.4g} t + {b:.4g})" for n in names for a, b in [stand_in(n)]]
    return "\n  with " + ", ".join(parts)


def _differing_term(claim, right, p, dims, values) -> str:
    """Compare the terms of both sums numerically: the claimed terms that match none of matdiff's,
    and matdiff's that the claim misses (when some terms do match, so that the comparison says something)."""
    ct = claim.args if isinstance(claim, Add) else (claim,)
    rt = right.args if isinstance(right, Add) else (right,)
    env = Env(values, dims)
    cv, rv = [evaluate(t, env) for t in ct], [evaluate(t, env) for t in rt]

    def close(a, b):
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-7, atol=1e-10)
    extra = [t for t, v in zip(ct, cv) if not any(close(v, w) for w in rv)]
    missing = [t for t, v in zip(rt, rv) if not any(close(v, w) for w in cv)]
    if len(extra) == len(ct) and len(missing) == len(rt):
        return ""
    out = "".join(f"\n  the claim's term {t} is in no term of matdiff's gradient" for t in extra)
    return out + "".join(f"\n  the claim misses the term {t}" for t in missing)


def _differences(a: Expr, b: Expr, out: list) -> None:
    """Walk two expressions in step; collect the smallest pairs of sub-expressions that differ.
    Arguments of commutative nodes (sums, elementwise and scalar products) that are equal pair first."""
    if a == b:
        return
    ka, kb = children(a), children(b)
    same_node = type(a) is type(b) and len(ka) == len(kb) and ka and \
        [f for f in a.fields() if not isinstance(f, (Expr, tuple))] == \
        [f for f in b.fields() if not isinstance(f, (Expr, tuple))]
    if not same_node:
        out.append((a, b))
        return
    if isinstance(a, (Add, Hadamard, Mul)):
        rest = list(kb)
        pairs = []
        for x in ka:
            if x in rest:
                rest.remove(x)
            else:
                pairs.append(x)
        ka, kb = pairs, rest
    for x, y in zip(ka, kb):
        _differences(x, y, out)


def _misprint(claim: Expr, right: Expr) -> str:
    """Where the claim is written like matdiff's gradient but for a few sub-expressions, name them:
    'the claim has Psi(W x + b) where matdiff's gradient has Phi(W x + b)'."""
    pairs: list = []
    _differences(claim, right, pairs)
    pairs = list(dict.fromkeys(pairs))
    if not pairs or len(pairs) > 3 or any(a is claim for a, _ in pairs):
        return ""
    return "".join(f"\n  the claim has {a} where matdiff's gradient has {b}" for a, b in pairs)


def _shape(s) -> str:
    return "×".join(str(d) for d in s)
