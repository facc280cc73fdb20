"""Random inputs for the numerical checks, and how far finite differences may step from them.

Symbolic dimensions get small, distinct sizes (2, 3, 4, ...), so that a swapped
transpose cannot pass by accident. Inputs are normal random numbers; where the
function is not finite there (log of a negative, logdet of a matrix with a
negative determinant) they are drawn again, positive and with square matrices
near a multiple of I. An input declared symmetric (`S=n,n,sym`) is drawn symmetric, one
declared `spd` symmetric positive definite, and the check moves them along symmetric
directions only (`direction`): the gradient with respect to one is sym(G), right there.
Where a function defined on (-1, 1) only (arcsin, arccos)
is applied, every input is drawn at UNIT_SCALE of its usual size, and the check
says so.

Inputs are drawn again, too, where finite differences cannot be trusted, and the
check says so: where relu's argument, the argument of log or sqrt, or a matrix
that is inverted sits so near 0 or singular that the smallest difference step
would cross it, the argument of arcsin or arccos so near ±1, that of tan so near a pole, or where the
differences come out NaN. Where such a point is near
but not that near, the differences step short of it (`reach`). A disagreement is
never a reason to draw again: that would hide a wrong formula.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from matdiff.language import functions as F
from matdiff.errors import MatdiffError
from matdiff.language.expr import Apply, Const, Det, Expr, HadamardPow, Inverse, LogDet, MatPow, Norm, Pow, Var, postorder
from matdiff.language.inference import Shaped
from matdiff.limits import LIMITS, refuse
from matdiff.checking.numeric import Env, evaluate_many
from matdiff.language.shapes import as2, shape_of

RTOL, ATOL = 1e-5, 1e-8
SIZES = (3, 4, 2, 5, 6, 7, 8, 9, 10, 11, 12)
STEP = 1e-2             # the largest finite-difference step: the Richardson ladders start here
TRIES = 9               # input sets drawn at one choice of sizes before the next is tried
UNIT_SCALE = 0.3        # inputs shrink by this where arcsin or arccos is applied: arguments in (-1, 1)


def dimension_sizes(shaped: Shaped, exprs: tuple = ()) -> dict:
    """A size for every symbolic dimension of the inputs and of the expressions checked: a size
    no input fixes (the I in `x^T x I`) needs one too."""
    names: list = []

    def visit(d):
        if isinstance(d, tuple):
            visit(d[1]), visit(d[2])
        elif isinstance(d, str) and d not in names:
            names.append(d)
    for s in shaped.inputs.values():
        for d in s:
            visit(d)
    seen: set = set()
    for e in exprs:
        for n in postorder(e, done=seen):
            seen.add(n)
            for d in shape_of(n):
                visit(d)
    return {n: SIZES[i % len(SIZES)] for i, n in enumerate(names)}


def sample(shaped: Shaped, rng, dims: dict, positive: bool, scale: float = 1.0,
           entrywise: frozenset = frozenset()) -> dict:
    """Normal inputs, or positive ones: square matrices near a multiple of I, and every entry
    positive for the names in `entrywise` (the bases of powers with a variable exponent)."""
    values = {}
    for name, s in shaped.inputs.items():
        r, c = (int(_size(d, dims)) for d in as2(s))
        structure = shaped.structure.get(name, "")
        if structure == "spd":                  # B B^T / r + I/2: symmetric, eigenvalues >= 1/2
            B = rng.normal(size=(r, r))
            values[name] = (B @ B.T / r + 0.5 * np.eye(r) if not positive else r * np.eye(r) + 0.3 * symmetric(B)) * scale
        elif structure == "sym":
            values[name] = symmetric(rng.normal(size=(r, r)) if not positive else
                                     r * np.eye(r) + 0.3 * rng.normal(size=(r, r))) * scale
        elif not positive:
            values[name] = rng.normal(size=(r, c))
        elif r == c and r > 1 and name not in entrywise:
            values[name] = r * np.eye(r) + 0.3 * rng.normal(size=(r, c))
        else:
            values[name] = rng.uniform(0.5, 1.5, size=(r, c))
        values[name] *= scale
    return values


def check_entries(shaped: Shaped, exprs: tuple, dims: dict) -> None:
    """Refuse, before anything is allocated, a check whose inputs or intermediate arrays (at the
    sizes drawn) would have more than LIMITS.max_entries entries: x^T A x with x declared
    (100000,) makes A 100000 x 100000."""
    worst, where = 0, None
    for name, s in shaped.inputs.items():
        r, c = (_size(d, dims) for d in as2(s))
        if r * c > worst:
            worst, where = r * c, (f"the input {name}", r, c)
    seen: set = set()
    for e in exprs:
        for n in postorder(e, done=seen):
            seen.add(n)
            r, c = (_size(d, dims) for d in as2(shape_of(n)))
            if r * c > worst:
                worst, where = r * c, ("an intermediate array", r, c)
    if worst > LIMITS.max_entries:
        what, r, c = where
        raise refuse(f"a numerical check would draw or compute arrays too large: {what} is {r:,} x {c:,} "
                     f"({worst:,} entries); declare smaller sizes for the check", "entries", LIMITS.max_entries)


def symmetric(A: np.ndarray) -> np.ndarray:
    """(A + A^T)/2: an input or a direction of a variable declared symmetric (or spd)."""
    return (A + A.T) / 2


def direction(rng, X: np.ndarray, var) -> np.ndarray:
    """A random direction to move X along: any matrix, or for a variable declared symmetric (or
    spd) a symmetric one, the directions S can move in (an spd S stays spd for small steps)."""
    V = rng.normal(size=X.shape)
    return symmetric(V) if getattr(var, "structure", "") else V


def _size(d, dims):
    if isinstance(d, tuple):
        return _size(d[1], dims) * _size(d[2], dims)
    return d if isinstance(d, int) else dims[d]


def _finite(arrays) -> bool:
    return all(np.all(np.isfinite(v)) for v in arrays)


class Draws:
    """The random inputs of one check: drawn again where they are no good, with a count of why.

    `find(measure)` draws inputs at which every expression in `finite` is finite and hands them
    to measure(values, dims), which returns its result, or a string saying why finite differences
    cannot be trusted at these inputs. After TRIES rejected sets at one choice of sizes the next
    is tried (distinct sizes, the distinct sizes the other way round, all 3): some functions are
    singular at distinct sizes (logdet(X^T X) for a wide X). Sizes that worked are kept."""

    def __init__(self, shaped: Shaped, exprs: tuple, rng, scale: float = 1.0):
        self.unit = unit_domains(exprs)
        self.shaped, self.rng, self.scale = shaped, rng, scale * (UNIT_SCALE if self.unit else 1.0)
        self.first = dimension_sizes(shaped, exprs)
        check_entries(shaped, exprs, self.first)
        self.dims = dict(self.first)
        self.redrawn: Counter = Counter()
        # a power with a variable exponent, exp(B log A), is defined for a positive base only
        self.bases = [n.args[0] for n in dict.fromkeys(n for e in exprs for n in postorder(e))
                      if isinstance(n, Pow) and not isinstance(n.args[0], Const)]
        self.entrywise = frozenset(b.name for b in self.bases if isinstance(b, Var))

    def outside_domain(self, values: dict, dims: dict) -> str | None:
        """Why these inputs are outside the function's domain, or None."""
        if not self.bases:
            return None
        for base, v in zip(self.bases, evaluate_many(self.bases, Env(values, dims))):
            if not np.all(v > 0):
                return f"the base of a power with a variable exponent, {_short(base)}, not positive"
        return None

    def _sizes(self):
        first = self.first
        out = []
        # the distinct sizes the other way round before equal ones: at equal sizes a claim with a
        # wrong transpose can pass (logdet(A^T A) is singular for a wide A, fine for a tall one)
        for d in (self.dims, first, dict(zip(first, reversed(list(first.values())))), {k: 3 for k in first}):
            if d not in out:
                out.append(dict(d))
        return out

    def find(self, measure, finite: tuple):
        for dims in self._sizes():
            for k in range(TRIES):
                # normal inputs first; positive ones (well-conditioned square matrices) where those fail
                values = sample(self.shaped, self.rng, dims, positive=k >= TRIES // 3, scale=self.scale,
                                entrywise=self.entrywise)
                outside = self.outside_domain(values, dims)
                if outside:
                    why = outside
                elif not _finite(evaluate_many(list(finite), Env(values, dims))):
                    why = "the function or its formula not finite"
                else:
                    result = measure(values, dims)
                    if not isinstance(result, str):
                        self.dims = dims
                        return result
                    why = result
                self.redrawn[why] += 1
        common = self.redrawn.most_common(1)[0][0] if self.redrawn else "none"
        raise MatdiffError(f"could not find random inputs at which the check can be made "
                           f"({common}, at every input drawn)")

    def note(self) -> str:
        return "; ".join(filter(None, (_unit_note(self.unit), _redraw_note(self.redrawn, self.dims, self.first))))


