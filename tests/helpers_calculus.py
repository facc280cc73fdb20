"""Helpers for the calculus tests: finite differences, sampling, stand-ins, a SymPy evaluator.

Everything here is written independently of matdiff's own numerics, so that a test
comparing matdiff against these helpers compares two different computations:

- `fd_gradient`: the full gradient of a NumPy function, entry by entry, by central differences.
- `StandIn`: the concrete function that replaces an abstract one (Phi, Psi, ...), with all
  its derivatives written out here; its two parameters are the ones matdiff's numerical
  check uses (`matdiff.checking.numeric.stand_in`), so matdiff's evaluator and these tests agree on
  *which* function Phi is, not on how to compute it.
- `sympy_evaluate`: a walker over SymPy's own matrix-expression classes with NumPy.
- `Case`: one calculus test case (text, variable, shapes, the function by hand), the one case
  type of the cookbook, rule, Jacobian, Hessian and seed tests.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from matdiff.checking.numeric import stand_in

# ---- a test case --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One calculus test case: a function as the user writes it, the variable, the declared shapes,
    and the same function written by hand in NumPy.

    The first seven fields may be given by position, the rest only by name:
    Case(id, src, wrt, shapes, f, grad, kinds, golden=, functions=, xfail=, sympy_xfail=).
    """
    id: str
    src: str                     # the text handed to matdiff
    wrt: str                     # the variable
    shapes: dict                 # name -> declared shape: () scalar, (n,) vector, (m, n) matrix
    f: Callable                  # the function by hand: f(**values) with natural-shaped values
    grad: Callable | None = None     # its gradient in closed form, by hand, where the test has one
    kinds: dict = field(default_factory=dict)   # name -> a `draw` kind ("wellcond", "spd", "simplex", ...)
    _: KW_ONLY
    golden: str | None = None        # the result as matdiff prints it (`formula()`), where it is known
    functions: dict = field(default_factory=dict)   # abstract name (Phi) -> the SymPy function standing in
    xfail: str | None = None         # why deriving the gradient is known to fail (a strict xfail)
    sympy_xfail: str | None = None   # why only the SymPy result is known to fail

    def __post_init__(self):
        # a closed form in the place of a golden string (or the reverse) is an error, not a silent skip
        assert self.grad is None or callable(self.grad), f"{self.id}: grad must be a function, not {self.grad!r}"
        assert self.golden is None or isinstance(self.golden, str), f"{self.id}: golden must be a string"
        assert isinstance(self.kinds, dict), f"{self.id}: kinds must be a dict, not {self.kinds!r}"
        assert self.wrt in self.shapes, f"{self.id}: {self.wrt} has no declared shape"


# ---- reference functions, written by hand in NumPy ----------------------------------------------

def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def relu(z):
    return np.maximum(z, 0)


# ---- sampling ----------------------------------------------------------------------------------


def draw(kind: str | None, shape: tuple, rng) -> np.ndarray | float:
    """A random input of a natural NumPy shape: () -> float, (n,) -> 1-D, (m, n) -> 2-D.

    kinds: None (normal), "pos" (in [0.5, 1.5]), "wellcond" (square, near 2 I: invertible,
    positive determinant), "spd" (symmetric positive definite), "simplex" (positive, sums to 1),
    "small" (normal, scaled by 0.3), "ones".
    """
    if kind == "pos":
        v = rng.uniform(0.5, 1.5, size=shape)
    elif kind == "wellcond":
        n = shape[0]
        v = 2 * np.eye(n) + 0.3 * rng.normal(size=shape)
    elif kind == "spd":
        n = shape[0]
        B = rng.normal(size=shape)
        v = B @ B.T / n + np.eye(n)
    elif kind == "simplex":
        e = np.exp(rng.normal(size=shape))
        v = e / e.sum()
    elif kind == "ones":
        v = np.ones(shape)
    elif kind == "small":
        v = 0.3 * rng.normal(size=shape)
    else:
        v = rng.normal(size=shape)
    return float(v) if shape == () else v


def draw_all(shapes: dict, rng, kinds: dict | None = None) -> dict:
    kinds = kinds or {}
    return {k: draw(kinds.get(k), tuple(s), rng) for k, s in shapes.items()}


