"""The entrywise algebra: function identities and cancellation in elementwise sub-expressions.

Why a rational normal form rather than more rewrite rules: arrays of one shape (and 1x1 ones,
broadcast) form a commutative ring under +, ∘ and .^ k, so an elementwise sub-expression (a
Hadamard product, a sum of such, powers, scalings) is a rational function of its atoms. The
identities people use to shorten a gradient (sigmoid' = s (1 - s), 1 - sigmoid(u) = sigmoid(-u),
e^u / (1 + e^u) = sigmoid(u), tanh' = 1 - tanh^2) only pay after a cancellation several terms
away (the cross-entropy of a sigmoid output collapses to `sigmoid(X w) - y` only once sigmoid' is
multiplied into both fractions). Rules that match shapes of trees would need one rule per
arrangement of the terms; a rational function cancelled by SymPy (on commuting symbols built
here, never from user text) finds them all, and the result is kept only when strictly shorter.

    atoms        any node outside the algebra (X w, Var, sum(.), an abstract Phi(u)), one symbol each
    functions    sigmoid^(k)(u) as a polynomial in S = sigmoid(u) (S' = S (1 - S)); sigmoid(-u) =
                 1 - S; tanh^(k)(u) as a polynomial in T (T' = 1 - T^2), tanh(-u) = -T;
                 exp(u) = E, exp(-u) = 1 / E; softplus^(k) = sigmoid^(k-1)
    candidates   cancelled and factored; with E = S / (1 - S) (recognises sigmoid in e^u / (1 + e^u));
                 tanh' expanded and kept whole; back to an Expr, each sum with its sigmoids either
                 way round (1 - S = R = sigmoid(-u)), S (1 - S) folded back into sigmoid'(u),
                 1 - T^2 into tanh'(u), a minus taken into a sum factor. A candidate whose sums
                 multiply functions of different arguments is a regrouping, not a cancellation
                 ((tanh(a) tanh(b) - 1) from tanh'(a) tanh(b) + tanh(a) tanh'(b)): not kept
    kept         the shortest candidate, if shorter than the input (token count, `size`)

Cost: the rules fire on every backprop step, so SymPy is called only where an identity or a
cancellation can happen (a function of the four above beside a sum or a division, or two of them
of one argument, or a division beside a sum), only below a size cap, and each answer is cached.
"""
from __future__ import annotations

from fractions import Fraction
from itertools import combinations

from matdiff.language.algebra import (
    add, const, diag_mat, elementwise, hadamard, hadamard_pow, is_negative, matmul, mul, neg, scale, transpose,
)
from matdiff.language.expr import (
    Add, Apply, Const, DiagMat, Expr, Fn, Hadamard, HadamardPow, Leaf, MatMul, Mul, Ones, Zero,
    children, postorder,
)
from matdiff.errors import DerivativeError, LimitError
from matdiff.language.shapes import is_scalar, shape_of
from matdiff.limits import tick

_GROUP = (Add, Hadamard, HadamardPow, Mul, Const, Ones, Zero)
_FUNCTIONS = ("sigmoid", "tanh", "exp", "softplus")
_MAX_ORDER = 3
_MAX_ATOMS = 8                  # symbols handed to SymPy
_MAX_NODES = 60                 # group nodes walked before giving up
_MAX_SUMS = 6                   # sums in one group, (a + b) .^ 3 three: products are multiplied out
_MAX_EXPONENT = 4               # x .^ k with a larger |k| is an atom: (1 + e) .^ 1000 is not expanded
_CACHE: dict = {}
_CACHE_LIMIT = 20_000


# ---- size: the printed length in tokens, roughly as the text printer writes it -----------------

def size(e: Expr) -> int:
    """Tokens of e's text (names, numbers, operators; parentheses not counted), as the corpus
    yardstick counts them: what "shorter" means for every choice made here. Iterative and
    remembered: a group's atoms can be deep (a 64-layer network inside a sigmoid)."""
    if e in _SIZES:
        return _SIZES[e]
    if len(_SIZES) > _CACHE_LIMIT:
        _SIZES.clear()
    for n in postorder(e, done=_SIZES):
        _SIZES[n] = _own_size(n)
    return _SIZES[e]


