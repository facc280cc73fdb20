"""The numerical check: a derivative against central finite differences at random inputs
(drawn by sampling.py, which also says how far the differences may step), and a claimed
gradient against matdiff's at random inputs of several scales.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from matdiff.errors import MatdiffError
from matdiff.language.expr import Expr
from matdiff.language.inference import Shaped
from matdiff.checking.numeric import Env, evaluate, evaluate_many
from matdiff.checking.sampling import (
    ATOL, RTOL, STEP, Draws, _finite, _redraw_note, direction, reach, rough_points, singular,
)


@dataclass
class Row:
    """One variable's check: the directional derivative both ways, and their relative error."""
    name: str
    numeric: float
    symbolic: float
    error: float
    ok: bool


@dataclass
class CheckReport:
    """The result of a numerical check; true when every row passed."""
    ok: bool
    error: float                        # the largest relative error
    rows: list = field(default_factory=list)
    sizes: dict = field(default_factory=dict)
    note: str = ""
    # what is compared with what: a claim is checked against matdiff's gradient, not differences
    labels: tuple = ("finite differences", "formula")
    method: str = "central differences at random inputs"
    verdicts: tuple = ("check passed", "check FAILED")
    tolerance: str = f"tolerance: relative {RTOL:g}"
    redrawn: str = ""                   # which inputs were drawn again, and why

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = self.verdicts[0] if self.ok else self.verdicts[1]
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        lines = [f"{head}: largest relative error {self.error:.1e} "
                 f"({self.method}{'; ' + sizes if sizes else ''}; {self.tolerance})"]
        a, b = self.labels
        for r in self.rows:
            lines.append(f"  {r.name}: {a} {r.numeric:+.10g}, {b} {r.symbolic:+.10g}, "
                         f"relative error {r.error:.1e}{'' if r.ok else '  <-- wrong'}")
        if self.redrawn:
            lines.append(self.redrawn)
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def relative_error(a: float, b: float, scale: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), ATOL * max(1.0, scale))


def _ladder(reach: float, ratio: float, n: int) -> list:
    return [reach / ratio**i for i in range(n)]


def directional_derivative(phi, h: float = 1e-6, reach: float = STEP) -> float:
    """phi'(0) by central differences. Where phi curves hard (Phi(tr(A^9)) at large values) one
    step size is not enough: Richardson-extrapolated estimates at several steps (none beyond
    `reach`, short of a kink), and the one that agrees best with its neighbour (a choice that
    never looks at the formula checked)."""
    def central(step):
        return (phi(step) - phi(-step)) / (2 * step)
    h = min(h, reach / 2)
    plain = float(central(h))
    d = [central(s) for s in _ladder(reach, 4, 9)]
    rich = [(4 * d[i + 1] - d[i]) / 3 for i in range(len(d) - 1)]
    if not all(np.isfinite(rich)):
        return plain
    spread = [abs(rich[i + 1] - rich[i]) for i in range(len(rich) - 1)]
    i = int(np.argmin(spread))
    best = float(rich[i + 1])
    # the plain estimate is exact enough almost always; prefer it unless it disagrees
    return plain if abs(plain - best) <= 1e-7 * max(1.0, abs(best)) else best


def _path(values: dict, name: str, V):
    X = values[name]
    return lambda s: {**values, name: X + s * V}


