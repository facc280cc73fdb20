"""The AST: small frozen nodes with structural equality, and the one generic traversal.

Every node is a frozen, slotted dataclass. Children are `arg` (unary) or `args`
(n-ary); any other field comes first. Nodes are inert: they never simplify
themselves. The parser builds them as written; `shapes.infer_shapes` fills in
shapes and `algebra` holds the smart constructors that normalise.

Shapes: a `Var` carries its declared shape as the user writes it, `()` for a
scalar, `(n,)` for a (column) vector, `(m, n)` for a matrix; a dimension is an
`int` or a `str` naming a symbolic dimension. Everything else has a 2-D shape
computed by `shapes.shape_of`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from operator import attrgetter
from typing import Sequence, Union

from matdiff.limits import check_number, tick

Dim = Union[int, str]
Shape = tuple  # () | (d,) | (d, d): a Var's declared shape
Shape2 = tuple  # (rows, cols): every node's shape after inference


class Expr:
    """Base of all nodes. Equal iff structurally equal; the hash is computed once, at construction.

    Why not the dataclass-generated `__eq__`/`__hash__`: programs share nodes
    (`h = tanh(W h) + h` repeated), and a hash recomputed over a shared DAG costs
    time exponential in its depth. A stored hash makes every dict lookup O(1)
    (sympy's `_mhash` does the same); computing it when the node is built, from its
    children's stored hashes, costs one tuple hash per node (issue 17: a lazy hash walked
    the children looking for missing ones, a fifth of a 1,000-layer derivation).
    """

    __slots__ = ("_hash", "_shape")  # the hash at construction, the shape on first use

    def fields(self) -> tuple:
        """The node's fields in order, as a tuple (one getter per class, made on first use: this
        runs for every node built and every equality test)."""
        try:
            return _FIELDS[self.__class__](self)
        except KeyError:
            _FIELDS[self.__class__] = _getter(self.__match_args__)
            return _FIELDS[self.__class__](self)

    def __eq__(self, other):
        """Structural equality, walked with a stack: expressions can be thousands deep."""
        if self is other:
            return True
        if type(self) is not type(other) or hash(self) != hash(other):
            return False
        stack = [(self, other)]
        seen: set = set()                        # pairs already compared: a DAG is walked once, not as a tree
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if not isinstance(a, Expr):          # a dimension or other plain value from a tuple field
                if a != b:
                    return False
                continue
            if type(a) is not type(b) or hash(a) != hash(b):
                return False
            if (id(a), id(b)) in seen:
                continue
            seen.add((id(a), id(b)))
            if not len(seen) % 4096:
                tick()                           # two big equal DAGs, not the same objects, take a while
            for x, y in zip(a.fields(), b.fields()):
                if isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y):
                    stack.extend(zip(x, y))
                elif isinstance(x, Expr):
                    stack.append((x, y))
                elif x != y:
                    return False
        return True

    def __ne__(self, other):
        return not self == other

    def __post_init__(self):
        """The hash, computed at construction: a node is built after its children, so theirs are
        known and this is constant time; every node is hashed sooner or later (dicts, sets, the
        simplifier's memo), and a stored hash makes __hash__ one attribute read."""
        object.__setattr__(self, "_hash", hash((type(self).__name__, self.fields())))

    def __hash__(self):
        return self._hash

    def __reduce__(self):
        """Pickled as its constructor and fields, so that an unpickled node (a worker process)
        gets its hash from __post_init__ as every other node does."""
        return type(self), self.fields()

    def __str__(self):
        # The one import that points up the pipeline, on purpose and only when called: str() of a
        # node is its text (as SymPy's Basic.__str__ imports its printer); nothing in the language prints.
        from matdiff.printing.text import to_text

        return to_text(self)


_FIELDS: dict = {}


def _getter(names: tuple):
    """A function node -> tuple of those fields (attrgetter gives a bare value for one name)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        name = names[0]
        return lambda e: (getattr(e, name),)
    return lambda e: ()


def _sub_exprs(e: Expr):
    """Every Expr among e's fields (children, and Differential's `of`)."""
    for x in e.fields():
        if isinstance(x, Expr):
            yield x
        elif isinstance(x, tuple):
            yield from (y for y in x if isinstance(y, Expr))


class Leaf(Expr):
    __slots__ = ()


class Unary(Expr):
    __slots__ = ()


class Nary(Expr):
    __slots__ = ()


node = dataclass(frozen=True, slots=True, eq=False)


# ---- leaves -------------------------------------------------------------------------------

@node
class Var(Leaf):
    name: str
    shape: Shape | None = None  # None until shapes.infer_shapes
    # "" or a declared structure of a square matrix: "sym" (S^T = S) or "spd" (also positive
    # definite); the simplifier drops its transpose, the check samples and perturbs within it, and
    # a gradient with respect to it is the one on the symmetric matrices (calculus.gradient)
    structure: str = ""


@node
class Const(Leaf):
    """A number; always a scalar. Exact (Fraction) so that 1/2 stays 1/2."""
    value: Fraction

    def __post_init__(self):
        # Every number, written or folded (9^64 9^64, sums of coefficients), stays printable and
        # convertible to float: a bound here holds wherever a number is made.
        check_number(self.value)
        Expr.__post_init__(self)


@node
class Identity(Leaf):
    n: Dim | None = None  # I; its size is inferred


@node
class Zero(Leaf):
    shape: Shape2 | None = None


@node
class Ones(Leaf):
    """The all-ones matrix 1 1^T (a column of ones if cols == 1)."""
    shape: Shape2 | None = None


@node
class Differential(Leaf):
    """dX: the differential of `of` (a Var, or any sub-expression during back-propagation)."""
    of: Expr


# ---- unary ------------------------------------------------------------------------------

@node
class Transpose(Unary):
    """A^T. `written` is "dot" where the parser read NumPy's dot(x, y) as x^T y: inference
    checks that x is a vector (of a matrix, dot is the matrix product x @ y) and clears it;
    `at` locates it for that message (keyword-only, not part of equality)."""
    arg: Expr
    written: str = ""
    at: tuple = field(default=(), kw_only=True)


@node
class Inverse(Unary):
    arg: Expr


@node
class MatPow(Unary):
    """A^k. The parser writes every `^k` as MatPow; shapes turns a 1x1 base into HadamardPow."""
    k: Fraction
    arg: Expr


@node
class HadamardPow(Unary):
    """Elementwise power A .^ k (for a scalar, the ordinary power).

    `written` is "/" where the parser read `a / b` (as a b^-1): `/` divides by a scalar only,
    and b's shape is known only after inference, so the divisor carries that constraint there
    as a mark on its node, as Pow's `written` carries `^` (a dedicated node type would need a
    row in every table for a node that never outlives inference; a list of divisors beside the
    program could not tell `x / y` from `x ./ y`, equal nodes). Inference makes b 1x1, or
    refuses at the `/`, and clears the mark. `at` locates the `/` for that message:
    (line, column, the line with its caret, numerator text, divisor text, the factors written
    after the divisor); keyword-only, so not part of equality."""
    k: Fraction
    arg: Expr
    written: str = ""
    at: tuple = field(default=(), kw_only=True)


@node
class Trace(Unary):
    arg: Expr


@node
class Det(Unary):
    """det(X). `at` is set for `|X|` read from LaTeX (line, column, caret, written, "bars"): the
    determinant of a square matrix, the absolute value of a scalar, refused for a vector (see
    inference); keyword-only, so not part of equality."""
    arg: Expr
    at: tuple = field(default=(), kw_only=True)


@node
class LogDet(Unary):
    arg: Expr


@node
class Sum(Unary):
    """sum(X): the sum of all entries."""
    arg: Expr


@node
class Norm(Unary):
    """||X||: the Euclidean norm of a vector, the Frobenius norm of a matrix.

    `written` is how the parser saw a norm whose meaning depends on the shape: "2" for
    `||x||_2`, "bars" for `||x||` (for a matrix the spectral norm, or ambiguous). Inference
    refuses those for a matrix and clears `written`, so a shaped Norm always means the above.
    `at` locates it in the source for that message; keyword-only, so not part of equality."""
    arg: Expr
    written: str = ""
    at: tuple = field(default=(), kw_only=True)


@node
class DiagMat(Unary):
    """diag(x): vector -> diagonal matrix. The parser writes every diag(.) so; shapes
    turns diag of a matrix into DiagOf."""
    arg: Expr


@node
class DiagOf(Unary):
    """diag(X): the diagonal of a square matrix, as a vector."""
    arg: Expr


@node
class Vec(Unary):
    """vec(X): the columns of X stacked into one vector."""
    arg: Expr


@node
class Unvec(Unary):
    """The inverse of vec: a (rows*cols) vector back to a rows x cols matrix."""
    rows: Dim
    cols: Dim
    arg: Expr


@node
class Softmax(Unary):
    """softmax(x) of a vector. `at` locates it in the source for the message that refuses a
    matrix (which way is never guessed); keyword-only, so not part of equality."""
    arg: Expr
    at: tuple = field(default=(), kw_only=True)


@node
class LogSumExp(Unary):
    """logsumexp(x) of a vector; `at` as for Softmax."""
    arg: Expr
    at: tuple = field(default=(), kw_only=True)


@node
class BatchSoftmax(Unary):
    """softmax(Z, rows) / softmax(Z, cols): the softmax of each row (axis "rows") or each
    column (axis "cols") of a matrix, shaped like Z. Which way is written, never guessed.
    `at` locates it for shape messages, as for Softmax."""
    axis: str
    arg: Expr
    at: tuple = field(default=(), kw_only=True)


@node
class BatchLogSumExp(Unary):
    """logsumexp(Z, rows): the column of each row's logsumexp (m x 1 for an m x n Z);
    logsumexp(Z, cols): the row of each column's (1 x n), as NumPy's keepdims=True."""
    axis: str
    arg: Expr
    at: tuple = field(default=(), kw_only=True)


@node
class LogSoftmax(Unary):
    """logsoftmax(z) = z - logsumexp(z) 1 of a vector (axis "vector"), and of each row or column of
    a matrix (axis "rows", "cols"): log(softmax(.)) without its underflow to log(0)."""
    axis: str
    arg: Expr
    at: tuple = field(default=(), kw_only=True)


@dataclass(frozen=True, slots=True)
class Fn:
    """An elementwise scalar function; order k is its k-th derivative (Fn('Phi', 1) is Phi')."""
    name: str
    order: int = 0

    def derivative(self) -> Fn:
        return Fn(self.name, self.order + 1)


@node
class Apply(Unary):
    """f(Z) elementwise (for a scalar Z, the scalar function)."""
    fn: Fn
    arg: Expr


# ---- n-ary ------------------------------------------------------------------------------

@node
class Add(Nary):
    args: tuple


@node
class MatMul(Nary):
    """The matrix product; associative, not commutative. `written` is "@" where the parser read
    NumPy's `a @ b`: a vector on its left is a row there (NumPy's 1-D array: `x @ y` is x^T y,
    `x @ A @ x` is x^T A x), which inference decides from the shapes, and clears."""
    args: tuple
    written: str = ""


@node
class Mul(Nary):
    """Scalar multiplication: every factor but at most one is 1x1 (a scalar); commutative.

    DESIGN.md suggests `Scale(k, arg)` with a number k. Course sheets multiply by
    scalar *expressions* too (`(x^T x) A`, `exp(a^T X b) a b^T`), and a 1x1 factor
    cannot sit inside a MatMul chain next to an n x n matrix, so the coefficient
    is a tuple of expressions; a number is a `Const` among them.
    """
    args: tuple


@node
class Hadamard(Nary):
    """The elementwise product; associative and commutative. `written` is "*" where the parser
    read NumPy's `*` (an input written in NumPy): inference makes it a scaling where a factor
    is a scalar, as NumPy broadcasts, and clears it."""
    args: tuple
    written: str = ""


@node
class Pow(Nary):
    """base .^ exponent elementwise, the exponent an expression (a number exponent is HadamardPow);
    for scalars the ordinary power a^b. One of the two may be 1x1 and is then broadcast
    (`x .^ p`, `2 .^ x`). Defined for a positive base: d(a^b) = b a^(b-1) da + a^b log(a) db.
    `written` is how the parser saw it, "^" or ".^": inference refuses `x^p` for a non-scalar
    (use .^) and clears it, so a shaped Pow always means the above."""
    args: tuple         # (base, exponent)
    written: str = ""


@node
class Kron(Nary):
    """The Kronecker product; associative, not commutative."""
    args: tuple


NODE_TYPES = (Var, Const, Identity, Zero, Ones, Differential,
              Transpose, Inverse, MatPow, HadamardPow, Trace, Det, LogDet, Sum, Norm,
              DiagMat, DiagOf, Vec, Unvec, Softmax, LogSumExp, BatchSoftmax, BatchLogSumExp, LogSoftmax, Apply,
              Add, MatMul, Mul, Hadamard, Kron, Pow)


# ---- program: assignments whose last line is the function ----------------------------------

@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Program:
    """Lines `name = expr` and a result. `result` is the last line's expression;
    `name` is the last line's name when it is an assignment (`J = ...`)."""
    defs: tuple  # tuple[Assign, ...]
    result: Expr
    name: str | None = None


# ---- the one generic traversal ---------------------------------------------------------------

def children(e: Expr) -> tuple:
    if isinstance(e, Nary):
        return e.args
    if isinstance(e, Unary):
        return (e.arg,)
    return ()


def with_children(e: Expr, kids: Sequence[Expr]) -> Expr:
    """The same node with new children (no simplification)."""
    if isinstance(e, Nary):
        return replace(e, args=tuple(kids))
    if isinstance(e, Unary):
        return replace(e, arg=kids[0])
    return e


def postorder(root: Expr, done=()) -> list:
    """Every distinct node once, children before parents; iterative, so depth is no limit.
    Nodes in `done` (a set or dict of nodes already handled) are neither listed nor entered."""
    tick()                                       # every walk looks at the clock: one place covers all
    seen: set = set(done) if not isinstance(done, (set, dict)) else done
    if seen is done:
        seen = _Overlay(done)
    out: list = []
    stack = [(root, False)]
    push, pop, emit, mark = stack.append, stack.pop, out.append, seen.add
    while stack:                                 # the hottest loop of a derivation: children inline
        e, expanded = pop()
        if expanded:
            emit(e)
            continue
        if e in seen:
            continue
        mark(e)
        push((e, True))
        if isinstance(e, Nary):
            for c in reversed(e.args):
                if c not in seen:
                    push((c, False))
        elif isinstance(e, Unary) and e.arg not in seen:
            push((e.arg, False))
    return out


class _Overlay:
    """A set seen through another (`done`) without copying it: membership in either."""
    __slots__ = ("base", "own")

    def __init__(self, base):
        self.base, self.own = base, set()

    def __contains__(self, e) -> bool:
        return e in self.own or e in self.base

    def add(self, e) -> None:
        self.own.add(e)


def computation_order(f: Expr) -> list:
    """Every node of f once, children first, the right-hand child first: the order in which the
    sheets number their auxiliary variables (z0 = W x, ..., Z3 = W + V), as gradient.auto_names and derivation.py use it."""
    out: list = []
    seen: set = set()
    stack = [(f, False)]
    while stack:
        e, done = stack.pop()
        if done:
            out.append(e)
        elif e not in seen:
            seen.add(e)
            stack.append((e, True))
            stack.extend((c, False) for c in children(e))
    return out


def transform(root: Expr, fn, memo: dict | None = None) -> Expr:
    """Rebuild bottom-up: fn(node, new_children) -> node, each distinct node once (DAG-safe).
    Pass one `memo` to several calls to rebuild several roots that share nodes."""
    memo = {} if memo is None else memo
    for e in postorder(root, done=memo):
        memo[e] = fn(e, [memo[c] for c in children(e)])
    return memo[root]


def depth(root: Expr) -> int:
    """The nesting depth of an expression (a leaf is 1), without recursion."""
    d: dict = {}
    for e in postorder(root):
        d[e] = 1 + max((d[c] for c in children(e)), default=0)
    return d[root]


def variables(root: Expr) -> list:
    """The Vars of an expression, in order of first appearance (left to right)."""
    return [e for e in postorder(root) if isinstance(e, Var)]


ONE = Const(Fraction(1))
MINUS_ONE = Const(Fraction(-1))


def substitute(root: Expr, mapping: dict) -> Expr:
    """root with every node that is a key of mapping replaced by its value, without looking
    inside replaced nodes and without simplifying (a DAG stays a DAG)."""
    if not mapping:
        return root
    tick()
    memo: dict = {}
    stack = [(root, False)]
    push, pop = stack.append, stack.pop
    while stack:
        e, expanded = pop()
        if e in memo:
            continue
        replaced = mapping.get(e)
        if replaced is not None:
            memo[e] = replaced
            continue
        kids = children(e)
        if expanded or not kids:
            new = [memo[c] for c in kids]
            memo[e] = with_children(e, new) if any(k is not c for k, c in zip(new, kids)) else e
        else:
            push((e, True))
            for c in kids:
                if c not in memo:
                    push((c, False))
    return memo[root]