def unit_domains(exprs) -> list:
    """The functions defined on (-1, 1) only (the records' domain "unit") applied in exprs."""
    nodes = dict.fromkeys(n for e in exprs for n in postorder(e))
    return sorted({n.fn.name for n in nodes if isinstance(n, Apply) and n.fn.name in _UNIT})


def _unit_note(names: list) -> str:
    return f"inputs drawn at {UNIT_SCALE:g} times their usual size: the arguments of " \
           f"{' and '.join(names)} must lie in (-1, 1)" if names else ""


def _short(e: Expr) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _redraw_note(redrawn: Counter, dims: dict, first: dict) -> str:
    """'re-drew inputs 3 times: the argument of relu near 0 (2), ...', or '' when none was drawn again."""
    n = sum(redrawn.values())
    if not n:
        return ""
    why = ", ".join(f"{w} ({k})" for w, k in redrawn.most_common())
    moved = "" if dims == first else \
        " (so at sizes " + ", ".join(f"{k}={v}" for k, v in dims.items()) + ", not " + \
        ", ".join(f"{k}={v}" for k, v in first.items()) + ")"
    return f"re-drew inputs {n} time{'s' if n > 1 else ''}: {why}{moved}"


def finite_inputs(f: Expr, shaped: Shaped, rng, dims: dict, also: tuple = ()) -> dict:
    """Random inputs at which f, and each expression in `also` (the gradients, a claim), is finite:
    det(relu(A)) has the gradient det(Z) Z^-T, undefined wherever relu(A) is singular.
    `dims` is updated to the sizes that worked."""
    draws = Draws(shaped, (f, *also), rng)
    draws.first = draws.dims = dict(dims)
    values = draws.find(lambda values, d: values, (f, *also))
    dims.update(draws.dims)
    return values


