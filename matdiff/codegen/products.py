"""Products as generated code: in the cheapest order, with diagonal, Kronecker, inverse and
commutation factors applied where they are used, never formed unless the result is one.

  diag(v) M -> v * M   and   M diag(v) -> M * v.T   (v a column), diag(v) x -> v * x
  (A ⊗ B) vec(X) -> vec(B X A^T) (a matrix M: every column at once), v^T (A ⊗ B) -> vec(B^T unvec(v) A)^T
  K_{m,n} M -> the rows of M permuted;  X^-1 B -> solve(X, B);  u v^T -> an outer product, not a k = 1 matmul
  u1 v1^T + u2 v2^T -> [u1 u2] [v1 v2]^T: one matrix product writes the sum once
A chain is ordered by an interval DP over combine's costs, symbolic dimensions taken as large.
`p` is the PythonPrinter (printing/python.py) that prints the factors.
"""
from __future__ import annotations

from dataclasses import dataclass

from matdiff.language.expr import (
    Add, DiagMat, Expr, Identity, Inverse, Kron, MatMul, MatPow, Mul, Ones, Transpose, Vec, postorder,
)
from matdiff.calculus.kronecker import is_commutation
from matdiff.limits import tick
from matdiff.language.shapes import is_scalar, shape_of
from matdiff.codegen.backends import ADD, ATOM, DOT, MUL, N_LARGE, POSTFIX, POWER, number, template_prec, wrap


@dataclass
class Piece:
    """A computed part of a product: 'dense' text, or a factor not to be formed: 'diag' (its
    vector's text), 'kron' (a sum of scaled Kronecker products: (coefficient or None, A, B)),
    'inv' (X of X^-1), 'perm' (the commutation matrix K_{m,n}: (m, n)), 'vec' (vec(X): X)."""
    kind: str
    shape: tuple
    text: tuple = None          # (text, prec, op) for dense and vec; the vector for diag
    parts: tuple = ()
    node: Expr = None           # the factor itself, to form it when nothing better is possible


def _size(d) -> int:
    if isinstance(d, int):
        return d
    if isinstance(d, tuple):
        return _size(d[1]) * _size(d[2])
    return N_LARGE


def _diag_vector(e: Expr, p):
    """diag(v) -> v's text; s diag(v) -> s * v; diag(v)^-1 -> 1 / v; diag(v)^k -> v ** k. None otherwise."""
    if e in p.names:
        return None
    if isinstance(e, DiagMat):
        return p.term(e.arg)
    if isinstance(e, Inverse) and isinstance(e.arg, DiagMat) and e.arg not in p.names:
        return f"1 / {p.at(e.arg.arg, MUL, '/')}", MUL, "/"
    if isinstance(e, MatPow) and isinstance(e.arg, DiagMat) and e.arg not in p.names:
        return f"{p.at(e.arg.arg, POWER)} ** {number(e.k)}", POWER, None
    if isinstance(e, Mul) and not isinstance(e.args[-1], Ones):
        v = _diag_vector(e.args[-1], p)
        if v is not None:
            return " * ".join([p.at(a, MUL, "*") for a in e.args[:-1]] + [wrap(v, MUL, "*")]), MUL, "*"
    return None


def _kron_terms(e: Expr, p):
    """A ⊗ B, s (A ⊗ B) and sums of them -> [(s or None, A, B)]; None for anything else."""
    if e in p.names:
        return None
    if isinstance(e, Kron) and any(is_scalar(a) for a in e.args):   # a ⊗ B = a B: python.py_kron
        return None
    if isinstance(e, Kron):
        return [(None, e.args[0], e.args[1] if len(e.args) == 2 else Kron(e.args[1:]))]
    if isinstance(e, Mul) and isinstance(e.args[-1], Kron) and e.args[-1] not in p.names:
        if _kron_terms(e.args[-1], p) is None:
            return None
        (_, A, B), = _kron_terms(e.args[-1], p)
        rest = e.args[:-1]
        return [(rest[0] if len(rest) == 1 else Mul(rest), A, B)]
    if isinstance(e, Add):
        terms = [_kron_terms(a, p) for a in e.args]
        return None if any(t is None for t in terms) else [t for ts in terms for t in ts]
    return None