def check_gradients(f: Expr, grads: dict, shaped: Shaped, seed: int = 0, trials: int = 3,
                    h: float = 1e-6) -> CheckReport:
    """grads: {Var: gradient Expr}. <G, V> against (f(X + hV) - f(X - hV)) / 2h, several V and inputs."""
    rng = np.random.default_rng(seed)
    formulas = tuple(grads.values())
    draws = Draws(shaped, (f, *formulas), rng)
    points = rough_points((f, *formulas))

    def measure(values, dims):
        env = Env(values, dims)
        fx, *gs = evaluate_many([f, *formulas], env)
        rows = []
        for v, G in zip(grads, gs):
            X = values[v.name]
            if G.shape != X.shape:
                raise MatdiffError(f"internal: the gradient with respect to {v.name} has shape {G.shape}, "
                                   f"expected {X.shape}")
            V = direction(rng, X, v)
            at = _path(values, v.name, V)
            r = reach(points, at, dims, 1e-5)
            if isinstance(r, str):
                return r
            numeric = directional_derivative(lambda s: evaluate(f, Env(at(s), dims))[0, 0], h, r)
            if not np.isfinite(numeric):
                return "NaN or inf in finite differences"
            symbolic = float(np.sum(G * V))
            err = relative_error(numeric, symbolic, abs(float(fx[0, 0])))
            ok = abs(numeric - symbolic) <= RTOL * max(abs(numeric), abs(symbolic)) + \
                ATOL * max(1.0, abs(float(fx[0, 0]))) * 100
            rows.append((v.name, numeric, symbolic, err, ok))
        return rows

    rows = []
    for t in range(trials):
        for name, *rest in draws.find(measure, (f, *formulas)):
            rows.append(Row(name if trials == 1 else f"{name} (inputs {t + 1})", *rest))
    return CheckReport(all(r.ok for r in rows), max((r.error for r in rows), default=0.0), rows, draws.dims,
                       tolerance=f"tolerance: relative {RTOL:g}", redrawn=draws.note(),
                       note=structure_note(shaped, {v.name for v in grads}))


def structure_note(shaped: Shaped, varied: set) -> str:
    """What the check did for the inputs declared symmetric or spd: say it, or ''."""
    kinds = {"sym": "symmetric", "spd": "symmetric positive definite"}
    return "; ".join(f"{n} declared {kinds[s]}: its random values are {kinds[s]}"
                     + (", the directions it moves along symmetric" if n in varied else "")
                     for n, s in shaped.structure.items())


# ---- two expressions equal? (a claimed gradient against matdiff's) ---------------------------------

SCALES = (1.0, 1e-3, 1e-1, 10.0, 100.0)   # inputs times these: a claim wrong only near 0 or far out shows
EQUAL_RTOL = 1e-9       # per entry, on top of the rounding noise below
JITTER = 1e-15          # the relative perturbation of every value computed, to estimate rounding noise
NOISE = 10              # how many times the estimated rounding noise a difference may be


def rounding_noise(exprs: list, env: Env, rng, times: int = 3) -> list:
    """For each expression, entry by entry, how much its value moves when every value computed on
    the way (inputs and numbers too) is perturbed by JITTER relative, as rounding might perturb it:
    the largest move over a few such evaluations (Monte Carlo arithmetic). 1 - sigmoid(t) at t = 40
    is 0 in floating point and 4e-18 exactly: its noise is about 1e-15, so the two agree."""
    plain = evaluate_many(exprs, env)
    noise = [np.zeros_like(p) for p in plain]
    for _ in range(times):
        for n, p, q in zip(noise, plain, evaluate_many(exprs, env, jitter=(rng, JITTER))):
            with np.errstate(invalid="ignore"):
                np.maximum(n, np.abs(q - p), out=n, where=np.isfinite(q - p))
    return noise


@dataclass
class Comparison:
    """a == b at random inputs at several scales: the verdict, and the worst entry seen."""
    ok: bool
    error: float                    # the largest difference relative to the largest entry, over all inputs
    worst: tuple | None             # (values, A, B, index, scale, sizes): where a and b differ most
                                    # against the tolerance
    dims: dict
    scales: list                    # the scales compared
    skipped: dict                   # scale -> why it was not compared
    redrawn: str = ""

    def describe(self) -> str:
        scales = ", ".join(f"{s:g}" for s in self.scales)
        out = f"inputs at scales {scales}"
        for s, why in self.skipped.items():
            out += f"; not at scale {s:g}: {why}"
        return out


