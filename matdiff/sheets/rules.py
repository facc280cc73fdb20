"""The rewrites a worked solution needs besides simplify.py's: rules as data, each one identity.

- the sheets' notation: a ∘ dx written as the Jacobian times dx, diag(a) dx;
- back-substitution multiplies out products over a sum that holds a differential;
- reading off g, a product may be multiplied out and simplified with the diag identities
  (diag(a) diag(b) = diag(a ∘ b), a^T diag(b) = (a ∘ b)^T, 1^T x = sum(x)): the softmax
  Jacobian then cancels against the cross-entropy as it does on the sheets.

`rewrite` and `recording` report each rule that fires as a record.Step, as the drivers of
diff.py and canon.py do with record=.
"""
from __future__ import annotations

from matdiff.language.algebra import add, diag_mat, hadamard, matmul, rebuild, sum_, transpose
from matdiff.calculus.canon import has_differential
from matdiff.language.expr import Add, DiagMat, Expr, Hadamard, Kron, MatMul, Mul, Ones, Transpose, transform
from matdiff.calculus.record import Step, identity
from matdiff.language.shapes import shape_of
from matdiff.calculus.simplify import RULES, simplify


# ---- drivers -----------------------------------------------------------------------------------------

def rewrite(e: Expr, rules: dict, record=None) -> Expr:
    """Bottom-up, each node's rules once (through the smart constructors); each change recorded."""
    def step(node, kids):
        node = rebuild(node, kids)
        rule = rules.get(type(node))
        new = rule(node) if rule else None
        if new is None or new == node:
            return node
        if record is not None:
            record(Step(rule.__name__, identity(rule), node, new))
        return new
    return transform(e, step)


def recording(rules: dict, record) -> dict:
    """The same rule table, each rule reporting (as a Step) when it changes something."""
    def wrap(rule):
        def recorded(node):
            new = rule(node)
            if new is not None and new != node:
                record(Step(rule.__name__, identity(rule), node, new))
            return new
        recorded.__name__ = rule.__name__
        return recorded
    return {t: tuple(wrap(r) for r in rs) for t, rs in rules.items()}


# ---- the notation ---------------------------------------------------------------------------------

def hadamard_as_diag(e: Hadamard) -> Expr | None:
    """a ∘ dx = diag(a) dx   (the Jacobian of an elementwise function is diagonal)"""
    r, c = shape_of(e)
    held = [a for a in e.args if has_differential(a)]
    if c != 1 or r == 1 or len(held) != 1:
        return None
    rest = [a for a in e.args if a is not held[0]]
    return matmul(diag_mat(hadamard(*rest)), held[0])


# ---- multiplying out ------------------------------------------------------------------------------

def products_over_differential_sum(e: Expr) -> Expr | None:
    """A (dB + dC) D = A dB D + A dC D   (products distribute over a sum that holds a differential)"""
    for i, a in enumerate(e.args):
        if isinstance(a, Add) and has_differential(a):
            return add(*(rebuild(e, [*e.args[:i], t, *e.args[i + 1:]]) for t in a.args))
    return None


def transpose_of_differential_sum(e: Transpose) -> Expr | None:
    """(dA + dB)^T = dA^T + dB^T"""
    if isinstance(e.arg, Add) and has_differential(e.arg):
        return add(*(transpose(t) for t in e.arg.args))
    return None


DISTRIBUTE = {MatMul: products_over_differential_sum, Hadamard: products_over_differential_sum,
              Mul: products_over_differential_sum, Kron: products_over_differential_sum,
              Transpose: transpose_of_differential_sum}


def multiply_out(e: Expr) -> Expr | None:
    """A (B + C) D = A B D + A C D"""
    for i, a in enumerate(e.args):
        if isinstance(a, Add):
            return add(*(rebuild(e, [*e.args[:i], t, *e.args[i + 1:]]) for t in a.args))
    return None


def transpose_of_sum(e: Transpose) -> Expr | None:
    """(A + B)^T = A^T + B^T"""
    return add(*(transpose(t) for t in e.arg.args)) if isinstance(e.arg, Add) else None


