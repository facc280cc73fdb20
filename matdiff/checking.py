"""The numerical check: a derivative against central finite differences at random inputs.

Symbolic dimensions get small, distinct sizes (2, 3, 4, ...), so that a swapped
transpose cannot pass by accident. Inputs are normal random numbers; where the
function is not finite there (log of a negative, logdet of a matrix with a
negative determinant) they are drawn again, positive and with square matrices
near a multiple of I.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import MatdiffError
from .expr import Expr
from .inference import Shaped
from .numeric import Env, evaluate, evaluate_many
from .shapes import as2

SIZES = (3, 4, 2, 5, 6, 7, 8, 9, 10, 11, 12)
RTOL, ATOL = 1e-5, 1e-8


def dimension_sizes(shaped: Shaped) -> dict:
    names: list = []

    def visit(d):
        if isinstance(d, tuple):
            visit(d[1]), visit(d[2])
        elif isinstance(d, str) and d not in names:
            names.append(d)
    for s in shaped.inputs.values():
        for d in s:
            visit(d)
    return {n: SIZES[i % len(SIZES)] for i, n in enumerate(names)}


def sample(shaped: Shaped, rng, dims: dict, positive: bool) -> dict:
    values = {}
    for name, s in shaped.inputs.items():
        r, c = (int(_size(d, dims)) for d in as2(s))
        if not positive:
            values[name] = rng.normal(size=(r, c))
        elif r == c and r > 1:
            values[name] = r * np.eye(r) + 0.3 * rng.normal(size=(r, c))
        else:
            values[name] = rng.uniform(0.5, 1.5, size=(r, c))
    return values


def _size(d, dims):
    if isinstance(d, tuple):
        return _size(d[1], dims) * _size(d[2], dims)
    return d if isinstance(d, int) else dims[d]


def finite_inputs(f: Expr, shaped: Shaped, rng, dims: dict, also: tuple = ()) -> dict:
    """Random inputs at which f, and each expression in `also` (the gradients, a claim), is finite:
    det(relu(A)) has the gradient det(Z) Z^-T, undefined wherever relu(A) is singular."""
    first = dict(dims)
    # distinct sizes catch swapped transposes, but some functions are singular at them
    # (logdet(X^T X) for a wide X): then equal sizes, then the sizes the other way round.
    for sizes in (first, {d: 3 for d in first}, dict(zip(first, reversed(list(first.values()))))):
        dims.update(sizes)                      # the caller evaluates with the sizes that worked
        for positive in (False, True, True):
            values = sample(shaped, rng, dims, positive)
            if all(np.all(np.isfinite(v)) for v in evaluate_many([f, *also], Env(values, dims))):
                return values
    raise MatdiffError("could not find random inputs at which the function is finite")


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

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = self.verdicts[0] if self.ok else self.verdicts[1]
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        lines = [f"{head}: largest relative error {self.error:.1e} "
                 f"({self.method}{'; ' + sizes if sizes else ''})"]
        a, b = self.labels
        for r in self.rows:
            lines.append(f"  {r.name}: {a} {r.numeric:+.10g}, {b} {r.symbolic:+.10g}, "
                         f"relative error {r.error:.1e}{'' if r.ok else '  <-- wrong'}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def relative_error(a: float, b: float, scale: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), ATOL * max(1.0, scale))


def directional_derivative(phi, h: float = 1e-6) -> float:
    """phi'(0) by central differences. Where phi curves hard (Phi(tr(A^9)) at large values) one
    step size is not enough: Richardson-extrapolated estimates at several steps, and the one
    that agrees best with its neighbour (a choice that never looks at the formula checked)."""
    def central(step):
        return (phi(step) - phi(-step)) / (2 * step)
    plain = float(central(h))
    steps = [1e-2 / 4**i for i in range(9)]
    d = [central(s) for s in steps]
    rich = [(4 * d[i + 1] - d[i]) / 3 for i in range(len(d) - 1)]
    if not all(np.isfinite(rich)):
        return plain
    spread = [abs(rich[i + 1] - rich[i]) for i in range(len(rich) - 1)]
    i = int(np.argmin(spread))
    best = float(rich[i + 1])
    # the plain estimate is exact enough almost always; prefer it unless it disagrees
    return plain if abs(plain - best) <= 1e-7 * max(1.0, abs(best)) else best


def check_gradients(f: Expr, grads: dict, shaped: Shaped, seed: int = 0, trials: int = 3,
                    h: float = 1e-6) -> CheckReport:
    """grads: {Var: gradient Expr}. <G, V> against (f(X + hV) - f(X - hV)) / 2h, several V and inputs."""
    rng = np.random.default_rng(seed)
    dims = dimension_sizes(shaped)
    rows = []
    for t in range(trials):
        values = finite_inputs(f, shaped, rng, dims, tuple(grads.values()))
        env = Env(values, dims)
        fx = float(evaluate(f, env)[0, 0])
        got = dict(zip(grads, evaluate_many(list(grads.values()), env)))
        for v, G in got.items():
            X = values[v.name]
            if G.shape != X.shape:
                raise MatdiffError(f"internal: the gradient with respect to {v.name} has shape {G.shape}, "
                                   f"expected {X.shape}")
            V = rng.normal(size=X.shape)
            numeric = directional_derivative(
                lambda s: evaluate(f, Env({**values, v.name: X + s * V}, dims))[0, 0], h)
            symbolic = float(np.sum(G * V))
            err = relative_error(numeric, symbolic, abs(fx))
            ok = abs(numeric - symbolic) <= RTOL * max(abs(numeric), abs(symbolic)) + ATOL * max(1.0, abs(fx)) * 100
            rows.append(Row(v.name if trials == 1 else f"{v.name} (inputs {t + 1})", numeric, symbolic, err, ok))
    return CheckReport(all(r.ok for r in rows), max((r.error for r in rows), default=0.0), rows, dims)


def check_equal(a: Expr, b: Expr, shaped: Shaped, f: Expr, seed: int = 0, trials: int = 3):
    """Is a == b at several random inputs? Returns (ok, largest relative difference, counterexample)."""
    rng = np.random.default_rng(seed + 1)
    dims = dimension_sizes(shaped)
    worst = (0.0, None)
    for _ in range(trials):
        values = finite_inputs(f, shaped, rng, dims, (a, b))
        A, B = evaluate_many([a, b], Env(values, dims))
        diff = np.abs(A - B)
        scale = max(np.max(np.abs(A)), np.max(np.abs(B)), 1e-12)
        err = float(np.max(diff) / scale)
        if err > worst[0]:
            worst = (err, (values, A, B, np.unravel_index(np.argmax(diff), diff.shape)))
    return worst[0] < 1e-8, worst[0], worst[1], dims


# ---- Jacobians and Hessians (matdiff.jacobian): the same oracle, one order up ---------------------

def _vec(A: np.ndarray) -> np.ndarray:
    return A.reshape(-1, 1, order="F")


def vector_directional_derivative(phi, h: float = 1e-6) -> np.ndarray:
    """d/ds phi(s) at 0 for a vector-valued phi, by central differences; Richardson-extrapolated
    estimates where one step is not enough, chosen as directional_derivative chooses."""
    def central(step):
        return (phi(step) - phi(-step)) / (2 * step)
    plain = central(h)
    d = [central(1e-2 / 4**i) for i in range(9)]
    rich = [(4 * d[i + 1] - d[i]) / 3 for i in range(len(d) - 1)]
    if not all(np.all(np.isfinite(r)) for r in rich):
        return plain
    spread = [np.max(np.abs(rich[i + 1] - rich[i])) for i in range(len(rich) - 1)]
    best = rich[int(np.argmin(spread)) + 1]
    return plain if np.max(np.abs(plain - best)) <= 1e-7 * max(1.0, np.max(np.abs(best))) else best


def second_directional_derivative(phi, h: float = 1e-4) -> float:
    """phi''(0) by second differences (phi(h) - 2 phi(0) + phi(-h)) / h^2, Richardson-extrapolated
    over a few steps; the estimate that agrees best with its neighbour."""
    def second(step):
        return (phi(step) - 2 * phi(0.0) + phi(-step)) / step**2
    d = [second(1e-2 / 2**i) for i in range(7)]
    rich = [(4 * d[i + 1] - d[i]) / 3 for i in range(len(d) - 1)]
    if not all(np.isfinite(rich)):
        return float(second(h))
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


def _degenerate(report: CheckReport) -> bool:
    """Inputs where the function is (nearly) singular: differences not finite, or the formula huge."""
    return any(not np.isfinite(r.numeric) or not np.isfinite(r.symbolic) or abs(r.symbolic) > 1e10
               for r in report.rows)


def over_sizes(check):
    """Run a check at the usual distinct sizes; where the function is singular there (logdet(X^T X)
    for a wide X), again at equal sizes and at the sizes the other way round, as finite_inputs does."""
    def run(*args, **kw):
        shaped = next(a for a in args if isinstance(a, Shaped))
        first = dimension_sizes(shaped)
        report = None
        for dims in (first, {d: 3 for d in first}, dict(zip(first, reversed(list(first.values()))))):
            report = check(*args, dims=dict(dims), **kw)
            if report.ok or not _degenerate(report):
                return report
        return report
    run.__doc__, run.__name__ = check.__doc__, check.__name__
    return run


@over_sizes
def check_jacobian(f: Expr, J: Expr, X, shaped: Shaped, seed: int = 0, trials: int = 3,
                   h: float = 1e-6, dims: dict | None = None) -> CheckReport:
    """J vec(V) against vec(f(X + hV) - f(X - hV)) / 2h for random directions V and inputs.
    Every entry is compared; a row shows u^T J vec(V) both ways for a random u."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(trials):
        values = finite_inputs(f, shaped, rng, dims, (J,))
        env = Env(values, dims)
        F, Jv = evaluate_many([f, J], env)
        X0 = values[X.name]
        if Jv.shape != (F.size, X0.size):
            raise MatdiffError(f"internal: the Jacobian has shape {Jv.shape}, expected {(F.size, X0.size)}")
        V = rng.normal(size=X0.shape)
        numeric = vector_directional_derivative(
            lambda s: _vec(evaluate(f, Env({**values, X.name: X0 + s * V}, dims))), h)
        name = "J vec(V)" if trials == 1 else f"J vec(V) (inputs {t + 1})"
        rows.append(_compare(name, numeric, Jv @ _vec(V), float(np.max(np.abs(F))), rng))
    return CheckReport(all(r.ok for r in rows), max(r.error for r in rows), rows, dims,
                       note="rows: u^T J vec(V) for random u and V, against central differences of the function")


