"""Which names are functions, and what kind. The one place that decides `Phi(z)` versus `W (x)`.

It also holds one record per built-in elementwise function (ELEMENTWISE): everything every
other table needs to know about it, so that adding a function such as `abs` or `tan` is one
record here (and its tests). The tables elsewhere read these records; tests/test_tables.py
checks that every record has every field they need.

NumPy and SymPy are not imported here: `import matdiff` stays light (issue 6). Their fields are
builders that are handed the module (`numpy=lambda np: ...`, `sympy=lambda sp, t: ...`), and
numeric.py and printing/to_sympy.py call them once.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Mapping

from matdiff.language.algebra import const, hadamard_pow, mul, neg, zero_like
from matdiff.language.expr import Apply, BatchLogSumExp, BatchSoftmax, LogSoftmax, Det, DiagMat, Expr, Fn, Inverse, Kron, LogDet, LogSumExp, Norm, Softmax, Sum, Trace, Vec

BACKENDS = ("numpy", "jax", "torch")
DOMAINS = ("real", "positive", "unit")


@dataclass(frozen=True)
class Elementwise:
    """One built-in elementwise function f, one field per table that must know it."""
    name: str
    # numeric.py (evaluation and the check): np -> (f, f', f'', f''') on arrays. The Hessian
    # needs f'' and its check f''': all four are required
    numpy: Callable
    # generated code (printing/pycode.py): backend name -> f(x), {m} the module alias, {x} the argument
    code: Mapping[str, str]
    # the k-th derivative in generated code, over {x}; "op:NAME" is the backend's op NAME. A
    # function with y_forms or code_derivative needs only order 0 here
    code_derivatives: tuple
    # printing/to_sympy.py: (sympy, t) -> f(t), the body of an elementwise Lambda; its derivatives
    # are sympy.diff of this body unless sympy_derivative writes them. A body evaluates to a finite
    # number wherever f is finite (an exp that overflows makes a denominator inf, never inf / inf)
    sympy: Callable
    # printing/latex.py: the name before the parenthesized argument (and before its primes)
    latex: str
    # other names the parser accepts for it (σ for sigmoid)
    spellings: tuple = ()
    # where f is defined: "positive" arguments only (log, sqrt), "unit" ones in (-1, 1) only
    # (arcsin, arccos) or all "real" ones. The tests sample a positive argument for a positive
    # domain and one in (-1, 1) for a unit one; sampling.py finds finite inputs by drawing again
    # (positive) wherever the first draw is not finite, draws small inputs where a unit domain
    # is applied, and keeps finite differences from stepping across the edge at 0 (as across a
    # kink_at_zero) or at ±1
    domain: str = "real"
    # simplify.known_derivative: (k, x) -> f^(k)(x) as a simpler expression (softplus' = sigmoid),
    # or None to keep f^(k)(x) as written. No `derivative`: every derivative stays as written
    derivative: Callable | None = None
    # generated code: f^(k) for k >= 1 written as another function's derivative (name, order):
    # softplus^(k) = sigmoid^(k-1), exp^(k) = exp. Applied once, before y_forms
    code_derivative: Callable | None = None
    # generated code: f', f'', f''' written with y = f(x), which the forward pass has computed
    # already ({y} the value, {m} the module alias), as back-propagation code writes them
    y_forms: tuple = ()
    # generated NumPy code: the source of the helper that code["numpy"] calls, named "_" + name
    # (a numerically careful form that NumPy lacks)
    numpy_helper: str | None = None
    # SymPy: (sympy, t, k, scalar_level) -> f^(k)(t), k >= 1, where sympy.diff of the body is not
    # what is wanted: relu' = Heaviside (SymPy would differentiate Max), the logistic function's
    # derivatives without overflow. scalar_level: for a scalar argument, not a Lambda body
    sympy_derivative: Callable | None = None
    # SymPy: (sympy, t) -> f(t) of a scalar argument (not in a Lambda) where it differs from `sympy`
    sympy_scalar: Callable | None = None
    # the numerical check (sampling.py): f has a kink at 0 (relu), so finite differences must not
    # step across 0 there. A "positive" domain has its edge at 0 and counts the same
    kink_at_zero: bool = False
    # the numerical check (sampling.py): f has poles at pi/2 + k pi (tan), which finite differences
    # must not step across either
    poles_at_half_pi: bool = False
    # LaTeX of f(x) itself (order 0) where it is not `latex(x)`: "{x}" marks the argument
    latex_applied: str | None = None


def _same(template: str) -> dict:
    """The same code in every backend: {m}.exp({x}) is np.exp, jnp.exp, torch.exp."""
    return {b: template for b in BACKENDS}


def _numpy_sigmoid(np) -> tuple:
    """sigmoid and sigmoid' (shared with softplus, whose derivatives they are)."""
    def s(t):
        """1 / (1 + e^-t), accurate in both tails (0.5 (1 + tanh(t/2)) cancels for t << 0)."""
        return np.exp(-np.logaddexp(0, -t))

    def ds(t):
        """sigmoid' = s(t) (1 - s(t)) = s(t) s(-t), without the cancellation in 1 - s(t)."""
        return s(t) * s(-t)
    return s, ds