def _own_size(e: Expr) -> int:
    """e's tokens, its children's already in _SIZES."""
    match e:
        case Const(v):
            return (1 if v.denominator == 1 else 3) + (v < 0)
        case Leaf():
            return 1
        case HadamardPow(k, a):
            return _SIZES[a] + (1 if k == -1 else 2 + (k < 0))
        case Add(args):
            return sum(_SIZES[a] for a in args) + sum(not is_negative(a) for a in args[1:])
        case Hadamard(args):
            return sum(_SIZES[a] for a in args) + len(args) - 1
        case Mul((Const(k), *rest)):        # -x, 2 x, 1/2 x: the number's sign is the only "-"
            return sum(_SIZES[a] for a in rest) + (0 if k == 1 else 1 if k == -1 else _own_size(Const(abs(k))))
        case Mul(args) | MatMul(args):
            return sum(_SIZES[a] for a in args)
        case Apply(_, a):
            return 1 + _SIZES[a]
    return 1 + sum(_SIZES[c] for c in children(e))


_SIZES: dict = {}


# ---- the group: an elementwise sub-expression and its atoms -------------------------------------

def _canonical(u: Expr) -> tuple:
    """(base, flipped): -u -> (u, True), u -> (u, False)."""
    return (neg(u), True) if is_negative(u) else (u, False)


def _known(e: Expr) -> bool:
    return isinstance(e, Apply) and e.fn.name in _FUNCTIONS and e.fn.order <= _MAX_ORDER


def _survey(e: Expr):
    """(function applications, has a sum, division: False, "scalar" or "elementwise") of the group
    under e, or None when the group is too big to hand to SymPy."""
    fns, has_add, has_div, seen, sums = [], False, False, 0, 0
    stack = [(e, 1)]
    while stack:
        n, power = stack.pop()          # power: how often the enclosing powers repeat n
        seen += 1
        sums += power * isinstance(n, Add)
        if seen > _MAX_NODES or sums > _MAX_SUMS:
            return None
        if isinstance(n, _GROUP):
            has_add |= isinstance(n, Add)
            if isinstance(n, HadamardPow) and n.k < 0:
                has_div = has_div or "scalar"
                if not is_scalar(n):
                    has_div = "elementwise"
            k = abs(n.k.numerator) if isinstance(n, HadamardPow) and abs(n.k.numerator) <= _MAX_EXPONENT else 1
            stack.extend((c, power * k) for c in children(n))
        elif _known(n):
            fns.append(n)
    return fns, has_add, has_div


def _worth_trying(e: Expr) -> bool:
    survey = _survey(e)
    if survey is None:
        return False
    fns, has_add, has_div = survey
    if not is_scalar(e) and has_add and not has_div and all(is_scalar(f) for f in fns):
        # exp(b) A + 1/2 A - 1/2 A^T: scalar functions without a division are only the coefficients
        # of a sum of matrices, which is like terms and factoring (terms.py collects them into a
        # scalar sum, which is normalised here: sigmoid(a) A + sigmoid(-a) A is A); normalising the
        # matrix sum here too, the two
        # disagree on where a sign goes and undo each other
        return False
    if fns and (has_add or has_div):
        return True
    bases = [_canonical(f.arg)[0] for f in fns]
    # without functions, only a sum beside an elementwise division (x ./ (x + y) + y ./ (x + y)):
    # sums of matrices over scalar denominators are like terms and factoring (simplify.py's)
    return len(set(bases)) < len(bases) or (has_add and has_div == "elementwise")


class _Abort(Exception):
    """The expression leaves what the normaliser handles (an irrational number, say)."""