def compare(a: Expr, b: Expr, shaped: Shaped, f: Expr, seed: int = 0, trials: int = 3,
            scales: tuple = SCALES) -> Comparison:
    """Is a == b (b: the trusted side, matdiff's gradient) at `trials` random inputs at each scale?
    Entry by entry: |A - B| <= EQUAL_RTOL max(|A|, |B|) + NOISE (noise of A + noise of B). Inputs where
    f or b is not finite are drawn again. Where a is not finite but b is, they differ, except at scales
    above 1, where an equal formula written another way may overflow (exp(x) ./ (1 + exp(x))): there
    such inputs are drawn again, and a scale where none will do is skipped and said so."""
    rng = np.random.default_rng(seed + 1)
    points = rough_points((f, a, b))
    worst, excess, error = None, -1.0, 0.0
    compared, skipped, dims = [], {}, None
    redrawn: Counter = Counter()
    for scale in scales:
        draws = Draws(shaped, (f, a, b), rng, scale)
        if dims is not None:
            draws.dims = dict(dims)

        def measure(values, d):
            env = Env(values, d)
            why = singular(points, values, d)
            if why:
                return why
            A, B = evaluate_many([a, b], env)
            if scale > 1 and not _finite((A,)):
                return "the claim not finite (overflow)"
            na, nb = rounding_noise([a, b], env, rng)
            diff = np.where(np.isfinite(A), np.abs(A - B), np.inf)
            tol = EQUAL_RTOL * np.maximum(np.abs(np.where(np.isfinite(A), A, 0)), np.abs(B)) + NOISE * (na + nb)
            return values, A, B, diff, tol, NOISE * (na + nb), d

        done = 0
        try:
            for _ in range(trials):
                values, A, B, diff, tol, noise, at = draws.find(measure, (f, b))
                # the error reported: the difference beyond rounding, relative to the largest entry
                big = max(np.max(np.abs(B), initial=0.0), np.max(np.abs(np.where(np.isfinite(A), A, 0)), initial=0.0))
                gap = float(np.max(np.maximum(diff - noise, 0.0), initial=0.0))
                error = max(error, gap / big if big > 0 else (0.0 if gap == 0 else np.inf))
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = diff / np.maximum(tol, 1e-300)        # over 1: more than rounding explains
                idx = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                if worst is None or ratio[idx] > excess:
                    worst, excess = (values, A, B, idx, scale, dict(at)), float(ratio[idx])
                done += 1
        except MatdiffError:
            if scale == 1.0:
                raise
            if not done:
                skipped[scale] = (draws.redrawn.most_common(1)[0][0] if draws.redrawn else "no inputs") + \
                    " at every input drawn"
                continue
        finally:
            redrawn.update(draws.redrawn)
        compared.append(scale)
        if dims is None:
            dims, first = draws.dims, draws.first
    note = _redraw_note(redrawn, dims, first) if dims else ""
    return Comparison(excess <= 1, error, worst, dims, compared, skipped, note)


def check_equal(a: Expr, b: Expr, shaped: Shaped, f: Expr, seed: int = 0, trials: int = 3):
    """Is a == b at several random inputs and scales? (ok, largest relative difference, counterexample, sizes)."""
    c = compare(a, b, shaped, f, seed, trials)
    return c.ok, c.error, c.worst and c.worst[:4], c.dims


# ---- Jacobians and Hessians (matdiff.jacobian): the same oracle, one order up ---------------------

def _vec(A: np.ndarray) -> np.ndarray:
    return A.reshape(-1, 1, order="F")


def vector_directional_derivative(phi, h: float = 1e-6, reach: float = STEP) -> np.ndarray:
    """d/ds phi(s) at 0 for a vector-valued phi, by central differences; Richardson-extrapolated
    estimates where one step is not enough, chosen as directional_derivative chooses."""
    def central(step):
        return (phi(step) - phi(-step)) / (2 * step)
    plain = central(min(h, reach / 2))
    d = [central(s) for s in _ladder(reach, 4, 9)]
    rich = [(4 * d[i + 1] - d[i]) / 3 for i in range(len(d) - 1)]
    if not all(np.all(np.isfinite(r)) for r in rich):
        return plain
    spread = [np.max(np.abs(rich[i + 1] - rich[i])) for i in range(len(rich) - 1)]
    best = rich[int(np.argmin(spread)) + 1]
    return plain if np.max(np.abs(plain - best)) <= 1e-7 * max(1.0, np.max(np.abs(best))) else best