def to2d(v) -> np.ndarray:
    """A natural-shaped value as matdiff's 2-D convention: a scalar 1x1, a vector n x 1."""
    a = np.asarray(v, dtype=float)
    return a.reshape(1, 1) if a.ndim == 0 else a.reshape(-1, 1) if a.ndim == 1 else a


def as_natural(v, shape: tuple):
    """A 2-D result (or a float) reshaped to the variable's natural shape."""
    a = np.asarray(v, dtype=float)
    if shape == ():
        assert a.size == 1, f"expected a scalar, got shape {a.shape}"
        return float(a.reshape(()))
    assert a.size == int(np.prod(shape)), f"expected shape {shape}, got {a.shape}"
    if len(shape) == 1:
        assert a.ndim == 1 or a.shape == (shape[0], 1), f"a vector's gradient is a column, got {a.shape}"
    else:
        assert a.shape == tuple(shape), f"expected shape {shape}, got {a.shape}"
    return a.reshape(shape)


# ---- finite differences ------------------------------------------------------------------------


def fd_gradient(f: Callable, values: dict, name: str, h: float = 1e-6) -> np.ndarray | float:
    """d f / d values[name], every entry by central differences; f(**values) -> a number."""
    x = np.array(values[name], dtype=float)
    g = np.zeros_like(x)
    for idx in (np.ndindex(*x.shape) if x.shape else [()]):
        acc = 0.0
        for sgn in (1, -1):
            xp = x.copy()
            xp[idx] += sgn * h
            acc += sgn * float(np.asarray(f(**{**values, name: xp if x.shape else float(xp)})).reshape(()))
        g[idx] = acc / (2 * h)
    return float(g) if not x.shape else g


def fd_directional(f: Callable, values: dict, directions: dict, h: float = 1e-6) -> float:
    """(f(x + h v) - f(x - h v)) / 2h, all variables in `directions` moving at once."""
    def at(sgn):
        moved = {k: (values[k] + sgn * h * v) for k, v in directions.items()}
        return float(np.asarray(f(**{**values, **moved})).reshape(()))
    return (at(1) - at(-1)) / (2 * h)


def max_rel_err(got, ref) -> float:
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert got.size == ref.size, f"size {got.size} != {ref.size}"
    got = got.reshape(ref.shape)
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))) if ref.size else 0.0)


def assert_close(got, ref, tol: float = 1e-5, what: str = "") -> None:
    err = max_rel_err(got, ref)
    assert err < tol, f"{what}relative error {err:.2e}\n got {np.asarray(got).ravel()}\n ref {np.asarray(ref).ravel()}"


# ---- abstract functions made concrete ----------------------------------------------------------

T = sp.Symbol("t")


@dataclass(frozen=True)
class StandIn:
    """Phi(t) = sin(a t + b), with a, b the parameters matdiff's check uses for this name.

    phi(x, k) is the k-th derivative: a^k sin(a x + b + k pi / 2), written here by hand.
    """
    name: str
    a: float = field(init=False)
    b: float = field(init=False)

    def __post_init__(self):
        a, b = stand_in(self.name)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    def __call__(self, x, k: int = 0):
        return self.a ** k * np.sin(self.a * np.asarray(x) + self.b + k * np.pi / 2)

    def sympy(self):
        """The same function as a SymPy Function class, for `expr.replace(Phi, ...)`.

        A class, not a Lambda: SymPy composes nested elementwise functions into bodies such as
        Derivative(Phi(Phi(t)), Phi(t)), a derivative with respect to Phi(t), which SymPy allows
        when Phi(t) is an applied function and refuses when it is sin(a t + b)."""
        a, b = sp.Float(self.a), sp.Float(self.b)
        a_, b_ = self.a, self.b

        def eval_(cls, x):
            if x.is_Number:
                return sp.sin(a * x + b)
            return None

        def fdiff(fself, argindex=1):
            return a * sp.cos(a * fself.args[0] + b)

        # an undefined function (so that one may differentiate with respect to Phi(t)) that
        # knows its derivative, its value at a number, and its NumPy implementation (lambdify)
        return sp.Function(f"{self.name}_stand_in", eval=classmethod(eval_), fdiff=fdiff,
                           _imp_=staticmethod(lambda x: np.sin(a_ * x + b_)))