# ---- how far finite differences may step -------------------------------------------------------------

# a kink (relu) or the edge of the domain (sqrt, log) at 0, as the records say (functions.ELEMENTWISE)
_EDGES = frozenset(name for name, r in F.ELEMENTWISE.items() if r.kink_at_zero or r.domain == "positive")
# the edges of the domain (-1, 1) at ±1 (arcsin, arccos)
_UNIT = frozenset(name for name, r in F.ELEMENTWISE.items() if r.domain == "unit")
# poles at pi/2 + k pi (tan)
_POLES = frozenset(name for name, r in F.ELEMENTWISE.items() if r.poles_at_half_pi)


def rough_points(exprs) -> list:
    """The sub-expressions whose value must stay away from 0 (elementwise) or from singular (matrices)
    for finite differences to be right: relu's, sqrt's and log's arguments, the base of a fractional
    or negative power, a norm's argument, a matrix inverted or under logdet or det."""
    out = []
    for n in dict.fromkeys(n for e in exprs for n in postorder(e)):
        if isinstance(n, Apply) and n.fn.name in _EDGES:
            out.append((f"the argument of {n.fn.name}", n.arg, "entries"))
        elif isinstance(n, Apply) and n.fn.name in _UNIT:
            out.append((f"the argument of {n.fn.name}", n.arg, "unit"))
        elif isinstance(n, Apply) and n.fn.name in _POLES:
            out.append((f"the argument of {n.fn.name}", n.arg, "poles"))
        elif isinstance(n, HadamardPow) and (n.k < 0 or n.k.denominator != 1):
            out.append((f"the base of .^ {n.k}", n.arg, "entries"))
        elif isinstance(n, Pow) and not isinstance(n.args[0], Const):
            out.append(("the base of a power with a variable exponent", n.args[0], "entries"))
        elif isinstance(n, Norm):
            out.append(("the argument of a norm", n.arg, "norm"))
        elif isinstance(n, (Inverse, LogDet, Det)) or isinstance(n, MatPow) and n.k < 0:
            text = str(n.arg)
            what = text if len(text) <= 40 else "a matrix inverted"
            out.append((what, n.arg, "matrix" if shape_of(n.arg)[0] != 1 else "entries"))
    return out


