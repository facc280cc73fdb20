"""Expr -> the same value, written as a person writes it. Rules as data, a tiny driver.

A rule is a function Expr -> Expr | None (None: did not apply), grouped by the
node type it fires on. The driver rebuilds bottom-up through the smart
constructors, tries each node's rules, and repeats until nothing changes.
"""
from __future__ import annotations

from fractions import Fraction

from matdiff.language.algebra import (
    add, hadamard, hadamard_pow, mat_pow, matmul, mul, rebuild, sum_, transpose,
)
from matdiff.language.expr import (
    Add, Apply, DiagMat, DiagOf, Expr, Hadamard, HadamardPow, Identity, Ones, Kron, MatMul, MatPow,
    Mul, Transpose, children,
)
from matdiff.language.functions import ELEMENTWISE
from matdiff.limits import tick
from matdiff.printing.size import printed_size
from matdiff.calculus.entrywise import (
    diag_sums, entrywise_normal_form, even_derivatives, hadamard_with_ones, half_powers, number_out_of_power,
    sinh_over_cosh,
)
from matdiff.calculus.structure import det_of_inverse, inverse_of_square_product, logdet_of_inverse
from matdiff.language.expr import Det, LogDet
from matdiff.language.algebra import is_negative
from matdiff.language.shapes import is_scalar, shape_of
from matdiff.calculus.terms import (
    absorb_sign, collect_coefficients, distribute_number, distribute_transposed_sums, divisor_last, factor_scalar_groups, factor_scalars,
    symmetric_sum_transpose, transpose_after_its_matrix,
)


# ---- transposes go inside ----------------------------------------------------------------------

def transpose_inside(e: Transpose) -> Expr | None:
    """(A B)^T = B^T A^T;  (s A)^T = s A^T;  (A ⊗ B)^T = A^T ⊗ B^T;  (A^k)^T = (A^T)^k.
    A transpose stays outside a sum, an inverse and a function, as the sheets write
    (W + V)^T and Phi(z)^T: pushing it in there makes the result longer, not clearer."""
    match e.arg:
        case MatMul(args):
            return matmul(*(transpose(a) for a in reversed(args)))
        case Kron(args):
            return Kron(tuple(transpose(a) for a in args))
        case Mul(args):
            return mul(*(transpose(a) for a in args))
        case MatPow(k, A):
            return mat_pow(k, transpose(A))
    return None


def ratio_sums(e: MatMul) -> Expr | None:
    """a^T (a .^ -1 ∘ b) = sum(b)   (the softmax / cross-entropy cancellation)"""
    for i, (A, B) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(A, Transpose) and isinstance(B, Hadamard) and HadamardPow(Fraction(-1), A.arg) in B.args:
            rest = list(B.args)
            rest.remove(HadamardPow(Fraction(-1), A.arg))
            return matmul(*e.args[:i], sum_(hadamard(*rest)), *e.args[i + 2:])
    return None


# ---- concrete derivatives ------------------------------------------------------------------------

def known_derivative(e: Apply) -> Expr | None:
    """A built-in's derivative as its record writes it (functions.ELEMENTWISE, field
    `derivative`): exp' = exp, log'(x) = x^-1, sin' = cos, sqrt'(x) = 1/2 x^-1/2, ...
    tanh', sigmoid' and relu' have none and stay as written: shorter than their formulas, and
    as the sheets write them."""
    record = ELEMENTWISE.get(e.fn.name)
    if e.fn.order == 0 or record is None or record.derivative is None:
        return None
    return record.derivative(e.fn.order, e.arg)


# ---- elementwise powers of the same base combine ----------------------------------------------------

def hadamard_powers(e: Hadamard) -> Expr | None:
    """x ∘ x = x .^ 2;  x .^ a ∘ x .^ b = x .^ (a + b);  x ./ x = 1"""
    powers: dict = {}
    for a in e.args:
        base, k = (a.arg, a.k) if isinstance(a, HadamardPow) else (a, Fraction(1))
        powers[base] = powers.get(base, 0) + k
    if len(powers) == len(e.args):
        return None
    return hadamard(*(hadamard_pow(k, b) for b, k in powers.items()))


# ---- common factors come out of sums ---------------------------------------------------------------

def _factors(t: Expr) -> tuple:
    """A term as (scalar coefficient factors, matrix-product factors)."""
    scal = ()
    if isinstance(t, Mul) and not is_scalar(t):
        scal, t = t.args[:-1], t.args[-1]
    return scal, (t.args if isinstance(t, MatMul) else (t,))


def factor_common(e: Add) -> Expr | None:
    """A x + B x = (A + B) x;  x A + x B = x (A + B): the first shared outer factor comes out."""
    if is_scalar(e):
        return None
    terms = [_factors(t) for t in e.args]
    for side in (-1, 0):
        groups: dict = {}
        for i, (s, fs) in enumerate(terms):
            if len(fs) > 1:
                groups.setdefault(fs[side], []).append(i)
        for f, idx in groups.items():
            if len(idx) < 2:
                continue
            rest = [mul(*terms[i][0], matmul(*(terms[i][1][:-1] if side == -1 else terms[i][1][1:])))
                     for i in idx]
            inner = add(*rest)
            common = matmul(inner, f) if side == -1 else matmul(f, inner)
            others = [t for i, t in enumerate(e.args) if i not in idx]
            return add(common, *others)
    return None


