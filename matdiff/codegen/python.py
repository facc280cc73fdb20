"""Expr -> one Python expression for NumPy, JAX or PyTorch. PY is the table, one row per node.

generate.py decides what is computed once and named; this printer writes one statement's
right-hand side, printing a named sub-expression by its name. Vectors are columns (n, 1),
so that every node keeps the 2-D shape matdiff gives it; a 1x1 result of `@` stays (1, 1),
and the reductions (tr, sum, det, ...) give 0-d scalars, which broadcast alike.

What is never formed (the point of generated code over a literal transcription): a diagonal
matrix, a Kronecker product, an inverse, unless the result is one (products.py applies them
where they are used); tr(A B) -> sum(A * B^T) and diag(A B) -> row sums of A * B^T compute
only the diagonal. A product is evaluated in the cheapest order, so `A B x` is `A @ (B @ x)`.
Spellings that differ between NumPy, JAX and PyTorch are pycode.BACKENDS.
"""
from __future__ import annotations

from fractions import Fraction

from matdiff.errors import MatdiffError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity, Inverse,
    Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Softmax, Sum, Trace, Transpose, Unvec, Var,
    Vec, Zero,
)
from matdiff.language.shapes import is_scalar, shape_of
from matdiff.codegen.gram import gram_text
from matdiff.codegen.products import _diag_vector, _fused_outer, _outer, chain_product, dense, piece, transposed_text
from matdiff.codegen.backends import (
    _SIMPLE, ADD, ATOM, DOT, ELEMENTWISE, MUL, POSTFIX, POWER, UNARY, Y_FORMS, Y_SUFFIX, Backend, number, template_prec,
    wrap,
)


class PythonPrinter:
    """Expr -> (text, precedence, operator). `names` maps computed nodes to their local names;
    `dim` turns a dimension into text; `fn_param` names an abstract function's parameter."""

    def __init__(self, backend: Backend, names: dict, dim, fn_param):
        self.b = backend
        self.names = names
        self.dim = dim
        self.fn_param = fn_param
        self.helpers: set = set()
        self.uses_dtype = False

    # -- entry points
    def __call__(self, e: Expr) -> str:
        """The right-hand side of e's own statement (e itself is not replaced by its name)."""
        return PY[type(e)](e, self)[0]

    def term(self, e: Expr) -> tuple:
        if e in self.names:
            return self.names[e], ATOM, None
        return PY[type(e)](e, self)

    def op(self, name: str, **kw) -> str:
        template = self.b.ops[name]
        for key, value in kw.items():                   # `{x}.contiguous()`: x must be one piece
            if "{" + key + "}." in template and not _SIMPLE.fullmatch(value):
                kw[key] = f"({value})"
        if "_" + name in self.b.helpers:               # NumPy's _sigmoid, _softmax, ...
            self.helpers.add("_" + name)
        if "dtype" in template:
            self.uses_dtype = True
        return template.format(m=self.b.m, **kw)

    # -- wrapping
    def arg(self, e: Expr) -> str:
        """e as a function argument: never in parentheses."""
        return self.term(e)[0]

    def at(self, e: Expr, level: int, op: str | None = None, left: bool = True) -> str:
        if level >= DOT and isinstance(e, Const) and e not in self.names:
            # `1.reshape(...)` is no Python, and a number has no .T: an array of the number
            return self.op("array", x=number(e.value))
        return wrap(self.term(e), level, op, left)

    def elementwise(self, e: Expr, level: int, op: str | None = None, left: bool = True) -> str:
        """e as an operand of + - * (entry by entry): a transposed matrix is the backend's
        `transposed` (NumPy reads a transposed view slowly at some sizes: backends._TRANSPOSED)."""
        if isinstance(e, Transpose) and e not in self.names and 1 not in shape_of(e) and not is_scalar(e.arg):
            return self.op("transposed", x=self.at(e.arg, DOT))
        return self.at(e, level, op, left)

    def dims(self, e: Expr) -> tuple:
        r, c = shape_of(e)
        return self.dim(r), self.dim(c)


# ---- leaves --------------------------------------------------------------------------------------

def py_const(e: Const, p) -> tuple:
    s = number(e.value)
    return s, (UNARY if e.value < 0 else ATOM), None


def py_var(e: Var, p) -> tuple:
    raise MatdiffError(f"internal: no local name for {e.name}")     # Vars are always in names