def piece(e: Expr, p) -> Piece:
    shape = shape_of(e)
    v = _diag_vector(e, p)
    if v is not None:
        return Piece("diag", shape, v, node=e)
    if e not in p.names:
        terms = _kron_terms(e, p)
        if terms is not None:
            return Piece("kron", shape, parts=tuple(terms), node=e)
        mn = is_commutation(e)
        if mn is not None:
            return Piece("perm", shape, parts=mn, node=e)
        if isinstance(e, Inverse):
            return Piece("inv", shape, parts=(e.arg,), node=e)
        if isinstance(e, Vec):
            return Piece("vec", shape, p.term(e), parts=(e.arg,), node=e)
        if isinstance(e, Transpose) and isinstance(e.arg, Vec) and e.arg not in p.names:
            return Piece("vecT", shape, p.term(e), parts=(e.arg.arg,), node=e)
    return Piece("dense", shape, p.term(e), node=e)


def dense(x: Piece, p) -> tuple:
    """Form a piece: the only place a diagonal matrix, a Kronecker product or an inverse is built."""
    if x.kind in ("dense", "vec", "vecT"):
        return x.text
    if x.kind == "diag":
        return p.op("diagflat", x=x.text[0]), ATOM, None
    if x.kind == "kron":
        terms = [_scaled(s, p.op("kron", x=p.arg(A), y=_kron_text(B, p)), p) for s, A, B in x.parts]
        return " + ".join(terms), (ATOM if len(terms) == 1 and x.parts[0][0] is None else ADD), None
    if x.kind == "inv":
        return p.op("inv", x=p.arg(x.parts[0])), ATOM, None
    return p.term(x.node)                               # the commutation matrix, as matdiff builds it


def _scaled(s, text: str, p) -> str:
    return text if s is None else f"{p.at(s, MUL, '*')} * {text}"


def _kron_text(B: Expr, p) -> str:
    return p.arg(B) if not isinstance(B, Kron) or B in p.names else dense(piece(B, p), p)[0]


def _unvec(v: Piece, rows, cols, p) -> str:
    """The rows x cols matrix whose columns stacked are the vector v (column-major)."""
    if v.kind == "vec" and shape_of(v.parts[0]) == (rows, cols):
        return p.at(v.parts[0], DOT)
    return f"{wrap(dense(v, p), DOT)}.reshape({p.dim(cols)}, {p.dim(rows)}).T"


def transposed_text(e: Expr, p, level: int = MUL) -> str:
    """e^T as text: A^T of an unnamed transpose A^T is A itself."""
    if isinstance(e, Transpose) and e not in p.names:
        return p.at(e.arg, level, "@" if level == MUL else None)
    return f"{p.at(e, DOT)}.T"


def _sandwich(B: str | None, V: str, At: str | None) -> str:
    """B @ V @ A^T, leaving out an identity factor (None)."""
    return " @ ".join(t for t in (B, V, At) if t is not None)


def _factor(e: Expr, p, transposed: bool, side: str) -> str | None:
    if isinstance(e, Identity):
        return None
    if transposed:
        return transposed_text(e, p)
    return p.at(e, MUL, "@", left=(side == "left"))