def _numpy_sigmoid_all(np) -> tuple:
    s, ds = _numpy_sigmoid(np)
    return (s, ds, lambda t: ds(t) * (s(-t) - s(t)), lambda t: ds(t) * (1 - 6 * ds(t)))


def _numpy_softplus(np) -> tuple:
    s, ds = _numpy_sigmoid(np)
    return (lambda t: np.logaddexp(0, t), s, ds, lambda t: ds(t) * (s(-t) - s(t)))


def _numpy_tanh(np) -> tuple:
    def sech2(t):
        """tanh' = 1 - tanh^2 = 1 / cosh^2, without the cancellation in 1 - tanh^2."""
        return 1 / np.cosh(t) ** 2
    return (np.tanh, sech2, lambda t: -2 * np.tanh(t) * sech2(t), lambda t: (6 * np.tanh(t)**2 - 2) * sech2(t))


@functools.lru_cache(maxsize=None)
def _sympy_sigmoid_polynomial(sp, t, k: int):
    """sigmoid^(k)(t) as a polynomial in S = sigmoid(t) = 1 / (1 + exp(-t)) and R = sigmoid(-t)
    = 1 / (1 + exp(t)): S' = S R and R' = -S R. No 1 - S cancels in either tail, and no inf / inf:
    an exponential that overflows only makes a denominator inf and its factor 0, the right limit
    (exp(-t) / (1 + exp(-t))^2, SymPy's own derivative, is nan at t = -800)."""
    S, R = sp.symbols("S R")
    p = S
    for _ in range(k):
        p = sp.factor(sp.expand((sp.diff(p, S) - sp.diff(p, R)) * S * R))
    return p.xreplace({S: 1 / (1 + sp.exp(-t)), R: 1 / (1 + sp.exp(t))})


def _sympy_sigmoid(sp, t, k: int, scalar_level: bool):
    """sigmoid^(k)(t) without overflow (shared with softplus, whose derivatives they are)."""
    if k == 1 and not scalar_level:
        # S R, with t once: SymPy's printer composes nested elementwise functions (doit), and
        # a body that holds t twice doubles with each level of nesting
        return 1 / (2 * sp.cosh(t) + 2)
    return _sympy_sigmoid_polynomial(sp, t, k)


def _sympy_softplus(sp, t):
    """max(t, 0) + log(1 + exp(-|t|)) with Max(t, 0), whose derivative SymPy knows (Heaviside): exp
    of numbers <= 0 only. (Not Abs, nor sqrt(t^2): building them runs SymPy's signsimp over the
    argument, which breaks on the matrix expressions inside a Trace.)"""
    m = sp.Max(t, 0)
    return m + sp.log(1 + sp.exp(t - 2 * m))


def _log_derivative(k: int, x: Expr) -> Expr | None:
    """log'(x) = x^-1; log''(x) = -x^-2 (Hessians)."""
    return hadamard_pow(-1, x) if k == 1 else neg(hadamard_pow(-2, x)) if k == 2 else None