def py_identity(e: Identity, p) -> tuple:
    return p.op("eye", n=p.dim(shape_of(e)[0])), ATOM, None


def py_zero(e: Zero, p) -> tuple:
    r, c = p.dims(e)
    return p.op("zeros", r=r, c=c), ATOM, None


def py_ones(e: Ones, p) -> tuple:
    r, c = p.dims(e)
    return p.op("ones", r=r, c=c), ATOM, None


# ---- sums and products -----------------------------------------------------------------------------

def _negated(e: Expr):
    """-A -> A, -2 A -> 2 A, -3 -> 3; None if e prints without a leading minus."""
    if isinstance(e, Const) and e.value < 0:
        return Const(-e.value)
    if isinstance(e, Mul) and isinstance(e.args[0], Const) and e.args[0].value < 0:
        k = -e.args[0].value
        rest = e.args[1:]
        if k == 1:
            return rest[0] if len(rest) == 1 else Mul(rest)
        return Mul((Const(k), *rest))
    return None


def _broadcast(e: Expr):
    """k * Ones(...) or Ones: the scalar part alone (it broadcasts in a sum), else None."""
    if isinstance(e, Ones):
        return Const(Fraction(1))
    if isinstance(e, Mul) and isinstance(e.args[-1], Ones):
        rest = e.args[:-1]
        return rest[0] if len(rest) == 1 else Mul(rest)
    return None


def py_add(e: Add, p) -> tuple:
    """a + b - c; a constant matrix k 1 1^T in a sum is the number k (it broadcasts); two or
    more outer products u v^T in a sum are one product [u1 u2 ...] [v1 v2 ...]^T (one BLAS call
    writes the result once, instead of a pass per term and per addition)."""
    outer = [a for a in e.args if _outer(a, p) is not None]
    fused = _fused_outer(outer, p) if len(outer) >= 2 and p.b.fuse_outer else None
    terms = [a for a in e.args if fused is None or a not in outer]
    full = fused is not None or any(a in p.names or _broadcast(a) is None for a in terms)
    parts = [fused] if fused is not None else []
    for a in terms:
        if full and a not in p.names and _broadcast(a) is not None:
            a = _broadcast(a)
        neg = None if a in p.names else _negated(a)
        if not parts:
            parts.append(p.elementwise(a, ADD - 1) if neg is None else "-" + p.elementwise(neg, MUL, "*"))
        elif neg is not None:
            parts.append(" - " + p.elementwise(neg, ADD))
        else:
            parts.append(" + " + p.elementwise(a, ADD - 1))
    return "".join(parts), ADD, None


def py_mul(e: Mul, p) -> tuple:
    """Scalars times at most one matrix: `0.5 * x`, `-(a @ b)`, `s * M`; s * diag(v) stays diagonal."""
    if not is_scalar(e) and _diag_vector(e.args[-1], p) is not None:
        return p.op("diagflat", x=_diag_vector(e, p)[0]), ATOM, None
    k = e.args[0].value if isinstance(e.args[0], Const) else None
    rest = e.args[1:] if k is not None else e.args
    body = " * ".join(p.elementwise(a, MUL, "*") for a in rest)
    if k is None or k == 1:
        return body, MUL, "*"
    if k == -1:
        return "-" + (p.elementwise(rest[0], UNARY) if len(rest) == 1 else f"({body})"), UNARY, None
    return f"{number(k)} * {body}", (ADD if k < 0 else MUL), "*"


def py_hadamard(e: Hadamard, p) -> tuple:
    return " * ".join(p.elementwise(a, MUL, "*") for a in e.args), MUL, "*"


def py_matmul(e: MatMul, p) -> tuple:
    scalars = [a for a in e.args if is_scalar(a)]          # a 1x1 factor multiplies
    chain = [a for a in e.args if not is_scalar(a)]
    t = gram_text(chain, p) or (chain_product(chain, p) if chain else ("1", ATOM, None))
    if not scalars:
        return t
    return " * ".join([p.at(s, MUL, "*") for s in scalars] + [wrap(t, MUL, "*")]), MUL, "*"


# ---- unary nodes --------------------------------------------------------------------------------------

def py_transpose(e: Transpose, p) -> tuple:
    if is_scalar(e.arg):
        return p.term(e.arg)
    return f"{p.at(e.arg, DOT)}.T", POSTFIX, None