def kron_apply(terms: tuple, M: Piece, p, transposed: bool = False) -> tuple:
    """(sum s_i A_i ⊗ B_i) M, each term as vec(B unvec(m) A^T) per column of M; with transposed,
    (sum s_i A_i^T ⊗ B_i^T) M. Returns (text tuple, cost)."""
    rows, c = M.shape
    out, cost = [], 0
    for s, A, B in terms:
        (pa, qa), (pb, qb) = shape_of(A), shape_of(B)
        if transposed:
            (pa, qa), (pb, qb) = (qa, pa), (qb, pb)
        Bt, At = _factor(B, p, transposed, "left"), _factor(A, p, not transposed, "right")
        if c == 1:
            body = _sandwich(Bt, _unvec(M, qb, qa, p), At)
            text = f"({body}).T.reshape(-1, 1)" if (Bt or At) else dense(M, p)[0]
        else:                                            # every column at once: a stack of qb x qa matrices
            V = f"{wrap(dense(M, p), DOT)}.T.reshape(-1, {p.dim(qa)}, {p.dim(qb)}).swapaxes(-1, -2)"
            text = f"({_sandwich(Bt, V, At)}).swapaxes(-1, -2).reshape(-1, {p.dim(pa)} * {p.dim(pb)}).T"
        out.append(_scaled(s, text, p))
        cost += _size(c) * (_size(pb) * _size(qb) * _size(qa) * (Bt is not None) +
                            _size(pb) * _size(qa) * _size(pa) * (At is not None) + _size(rows))
    return (" + ".join(out), POSTFIX if len(out) == 1 and terms[0][0] is None else ADD, None), cost


def permute_rows(mn: tuple, M: str, p) -> str:
    """K_{m,n} M: the rows of M permuted (K vec(A) = vec(A^T) for an m x n A)."""
    m, n = (p.dim(d) for d in mn)
    return f"{M}.reshape({n}, {m}, -1).{p.op('swap01')}.reshape({m} * {n}, -1)"


def _commuted_kron(mn: tuple, terms: tuple, p) -> str | None:
    """K_{m,n} (A ⊗ B) for a p x q A and an r x s B with n = p and m = r, written once: its row
    (b, a) and column (c, d) hold A[a, c] B[b, d], a broadcast product of A and B laid out as
    (r, p, q, s), never kron then a permuted copy (logdet's Hessian -K (X^-T ⊗ X^-1))."""
    if len(terms) != 1 or terms[0][0] is not None:
        return None
    _, A, B = terms[0]
    (pa, qa), (rb, sb) = shape_of(A), shape_of(B)
    if (mn[1], mn[0]) != (pa, rb) or isinstance(B, Kron) or 1 in (pa, qa, rb, sb):
        return None
    Bx, Ax = f"{p.at(B, DOT)}[:, None, None, :]", f"{p.at(A, DOT)}[:, :, None]"
    # NumPy lays a product out like its operands (a transposed A would give a permuted result, which
    # reshape then copies): order="C" writes it in the layout reshape reads, once
    product = f"{p.b.m}.multiply({Bx}, {Ax}, order='C')" if p.b.name == "numpy" else f"({Bx} * {Ax})"
    return f"{product}.reshape({p.dim(rb)} * {p.dim(pa)}, {p.dim(qa)} * {p.dim(sb)})"


def has_transpose(e: Expr) -> bool:
    return any(isinstance(n, Transpose) for n in postorder(e))


def sum_matvec_sum(T: Expr) -> bool:
    """A sum the backend's sum_matvec takes: of matrices, none transposed (XLA on the CPU forms
    A + A^T at a fraction of the speed of A + B, x^T A x's H v 7x slower at n = 256, and runs
    A^T v as a copy of A^T; generate distributes such a sum instead, as A v + (v^T A)^T)."""
    return isinstance(T, Add) and not any(1 in shape_of(t) for t in T.args) and not has_transpose(T)