ELEMENTWISE = {r.name: r for r in (
    Elementwise(
        "exp", numpy=lambda np: (np.exp,) * 4,
        code=_same("{m}.exp({x})"), code_derivatives=("op:exp",) * 4,
        sympy=lambda sp, t: sp.exp(t), latex=r"\exp",
        derivative=lambda k, x: Apply(Fn("exp"), x),
        code_derivative=lambda k: ("exp", 0)),
    Elementwise(
        "log", numpy=lambda np: (np.log, lambda t: 1 / t, lambda t: -1 / t**2, lambda t: 2 / t**3),
        code=_same("{m}.log({x})"), code_derivatives=("op:log", "1 / {x}", "-1 / {x} ** 2", "2 / {x} ** 3"),
        sympy=lambda sp, t: sp.log(t), latex=r"\log", domain="positive",
        derivative=_log_derivative),
    Elementwise(
        "sin", numpy=lambda np: (np.sin, np.cos, lambda t: -np.sin(t), lambda t: -np.cos(t)),
        code=_same("{m}.sin({x})"), code_derivatives=("op:sin", "op:cos", "-op:sin", "-op:cos"),
        sympy=lambda sp, t: sp.sin(t), latex=r"\sin",
        derivative=lambda k, x: Apply(Fn("cos"), x) if k == 1 else None),
    Elementwise(
        "cos", numpy=lambda np: (np.cos, lambda t: -np.sin(t), lambda t: -np.cos(t), np.sin),
        code=_same("{m}.cos({x})"), code_derivatives=("op:cos", "-op:sin", "-op:cos", "op:sin"),
        sympy=lambda sp, t: sp.cos(t), latex=r"\cos",
        derivative=lambda k, x: neg(Apply(Fn("sin"), x)) if k == 1 else None),
    # tanh', sigmoid' and relu' stay as written (no `derivative`): shorter than their formulas,
    # and as the sheets write them
    Elementwise(
        "tanh", numpy=_numpy_tanh,
        code=_same("{m}.tanh({x})"), code_derivatives=("op:tanh",),
        sympy=lambda sp, t: sp.tanh(t), latex=r"\tanh",
        y_forms=("1 - {y} ** 2", "-2 * {y} * (1 - {y} ** 2)", "(6 * {y} ** 2 - 2) * (1 - {y} ** 2)")),
    Elementwise(
        "sigmoid", numpy=_numpy_sigmoid_all,
        code={"numpy": "_sigmoid({x})", "jax": "jax.nn.sigmoid({x})", "torch": "torch.sigmoid({x})"},
        code_derivatives=("op:sigmoid",),
        sympy=lambda sp, t: 1 / (1 + sp.exp(-t)), sympy_derivative=_sympy_sigmoid,
        latex=r"\sigma", spellings=("σ",),
        y_forms=("{y} * (1 - {y})", "{y} * (1 - {y}) * (1 - 2 * {y})",
                 "{y} * (1 - {y}) * (1 - 6 * {y} * (1 - {y}))"),
        numpy_helper="def _sigmoid(t):\n    \"\"\"1 / (1 + e^-t), accurate in both tails.\"\"\"\n"
                     "    return np.exp(-np.logaddexp(0.0, -t))\n"),
    Elementwise(
        "relu", numpy=lambda np: (lambda t: np.maximum(t, 0), lambda t: (t > 0).astype(float),
                                  np.zeros_like, np.zeros_like),
        code={"numpy": "np.maximum({x}, 0.0)", "jax": "jnp.maximum({x}, 0.0)", "torch": "torch.relu({x})"},
        code_derivatives=("op:relu",),
        sympy=lambda sp, t: sp.Max(t, 0), latex=r"\operatorname{relu}",
        sympy_derivative=lambda sp, t, k, scalar_level: sp.Heaviside(t) if k == 1 else sp.Integer(0),
        # relu'' = 0 away from the kink: a Hessian's relu'' terms vanish (and generated HVP code
        # does not compute what they multiply); relu' stays as written
        derivative=lambda k, x: zero_like(x) if k >= 2 else None,
        kink_at_zero=True,
        y_forms=("{m}.sign({y})", "0 * {y}", "0 * {y}")),
    Elementwise(
        "softplus", numpy=_numpy_softplus,
        code={"numpy": "np.logaddexp(0.0, {x})", "jax": "jax.nn.softplus({x})",
              "torch": "torch.nn.functional.softplus({x})"},
        code_derivatives=("op:softplus",),
        # of a scalar argument log(1 + exp(t)), which overflows past t ~ 709: Max is no
        # sp.Function, and an evaluator of scalar SymPy expressions may know only functions of
        # one argument. softplus' = sigmoid, and so on
        sympy=_sympy_softplus, sympy_scalar=lambda sp, t: sp.log(1 + sp.exp(t)),
        sympy_derivative=lambda sp, t, k, scalar_level: _sympy_sigmoid(sp, t, k - 1, scalar_level),
        latex=r"\operatorname{softplus}",
        derivative=lambda k, x: Apply(Fn("sigmoid"), x) if k == 1 else None,
        code_derivative=lambda k: ("sigmoid", k - 1)),
    Elementwise(
        "sqrt", numpy=lambda np: (np.sqrt, lambda t: 0.5 / np.sqrt(t), lambda t: -0.25 * t**-1.5,
                                  lambda t: 0.375 * t**-2.5),
        code=_same("{m}.sqrt({x})"),
        code_derivatives=("op:sqrt", "0.5 / op:sqrt", "-0.25 * {x} ** -1.5", "0.375 * {x} ** -2.5"),
        sympy=lambda sp, t: sp.sqrt(t), latex=r"\operatorname{sqrt}", latex_applied=r"\sqrt{{x}}",
        domain="positive",
        derivative=lambda k, x: mul(const(Fraction(1, 2)), hadamard_pow(Fraction(-1, 2), x)) if k == 1 else None),
)}