class _Atoms:
    """Symbols for atoms and function applications, and the way back to Exprs."""

    def __init__(self, sp, shape, expand_tanh: bool = True):
        self.sp, self.shape, self.expand_tanh = sp, shape, expand_tanh
        self.base: dict = {}            # Symbol of a function application -> its argument (up to sign)
        self.symbol: dict = {}          # key -> Symbol
        self.back: dict = {}            # Symbol -> Expr
        self.wide: set = set()          # symbols of non-scalar atoms
        self.sigmoid: dict = {}         # Symbol S or R -> the Expr of sigmoid'(base)
        self.complement: dict = {}      # S -> R (and R -> S): the two orientations of one sigmoid
        self.tanh: dict = {}            # Symbol T -> the Expr of tanh'(base)
        self.exp: dict = {}             # Symbol E -> S of the same base (sigmoid(u) = E / (1 + E))
        self.memo: dict = {}            # (SymPy expression, orient) -> its shortest Expr

    def _sym(self, key, expr: Expr, wide: bool):
        if key not in self.symbol:
            s = self.sp.Symbol(f"a{len(self.symbol)}")
            self.symbol[key], self.back[s] = s, expr
            if wide:
                self.wide.add(s)
        return self.symbol[key]

    def atom(self, e: Expr):
        return self._sym(("atom", e), e, not is_scalar(e))

    def sigmoid_of(self, base: Expr):
        wide = not is_scalar(base)
        S = self._sym(("S", base), Apply(Fn("sigmoid"), base), wide)
        R = self._sym(("R", base), Apply(Fn("sigmoid"), neg(base)), wide)
        self.base[S] = self.base[R] = base
        self.sigmoid[S] = self.sigmoid[R] = Apply(Fn("sigmoid", 1), base)
        self.complement[S], self.complement[R] = R, S
        return S

    def tanh_of(self, base: Expr):
        T = self._sym(("T", base), Apply(Fn("tanh"), base), not is_scalar(base))
        self.base[T] = base
        self.tanh[T] = Apply(Fn("tanh", 1), base)
        return T

    def exp_of(self, base: Expr):
        E = self._sym(("E", base), Apply(Fn("exp"), base), not is_scalar(base))
        self.base[E] = base
        self.exp[E] = self.sigmoid_of(base)
        return E

    def function(self, e: Apply):
        """f^(k)(u) through the identities in the module's docstring."""
        sp = self.sp
        name, k = e.fn.name, e.fn.order
        base, flipped = _canonical(e.arg)
        if name == "softplus":
            if k == 0:
                return self.atom(e)
            name, k = "sigmoid", k - 1
        if name == "sigmoid":
            S = self.sigmoid_of(base)
            return _polynomial("sigmoid", k, sp).xreplace({sp.Symbol("x"): 1 - S if flipped else S})
        if name == "tanh":
            if k and not self.expand_tanh:
                d = self.atom(Apply(e.fn, base))        # tanh^(k) kept whole (of odd k even)
                return d if k % 2 or not flipped else -d
            T = self.tanh_of(base)
            return _polynomial("tanh", k, sp).xreplace({sp.Symbol("x"): -T if flipped else T})
        E = self.exp_of(base)           # exp^(k) = exp
        return 1 / E if flipped else E


_POLYNOMIALS: dict = {}


def _polynomial(name: str, k: int, sp):
    """sigmoid^(k) as a polynomial in x = sigmoid (x' = x (1 - x)); tanh^(k) in x = tanh (x' = 1 - x^2)."""
    x = sp.Symbol("x")
    if (name, k) not in _POLYNOMIALS:
        p, slope = x, (x * (1 - x) if name == "sigmoid" else 1 - x ** 2)
        for _ in range(k):
            p = sp.expand(sp.diff(p, x) * slope)
        _POLYNOMIALS[name, k] = p
    return _POLYNOMIALS[name, k]


def _to_sympy(e: Expr, atoms: _Atoms):
    sp = atoms.sp
    match e:
        case Const(v):
            return sp.Rational(v.numerator, v.denominator)
        case Ones():
            return sp.Integer(1)
        case Zero():
            return sp.Integer(0)
        case Add(args):
            return sp.Add(*(_to_sympy(a, atoms) for a in args))
        case Hadamard(args) | Mul(args):
            return sp.Mul(*(_to_sympy(a, atoms) for a in args))
        case HadamardPow(k, a) if abs(k.numerator) <= _MAX_EXPONENT and k.denominator <= 2:
            return sp.Pow(_to_sympy(a, atoms), sp.Rational(k.numerator, k.denominator))
    if _known(e):
        return atoms.function(e)
    return atoms.atom(e)


# ---- back to an Expr --------------------------------------------------------------------------------

def _number(x) -> Fraction:
    if not x.is_Rational:
        raise _Abort
    return Fraction(int(x.p), int(x.q))


def _is_wide(x, atoms: _Atoms) -> bool:
    return bool(x.free_symbols & atoms.wide)