def combine(L: Piece, R: Piece, p) -> tuple:
    """L R as a Piece and its cost (entries touched, symbolic sizes taken as large)."""
    (r, k), (_, c) = L.shape, R.shape
    shape = (r, c)
    if L.kind == "diag" and R.kind == "diag":
        return Piece("diag", shape, (f"{wrap(L.text, MUL, '*')} * {wrap(R.text, MUL, '*')}", MUL, "*")), _size(r)
    if L.kind == "diag":                               # diag(v) M = v * M (v a column: scales the rows)
        return Piece("dense", shape, (f"{wrap(L.text, MUL, '*')} * {wrap(dense(R, p), MUL, '*')}", MUL, "*")), \
            _size(r) * _size(c)
    if R.kind == "diag":                               # M diag(v) = M * v^T (scales the columns)
        return Piece("dense", shape, (f"{wrap(dense(L, p), MUL, '*')} * {wrap(R.text, DOT)}.T", MUL, "*")), \
            _size(r) * _size(c)
    if L.kind == "kron" and R.kind not in ("kron", "perm"):    # (A ⊗ B) vec(X) = vec(B X A^T)
        text, cost = kron_apply(L.parts, R, p)
        return Piece("dense", shape, text), cost
    if R.kind == "kron" and L.kind not in ("kron", "perm"):    # M (A ⊗ B) = ((A^T ⊗ B^T) M^T)^T
        Lt = Piece("vec", L.shape[::-1], p.term(L.node.arg), parts=L.parts) if L.kind == "vecT" else \
            Piece("dense", L.shape[::-1], (f"{wrap(dense(L, p), DOT)}.T", POSTFIX, None))
        text, cost = kron_apply(R.parts, Lt, p, transposed=True)
        return Piece("dense", shape, (f"{wrap(text, DOT)}.T", POSTFIX, None)), cost
    if L.kind == "perm" and R.kind == "kron" and (layout := _commuted_kron(L.parts, R.parts, p)) is not None:
        return Piece("dense", shape, (layout, POSTFIX, None)), _size(r) * _size(c)
    if L.kind == "perm" and R.kind != "perm":          # K_{m,n} M permutes the rows of M
        return Piece("dense", shape, (permute_rows(L.parts, wrap(dense(R, p), DOT), p), POSTFIX, None)), \
            _size(k) * _size(c) * 2
    if R.kind == "perm" and L.kind != "perm":          # M K_{m,n} = (K_{n,m} M^T)^T
        m, n = R.parts
        text = permute_rows((n, m), f"{wrap(dense(L, p), DOT)}.T", p)
        return Piece("dense", shape, (f"{text}.T", POSTFIX, None)), _size(r) * _size(k) * 2
    if k == 1 and r != 1 and c != 1 and L.kind == R.kind == "dense":   # u v^T: the outer product
        if isinstance(R.node, Transpose) and R.node not in p.names:
            text = p.op("outer", x=wrap(L.text, MUL, "*"), y=p.arg(R.node.arg))
        else:
            text = p.op("outer_row", x=wrap(L.text, MUL, "*"), y=wrap(R.text, MUL, "*"))
        return Piece("dense", shape, (text, template_prec(text), None)), _size(r) * _size(c)
    if L.kind == "inv":                                # X^-1 B = solve(X, B)
        text = p.op("solve", x=p.arg(L.parts[0]), y=dense(R, p)[0])
        return Piece("dense", shape, (text, ATOM, None)), _size(r) ** 3 + _size(r) * _size(r) * _size(c)
    cost = _size(r) * _size(k) * _size(c)
    if c == 1 and r != 1 and "sum_matvec" in p.b.ops and L.kind == R.kind == "dense" and L.node not in p.names:
        T = L.node.arg if isinstance(L.node, Transpose) else L.node
        if T not in p.names and sum_matvec_sum(T):                 # (A + B) v, decided when traced
            terms = ", ".join(p.arg(t) for t in T.args) + (", transposed=True" if T is not L.node else "")
            return Piece("dense", shape, (p.op("sum_matvec", v=dense(R, p)[0], terms=terms), ATOM, None)), cost
    if c == 1 and r != 1 and "matvec_t" in p.b.ops and L.kind == R.kind == "dense" and \
            isinstance(L.node, Transpose) and L.node not in p.names:          # A^T v as (v^T A)^T
        text = p.b.ops["matvec_t"].format(v=wrap(dense(R, p), DOT), A=p.at(L.node.arg, MUL, "@", left=False))
        return Piece("dense", shape, (text, POSTFIX, None)), cost
    if c == 1 and r != 1 and k != 1 and "matvec" in p.b.ops and L.kind == R.kind == "dense":
        text = p.b.ops["matvec"].format(A=dense(L, p)[0], v=wrap(dense(R, p), DOT))      # A v on 1-D views
        return Piece("dense", shape, (text, POSTFIX, None)), cost
    if L.kind in ("kron", "perm") or R.kind in ("kron", "perm"):
        cost *= N_LARGE                               # forming a Kronecker product: last resort
    text = f"{wrap(dense(L, p), MUL, '@')} @ {wrap(dense(R, p), MUL, '@', left=False)}"
    return Piece("dense", shape, (text, MUL, "@")), cost