@over_sizes
def check_hessian(f: Expr, G: Expr, H: Expr, X, shaped: Shaped, seed: int = 0, trials: int = 3,
                  h: float = 1e-6, dims: dict | None = None) -> CheckReport:
    """A Hessian two ways at random inputs and directions V:
    H vec(V) against central differences of the gradient G (every entry), and
    vec(V)^T H vec(V) against second differences of f itself (which does not trust G)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(trials):
        values = finite_inputs(f, shaped, rng, dims, (G, H))
        env = Env(values, dims)
        F, Hv = evaluate_many([f, H], env)
        X0 = values[X.name]
        if Hv.shape != (X0.size, X0.size):
            raise MatdiffError(f"internal: the Hessian has shape {Hv.shape}, expected {(X0.size, X0.size)}")
        V = rng.normal(size=X0.shape)
        at = lambda s: Env({**values, X.name: X0 + s * V}, dims)   # noqa: E731
        suffix = "" if trials == 1 else f" (inputs {t + 1})"
        scale = abs(float(F[0, 0]))
        numeric = vector_directional_derivative(lambda s: _vec(evaluate(G, at(s))), h)
        rows.append(_compare("H vec(V) vs gradient" + suffix, numeric, Hv @ _vec(V), scale, rng))
        second = second_directional_derivative(lambda s: float(evaluate(f, at(s))[0, 0]))
        quad = (_vec(V).T @ Hv @ _vec(V)).reshape(1)
        row = _compare("vec(V)^T H vec(V) vs f''" + suffix, np.array([second]), quad, scale, rng, rtol=1e-4)
        row.numeric, row.symbolic = second, float(quad[0])
        rows.append(row)
    return CheckReport(all(r.ok for r in rows), max(r.error for r in rows), rows, dims)


def exact_hessian_diagonal(f: Expr, X, values: dict, dims: dict) -> np.ndarray:
    """d²f/dX_ij² for every entry, by second differences of f (shape of X)."""
    X0 = values[X.name]
    out = np.zeros_like(X0)
    for idx in np.ndindex(*X0.shape):
        E = np.zeros_like(X0)
        E[idx] = 1.0
        out[idx] = second_directional_derivative(
            lambda s: float(evaluate(f, Env({**values, X.name: X0 + s * E}, dims))[0, 0]))
    return out


@over_sizes
def check_hessian_diagonal(f: Expr, D: Expr, X, shaped: Shaped, exact: bool = True, seed: int = 0,
                           trials: int = 2, dims: dict | None = None) -> CheckReport:
    """The diagonal of a Hessian (shaped like X) against second differences of f, entry by entry.
    For an approximation that is not exact here (exact=False), a difference is expected: the rows
    show it and the report stays ok unless the values are not finite."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(trials):
        values = finite_inputs(f, shaped, rng, dims, (D,))
        env = Env(values, dims)
        F, Dv = evaluate_many([f, D], env)
        if Dv.shape != values[X.name].shape:
            raise MatdiffError(f"internal: the diagonal has shape {Dv.shape}, expected {values[X.name].shape}")
        numeric = exact_hessian_diagonal(f, X, values, dims)
        row = _compare("diagonal" + ("" if trials == 1 else f" (inputs {t + 1})"), numeric, Dv,
                       abs(float(F[0, 0])), rng, rtol=1e-4)
        if not exact:
            row.ok = bool(np.all(np.isfinite(Dv)))
        rows.append(row)
    note = "" if exact else ("an approximation (Becker–LeCun): its difference from the exact diagonal, "
                             "shown above, is expected; it neglects off-diagonal second derivatives")
    return CheckReport(all(r.ok for r in rows), max(r.error for r in rows), rows, dims, note)