PHI, PSI = StandIn("Phi"), StandIn("Psi")


# ---- an evaluator for SymPy matrix expressions -------------------------------------------------

MATRIX_FUNCS = (sp.MatrixSymbol, sp.MatAdd, sp.MatMul, sp.Transpose, sp.Inverse, sp.MatPow,
                sp.HadamardProduct, sp.HadamardPower, sp.KroneckerProduct, DiagMatrix, DiagonalOf,
                sp.OneMatrix, sp.Identity, sp.ZeroMatrix, ElementwiseApplyFunction)


class SympyEval:
    """Evaluate a SymPy expression made of matrix-expression classes with NumPy.

    values: name -> 2-D array (vectors n x 1) for MatrixSymbols, float for Symbols.
    dims: name -> int for the symbolic dimensions. functions: abstract name -> a SymPy
    callable (sp.tanh, sp.sin or a Lambda) that replaces it before `doit()`.
    Matrix values are 2-D arrays, scalar values floats.
    """

    def __init__(self, values: dict, dims: dict | None = None, functions: dict | None = None):
        self.values = values
        self.dims = {sp.Symbol(k): v for k, v in (dims or {}).items()}
        self.functions = functions or {}
        self.memo: dict = {}

    # -- helpers
    def size(self, d) -> int:
        return int(sp.sympify(d).subs(self.dims))

    def concrete(self, e: sp.Basic) -> sp.Basic:
        """Replace abstract functions by concrete ones and evaluate derivatives."""
        for name, fn in self.functions.items():
            e = e.replace(sp.Function(name), fn)
        return e.doit()

    @staticmethod
    def scalar(v) -> float:
        a = np.asarray(v, dtype=float)
        assert a.size == 1, f"expected a scalar, got shape {a.shape}"
        return float(a.reshape(()))

    # -- the walk
    def __call__(self, e):
        key = e
        if key in self.memo:
            return self.memo[key]
        out = self.matrix(e) if isinstance(e, sp.MatrixExpr) else self.scalar_value(e)
        if isinstance(e, sp.MatrixExpr):
            want = (self.size(e.shape[0]), self.size(e.shape[1]))
            assert out.shape == want, f"{e}: evaluated to shape {out.shape}, SymPy says {want}"
        self.memo[key] = out
        return out

    def matrix(self, e) -> np.ndarray:
        ev = self
        if isinstance(e, sp.MatrixSymbol):
            v = np.asarray(self.values[e.name], dtype=float)
            return v.reshape(-1, 1) if v.ndim == 1 else v
        if isinstance(e, sp.Identity):
            return np.eye(self.size(e.rows))
        if isinstance(e, sp.ZeroMatrix):
            return np.zeros((self.size(e.rows), self.size(e.cols)))
        if isinstance(e, sp.OneMatrix):
            return np.ones((self.size(e.rows), self.size(e.cols)))
        if isinstance(e, sp.MatAdd):
            parts = [ev(a) for a in e.args]
            return sum(parts[1:], parts[0])
        if isinstance(e, sp.MatMul):
            coeff = 1.0
            out = None
            for a in e.args:
                if isinstance(a, sp.MatrixExpr):
                    v = ev(a)
                    out = v if out is None else out @ v
                else:
                    coeff *= ev(a)
            return coeff * out
        if isinstance(e, sp.HadamardProduct):
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = out * ev(a)
            return out
        if isinstance(e, sp.HadamardPower):
            return np.power(ev(e.base), ev(e.exp)) if not isinstance(e.exp, sp.Integer) or e.exp >= 0 \
                else 1.0 / np.power(ev(e.base), -int(e.exp))
        if isinstance(e, sp.Transpose):
            return ev(e.arg).T
        if isinstance(e, sp.Inverse):
            return np.linalg.inv(ev(e.arg))
        if isinstance(e, sp.MatPow):
            k, base = e.exp, ev(e.base)
            if base.shape == (1, 1):            # a 1x1 matrix to any power is the scalar power
                return base ** float(k)
            assert k.is_integer, f"non-integer power of a non-1x1 matrix: {e}"
            return np.linalg.matrix_power(base, int(k))
        if isinstance(e, sp.KroneckerProduct):
            out = ev(e.args[0])
            for a in e.args[1:]:
                out = np.kron(out, ev(a))
            return out
        if isinstance(e, DiagMatrix):
            return np.diag(ev(e.args[0]).ravel())
        if isinstance(e, DiagonalOf):
            return np.diag(ev(e.args[0])).reshape(-1, 1).copy()
        if isinstance(e, ElementwiseApplyFunction):
            lam = e.function
            (t,) = lam.variables
            body = self.concrete(lam.expr)
            left = {type(f).__name__ for f in body.atoms(AppliedUndef)} & set(self.functions)
            assert not body.has(sp.Derivative) and not left, f"abstract function left in {body}"
            f = sp.lambdify(t, body, "numpy")
            x = ev(e.expr)
            out = np.asarray(f(x), dtype=float)
            if out.shape != x.shape:                  # a constant body, or one NumPy cannot broadcast
                out = np.vectorize(lambda s: float(f(s)))(x)
            return out
        raise AssertionError(f"unexpected matrix class {type(e).__name__}: {e}")

    def scalar_value(self, e) -> float:
        ev = self
        if e.is_Number:
            return float(e)
        if isinstance(e, sp.Symbol):
            return self.scalar(self.values[e.name])
        if isinstance(e, sp.Trace):
            return float(np.trace(ev(e.arg)))
        if isinstance(e, sp.Determinant):
            return float(np.linalg.det(ev(e.arg)))
        if isinstance(e, sp.Add):
            return sum(ev(a) for a in e.args)
        if isinstance(e, sp.Mul):
            out = 1.0
            for a in e.args:
                out *= ev(a)
            return out
        if isinstance(e, sp.Pow):
            return float(ev(e.base) ** ev(e.exp))
        # a function of scalars (exp, tanh, Heaviside, Max, Phi, Derivative, Subs, ...):
        # numbers for every matrix-valued scalar and every variable, then SymPy evaluates the rest
        # (Trace and Determinant become symbols first, so that doit() cannot expand them into
        # entries; numbers go in last, so that Derivative(Phi(s), s) is taken before s is a number)
        reps, nums = {}, {}
        for sub in sp.preorder_traversal(e):
            if isinstance(sub, (sp.Trace, sp.Determinant)) and sub not in reps:
                reps[sub] = sp.Dummy(real=True)   # a trace or determinant of real matrices: real
                # (else SymPy asks, of every function of it, whether it is real, through a Mod of
                # its imaginary part: a deep chain took minutes)
                nums[reps[sub]] = sp.Float(ev(sub), 30)
        e2 = self.concrete(e.xreplace(reps))
        nums.update({s: sp.Float(self.scalar(self.values[s.name]), 30)
                     for s in e2.free_symbols if isinstance(s, sp.Symbol) and s.name in self.values})
        e2 = e2.xreplace(nums)
        val = complex(sp.N(e2, 20))
        assert abs(val.imag) < 1e-12, f"complex value {val} of {e}"
        return val.real


def sympy_evaluate(expr, values: dict, dims: dict | None = None, functions: dict | None = None):
    """The value of a SymPy (matrix) expression: a 2-D array, or a float for a scalar."""
    values = {k: (to2d(v) if np.ndim(v) else float(v)) for k, v in values.items()}
    return SympyEval(values, dims, functions)(expr)


# ---- matdiff's own evaluator on matdiff's own expressions ------------------------------------


def matdiff_value(e, values: dict, dims: dict | None = None, directions: dict | None = None) -> np.ndarray:
    """Evaluate a matdiff Expr with matdiff.numeric (values natural-shaped; directions named dX)."""
    from matdiff.checking.numeric import Env, evaluate
    env = {k: to2d(v) for k, v in values.items()}
    env.update({"d" + k: to2d(v) for k, v in (directions or {}).items()})
    return evaluate(e, Env(env, dims or {}))