def diag_of_outer(e: DiagOf) -> Expr | None:
    """diag(a r) = a ∘ r^T for a column a and a row r (diag(a b^T) = a ∘ b)"""
    match e.arg:
        case MatMul((a, *rest)) if shape_of(a)[1] == 1 and not is_scalar(a):
            return hadamard(a, transpose(matmul(*rest)))
    return None


def diag_of_ones(e: DiagMat) -> Expr | None:
    """diag(1) = I"""
    return Identity(shape_of(e)[0]) if isinstance(e.arg, Ones) else None


def split_ones(e: MatMul) -> Expr | None:
    """1_{n×m} X = 1_n (1_m^T X): a matrix of ones is an outer product of ones"""
    for i, a in enumerate(e.args):
        if isinstance(a, Ones) and 1 not in a.shape:
            r, c = a.shape
            return matmul(*e.args[:i], Ones((r, 1)), Ones((1, c)), *e.args[i + 1:])
    return None


def positive_first(e: Add) -> Expr | None:
    """-y + s -> s - y: a sum reads better when it does not open with a minus."""
    if is_negative(e.args[0]):
        i = next((i for i, a in enumerate(e.args) if not is_negative(a)), None)
        if i is not None:
            return Add((e.args[i], *e.args[:i], *e.args[i + 1:]))
    return None


RULES = {
    Transpose: (transpose_inside, symmetric_sum_transpose),
    Apply:     (known_derivative, even_derivatives),
    Hadamard:  (hadamard_powers, entrywise_normal_form, hadamard_with_ones, sinh_over_cosh, divisor_last),
    Add:       (distribute_transposed_sums, factor_scalars, factor_common, factor_scalar_groups, collect_coefficients,
                positive_first, transpose_after_its_matrix, diag_sums, entrywise_normal_form),
    Mul:       (absorb_sign, distribute_number, entrywise_normal_form, sinh_over_cosh),
    HadamardPow: (entrywise_normal_form, half_powers, number_out_of_power),
    MatMul:    (ratio_sums, split_ones, inverse_of_square_product),
    DiagOf:    (diag_of_outer,),
    DiagMat:   (diag_of_ones,),
    Det:       (det_of_inverse,),
    LogDet:    (logdet_of_inverse,),
}


# Nodes known to be fixed points of RULES: simplify returns them as they are, without a walk.
# Back-propagation through an L-layer chain simplifies a cotangent that holds the previous,
# already simplified one; without this each step re-walks it and the derivation is quadratic in L.
_FIXED: set = set()
_FIXED_LIMIT = 200_000


def simplify(e: Expr, rules=RULES, max_passes: int = 50) -> Expr:
    """Bottom-up through the smart constructors, each node's rules to exhaustion, to a fixed point.

    A node whose children came back unchanged and whose rules change nothing is a fixed
    point: it is returned as the same object and remembered (for the default RULES), so
    later passes and later calls stop there. The result is the same as re-walking it."""
    fixed = _FIXED if rules is RULES else set()
    if len(fixed) > _FIXED_LIMIT:
        fixed.clear()

    def step(old: Expr, kids: list) -> Expr:
        tick()
        node = rebuild(old, kids)
        states = [node]
        for _ in range(100):
            for rule in rules.get(type(node), ()):
                new = rule(node)
                if new is not None and new != node:
                    node = new
                    break
            else:
                break
            if node in states:               # two rules undo each other (a sign out, a sign in):
                node = _shortest(states[states.index(node):])    # the cycle's shortest form
                break
            states.append(node)
        if all(k is c for k, c in zip(kids, children(old))) and node == old:
            fixed.add(old)               # its children are fixed points (the same objects), and so is it
            return old
        return node

    for _ in range(max_passes):
        new = _rewrite(e, step, fixed)
        if new is e:
            return e
        e = new
    return e


def _shortest(cycle: list) -> Expr:
    """Of the forms a cycle of rewrites passes through, the one that prints shortest (the first on
    a tie, so that every pass stops at the same one)."""
    return min(cycle, key=printed_size)


def _rewrite(root: Expr, step, fixed: set) -> Expr:
    """transform(root, step), not descending into fixed points (iterative: depth is no limit)."""
    memo: dict = {}
    stack = [(root, False)]
    while stack:
        n, ready = stack.pop()
        if n in memo:
            continue
        if n in fixed:
            memo[n] = n
            continue
        kids = children(n)
        if not ready:
            stack.append((n, True))
            stack.extend((c, False) for c in kids if c not in memo)
            continue
        memo[n] = step(n, [memo[c] for c in kids])
    return memo[root]
