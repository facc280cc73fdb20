"""Is a claimed gradient right? Equal at several random inputs, or a concrete counterexample."""
from __future__ import annotations

import numpy as np

from .algebra import normalize
from .checking import CheckReport, Row, check_equal
from .errors import MatdiffError, ShapeError
from .expr import Add, Program
from .gradient import derive_gradient
from .problem import Problem
from .parse import parse
from .shapes import infer_shapes, shape_of


def check_claim(expr, wrt, claim, shapes=None, functions=None, seed: int = 0) -> CheckReport:
    if not isinstance(wrt, str):
        raise MatdiffError("a claim is the gradient with respect to one variable: wrt='W'")
    g = derive_gradient(Problem.of(expr, shapes, functions), wrt)
    p = g.problem
    right = g.grads[wrt]
    declared = {**p.shaped.inputs, **(shapes or {})}
    parsed = parse(claim, tuple(functions or ()))
    try:
        shaped = infer_shapes(Program(parsed.defs, parsed.result), declared)
    except ShapeError as e:
        raise ShapeError(f"the claim does not fit the function's shapes: {e}") from None
    G = normalize(shaped.expr)
    want = shape_of(p.vars[wrt])
    if shape_of(G) != want:
        raise ShapeError(f"the claim is {_shape(shape_of(G))}, but the gradient with respect to {wrt} "
                         f"is {_shape(want)} (the shape of {wrt})")
    unknown = set(shaped.inputs) - set(p.shaped.inputs)
    if unknown:
        raise MatdiffError(f"the claim uses {', '.join(sorted(unknown))}, which the function does not")
    ok, err, worst, dims = check_equal(G, right, p.shaped, p.f, seed)
    report = CheckReport(ok, err, [], dims)
    if ok:
        report.note = f"the claim equals matdiff's gradient ∂/∂{wrt} = {g.text().splitlines()[-1].split(' = ', 1)[1]}"
        return report
    values, A, B, idx = worst
    where = f"[{idx[0]}, {idx[1]}]" if A.shape[1] > 1 else f"[{idx[0]}]"
    inputs = "\n".join(f"    {k} = {np.array2string(v.squeeze(), precision=4, suppress_small=True)}"
                       for k, v in values.items())
    report.note = (f"the claim is wrong: at the inputs\n{inputs}\n"
                   f"  entry {where} of the claim is {A[idx]:+.6g}, of the gradient {B[idx]:+.6g}\n"
                   f"  the right gradient: {g.text().splitlines()[-1].split(' = ', 1)[1]}"
                   + _differing_term(G, right, p, dims, values))
    report.rows = [Row(f"{wrt}{where}", float(B[idx]), float(A[idx]), err, False)]
    return report


def _differing_term(claim, right, p, dims, values) -> str:
    """Where both are sums with the same number of terms, name the claimed terms that match none."""
    from .numeric import Env, evaluate
    ct = claim.args if isinstance(claim, Add) else (claim,)
    rt = right.args if isinstance(right, Add) else (right,)
    env = Env(values, dims)
    rv = [evaluate(t, env) for t in rt]
    bad = [t for t in ct if not any(np.allclose(evaluate(t, env), v, rtol=1e-7, atol=1e-10) for v in rv)]
    if not bad or len(bad) == len(ct):
        return ""
    return "\n  the term that differs: " + ", ".join(str(t) for t in bad)


def _shape(s) -> str:
    return "×".join(str(d) for d in s)