def _numpy_tan(np) -> tuple:
    def sec2(t):
        """tan' = 1 + tan^2 = 1 / cos^2."""
        return 1 / np.cos(t) ** 2
    return (np.tan, sec2, lambda t: 2 * np.tan(t) * sec2(t), lambda t: (2 + 6 * np.tan(t) ** 2) * sec2(t))


def _numpy_arcsin(np, sign: int) -> tuple:
    """arcsin (sign 1) or arccos = pi/2 - arcsin (sign -1) and their derivatives, on (-1, 1)."""
    return ((np.arcsin if sign > 0 else np.arccos),
            lambda t: sign * (1 - t ** 2) ** -0.5,
            lambda t: sign * t * (1 - t ** 2) ** -1.5,
            lambda t: sign * (1 + 2 * t ** 2) * (1 - t ** 2) ** -2.5)


def _sympy_sign(sp, t):
    """sign(t) = 2 H(t) - 1, with H(0) = 1/2 so that sign(0) = 0. Not sp.sign nor sp.Abs, whose
    constructors run SymPy's signsimp over the argument, which breaks on the matrix expressions
    inside a Trace (see _sympy_softplus)."""
    return 2 * sp.Heaviside(t) - 1


def _arcsin_code(sign: str) -> tuple:
    return (sign + "(1 - {x} ** 2) ** -0.5", sign + "{x} * (1 - {x} ** 2) ** -1.5",
            sign + "(1 + 2 * {x} ** 2) * (1 - {x} ** 2) ** -2.5")