EXACT_CHAIN = 12     # chains up to this long are ordered exactly; longer ones greedily


def chain_product(factors: list, p) -> tuple:
    """The product of the factors in the cheapest order: up to EXACT_CHAIN factors by interval
    DP over combine's costs (O(n^3) combines; on a tie the split furthest right wins, so
    `A @ B @ C` reads left to right); longer chains greedily, the cheapest adjacent pair first
    (O(n) combines), so that a 200-factor product is not a minute of ordering."""
    n = len(factors)
    if n > EXACT_CHAIN:
        return dense(_greedy_chain([piece(f, p) for f in factors], p), p)
    best = {(i, i): (0, piece(f, p)) for i, f in enumerate(factors)}
    for length in range(2, n + 1):
        tick()
        for i in range(n - length + 1):
            j = i + length - 1
            options = []
            for s in range(j - 1, i - 1, -1):
                (cl, L), (cr, R) = best[i, s], best[s + 1, j]
                P, cost = combine(L, R, p)
                options.append((cl + cr + cost, P))
            best[i, j] = min(options, key=lambda o: o[0])
    return dense(best[0, n - 1][1], p)


def _greedy_chain(items: list, p) -> Piece:
    """Multiply the cheapest adjacent pair (the leftmost on a tie) until one piece is left; only
    the two pairs next to a merge are recombined. x^T A1 ... A200 x becomes vector-matrix
    products from the left, as the exact order would."""
    pairs = [combine(items[i], items[i + 1], p) for i in range(len(items) - 1)]
    while pairs:
        tick()
        i = min(range(len(pairs)), key=lambda j: pairs[j][1])
        items[i:i + 2] = [pairs[i][0]]
        del pairs[i]
        if i > 0:
            pairs[i - 1] = combine(items[i - 1], items[i], p)
        if i < len(pairs):
            pairs[i] = combine(items[i], items[i + 1], p)
    return items[0]


# ---- sums of outer products ---------------------------------------------------------------------------

def _outer(e: Expr, p):
    """u v^T (or s u v^T) with u a column and v^T a row: (s or None, u, v^T); else None."""
    if e in p.names:
        return None
    s = None
    if isinstance(e, Mul) and isinstance(e.args[-1], MatMul):
        rest = e.args[:-1]
        s, e = (rest[0] if len(rest) == 1 else Mul(rest)), e.args[-1]
    if isinstance(e, MatMul) and len(e.args) == 2 and e not in p.names:
        (r, k), (_, c) = shape_of(e.args[0]), shape_of(e.args[1])
        if k == 1 and r != 1 and c != 1 and piece(e.args[0], p).kind == "dense" and \
                piece(e.args[1], p).kind == "dense":
            return s, e.args[0], e.args[1]
    return None


def _fused_outer(terms: list, p) -> str:
    us, vs = [], []
    for t in terms:
        s, u, vT = _outer(t, p)
        us.append(p.arg(u) if s is None else f"{p.at(s, MUL, '*')} * {p.at(u, MUL, '*')}")
        vs.append(transposed_text(vT, p, ADD))
    return f"{p.op('hstack', x=', '.join(us))} @ {p.op('hstack', x=', '.join(vs))}.T"
