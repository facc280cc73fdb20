"""Expr -> text in matdiff's own language: parsing the printed text gives the same Expr back."""
from __future__ import annotations

from fractions import Fraction

from matdiff.errors import ShapeError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity,
    Inverse, Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Softmax, Sum, Trace,
    Pow, Transpose, Unvec, Var, Vec, Zero, postorder,
)
from matdiff.language.dims import dim_text
from matdiff.language.shapes import shape_of
from matdiff.language.algebra import is_negative
from matdiff.printing.precedence import HADAMARD, POSTFIX, PRODUCT, SUM, precedence


def number(k: Fraction) -> str:
    return str(k.numerator) if k.denominator == 1 else f"{k.numerator}/{k.denominator}"


def exponent(k: Fraction) -> str:
    return number(k) if k.denominator == 1 else "{" + number(k) + "}"


def known_shape(e: Expr):
    """e's (rows, cols) if e is shaped, else None (a parsed tree: its Vars have no shape yet)."""
    try:
        return shape_of(e)
    except (ShapeError, KeyError, TypeError):
        return None


def known_scalar(e: Expr) -> bool:
    """A shaped scalar with a variable in it. A parsed tree never is one, and neither is a
    pure number: in both, `^` and `.^` must stay apart for parse(to_text(e)) == e."""
    return known_shape(e) == (1, 1) and any(isinstance(n, Var) for n in postorder(e))


def known_matrix(e: Expr) -> bool:
    """Shaped and not 1x1 (a matrix or vector whose size is known)."""
    s = known_shape(e)
    return s is not None and None not in s and s != (1, 1)


def broadcast_number(e: Expr, terms=()):
    """`1 - x` is shaped as 1 * Ones - x; the number alone, or None if e is not one of those, or
    if no other term of the sum fixes its shape when read back: `I - 1/3` reads I as 1x1 (an I
    never broadcasts), so I - 1/3 1_n 1_n^T keeps its ones (a printed answer has one meaning)."""
    if isinstance(e, Mul) and len(e.args) == 2 and isinstance(e.args[1], Ones) and \
            all(isinstance(n, (Const, Mul)) for n in postorder(e.args[0])) and \
            any(t is not e and not _identity_like(t) and broadcast_number(t) is None for t in terms):
        return e.args[0]
    return None


def _identity_like(e: Expr) -> bool:
    """I, or a number times I: a term that takes its size from the others."""
    return isinstance(e, Identity) or isinstance(e, Mul) and any(isinstance(a, Identity) for a in e.args)


def split_division(e: Mul):
    """Mul(a, b, c^-1) -> ([a, b], [c]): the factors above and below a division bar. Only a
    scalar goes below it (`/` divides by a scalar only): a divisor the parser read from `/`, or
    a shaped 1x1 one; any other inverse stays above as `.^ -1`, so the text re-parses to the
    same thing. Something stays above the bar: Mul(a^-1, b^-1) is `a .^ -1 / b`."""
    inverse = [isinstance(a, HadamardPow) and a.k == -1 and (a.written == "/" or known_shape(a.arg) == (1, 1))
               for a in e.args]
    if all(inverse):
        inverse[0] = False
    num = [a for a, inv in zip(e.args, inverse) if not inv]
    den = [a.arg for a, inv in zip(e.args, inverse) if inv]
    return num, den


class TextPrinter:
    """One method per node kind via the TEXT table; `names` prints named sub-expressions by name."""

    def __init__(self, names: dict | None = None):
        self.names = names or {}

    def __call__(self, e: Expr, top: bool = True) -> str:
        if not top and e in self.names:
            return self.names[e]
        return TEXT[type(e)](e, self)

    def wrap(self, e: Expr, level: int, strict: bool = False) -> str:
        """e, in parentheses if it binds looser than `level` (or as loose, when strict)."""
        s = self(e, top=False)
        p = 50 if e in self.names else HADAMARD if reciprocal(e) else precedence(e)
        return f"({s})" if p < level or (strict and p == level) else s

    def chain(self, args, sep: str, level: int) -> str:
        """Left-associative: the first operand may be as loose as the operator, the others not."""
        return sep.join(self.wrap(a, level, strict=i > 0) for i, a in enumerate(args))


def t_add(e, p):
    first = e.args[0]
    if first not in p.names and broadcast_number(first, e.args) is not None:
        first = broadcast_number(first, e.args)  # 1 - x: a number in a sum broadcasts when read back
    out = p.wrap(first, SUM)
    for a in e.args[1:]:
        if a not in p.names and broadcast_number(a, e.args) is not None:
            a = broadcast_number(a, e.args)     # x - 1, not x + (-1) 1
        if is_negative(a) and not (a in p.names):
            out += " - " + p.wrap(negate(a), SUM, strict=True)
        else:
            out += " + " + p.wrap(a, SUM, strict=True)
    return out


