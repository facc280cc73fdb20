"""Sums in the form a textbook writes them: like terms modulo transposition, and factoring.

Why a normal form and not many local rules: `((3 A + 2 A^T)^T + 2 A^T + 3 A) x` needs the
transpose of the inner sum distributed, the terms collected, the number and then the matrix
factored out again, in that order; a pattern rule for each shape of that (one per pair of
nesting, sign and coefficient) would never be complete. So a term of a sum is read as

    number  x  scalar factors  x  a matrix monomial in one canonical orientation

(the orientation simplify.transpose_inside gives a product: its transpose pushed inside, down
to the leaves, an inverse or a sum; `flip` below computes it). Two terms are like terms when
their scalar factors and monomials are equal, which `algebra.add` already sees by hashing
(`coefficient`), so collecting is a dictionary, and every rule here is one pass over the
terms, grouped by a hash key: never a comparison of every pair, so long sums stay linear.
Then the common factors come back out: numbers and scalar factors here, matrix factors in
simplify.factor_common, signs into the sum they multiply.

Every rule is an identity on all inputs (no symmetry is assumed beyond what flip computes),
returns None where it does not shorten the expression, and none undoes another, so the
driver's fixed point exists: each rule removes a term or a sign, or orders a pair.
"""
from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import lru_cache
from math import gcd

from matdiff.language.algebra import (
    add, coefficient, const, is_negative, mat_pow, matmul, mul, neg, scale, transpose,
)
from matdiff.language.expr import (
    Add, Const, Expr, Hadamard, HadamardPow, Kron, MatMul, MatPow, Mul, Transpose, children,
)
from matdiff.language.shapes import is_scalar
from matdiff.printing.size import printed_size      # the printed size decides where a form pays


# ---- the canonical orientation -------------------------------------------------------------------

def flip(t: Expr, depth: int = 8) -> Expr:
    """t^T in the canonical orientation: pushed inside products, multiples, Kronecker products and
    powers (as transpose_inside does, all the way down); a sum that is its own transpose is
    itself; any other sum, an inverse or a function keeps its transpose outside. Only for a small
    term, `depth` levels deep: a big one keeps its transpose outside (still t^T, only not turned
    around), so that a deep or much-shared expression is not walked as a tree on every rewrite."""
    if depth == 0 or not _small(t):
        return transpose(t)
    return _flip(t, depth)


@lru_cache(maxsize=100_000)              # pure, and asked of the same small terms again and again
def _flip(t: Expr, depth: int) -> Expr:
    match t:
        case Mul(args):
            return mul(*args[:-1], flip(args[-1], depth - 1)) if not is_scalar(t) else t
        case MatMul(args):
            return matmul(*(flip(a, depth - 1) for a in reversed(args)))
        case Kron(args):
            return Kron(tuple(flip(a, depth - 1) for a in args))
        case MatPow(k, A):
            return mat_pow(k, flip(A, depth - 1))
        case Add() if self_transposed(t, depth - 1):
            return t
    return transpose(t)


def _small(t: Expr, budget: int = 40) -> bool:
    """At most `budget` nodes, counted as a tree. Only small terms are turned around and compared
    with their transposes: a textbook's A + A^T and a b^T + b a^T are small, while comparing two
    big equal terms that are not the same object walks them whole, on every rewrite."""
    stack = [t]
    while stack:
        budget -= 1
        if budget < 0:
            return False
        stack.extend(children(stack.pop()))
    return True


def self_transposed(s: Add, depth: int = 8) -> bool:
    """A sum whose terms, transposed, are its terms again: M + M^T, A B + B^T A^T, S (symmetric).
    False where not known: for a big sum, or deeper than `depth`."""
    if is_scalar(s):
        return True
    return _small(s) and _self_transposed(s, depth)


@lru_cache(maxsize=100_000)
def _self_transposed(s: Add, depth: int) -> bool:
    return Counter(flip(t, depth) for t in s.args) == Counter(s.args)


def symmetric_sum_transpose(e: Transpose) -> Expr | None:
    """(M + M^T)^T = M + M^T: a sum that is its own transpose drops the transpose."""
    if isinstance(e.arg, Add) and self_transposed(e.arg):
        return e.arg
    return None


def _scalars_and_body(t: Expr) -> tuple:
    """s1 s2 M -> ((s1, s2), M) for a matrix term; a scalar term is its own body."""
    if isinstance(t, Mul) and not is_scalar(t):
        return t.args[:-1], t.args[-1]
    return (), t


def distribute_transposed_sums(e: Add) -> Expr | None:
    """(3 A + 2 A^T)^T + 2 A^T + 3 A = 5 A + 5 A^T;  (B^T + A^T)^T + A^T + B^T = B + A + A^T + B^T: the
    transpose of a sum inside a sum goes to its terms, where they meet their like terms or lose a
    transpose. Only where that is shorter: otherwise it stays outside, as the sheets write (W + V)^T + B."""
    if is_scalar(e):
        return None
    out, spread = [], False
    for t in e.args:
        s, body = _scalars_and_body(t)
        if isinstance(body, Transpose) and isinstance(body.arg, Add):
            out.extend(mul(*s, flip(a)) for a in body.arg.args)
            spread = True
        else:
            out.append(t)
    if not spread:
        return None
    new = add(*out)
    return new if _cost(new) < _cost(e) else None