def py_inverse(e: Inverse, p) -> tuple:
    if is_scalar(e.arg):                               # a scalar (0-d or 1x1): linalg wants a matrix
        return f"1 / {p.at(e.arg, MUL, '/')}", MUL, "/"
    return dense(piece(e, p), p) if isinstance(e.arg, DiagMat) else (p.op("inv", x=p.arg(e.arg)), ATOM, None)


def py_mat_pow(e: MatPow, p) -> tuple:
    if is_scalar(e.arg):
        return py_hadamard_pow(HadamardPow(e.k, e.arg), p)
    return p.op("matrix_power", x=p.arg(e.arg), k=number(e.k)), ATOM, None


def py_hadamard_pow(e: HadamardPow, p) -> tuple:
    k = e.k
    if k == 2 and isinstance(e.arg, Norm) and e.arg not in p.names and "sqnorm" in p.b.ops:
        return p.op("sqnorm", x=p.arg(e.arg.arg)), ATOM, None     # ||v||^2: no sqrt, then a square
    if k == Fraction(1, 2):
        return p.op("sqrt", x=p.arg(e.arg)), ATOM, None
    if k == Fraction(-1, 2):
        return f"1 / {p.op('sqrt', x=p.arg(e.arg))}", MUL, "/"
    if k == -1:
        return f"1 / {p.at(e.arg, MUL, '/')}", MUL, "/"
    if k < 0 and k.denominator == 1:
        return f"1 / {p.at(e.arg, POWER)} ** {number(-k)}", MUL, "/"
    exponent = number(k) if k > 0 else f"({number(k)})"
    return f"{p.at(e.arg, POWER)} ** {exponent}", POWER, None


def py_pow(e: Pow, p) -> tuple:
    """a ** b (`**` broadcasts a scalar side alike in NumPy, JAX and PyTorch; right-associative,
    so a power as the base is wrapped)."""
    base, exponent = e.args
    return f"{p.at(base, POWER + 1)} ** {p.at(exponent, POWER)}", POWER, None


def py_apply(e: Apply, p) -> tuple:
    fn = e.fn
    if fn.name.endswith(Y_SUFFIX):                    # a derivative from the function's value
        y = p.at(e.arg, ATOM - 1)
        template = Y_FORMS[fn.name[:-len(Y_SUFFIX)]][fn.order]
        return template.format(y=y, m=p.b.m), template_prec(template.format(y=y, m=p.b.m)), None
    table = ELEMENTWISE.get(fn.name)
    if table is None:                                  # abstract: a function the caller passes in
        return f"{p.fn_param(fn.name, fn.order)}({p.arg(e.arg)})", ATOM, None
    if fn.order >= len(table):
        raise MatdiffError(f"no code for the derivative of order {fn.order} of {fn.name}")
    template = table[fn.order]
    of_number = isinstance(e.arg, Const) and e.arg not in p.names and p.b.number_args   # torch.log(2) fails
    if template.startswith(("op:", "-op:", "0.5 / op:")):
        head, _, op = template.partition("op:")
        text = head + p.op(op, x=p.at(e.arg, DOT) if of_number else p.arg(e.arg))
        if not head:
            return text, ATOM, None
        return (text, UNARY, None) if head == "-" else (text, MUL, "/")
    return template.format(x=p.at(e.arg, DOT if of_number else POWER)), template_prec(template), None


def _diagonal_sum(e, p, node, dense_op: str, op: str) -> tuple:
    """What tr and diag share: of a sum, the sum of each; of a dense product A B, only the
    diagonal of it, from A ∘ B^T (dense_op sums it whole or by rows); otherwise op."""
    if isinstance(e.arg, Add) and e.arg not in p.names:
        return py_add(Add(tuple(node(a) for a in e.arg.args)), p)
    if isinstance(e.arg, MatMul) and e.arg not in p.names and all(piece(a, p).kind == "dense" for a in e.arg.args):
        *A, B = e.arg.args
        left = chain_product(A, p)
        return p.op(dense_op, x=f"{wrap(left, MUL, '*')} * {transposed_text(B, p, MUL)}"), ATOM, None
    return p.op(op, x=p.arg(e.arg)), ATOM, None


def py_trace(e: Trace, p) -> tuple:
    """tr(A B) = sum(A ∘ B^T): the diagonal alone, not the whole product;  tr(A + B) = tr A + tr B."""
    return _diagonal_sum(e, p, Trace, "sum", "trace")