def singular(points: list, values: dict, dims: dict) -> str | None:
    """Where a matrix that is inverted (or under logdet) is singular to working precision, every
    value computed from it is rounding noise: say which."""
    mats = [(what, e) for what, e, kind in points if kind == "matrix"]
    for (what, _), M in zip(mats, evaluate_many([e for _, e in mats], Env(values, dims))):
        s = np.linalg.svd(M, compute_uv=False) if _finite((M,)) else None
        if s is None or not s[-1] > 1e-10 * s[0]:
            return f"{what} near singular"
    return None


def reach(points: list, at, dims: dict, least: float) -> float | str:
    """How far finite differences may step along the path at(s) (inputs as a function of the step s):
    half the distance to the nearest zero or singularity of the rough points, estimated linearly from
    their values at 0 and ±STEP, and at most STEP. A string saying where, when that is under `least`."""
    if not points:
        return STEP
    exprs = [e for _, e, _ in points]
    lo, mid, hi = (evaluate_many(exprs, Env(at(s), dims)) for s in (-STEP, 0.0, STEP))
    out = STEP
    for (what, _, kind), a, b, c in zip(points, lo, mid, hi):
        with np.errstate(invalid="ignore"):
            # NaN where the argument leaves its own domain at ±STEP: an inner point limits the reach
            move = np.nan_to_num(np.maximum(np.abs(a - b), np.abs(c - b)), nan=0.0)
        if kind == "matrix":
            if not _finite((b,)):
                return f"{what} singular"
            size = np.linalg.svd(b, compute_uv=False)
            dist, move = size[-1], np.linalg.norm(move, 2)
        elif kind == "norm":
            dist, move = np.linalg.norm(b), np.linalg.norm(move)
        elif kind == "unit":                    # the edges of (-1, 1)
            dist = np.nan_to_num(1 - np.abs(b), nan=-1.0)
        elif kind == "poles":                   # pi/2 + k pi
            dist = np.abs(np.remainder(b, np.pi) - np.pi / 2)
        else:
            dist, move = np.abs(b), move
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(move > 0, STEP * dist / np.where(move > 0, move, 1.0), np.inf) / 2
        r = float(np.min(r)) if np.size(r) else STEP
        if not r >= least:                      # NaN counts as too near
            return f"{what} near {'singular' if kind == 'matrix' else '±1' if kind == 'unit' else 'a pole' if kind == 'poles' else '0'}"
        out = min(out, r)
    return out