NONSMOOTH_AND_TRIG = (
    # sign before abs: abs' = sign, and printing/sympy_latex.py names a body by the first record
    Elementwise(
        "sign", numpy=lambda np: (np.sign, np.zeros_like, np.zeros_like, np.zeros_like),
        code=_same("{m}.sign({x})"), code_derivatives=("op:sign", "0 * {x}", "0 * {x}", "0 * {x}"),
        sympy=_sympy_sign,
        sympy_derivative=lambda sp, t, k, scalar_level: sp.Integer(0),
        latex=r"\operatorname{sign}", kink_at_zero=True,
        derivative=lambda k, x: zero_like(x)),                # sign' = 0 away from 0
    Elementwise(
        "abs", numpy=lambda np: (np.abs, np.sign, np.zeros_like, np.zeros_like),
        code=_same("{m}.abs({x})"), code_derivatives=("op:abs", "op:sign", "0 * {x}", "0 * {x}"),
        # Max(t, -t), not Abs(t) (signsimp, as for sign); its derivatives are sign's
        sympy=lambda sp, t: sp.Max(t, -t),
        sympy_derivative=lambda sp, t, k, scalar_level: _sympy_sign(sp, t) if k == 1 else sp.Integer(0),
        latex=r"\operatorname{abs}", latex_applied=r"\left|{x}\right|", kink_at_zero=True,
        derivative=lambda k, x: Apply(Fn("sign"), x) if k == 1 else zero_like(x)),   # abs' = sign
    Elementwise(
        "tan", numpy=_numpy_tan,
        code=_same("{m}.tan({x})"), code_derivatives=("op:tan",),
        sympy=lambda sp, t: sp.tan(t), latex=r"\tan", poles_at_half_pi=True,
        y_forms=("1 + {y} ** 2", "2 * {y} * (1 + {y} ** 2)", "(2 + 6 * {y} ** 2) * (1 + {y} ** 2)")),
    Elementwise(
        "arcsin", numpy=lambda np: _numpy_arcsin(np, 1),
        code=_same("{m}.arcsin({x})"), code_derivatives=("op:arcsin", *_arcsin_code("")),
        sympy=lambda sp, t: sp.asin(t), latex=r"\arcsin", spellings=("asin",), domain="unit"),
    Elementwise(
        "arccos", numpy=lambda np: _numpy_arcsin(np, -1),
        code=_same("{m}.arccos({x})"), code_derivatives=("op:arccos", *_arcsin_code("-")),
        sympy=lambda sp, t: sp.acos(t), latex=r"\arccos", spellings=("acos",), domain="unit"),
    Elementwise(
        "arctan", numpy=lambda np: (np.arctan, lambda t: 1 / (1 + t ** 2), lambda t: -2 * t / (1 + t ** 2) ** 2,
                                    lambda t: (6 * t ** 2 - 2) / (1 + t ** 2) ** 3),
        code=_same("{m}.arctan({x})"),
        code_derivatives=("op:arctan", "1 / (1 + {x} ** 2)", "-2 * {x} / (1 + {x} ** 2) ** 2",
                          "(6 * {x} ** 2 - 2) / (1 + {x} ** 2) ** 3"),
        sympy=lambda sp, t: sp.atan(t), latex=r"\arctan", spellings=("atan",)),
    Elementwise(
        "sinh", numpy=lambda np: (np.sinh, np.cosh, np.sinh, np.cosh),
        code=_same("{m}.sinh({x})"), code_derivatives=("op:sinh", "op:cosh", "op:sinh", "op:cosh"),
        sympy=lambda sp, t: sp.sinh(t), latex=r"\sinh",
        derivative=lambda k, x: Apply(Fn("cosh" if k % 2 else "sinh"), x)),
    Elementwise(
        "cosh", numpy=lambda np: (np.cosh, np.sinh, np.cosh, np.sinh),
        code=_same("{m}.cosh({x})"), code_derivatives=("op:cosh", "op:sinh", "op:cosh", "op:sinh"),
        sympy=lambda sp, t: sp.cosh(t), latex=r"\cosh",
        derivative=lambda k, x: Apply(Fn("sinh" if k % 2 else "cosh"), x)),
)
ELEMENTWISE.update((r.name, r) for r in NONSMOOTH_AND_TRIG)