def second_directional_derivative(phi, h: float = 1e-4, reach: float = STEP) -> float:
    """phi''(0) by second differences (phi(h) - 2 phi(0) + phi(-h)) / h^2, Richardson-extrapolated
    over a few steps (none beyond `reach`); the estimate that agrees best with its neighbour."""
    def second(step):
        return (phi(step) - 2 * phi(0.0) + phi(-step)) / step**2
    d = [second(s) for s in _ladder(reach, 2, 7)]
    rich = [(4 * d[i + 1] - d[i]) / 3 for i in range(len(d) - 1)]
    if not all(np.isfinite(rich)):
        return float(second(min(h, reach / 2)))
    spread = [abs(rich[i + 1] - rich[i]) for i in range(len(rich) - 1)]
    return float(rich[int(np.argmin(spread)) + 1])


def _compare(name: str, numeric: np.ndarray, symbolic: np.ndarray, scale: float, rng,
             rtol: float = RTOL) -> Row:
    """Two vectors: the row shows a random projection of each; ok and the error are entrywise."""
    numeric, symbolic = np.asarray(numeric, float).reshape(-1), np.asarray(symbolic, float).reshape(-1)
    big = max(np.max(np.abs(numeric), initial=0.0), np.max(np.abs(symbolic), initial=0.0))
    diff = np.max(np.abs(numeric - symbolic), initial=0.0)
    err = diff / max(big, ATOL * max(1.0, scale))
    ok = bool(np.isfinite(diff)) and diff <= rtol * big + ATOL * max(1.0, scale) * 100
    u = rng.normal(size=numeric.shape)
    return Row(name, float(u @ numeric), float(u @ symbolic), float(err), ok)


def _report(rows: list, draws: Draws, tolerance: str = f"tolerance: relative {RTOL:g}",
            note: str = "") -> CheckReport:
    return CheckReport(all(r.ok for r in rows), max((r.error for r in rows), default=0.0), rows, draws.dims,
                       note, tolerance=tolerance, redrawn=draws.note())


def check_jacobian(f: Expr, J: Expr, X, shaped: Shaped, seed: int = 0, trials: int = 3,
                   h: float = 1e-6) -> CheckReport:
    """J vec(V) against vec(f(X + hV) - f(X - hV)) / 2h for random directions V and inputs.
    Every entry is compared; a row shows u^T J vec(V) both ways for a random u."""
    rng = np.random.default_rng(seed)
    draws = Draws(shaped, (f, J), rng)
    points = rough_points((f, J))

    def measure(values, dims):
        F, Jv = evaluate_many([f, J], Env(values, dims))
        X0 = values[X.name]
        if Jv.shape != (F.size, X0.size):
            raise MatdiffError(f"internal: the Jacobian has shape {Jv.shape}, expected {(F.size, X0.size)}")
        V = direction(rng, X0, X)
        at = _path(values, X.name, V)
        r = reach(points, at, dims, 1e-5)
        if isinstance(r, str):
            return r
        numeric = vector_directional_derivative(lambda s: _vec(evaluate(f, Env(at(s), dims))), h, r)
        if not _finite((numeric,)):
            return "NaN or inf in finite differences"
        return numeric, Jv @ _vec(V), float(np.max(np.abs(F), initial=0.0))

    rows = []
    for t in range(trials):
        numeric, symbolic, scale = draws.find(measure, (f, J))
        name = "J vec(V)" if trials == 1 else f"J vec(V) (inputs {t + 1})"
        rows.append(_compare(name, numeric, symbolic, scale, rng))
    return _report(rows, draws, note="rows: u^T J vec(V) for random u and V, against central differences "
                                     "of the function")