EXPAND = {MatMul: multiply_out, Hadamard: multiply_out, Mul: multiply_out, Transpose: transpose_of_sum}


def distribute(e: Expr, record=None) -> Expr:
    """Products over the sums that hold a differential, to a fixed point (back-substitution)."""
    for _ in range(100):
        new = rewrite(e, DISTRIBUTE, record)
        if new == e:
            return e
        e = new
    return e


# ---- the diag identities, and multiplying out g ---------------------------------------------------------

def diag_times_ones(e: MatMul) -> Expr | None:
    """diag(a) 1 = a"""
    for i, (A, B) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(A, DiagMat) and isinstance(B, Ones) and shape_of(B)[1] == 1:
            return matmul(*e.args[:i], A.arg, *e.args[i + 2:])
    return None


def symmetric_sum(e: Transpose) -> Expr | None:
    """(S1 + S2)^T = S1 + S2 for symmetric terms (diag(s) - s s^T, the Jacobian of softmax)"""
    if isinstance(e.arg, Add) and all(simplify(transpose(t)) == t for t in e.arg.args):
        return e.arg
    return None


def diag_product(e: MatMul) -> Expr | None:
    """diag(a) diag(b) = diag(a ∘ b)"""
    for i, (A, B) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(A, DiagMat) and isinstance(B, DiagMat):
            return matmul(*e.args[:i], diag_mat(hadamard(A.arg, B.arg)), *e.args[i + 2:])
    return None


def row_times_diag(e: MatMul) -> Expr | None:
    """a^T diag(b) = (a ∘ b)^T"""
    for i, (A, B) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(B, DiagMat) and shape_of(A)[0] == 1 and not has_differential(A):
            return matmul(*e.args[:i], transpose(hadamard(transpose(A), B.arg)), *e.args[i + 2:])
    return None


def ones_times_vector(e: MatMul) -> Expr | None:
    """1^T x = sum(x)"""
    for i, (A, B) in enumerate(zip(e.args, e.args[1:])):
        if isinstance(A, Ones) and shape_of(A)[0] == 1 and shape_of(B)[1] == 1 and not has_differential(B):
            return matmul(*e.args[:i], sum_(B), *e.args[i + 2:])
    return None


def _extend(rules: dict, more: dict) -> dict:
    return {**rules, **{t: rules.get(t, ()) + rs for t, rs in more.items()}}


TIDY = _extend(RULES, {MatMul: (diag_times_ones,), Transpose: (symmetric_sum,)})
# multiplied out, terms are not factored again until the diag identities have done their work
EXPANDED = {**_extend(TIDY, {MatMul: (diag_product, row_times_diag, ones_times_vector)}), Add: ()}


def tidy(e: Expr) -> Expr:
    """simplify, and two identities the diag notation needs."""
    return simplify(e, TIDY)


def expand(e: Expr, record=None) -> Expr:
    """Every product multiplied out, then simplified with the diag identities: (diag(s) - s s^T)
    diag(s)^-1 y becomes y - sum(y) s. Kept by `derive` only where that is shorter."""
    for _ in range(100):
        new = rewrite(e, EXPAND, record)
        if new == e:
            break
        e = new
    if record is None:
        return tidy(simplify(e, EXPANDED))
    return simplify(simplify(e, recording(EXPANDED, record)), recording(TIDY, record))


# ---- the answer in elementwise notation ----------------------------------------------------------

def diag_times_column(e: MatMul) -> Expr | None:
    """diag(a) b = a ∘ b"""
    for i, A in enumerate(e.args[:-1]):
        rest = matmul(*e.args[i + 1:])
        if isinstance(A, DiagMat) and shape_of(rest)[1] == 1 and not has_differential(rest):
            return matmul(*e.args[:i], hadamard(A.arg, rest))
    return None


def elementwise_form(e: Expr, record=None) -> Expr:
    """e with each diag(a) b written a ∘ b, simplified: the elementwise identities (sigmoid' =
    sigmoid (1 - sigmoid), ...) then cancel across terms that the diag notation keeps apart."""
    rules = _extend(RULES, {MatMul: (diag_times_column,)})
    return simplify(e, recording(rules, record) if record is not None else rules)