# Structural built-ins: name -> (node class, number of arguments). The parser builds the node
# from its arguments: Node(x) for one, Node((x, y)) for two (an n-ary node such as Kron).
STRUCTURAL = {
    "tr":        (Trace, 1),
    "det":       (Det, 1),
    "logdet":    (LogDet, 1),
    "inv":       (Inverse, 1),
    "softmax":   (Softmax, 1),
    "logsumexp": (LogSumExp, 1),
    "logsoftmax": (LogSoftmax, 1),      # and logsoftmax(Z, rows): parse.py gives it its axis
    "norm":      (Norm, 1),
    "sum":       (Sum, 1),
    "diag":      (DiagMat, 1),
    "vec":       (Vec, 1),
    "kron":      (Kron, 2),
}

# Words that build a value rather than apply a function (parse.py reads them): the ones
# vector of a named size, matrixcalculus.org's all-ones vector(1) and matrix(1) (sizes
# inferred), the mean of all entries, and unvec(v, rows, cols) (vec's inverse, as matdiff prints it).
CONSTRUCTORS = {
    "ones":   "ones(n) is the ones vector of size n, ones(n, m) the n×m matrix of ones",
    "vector": "vector(1) is the ones vector (its size inferred)",
    "matrix": "matrix(1) is the matrix of ones (its size inferred)",
    "mean":   "mean(x) is the mean of all entries of x",
    "unvec":  "unvec(v, rows, cols) is the rows×cols matrix whose columns are v's consecutive pieces "
              "(the inverse of vec; rows and cols are positive whole numbers or dimension names)",
}

# Words that are another expression, built from the argument: the printers write that expression,
# which reads back the same. norm1(X) is the entrywise 1-norm, the sum of |X_ij| (as
# matrixcalculus.org reads it), for a vector its 1-norm.
SPELLED = {
    "norm1": lambda x: Sum(Apply(Fn("abs"), x)),
}

# softmax(Z, rows) / softmax(Z, cols), logsumexp likewise: a function of a matrix along its rows
# or its columns; the parser reads the second argument as one of the AXES words.
BATCH = {"softmax": BatchSoftmax, "logsumexp": BatchLogSumExp,
         "logsoftmax": lambda axis, x, at: LogSoftmax(axis, x, at=at)}
AXES = {"rows": "rows", "cols": "cols", "columns": "cols"}

# Other spellings of the same function. norm2 is the Euclidean norm, Frobenius of a matrix
# (as matrixcalculus.org reads it): norm's
ALIASES = {"Tr": "tr", "trace": "tr", "inv": "inv", "norm2": "norm", "log_softmax": "logsoftmax",
           **{s: r.name for r in ELEMENTWISE.values() for s in r.spellings}}

# Abstract elementwise functions known by default; more are declared by the user.
DEFAULT_ABSTRACT = frozenset({"Phi", "Psi", "phi", "psi", "Φ", "Ψ", "φ", "ψ"})

BUILTIN = (frozenset(ELEMENTWISE) | frozenset(STRUCTURAL) | frozenset(ALIASES) | frozenset(CONSTRUCTORS)
           | frozenset(SPELLED))

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "ϕ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
GREEK_NAME = {v: k for k, v in GREEK.items() if not k.startswith("var")}


def canonical_name(raw: str) -> str:
    """LaTeX-style `\\theta` is the Greek letter θ; any other name is kept as written."""
    if raw.startswith("\\"):
        head = raw[1:].split("_", 1)
        if head[0] in GREEK:
            return GREEK[head[0]] + ("_" + head[1] if len(head) > 1 else "")
        return raw[1:]
    return raw


def canonical_function(name: str) -> str:
    return ALIASES.get(name, name)


def is_greek(name: str) -> bool:
    return unicodedata.category(name[0]) in ("Ll", "Lu") and "GREEK" in unicodedata.name(name[0], "") \
        or name.split("_")[0] in GREEK


def is_greek_lower(name: str) -> bool:
    """α, \\alpha and `alpha` are Greek lower-case names: scalars where the expression allows."""
    head = name.split("_")[0].rstrip("0123456789")
    if head in GREEK:
        return head[0].islower()
    return "GREEK SMALL" in unicodedata.name(name[0], "")


def function_names(extra=()) -> frozenset:
    """Every name that is applied rather than multiplied: builtins, default abstract, declared."""
    return BUILTIN | DEFAULT_ABSTRACT | frozenset(extra)