def _cost(e: Expr, depth: int = 8) -> int:
    """About the printed length of a sum, in symbols, as far as distributing a transpose changes it:
    each term's number (1/2 is three symbols), scalar factors, matrix factors and their transposes;
    a transposed sum its transpose and its terms; the signs between terms (sums nested deeper than
    `depth` count as one symbol: the two sides being compared differ near the top)."""
    terms = e.args if isinstance(e, Add) else (e,)
    total = len(terms) - 1
    for t in terms:
        k, rest = coefficient(t)
        s, body = _scalars_and_body(rest if rest is not None else t)
        total += (abs(k) != 1) * (1 if k.denominator == 1 else 3) + len(s)
        if depth and isinstance(body, Transpose) and isinstance(body.arg, Add):
            total += 1 + _cost(body.arg, depth - 1)
        elif depth and isinstance(body, Add):
            total += _cost(body, depth - 1)
        else:
            total += sum(1 + isinstance(f, Transpose) for f in (body.args if isinstance(body, MatMul) else (body,)))
    return total


# ---- common factors out of sums ----------------------------------------------------------------------

def _term(t: Expr) -> tuple:
    """k s1 s2 M -> (k, Counter of the scalar factors s1, s2, M)."""
    k, rest = coefficient(t)
    s, body = _scalars_and_body(rest)
    return k, Counter(s), body


def _rebuild(k, scalars: Counter, body: Expr) -> Expr:
    return scale(k, mul(*scalars.elements(), body))


def factor_scalars(e: Add) -> Expr | None:
    """1/2 A + 1/2 A^T = 1/2 (A + A^T);  2 X - 2 A = 2 (X - A);  exp(z) A + exp(z) A^T = exp(z) (A + A^T):
    the number that every term has (up to its sign) and the scalar factors every term has come out."""
    if is_scalar(e) or any(is_scalar(t) for t in e.args):
        return None
    terms = [_term(t) for t in e.args]
    common = terms[0][1].copy()
    for _, s, _b in terms[1:]:
        common &= s
    sizes = {abs(k) for k, _, _ in terms}
    g = sizes.pop() if len(sizes) == 1 else Fraction(1)
    if all(k < 0 for k, _, _ in terms) and g != 1:
        g = -g                               # -2 A - 2 B = -2 (A + B); a lone minus stays: -A - B
    if g == 1 and not common:
        return None
    inner = add(*(_rebuild(k / g, s - common, b) for k, s, b in terms))
    return mul(const(g), *common.elements(), inner)


def factor_scalar_groups(e: Add) -> Expr | None:
    """2 A + 2 A^T + B = 2 (A + A^T) + B: terms with the same number (up to sign) and the same scalar
    factors, two or more of them, are one term, in the place of the first. Grouped by a hash key,
    every group in one pass."""
    if is_scalar(e) or any(is_scalar(t) for t in e.args):
        return None
    groups: dict = {}
    terms = [_term(t) for t in e.args]
    for i, (k, s, _b) in enumerate(terms):
        groups.setdefault((abs(k), frozenset(s.items())), []).append(i)
    out: dict = {}                           # position of a group's first term -> the new term
    for (g, s), idx in groups.items():
        if len(idx) < 2 or len(idx) == len(terms) or (g == 1 and not s):
            out.update((i, e.args[i]) for i in idx)
            continue
        if all(terms[i][0] < 0 for i in idx):
            g = -g                           # -2 A - 2 A^T is -2 (A + A^T), never 2 (-A - A^T)
        inner = add(*(_rebuild(terms[i][0] / g, Counter(), terms[i][2]) for i in idx))
        out[idx[0]] = mul(const(g), *Counter(dict(s)).elements(), inner)
    if len(out) == len(terms):
        return None
    return add(*(out[i] for i in sorted(out)))


def collect_coefficients(e: Add) -> Expr | None:
    """2 B - 1/2 exp(beta) B = (2 - 1/2 exp(beta)) B: a sum of like terms whose coefficients are
    scalar expressions is one term, the sum of their coefficients times the matrix (after
    factor_common has taken the shared factors out: `(2 alpha B - alpha^2 B) C`), where it prints
    no longer (on a tie the one term: its sign or number can then leave, `-1/2 exp(b) B - B` is
    `-1/2 (exp(b) + 2) B` and meets the terms around it). Only a sum that is all one matrix: in a
    longer sum, collecting one group can cost more than factor_scalars saves
    (`exp(b) A + 1/2 A - 1/2 A^T` is shorter as `1/2 (2 exp(b) A + A - A^T)`)."""
    if is_scalar(e) or any(is_scalar(t) for t in e.args):
        return None
    terms = [_term(t) for t in e.args]
    body = terms[0][2]
    if any(b != body for _k, _s, b in terms) or all(abs(k) == 1 and not s for k, s, _b in terms):
        return None
    new = _shortest_scaled_sum([k for k, _s, _b in terms], [s for _k, s, _b in terms], body)
    return new if printed_size(new) <= printed_size(e) else None