def _fold(coeff: Fraction, factors: list, atoms: _Atoms, sp) -> tuple:
    """S^a (1 - S)^b -> sigmoid'(u)^m S^(a-m) (1 - S)^(b-m), m the common exponent, likewise
    S R (R = sigmoid(-u) = 1 - S) and (1 - T)(1 + T) = tanh'(u); a factor S - 1 is -(1 - S), its
    sign goes to the coefficient."""
    powers: dict = {}
    for b, k in factors:
        powers[b] = powers.get(b, 0) + k
    pairs = []                          # (p, q, sign, derivative): p q = sign derivative
    for S, derivative in atoms.sigmoid.items():
        pairs += [(S, 1 - S, 1, derivative), (S, S - 1, -1, derivative)]
        if S.name < atoms.complement[S].name:
            pairs.append((S, atoms.complement[S], 1, derivative))
    for T, derivative in atoms.tanh.items():
        pairs += [(1 - T, 1 + T, 1, derivative), (T - 1, T + 1, -1, derivative)]
    for p, q, sign, derivative in pairs:
        a, b = powers.get(p, 0), powers.get(q, 0)
        if a and b and (a > 0) == (b > 0) and a.denominator == 1 and b.denominator == 1:
            m = min(a, b) if a > 0 else max(a, b)
            powers[p], powers[q] = a - m, b - m
            d = atoms._sym(("D", derivative), derivative, not is_scalar(derivative))
            powers[d] = powers.get(d, 0) + m
            if sign < 0 and m % 2:
                coeff = -coeff
    return coeff, [(b, k) for b, k in powers.items() if k != 0]


def _sum(x, atoms: _Atoms) -> Expr:
    if not x.is_Add:
        return _best(x, atoms, orient=False)
    shape = shape_of_sym(x, atoms)
    terms = []
    for t in x.args:
        best = _best(t, atoms, orient=False)
        if shape is not None and is_scalar(best):
            best = mul(best, Ones(shape)) if not isinstance(best, Const) else scale(best.value, Ones(shape))
        terms.append(best)
    return add(*terms)


def _to_expr(x, atoms: _Atoms, orient: bool = True) -> list:
    """Expr forms of x (a SymPy expression of atoms' symbols): a list, the caller picks the shortest.
    A number in a sum with arrays is broadcast (1 - s is 1_n - s); `orient`: also try each sum
    with its sigmoids turned around."""
    sp = atoms.sp
    if x.is_Rational:
        return [const(_number(x))]
    if x.is_Symbol:
        if x not in atoms.back:
            raise _Abort
        return [atoms.back[x]]
    if x.is_Add:
        # the sum as it is, and with each sigmoid turned around (1 - sigmoid(-u) = sigmoid(u))
        variants = [x] + ([sp.expand(x.xreplace({S: 1 - atoms.complement[S]}))
                           for S in x.free_symbols if S in atoms.complement] if orient else [])
        return [_sum(v, atoms) for v in variants]
    if x.is_Pow:
        b, k = x.as_base_exp()
        forms = [_power(_number(k), _best(b, atoms))]
        if b in atoms.exp and _number(k) < 0:                  # exp(u) .^ -1 = exp(-u)
            forms.append(hadamard_pow(-_number(k), Apply(Fn("exp"), neg(atoms.back[b].arg))))
        return forms
    if x.is_Mul:
        c, rest = x.as_coeff_Mul()
        coeff = _number(c)
        factors = []
        for f in sp.Mul.make_args(rest):
            b, k = f.as_base_exp()
            factors.append((b, _number(k)))
        coeff, factors = _fold(coeff, factors, atoms, sp)
        forms = [_product(coeff, factors, atoms)]
        if coeff < 0:                  # -(s - 1) y = (1 - s) y: the minus into a sum factor
            for i, (b, k) in enumerate(factors):
                if b.is_Add and k.denominator == 1 and k % 2:
                    flipped = factors[:i] + [(sp.expand(-b), k)] + factors[i + 1:]
                    forms.append(_product(-coeff, flipped, atoms))
        return forms
    raise _Abort


def shape_of_sym(x, atoms: _Atoms):
    return atoms.shape if _is_wide(x, atoms) else None


def _product(coeff: Fraction, factors: list, atoms: _Atoms) -> Expr:
    parts = [_power(k, _best(b, atoms)) for b, k in factors]
    return elementwise(const(coeff), *parts)


def _shortest(forms: list) -> Expr:
    return min(forms, key=size)


def _best(x, atoms: _Atoms, orient: bool = True) -> Expr:
    """The shortest of _to_expr(x), remembered: a factor's forms are asked for by every form of
    the products around it."""
    key = (x, orient)
    if key not in atoms.memo:
        atoms.memo[key] = _shortest(_to_expr(x, atoms, orient))
    return atoms.memo[key]