def negate(e: Expr) -> Expr:
    """The expression without its leading minus (for printing `a - b`)."""
    if isinstance(e, Const):
        return Const(-e.value)
    k = -e.args[0].value
    rest = e.args[1:]
    if k == 1:
        return rest[0] if len(rest) == 1 else Mul(rest)
    return Mul((Const(k), *rest))


def t_mul(e, p):
    if is_negative(e):
        return "-" + p.wrap(negate(e), HADAMARD)
    num, den = split_division(e)
    if not (den and num):
        num, den = e.args, ()
    # a scalar that is itself a product reads better in parentheses: (x^T x) A, not x^T x A;
    # the matrix a scalar multiplies does not need them: 2 W x x^T
    def paren(i, a):
        last_matrix = i == len(num) - 1 and i > 0 and isinstance(a, (MatMul, Ones)) and not den and \
            known_matrix(a)
        return not last_matrix and (i > 0 or isinstance(a, MatMul))
    top = " ".join(p.wrap(a, PRODUCT, strict=paren(i, a) or (len(num) > 1 and is_division(a)))
                   for i, a in enumerate(num))
    return top + "".join(" / " + p.wrap(d, POSTFIX) for d in den)


def is_division(e: Expr) -> bool:
    """Whether e prints as `a / b`: followed by other factors it needs parentheses, since
    `a / b c` reads (a / b) c to the parser and a / (b c) to many readers."""
    if not isinstance(e, Mul) or is_negative(e):
        return False
    num, den = split_division(e)
    return bool(num and den)


def t_matmul(e, p):
    return " ".join(p.wrap(a, PRODUCT, strict=(i > 0 and not isinstance(a, Ones)) or is_division(a))   # 1_n 1_m^T
                    for i, a in enumerate(e.args))                                              # associates


def t_hadamard(e, p):
    out = p.wrap(e.args[0], HADAMARD)
    for a in e.args[1:]:
        if isinstance(a, HadamardPow) and a.k == -1:
            out += " ./ " + p.wrap(a.arg, HADAMARD, strict=True)
        else:
            out += " ∘ " + p.wrap(a, HADAMARD, strict=True)
    return out


def stacked(e, p) -> str:
    """The base of a postfix operator; another power or transpose under it gets parentheses,
    so that (X^T)^2 and (W .^ 2)^T never read as X^(T^2) or W .^ (2^T)."""
    return p.wrap(e.arg, POSTFIX, strict=isinstance(e.arg, (Transpose, MatPow, HadamardPow, Inverse, Pow)))


def reciprocal(e: Expr) -> bool:
    """x .^ -1 of a shaped vector or matrix: printed 1 ./ x, as a textbook writes it."""
    return isinstance(e, HadamardPow) and e.k == -1 and not e.written and known_matrix(e.arg)


def t_hadamard_pow(e, p):
    if reciprocal(e):
        return f"1 ./ {p.wrap(e.arg, HADAMARD, strict=True)}"
    op = "^" if known_scalar(e.arg) else " .^ "
    return f"{stacked(e, p)}{op}{exponent(e.k)}"


def pow_operator(e) -> str:
    """`^` for a power of scalars, `.^` elementwise: as the parser saw it, or from the shape."""
    if e.written:
        return e.written
    return "^" if known_shape(e) == (1, 1) else ".^"


def t_pow(e, p):
    base, exponent = e.args
    op = pow_operator(e)
    x = p(exponent, top=False)
    if not (isinstance(exponent, Var) or exponent in p.names) or x.startswith("T"):
        x = f"({x})"                            # a^(b + 1); a^(Tx), since a^Tx could be a^T x
    b = p.wrap(base, POSTFIX, strict=True)
    if b == "e":
        b = "(e)"                               # a variable named e: e^x alone could be exp(x)
    return f"{b}{op if op == '^' else ' .^ '}{x}"


def t_matpow(e, p):
    if isinstance(e.arg, Inverse) and e.k > 0 and known_matrix(e.arg):
        # shapes write A^-2 as MatPow(2, A^-1); in a parsed tree that is `inv(A)^2`
        return f"{p.wrap(e.arg.arg, POSTFIX, strict=isinstance(e.arg.arg, Pow))}^-{exponent(e.k)}"
    return f"{stacked(e, p)}^{exponent(e.k)}"