def _shortest_scaled_sum(ks: list, scalars: list, body: Expr) -> Expr:
    """(k1 s1 + k2 s2) M, the scalar factors every term has outside the sum, and the sign or a
    common denominator of the k's too where that prints shorter: (-2 a - 1/2 a exp(b)) M as
    -1/2 a (4 + exp(b)) M."""
    common = scalars[0].copy()
    for c in scalars[1:]:
        common &= c
    def scaled(g):
        inner = add(*(_rebuild(k / g, c - common, const(1)) for k, c in zip(ks, scalars)))
        return mul(const(g), *common.elements(), inner, body)
    sign = -1 if all(k < 0 for k in ks) else 1
    d = 1
    for k in ks:
        d = d * k.denominator // gcd(d, k.denominator)
    options = [scaled(Fraction(sign, d)), scaled(Fraction(sign)), scaled(Fraction(1))]   # on a tie, the first:
    return min(options, key=printed_size)      # a sign outside meets the sum's own


def distribute_number(e: Mul) -> Expr | None:
    """2 (A^T + 1/2 A) = 2 A^T + A: a number goes into the sum it multiplies where that prints
    shorter (it clears a fraction inside); factor_scalars takes a number out only where every term
    has it, so the two never undo each other."""
    numbers = [a for a in e.args if isinstance(a, Const)]
    sums = [a for a in e.args if isinstance(a, Add) and not is_scalar(a)]
    if len(numbers) != 1 or len(sums) != 1 or len(sums[0].args) > 8 or abs(numbers[0].value) == 1:
        return None
    k, s = numbers[0].value, sums[0]
    fractions = [coefficient(t)[0] for t in s.args if coefficient(t)[0].denominator != 1]
    if not fractions or any((k * c).denominator != 1 for c in fractions):
        return None                          # only where it clears every fraction inside
    others = [a for a in e.args if a is not numbers[0] and a is not s]
    new = mul(*others, add(*(scale(k, t) for t in s.args)))
    return new if printed_size(new) < printed_size(e) else None


# ---- signs ---------------------------------------------------------------------------------------------

def _negated(s: Expr) -> Expr | None:
    """-s for a sum with a negative term (or the transpose of one), else None."""
    if isinstance(s, Transpose):
        inner = _negated(s.arg)
        return transpose(inner) if inner is not None else None
    if isinstance(s, Add) and any(is_negative(t) for t in s.args):
        return add(*(neg(t) for t in s.args))
    return None


def absorb_sign(e: Mul) -> Expr | None:
    """-(2 x - 2 mu) = 2 mu - 2 x;  -2 (X - U V^T) V = 2 (U V^T - X) V: a negative number multiplying
    a sum with a negative term (or its transpose) gives its sign to that sum, one minus shorter (a
    sum of positive terms keeps it: -(A + B) is no longer than -A - B)."""
    k = e.args[0]
    if not (isinstance(k, Const) and k.value < 0):
        return None
    for i, f in enumerate(e.args[1:], 1):
        flipped = _negated(f)
        if flipped is None and isinstance(f, MatMul):
            for j, a in enumerate(f.args):
                inner = _negated(a)
                if inner is not None:
                    flipped = matmul(*f.args[:j], inner, *f.args[j + 1:])
                    break
        if flipped is not None:
            return mul(const(-k.value), *e.args[1:i], flipped, *e.args[i + 1:])
    return None


# ---- the order of terms and factors ----------------------------------------------------------------------

def transpose_after_its_matrix(e: Add) -> Expr | None:
    """A^T + B + A -> A + A^T + B: a term and its transpose (with the same coefficient) are written
    side by side, the one with fewer transposes first, as textbooks write A + A^T."""
    if is_scalar(e):
        return None
    where = {t: i for i, t in enumerate(e.args)}
    placed, out = set(), []
    for i, t in enumerate(e.args):
        if i in placed:
            continue
        j = where.get(flip(t))
        pair = (i,) if j is None or j == i or j in placed else \
            (i, j) if _transposes(e.args[i]) <= _transposes(e.args[j]) else (j, i)
        placed.update(pair)
        out.extend(e.args[k] for k in pair)
    return Add(tuple(out)) if tuple(out) != e.args else None


def _transposes(t: Expr) -> int:
    """How many factors of a term's matrix product are transposed."""
    _, body = _scalars_and_body(coefficient(t)[1] or t)
    factors = body.args if isinstance(body, MatMul) else (body,)
    return sum(isinstance(f, Transpose) for f in factors)


def divisor_last(e: Hadamard) -> Expr | None:
    """x .^ -1 ∘ a = a ∘ x .^ -1, printed a ./ x: a factor that divides is not written first."""
    first = next((i for i, a in enumerate(e.args) if not _divides(a)), None)
    if not _divides(e.args[0]) or first is None:
        return None
    return Hadamard((e.args[first], *e.args[:first], *e.args[first + 1:]))


def _divides(a: Expr) -> bool:
    return isinstance(a, HadamardPow) and a.k == -1