def _power(k: Fraction, b: Expr) -> Expr:
    """b .^ k, a sign of b out of it: (-s) .^ 2 = s .^ 2, (-s) .^ -1 = -(s .^ -1)."""
    if is_negative(b) and k.denominator == 1:
        p = hadamard_pow(k, neg(b))
        return p if k % 2 == 0 else neg(p)
    return hadamard_pow(k, b)


def _candidates(F, atoms: _Atoms):
    """F cancelled and factored, after each choice of substitutions E = S / (1 - S). (Which way each
    sigmoid is turned, S or 1 - R, is chosen sum by sum when converting back: _to_expr.)"""
    sp = atoms.sp
    starts = [F]
    exps = [E for E in atoms.exp if E in F.free_symbols][:2]
    for n in range(1, len(exps) + 1):
        for chosen in combinations(exps, n):
            starts.append(F.xreplace({E: atoms.exp[E] / (1 - atoms.exp[E]) for E in chosen}))
    for G in starts:
        tick()
        yield sp.factor(sp.cancel(G))


def normal_form(e: Expr) -> Expr | None:
    """The shortest form of the elementwise group under e, or None when nothing is shorter."""
    if e in _CACHE:
        return _CACHE[e]
    if len(_CACHE) > _CACHE_LIMIT:
        _CACHE.clear()
    result = None
    if _worth_trying(e):
        result = _normalise(e)
    _CACHE[e] = result
    return result


def _mixes(G, atoms: _Atoms) -> bool:
    """A sum with a term that multiplies functions of two different arguments: (tanh(a) tanh(b) - 1)
    from tanh'(a) tanh(b) + tanh(a) tanh'(b). Shorter, but a factoring no one writes: the
    identities are for cancelling, not for regrouping (such candidates are not kept)."""
    for node in atoms.sp.preorder_traversal(G):
        if node.is_Add:
            for t in node.args:
                if len({atoms.base[x] for x in t.free_symbols if x in atoms.base}) > 1:
                    return True
    return False


def _normalise(e: Expr) -> Expr | None:
    import sympy as sp                  # here, not at the top: `import matdiff` stays light
    shape = shape_of(e)
    best, best_size = None, size(e)
    # tanh' = 1 - tanh^2 expanded, and kept whole: whichever cancels more
    tanh_derivatives = any(f.fn.name == "tanh" and f.fn.order for f in _survey(e)[0])
    for atoms in (_Atoms(sp, shape),) + ((_Atoms(sp, shape, expand_tanh=False),) if tanh_derivatives else ()):
        try:
            new = _shortest_form(e, atoms, shape, best_size)
        except (_Abort, ValueError, TypeError, ZeroDivisionError, LimitError, DerivativeError):
            new = None                  # a number past matdiff's bounds, 0 .^ -1: keep the input
        if new is not None:
            best, best_size = new, size(new)
    return best


def _shortest_form(e: Expr, atoms: _Atoms, shape, best_size: int) -> Expr | None:
    sp = atoms.sp
    best = None
    F = _to_sympy(e, atoms)
    if len(F.free_symbols) > _MAX_ATOMS:
        return None
    for G in _candidates(F, atoms):
        if G.has(sp.I, sp.zoo, sp.nan, sp.oo) or _mixes(G, atoms):
            continue
        for new in _to_expr(G, atoms):
            if shape != (1, 1) and is_scalar(new):          # alpha s + alpha (1 - s) = alpha 1 1^T
                new = (scale(new.value, Ones(shape)) if new.value else Zero(shape)) if isinstance(new, Const) \
                    else mul(new, Ones(shape))
            if shape_of(new) != shape:
                continue
            n = size(new)
            if n < best_size:
                best, best_size = new, n
    return best


# ---- the rules (calculus/simplify.py RULES) ------------------------------------------------------

def entrywise_normal_form(e: Expr) -> Expr | None:
    """sigmoid'(u) = sigmoid(u) ∘ (1 - sigmoid(u)); 1 - sigmoid(u) = sigmoid(-u); exp(u) ./ (1 + exp(u)) = sigmoid(u); tanh'(u) = 1 - tanh(u) .^ 2

    An elementwise sub-expression as the shortest rational function of its atoms, through
    those identities (the first line is what a solution sheet cites):
    sigmoid'(u) ∘ ((1 - s) .^ -1 ∘ (1 - y) - s .^ -1 ∘ y) = s - y  (s = sigmoid(u)),
    e ./ (1 + e) = sigmoid(-u)  (e = exp(-u)),  y .^ 2 ∘ e ./ (1 + e) .^ 2 = y .^ 2 ∘ sigmoid'(u)."""
    return normal_form(e)