def py_diag_of(e: DiagOf, p) -> tuple:
    """diag(A B) = the row sums of A ∘ B^T;  diag(A + B) = diag(A) + diag(B)."""
    return _diagonal_sum(e, p, DiagOf, "rowsum", "diagonal")


def py_vec(e: Vec, p) -> tuple:
    if is_scalar(e.arg):                               # vec of a scalar is the scalar
        return p.term(e.arg)
    return f"{p.at(e.arg, DOT)}.T.reshape(-1, 1)", POSTFIX, None


def py_unvec(e: Unvec, p) -> tuple:
    if is_scalar(e):
        return p.term(e.arg)
    return f"{p.at(e.arg, DOT)}.reshape({p.dim(e.cols)}, {p.dim(e.rows)}).T", POSTFIX, None


def py_kron(e: Kron, p) -> tuple:
    """A ⊗ B applied where it is used (products.py); a scalar factor only scales: a ⊗ B = a B
    (a may be a 0-d array here, which `@` and kron refuse)."""
    scalars = [a for a in e.args if is_scalar(a)]
    if scalars:
        rest = [a for a in e.args if not is_scalar(a)]
        rest = [Kron(tuple(rest))] if len(rest) > 1 else rest
        return " * ".join(p.at(a, MUL, "*") for a in scalars + rest), MUL, "*"
    return dense(piece(e, p), p)


def py_diag_mat(e: DiagMat, p) -> tuple:
    return p.op("diagflat", x=p.arg(e.arg)), ATOM, None


def call(op):
    return lambda e, p: (p.op(op, x=p.arg(e.arg)), ATOM, None)


def of_matrix(op, scalar):
    """det, logdet, tr, ...: NumPy's linalg wants a matrix, and a scalar here may be 0-d, so a
    scalar argument is written with `scalar` (det(a) = a, logdet(a) = log|a| as slogdet gives)."""
    general = op if callable(op) else call(op)
    return lambda e, p: scalar(e, p) if is_scalar(e.arg) else general(e, p)


def _itself(e, p):
    return p.term(e.arg)


def _log_abs(e, p):
    return p.op("log", x=p.op("abs", x=p.arg(e.arg))), ATOM, None


def _abs(e, p):
    return p.op("abs", x=p.arg(e.arg)), ATOM, None


def py_differential(e, p):
    raise MatdiffError(f"internal: a differential d{e.of} in generated code")


PY = {
    Var: py_var, Const: py_const, Identity: py_identity, Zero: py_zero, Ones: py_ones,
    Differential: py_differential,
    Add: py_add, Mul: py_mul, Hadamard: py_hadamard, MatMul: py_matmul, Kron: py_kron,
    Transpose: py_transpose, Inverse: py_inverse, MatPow: py_mat_pow, HadamardPow: py_hadamard_pow, Pow: py_pow,
    Apply: py_apply, Trace: of_matrix(py_trace, _itself), Det: of_matrix("det", _itself),
    LogDet: of_matrix("logdet", _log_abs), Sum: call("sum"), Norm: of_matrix("norm", _abs), DiagMat: py_diag_mat,
    DiagOf: of_matrix(py_diag_of, _itself), Vec: py_vec, Unvec: py_unvec,
    Softmax: call("softmax"), LogSumExp: call("logsumexp"),
    BatchSoftmax: lambda e, p: (p.op(f"softmax_{e.axis}", x=p.arg(e.arg)), ATOM, None),
    BatchLogSumExp: lambda e, p: (p.op(f"logsumexp_{e.axis}", x=p.arg(e.arg)), ATOM, None),
    LogSoftmax: lambda e, p: (p.op(f"log_softmax_{'cols' if e.axis == 'vector' else e.axis}", x=p.arg(e.arg)),
                              ATOM, None),
}


def repeats(e: Expr) -> int:
    """How often the printed text of e spells out its (one) child: twice for y (1 - y)."""
    if isinstance(e, Apply) and e.fn.name.endswith(Y_SUFFIX):
        return Y_FORMS[e.fn.name[:-len(Y_SUFFIX)]][e.fn.order].count("{y}")
    return 1


# Nodes never named on their own: a transpose is a view, and a diagonal matrix, a Kronecker
# product or vec(X) is applied where it is used, not formed; their children are named instead.
TRANSPARENT = (Transpose, DiagMat, Kron, Vec, Identity, Zero, Ones, Const, Var)