def t_norm(e, p):
    inner = p(e.arg, top=False)
    if any(isinstance(n, Norm) for n in postorder(e.arg)):
        return f"norm({inner})"                 # ||a ||x|| b|| cannot tell its bars apart
    if e.written:                               # a parsed tree, as written: ||x||_2 or ||x||
        return f"||{inner}||_{e.written}" if e.written in ("1", "2") else f"||{inner}||"
    # bars alone are a vector's norm (of a matrix they are refused: spectral or Frobenius?), so
    # only a shaped vector or scalar prints without _F (a pure number is no shaped tree's)
    s = known_shape(e.arg)
    vector = s is not None and 1 in s and any(isinstance(n, Var) for n in postorder(e.arg))
    return f"||{inner}||" if vector else f"||{inner}||_F"


def call(name):
    return lambda e, p: f"{name}({p(e.arg, top=False)})"


def t_ones(e) -> str:
    """The ones vector with its size, so that it reads back as itself and never as the number 1:
    a column 1_n, a row 1_n^T, a matrix 1_n 1_m^T (ones(n) where the size is a product)."""
    r, c = e.shape if e.shape else (1, 1)
    def one(d) -> str:
        return f"1_{d}" if isinstance(d, int) or (isinstance(d, str) and d.isidentifier()) else \
            f"ones({dim_text(d).replace('·', ' * ')})"
    return one(r) if c == 1 else f"{one(c)}^T" if r == 1 else f"{one(r)} {one(c)}^T"


def t_differential(e, p):
    inner = p(e.of, top=False)
    return "d" + inner if isinstance(e.of, Var) or e.of in p.names else f"d({inner})"


TEXT = {
    Var:          lambda e, p: e.name,
    Const:        lambda e, p: number(e.value),
    Identity:     lambda e, p: "1" if e.n == 1 else "I",     # a 1x1 identity is the number 1: never I
    Zero:         lambda e, p: "0",
    Ones:         lambda e, p: t_ones(e),
    Differential: t_differential,
    Add:          t_add,
    MatMul:       t_matmul,
    Mul:          t_mul,
    Hadamard:     t_hadamard,
    Kron:         lambda e, p: p.chain(e.args, " ⊗ ", HADAMARD),
    Transpose:    lambda e, p: f"{p.wrap(e.arg.arg, POSTFIX, strict=isinstance(e.arg.arg, Pow))}^-T"
                  if isinstance(e.arg, Inverse) and e.arg not in p.names
                  else f"{p.wrap(e.arg, POSTFIX, strict=isinstance(e.arg, (MatPow, HadamardPow, Pow)))}^T",
    Inverse:      lambda e, p: f"{p.wrap(e.arg, POSTFIX, strict=isinstance(e.arg, Pow))}^-1",   # (a^b)^-1
    MatPow:       t_matpow,
    HadamardPow:  t_hadamard_pow,
    Pow:          t_pow,
    Apply:        lambda e, p: f"{e.fn.name}{chr(39) * e.fn.order}({p(e.arg, top=False)})",
    Trace:        call("tr"),
    Det:          call("det"),
    LogDet:       call("logdet"),
    Sum:          call("sum"),
    Norm:         t_norm,
    DiagMat:      call("diag"),
    DiagOf:       call("diag"),
    Vec:          call("vec"),
    Unvec:        lambda e, p: f"unvec({p(e.arg, top=False)}, {_dim_source(e.rows)}, {_dim_source(e.cols)})",
    Softmax:      call("softmax"),
    LogSumExp:    call("logsumexp"),
    BatchSoftmax: lambda e, p: f"softmax({p(e.arg, top=False)}, {e.axis})",
    BatchLogSumExp: lambda e, p: f"logsumexp({p(e.arg, top=False)}, {e.axis})",
    LogSoftmax:   lambda e, p: f"logsoftmax({p(e.arg, top=False)}{'' if e.axis == 'vector' else ', ' + e.axis})",
}


def _dim_source(d) -> str:
    """A dimension as the parser reads it back in unvec(v, rows, cols): a product as `n m`
    (left-nested as juxtaposition reads; a product on the right in parentheses, `n (m k)`)."""
    if not isinstance(d, tuple):
        return str(d)
    right = _dim_source(d[2])
    return f"{_dim_source(d[1])} {f'({right})' if isinstance(d[2], tuple) else right}"


def to_text(e: Expr, names: dict | None = None) -> str:
    """'c^T Psi((W + V) Phi(W x + b))'; with names={node: 'z1'} named parts print as their name."""
    return TextPrinter(names)(e)


def program_text(shaped) -> list:
    """A shaped expression or program as understood, one line per step (`matdiff parse`, the page)."""
    names = shaped.names
    body = to_text(shaped.expr, names)
    return [f"{n} = {to_text(e, names)}" for n, e in shaped.defs] + \
        [f"{shaped.name} = {body}" if shaped.name else body]