def diag_sums(e: Add) -> Expr | None:
    """diag(a) + diag(b) = diag(a + b)

    diag is linear, and one diag is shorter than two (the Hessian of a logistic loss)."""
    diag, others = [], []
    for t in e.args:
        scal, body = (t.args[:-1], t.args[-1]) if isinstance(t, Mul) else ((), t)
        (diag if isinstance(body, DiagMat) else others).append((scal, body) if isinstance(body, DiagMat) else t)
    if len(diag) < 2:
        return None
    return add(diag_mat(add(*(mul(*s, d.arg) for s, d in diag))), *others)


def even_derivatives(e: Apply) -> Expr | None:
    """sigmoid'(-u) = sigmoid'(u); tanh'(-u) = tanh'(u)

    sigmoid - 1/2 and tanh are odd, so their odd derivatives are even functions."""
    if e.fn.name in ("sigmoid", "tanh") and e.fn.order % 2 and is_negative(e.arg):
        return Apply(e.fn, neg(e.arg))
    return None


def number_out_of_power(e: HadamardPow) -> Expr | None:
    """(c s) .^ k = c^k s .^ k for a number c and a whole k

    2 M / (2 sigma^2) is M / sigma^2: the number below the bar meets the one above it."""
    if e.k.denominator != 1 or not isinstance(e.arg, Mul):
        return None
    numbers = [a for a in e.arg.args if isinstance(a, Const)]
    if len(numbers) != 1 or numbers[0].value == 0:
        return None
    rest = [a for a in e.arg.args if a is not numbers[0]]
    return mul(Const(numbers[0].value ** e.k), hadamard_pow(e.k, mul(*rest)))


def sinh_over_cosh(e: Hadamard | Mul) -> Expr | None:
    """sinh(u) ./ cosh(u) = tanh(u)"""
    join = hadamard if isinstance(e, Hadamard) else mul
    args = list(e.args)
    for a in args:
        if isinstance(a, Apply) and a.fn == Fn("sinh"):
            below = HadamardPow(Fraction(-1), Apply(Fn("cosh"), a.arg))
            if below in args:
                args.remove(a)
                args.remove(below)
                return join(Apply(Fn("tanh"), a.arg), *args) if args else Apply(Fn("tanh"), a.arg)
    return None


def half_powers(e: HadamardPow) -> Expr | None:
    """x .^ (1/2) = sqrt(x); x .^ (-1/2) = 1 ./ sqrt(x)

    (x^T x)^{-1/2} x = x / sqrt(x^T x): the textbook writes a square root, shorter than the
    fraction in the exponent."""
    if e.k in (Fraction(1, 2), Fraction(-1, 2)):
        root = Apply(Fn("sqrt"), e.arg)
        return root if e.k > 0 else hadamard_pow(-1, root)
    return None


def hadamard_with_ones(e: Hadamard) -> Expr | None:
    """A ∘ (u 1^T) = diag(u) A; A ∘ (1 v^T) = A diag(v)

    A row scaled by each entry of u (the softmax of each row times the row sums of Y): the
    textbook's diag(Y 1) softmax(X W, rows), shorter than softmax(X W, rows) ∘ Y 1 1^T."""
    for i, a in enumerate(e.args):
        if not isinstance(a, MatMul):
            continue
        rest = hadamard(*e.args[:i], *e.args[i + 1:])
        first, last = a.args[0], a.args[-1]
        if isinstance(last, Ones):                  # ... 1_{r×c} = (... 1_r) 1_c^T
            r = shape_of(last)[0]
            u = matmul(*a.args[:-1], *([Ones((r, 1))] if r != 1 else []))
            return matmul(diag_mat(u), rest)
        if isinstance(first, Ones):                 # 1_{r×c} ... = 1_r (1_c^T ...)
            c = shape_of(first)[1]
            v = matmul(*([Ones((1, c))] if c != 1 else []), *a.args[1:])
            return matmul(rest, diag_mat(transpose(v)))
    return None