def check_hessian(f: Expr, G: Expr, H: Expr, X, shaped: Shaped, seed: int = 0, trials: int = 3,
                  h: float = 1e-6) -> CheckReport:
    """A Hessian two ways at random inputs and directions V:
    H vec(V) against central differences of the gradient G (every entry), and
    vec(V)^T H vec(V) against second differences of f itself (which does not trust G)."""
    rng = np.random.default_rng(seed)
    draws = Draws(shaped, (f, G, H), rng)
    points = rough_points((f, G, H))

    def measure(values, dims):
        F, Hv = evaluate_many([f, H], Env(values, dims))
        X0 = values[X.name]
        if Hv.shape != (X0.size, X0.size):
            raise MatdiffError(f"internal: the Hessian has shape {Hv.shape}, expected {(X0.size, X0.size)}")
        V = direction(rng, X0, X)
        at = _path(values, X.name, V)
        r = reach(points, at, dims, 1e-3)       # second differences need room: their rounding is eps / h^2
        if isinstance(r, str):
            return r
        numeric = vector_directional_derivative(lambda s: _vec(evaluate(G, Env(at(s), dims))), h, r)
        second = second_directional_derivative(lambda s: float(evaluate(f, Env(at(s), dims))[0, 0]), reach=r)
        if not _finite((numeric, second)):
            return "NaN or inf in finite differences"
        return numeric, second, Hv, V, abs(float(F[0, 0]))

    rows = []
    for t in range(trials):
        numeric, second, Hv, V, scale = draws.find(measure, (f, G, H))
        suffix = "" if trials == 1 else f" (inputs {t + 1})"
        rows.append(_compare("H vec(V) vs gradient" + suffix, numeric, Hv @ _vec(V), scale, rng))
        quad = (_vec(V).T @ Hv @ _vec(V)).reshape(1)
        row = _compare("vec(V)^T H vec(V) vs f''" + suffix, np.array([second]), quad, scale, rng, rtol=1e-4)
        row.numeric, row.symbolic = second, float(quad[0])
        rows.append(row)
    return _report(rows, draws, f"tolerance: relative {RTOL:g}, for f'' 1e-4")


def exact_hessian_diagonal(f: Expr, X, values: dict, dims: dict, points: list = ()) -> np.ndarray | str:
    """d²f/dX_ij² for every entry, by second differences of f (shape of X); a string where an
    entry's differences would step over a kink or a domain edge (see reach)."""
    X0 = values[X.name]
    out = np.zeros_like(X0)
    for idx in np.ndindex(*X0.shape):
        E = np.zeros_like(X0)
        E[idx] = 1.0
        at = _path(values, X.name, E)
        r = reach(list(points), at, dims, 1e-3)
        if isinstance(r, str):
            return r
        out[idx] = second_directional_derivative(lambda s: float(evaluate(f, Env(at(s), dims))[0, 0]), reach=r)
    return out


def check_hessian_diagonal(f: Expr, D: Expr, X, shaped: Shaped, exact: bool = True, seed: int = 0,
                           trials: int = 2) -> CheckReport:
    """The diagonal of a Hessian (shaped like X) against second differences of f, entry by entry.
    For an approximation that is not exact here (exact=False), a difference is expected: the rows
    show it and the report stays ok unless the values are not finite."""
    rng = np.random.default_rng(seed)
    draws = Draws(shaped, (f, D), rng)
    points = rough_points((f,))

    def measure(values, dims):
        F, Dv = evaluate_many([f, D], Env(values, dims))
        if Dv.shape != values[X.name].shape:
            raise MatdiffError(f"internal: the diagonal has shape {Dv.shape}, expected {values[X.name].shape}")
        numeric = exact_hessian_diagonal(f, X, values, dims, points)
        if isinstance(numeric, str):
            return numeric
        if not _finite((numeric,)):
            return "NaN or inf in finite differences"
        return numeric, Dv, abs(float(F[0, 0]))

    rows = []
    for t in range(trials):
        numeric, Dv, scale = draws.find(measure, (f, D))
        row = _compare("diagonal" + ("" if trials == 1 else f" (inputs {t + 1})"), numeric, Dv, scale, rng,
                       rtol=1e-4)
        if not exact:
            row.ok = bool(np.all(np.isfinite(Dv)))
        rows.append(row)
    note = "" if exact else ("an approximation (Becker–LeCun): its difference from the exact diagonal, "
                             "shown above, is expected; it neglects off-diagonal second derivatives")
    return _report(rows, draws, "tolerance: relative 1e-4", note)
