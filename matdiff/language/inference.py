"""Program + optional declarations -> one shaped expression DAG (Shaped).

Undeclared shapes are inferred by unifying dimensions: an upper-case name is a
matrix, a lower-case name a vector, a Greek lower-case name a scalar where the
expression allows; the constraints fix the rest, and every dimension still free
gets a name (n, m, k, ...). The rules themselves are shapes.SHAPE_RULES.

Where the expression fits only by making an undeclared name or an `I` degenerate (a matrix
name a single row or column or 1x1, `I` 1x1), the Shaped result lists it in `readings`, and
every entry point says so in a note (problem.understand warns; the CLI prints `note:` lines).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from matdiff.language import functions as F
from matdiff.language.dims import DIM_NAMES, FRESH, Dims, as2, prod
from matdiff.errors import ParseError, ShapeError
from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    ONE, Add, Apply, Const, Det, DiagMat, DiagOf, Expr, Fn, Hadamard, HadamardPow, Identity, Inverse, Kron, LogDet, LogSumExp,
    MatMul, MatPow, Mul, Norm, Ones, Pow, Program, Softmax, Sum, Transpose, Unvec, Var, Vec, Zero, children, postorder,
    transform,
    with_children,
)
from matdiff.limits import check_power
from matdiff.language.shapes import SHAPE_RULES, division_error, dot_error, is_scalar, shape_matmul, shape_of, shape_text


@dataclass(frozen=True)
class Reading:
    """A name (or I) that inference had to make degenerate for the expression to fit: a matrix
    made a single row or column or 1x1, a vector made 1x1, I made 1x1. Never silent: every entry
    point says so in a note (a MatdiffWarning; `note:` lines in the CLI)."""
    name: str           # the input's name, or "I"
    shape: tuple        # the shape it got, as the user writes shapes: (), (n,), (1, n)
    context: str = ""   # the expression that forced it, as text

    def __str__(self) -> str:
        if self.name == "I":
            what = "I is 1×1 here, the number 1"
        elif self.shape == ():
            what = f"{self.name} is read as a scalar (1×1), not a {'matrix' if self.name[0].isupper() else 'vector'}"
        else:
            r, c = self.shape
            what = f"{self.name} is read as a single {'row' if r == 1 else 'column'} ({shape_text(self.shape)}), not a matrix"
        fit = f" so that `{self.context}` fits" if self.context else " so that the expression fits"
        return f"{what},{fit}; declare shapes (shapes= or --shape) if you meant otherwise"


@dataclass
class Shaped:
    """A program with every shape known: the function as one DAG, its named steps, its inputs."""
    expr: Expr
    defs: list            # [(name, Expr)] in program order; each Expr is a node of `expr`'s DAG
    inputs: dict          # name -> declared-style shape, in order of first appearance
    name: str | None = None
    declared: dict = field(default_factory=dict)
    readings: list = field(default_factory=list)    # [Reading]: degenerate readings, for notes
    structure: dict = field(default_factory=dict)   # name -> "sym" | "spd", as declared (STRUCTURES)
    broadcasts: int = 0   # scalars and rows broadcast in a sum (`x - alpha`, `X W + b^T`)
    divisors: frozenset = frozenset()   # names written alone after a `/` (`sum(x) / n`): scalars

    @property
    def names(self) -> dict:
        """node -> its name in the program (for printers)."""
        return {e: n for n, e in self.defs}


def infer_shapes(program: Program, shapes: dict | None = None) -> Shaped:
    """Fill in every shape, without broadcasting where the expression fits cleanly without it,
    else with it (NumPy's: a scalar added to a vector or matrix means it in every entry,
    `x - alpha` is `x - alpha 1`; a row added to a matrix means it in every row, `X W + b^T`
    is `X W + 1 b^T`), when that reading is clean and the plain one is not: a note on an
    undeclared name made degenerate (`X w + beta` making X a row), a Greek scalar that made
    a Latin vector a scalar (`x - alpha`), or a Latin name made a scalar that sum or a norm
    takes. Where the plain choice made a Greek name a vector (`d = x - mu; d^T inv(S) d`),
    that choice stands: broadcasting never overrides it."""
    structure = {k: s for k, v in (shapes or {}).items() if v is not None for s in [_structure(k, v)] if s}
    shapes = {k: _declared(k, _without_structure(v)) for k, v in (shapes or {}).items() if v is not None}
    try:
        plain = _infer_shapes(program, shapes, broadcast=False, structure=structure)
    except ShapeError as error:
        try:
            wide = _infer_shapes(program, shapes, broadcast=True, structure=structure)
        except ShapeError:
            raise error from None
        return wide if wide.broadcasts else _raise(error)
    if _clean(plain, shapes):
        return plain
    try:
        wide = _Inference(program, shapes, greek_scalar=True, broadcast=True, structure=structure).run()
    except ShapeError:
        return plain
    return wide if wide.broadcasts and _clean(wide, shapes, broadcasting=True) else plain


def _raise(error):
    raise error


def _clean(shaped: Shaped, declared: dict, broadcasting: bool = False) -> bool:
    """No note to give, no Latin lower-case name made a scalar where sum or a norm takes it
    as a vector (`x - sum(x)`), and, where a Greek name is a scalar, nothing _awkward counts
    (`x - alpha` making x a scalar). A broadcast reading may leave the function a vector or
    matrix: that is what it means."""
    if shaped.readings:
        return False
    seen: set = set()
    for root in [shaped.expr, *(e for _, e in shaped.defs)]:
        seen.update(postorder(root, done=seen))
    latin_scalars = {n for n, s in shaped.inputs.items()
                     if n not in declared and s == () and n[0].islower() and not F.is_greek_lower(n)}
    if any(isinstance(e, (Sum, Norm)) and isinstance(e.arg, Var) and e.arg.name in latin_scalars for e in seen):
        return False
    if broadcasting:
        return _awkward(shaped, declared, function_scalar=False) == 0
    greek = any(F.is_greek_lower(n) and s == () for n, s in shaped.inputs.items())
    return not greek or _awkward(shaped, declared) == 0


def _infer_shapes(program: Program, shapes: dict, broadcast: bool, structure: dict) -> Shaped:
    """Fill in every shape. Greek lower-case names are tried as scalars first, then as
    vectors: when a scalar does not fit (`θ + x` with x declared a 3-vector), or fits only
    awkwardly: by making a matrix a single row or column (`||X θ - y||^2` would make X
    n x 1) or by transposing a scalar (`θ^T x`). A shape given as None is not declared."""
    try:
        first = _Inference(program, shapes, greek_scalar=True, broadcast=broadcast, structure=structure).run()
    except ShapeError as error:
        try:
            return _Inference(program, shapes, greek_scalar=False, broadcast=broadcast, structure=structure).run()
        except ShapeError:
            raise error from None
    awkward = _awkward(first, shapes)
    if not awkward or not any(F.is_greek_lower(n) and first.inputs[n] == () for n in first.inputs):
        return first
    try:
        second = _Inference(program, shapes, greek_scalar=False, broadcast=broadcast, structure=structure).run()
    except ShapeError:
        return first
    return second if _awkward(second, shapes) < awkward else first


def _awkward(shaped: Shaped, declared: dict, function_scalar: bool = True) -> int:
    """Undeclared matrices made a single row or column, undeclared Latin vectors made scalars
    (`x - mu` with mu a scalar would make x one), and transposed undeclared scalars."""
    thin = sum(1 for n, s in shaped.inputs.items()
               if n not in declared and n[0].isupper() and len(s) == 2 and 1 in s)
    thin += sum(1 for n, s in shaped.inputs.items()
                if n not in declared and s == () and not F.is_greek_lower(n) and n[0].islower()
                and n not in shaped.divisors)   # `sum(x) / n`: a divisor is a scalar, as written
    seen: set = set()
    for root in [shaped.expr, *(e for _, e in shaped.defs)]:     # the steps share nodes: walk each once
        seen.update(postorder(root, done=seen))
    transposed = {n.arg.name for n in seen
                  if isinstance(n, Transpose) and isinstance(n.arg, Var) and n.arg.shape == ()
                  and n.arg.name not in declared}
    # the last line is the function: a Greek scalar that leaves it a row or a matrix where a
    # Greek vector would make it a scalar (-y^T log(softmax(theta))) is the awkward reading
    not_scalar = int(function_scalar and shape_of(shaped.expr) != (1, 1))
    return thin + len(transposed) + not_scalar


def _flat_products(root: Expr) -> Expr:
    """`1/3 1 1^T` parses as ((1/3 1) 1^T): a product holding a `1` is one chain of factors
    with the product it stands in, so that the `1` is read beside both its neighbours (the
    ones vector before a row). Other products keep their grouping: `a^T ((x^T x) X) b`."""
    if not any(isinstance(e, MatMul) and ONE in e.args for e in postorder(root)):
        return root
    def flat(e: Expr, kids: list) -> Expr:
        if isinstance(e, MatMul):
            return MatMul(tuple(a for k in kids
                                for a in (k.args if isinstance(k, MatMul) and ONE in k.args else (k,))))
        return with_children(e, kids) if kids else e
    return transform(root, flat)


def _unsized(e: Expr) -> bool:
    """An `I`, a `𝟙` or a `1^T` written without its size: each is its own, sized by where it stands."""
    return (isinstance(e, Identity) and e.n is None) or (isinstance(e, Ones) and None in e.shape) \
        or (isinstance(e, Transpose) and e.arg == ONE)


def _placeholder(d) -> bool:
    return d is None or (isinstance(d, str) and d.startswith(f"{FRESH}O"))


def _each_identity_apart(root: Expr) -> Expr:
    """Every `I` written is its own identity with its own size (`A I + I A` for a 2x3 A has
    a 3x3 and a 2x2), and so is every unsized ones vector (`𝟙 𝟙^T + B`, `1^T x + 1^T y`).
    Equal nodes are one node to `transform`, so each gets a placeholder size of its own
    first; the Identity and Ones rules replace it by a fresh one."""
    has_identity: dict = {}
    for e in postorder(root):
        has_identity[e] = _unsized(e) or any(has_identity[c] for c in children(e))
    if not has_identity[root]:
        return root
    count, out, stack = 0, [], [(root, False)]
    while stack:                            # a walk over the tree, iterative: depth is no limit
        e, built = stack.pop()
        if not has_identity[e]:
            out.append(e)
        elif built:
            k = len(children(e))
            kids, out[len(out) - k:] = out[len(out) - k:], []
            if isinstance(e, Identity):
                count += 1
                out.append(Identity(f"{FRESH}I{count}"))
            elif _unsized(e):                       # 𝟙, 1^T
                count += 1
                shape = (1, None) if isinstance(e, Transpose) else e.shape
                out.append(Ones(tuple(f"{FRESH}O{count}" if d is None else d for d in shape)))
            else:
                out.append(with_children(e, kids))
        else:
            stack.append((e, True))
            stack.extend((c, False) for c in reversed(children(e)))
    return out[0]


# The largest concrete dimension: past it no array could be allocated for a check, and a
# dimension of thousands of digits cannot even be read as an int.
MAX_DIM = 10 ** 9


# A square matrix's declared structure, the last entry of its shape (`S=n,n,sym`,
# shapes={"S": ("n", "n", "spd")}): what each word means, as the notes and `matdiff parse` say it.
STRUCTURES = {"sym": "symmetric", "spd": "symmetric positive definite"}


def _is_structure_word(d) -> bool:
    return isinstance(d, str) and d.strip().lower() in STRUCTURES


def _structure(name, shape) -> str:
    """"sym", "spd" or "" for a declared shape. The word comes third, after two equal dimensions;
    anywhere else it could also be a dimension's name, and both readings are shown."""
    if isinstance(shape, (str, int)):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        return ""                            # not a shape at all: _declared says so
    words = [i for i, d in enumerate(shape) if _is_structure_word(d)]
    if not words:
        return ""
    word = shape[words[-1]].strip().lower()
    dims = [str(d).strip()[:40] for d in shape if not _is_structure_word(d) and str(d).strip().isidentifier()
            or str(d).strip().isdigit()]
    if len(shape) == 3 and words == [2]:
        a, b = _declared(name, shape[:2])      # each dimension read (or refused) as any other
        if a != b:
            raise ShapeError(f"{name}: a {STRUCTURES[word]} matrix is square, but its shape {a}, {b} has two "
                             f"different dimensions; declare it {name}={a},{a},{word}")
        return word
    given = ",".join(str(d).strip()[:40] for d in shape)
    n = dims[0] if dims else "n"
    raise ShapeError(f"{name}={given}: `{word}` could mean a dimension named {word} or that {name} is a "
                     f"{STRUCTURES[word]} matrix; for the matrix write {name}={n},{n},{word} "
                     f"(shapes={{{name!r}: ({n!r}, {n!r}, {word!r})}}), for a dimension choose another name")


def _without_structure(shape):
    """The shape without its structure word (checked by _structure first)."""
    if isinstance(shape, (list, tuple)) and len(shape) == 3 and _is_structure_word(shape[2]):
        return tuple(shape[:2])
    return shape


def _declared(name, shape) -> tuple:
    if shape is None:
        return None
    if isinstance(shape, (str, int)):
        shape = (shape,)
    shape = tuple(shape)
    if len(shape) > 2:
        raise ShapeError(f"{name}: a shape has at most two dimensions, got {shape}"
                         + (f" (a square matrix's shape may end in sym or spd: {name}=n,n,sym)" if len(shape) == 3 else ""))
    out = []
    for d in shape:
        if _is_product(d):      # ("*", m, p): a product of dimensions (a claim's copy of kron(A, X)'s shapes)
            out.append(d)
            continue
        if isinstance(d, str):
            text = d.strip()
            if text.isascii() and text.isdigit():     # ASCII: '²' and '٣' pass str.isdigit, not int()
                if len(text) > 18:                     # and int() refuses 4,300 digits
                    raise _too_large(name, f"a number of {len(text):,} digits")
                d = int(text)
            elif text.isidentifier():
                d = text
            else:
                raise ShapeError(f"{name}: a dimension is a positive integer or a name, got {text[:40]!r}")
        if isinstance(d, bool) or not isinstance(d, (int, str)) or (isinstance(d, int) and d < 1):
            raise ShapeError(f"{name}: a dimension is a positive integer or a name, got {d!r}")
        if isinstance(d, int) and d > MAX_DIM:
            raise _too_large(name, f"{d:,}" if d < 10 ** 18 else "a number of more than 18 digits")
        out.append(d)
    return tuple(out)


def _is_product(d) -> bool:
    """("*", a, b) of dimensions, as inference writes the shape of a Kronecker product."""
    return isinstance(d, tuple) and len(d) == 3 and d[0] == "*" and all(
        _is_product(x) or isinstance(x, str) and x.isidentifier() or type(x) is int and 1 <= x <= MAX_DIM
        for x in d[1:])


def _too_large(name: str, shown: str) -> ShapeError:
    return ShapeError(f"{name}: a dimension is at most {MAX_DIM:,} (or a name such as n for a size "
                      f"left open), got {shown}")


class _Inference:
    def __init__(self, program: Program, declared: dict, greek_scalar: bool, broadcast: bool = False,
                 structure: dict | None = None):
        self.program = program
        self.structure = structure or {}
        self.declared = declared
        self.greek_scalar = greek_scalar
        self.broadcast = broadcast
        self.broadcasts = 0
        self.divisors: set = set()  # names written alone after a `/`
        self.ones_read: dict = {}   # Ones read from a bare `1` in a product -> its text, for errors
        self.u = Dims()
        self.inputs: dict = {}      # name -> Var with a provisional 2-D shape
        self.kinds: dict = {}       # name -> "declared" | "vector" | "matrix" | "scalar"
        self.defined: dict = {}     # program name -> shaped node
        self.shape: dict = {}       # shaped node -> provisional 2-D shape

    def run(self) -> Shaped:
        defs = []
        for a in self.program.defs:
            if a.name in self.defined or a.name in self.declared:
                raise ShapeError(f"{a.name} is defined twice" if a.name in self.defined
                                 else f"{a.name} is both declared with a shape and defined in the program")
            value = self.infer(a.value)
            if a.name in self.inputs:           # `z = tanh(W z)`, or z used on a line above
                raise ParseError(f"{a.name} is used before it is defined by `{a.name} = {a.value}`: "
                                 f"a program defines each name once, before its first use")
            self.defined[a.name] = value
            defs.append(a.name)
        result = self.infer(self.program.result)
        return self.finish(result, defs)

    def var(self, name: str) -> Expr:
        if name in self.defined:
            return self.defined[name]
        if name not in self.inputs:
            if name in self.declared:
                s, kind = as2(self.declared[name]), "declared"
            elif F.is_greek_lower(name) and self.greek_scalar:
                s, kind = (1, 1), "scalar"
            elif name[0].isupper():
                s, kind = (self.u.fresh(), self.u.fresh()), "matrix"
            else:
                s, kind = (self.u.fresh(), 1), "vector"
            self.inputs[name] = Var(name, s)
            self.kinds[name] = kind
        return self.inputs[name]

    def infer(self, root: Expr) -> Expr:
        """Bottom-up; every node gets a provisional shape, products of a scalar become Mul."""
        return transform(_flat_products(_each_identity_apart(root)), self.rule)

    def rule(self, e: Expr, kids: list) -> Expr:
        u = self.u
        u.context = e               # what a dimension bound to 1 here was bound by (for notes)
        if isinstance(e, Var):
            new = self.var(e.name)
            if new in self.shape:
                return new
            self.shape[new] = new.shape
            return new
        if isinstance(e, Identity):
            n = u.fresh()
            new = Identity(n)
            self.shape[new] = (n, n)
            return new
        if isinstance(e, Ones):
            r, c = (None if _placeholder(d) else d for d in (e.shape or (None, 1)))
            new = Ones((r if r is not None else u.fresh(), c if c is not None else u.fresh()))
            self.shape[new] = new.shape
            return new
        if isinstance(e, Transpose) and kids[0] == ONE:        # 1^T: a number is never transposed
            new = Ones((1, u.fresh()))
            self.shape[new] = new.shape
            return new
        if isinstance(e, Apply) and e.fn == Fn("mean"):       # sum(x) / (the number of entries of x)
            ones = Ones(self.shape[kids[0]])
            self.shape[ones] = ones.shape
            count = Sum(ones)
            self.shape[count] = (1, 1)
            inverse = HadamardPow(Fraction(-1), count)
            self.shape[inverse] = (1, 1)
            total = Sum(kids[0])
            self.shape[total] = (1, 1)
            new = Mul((total, inverse))
            self.shape[new] = (1, 1)
            return new
        if isinstance(e, MatMul):
            if e.written == "@":
                kids = self.numpy_row_on_the_left(kids)
            return self.product(self.ones_in_product(e, kids))
        if isinstance(e, HadamardPow) and e.written == "/" and isinstance(e.arg, Var):
            self.divisors.add(e.arg.name)
        if isinstance(e, Hadamard):
            # NumPy's `*` (written "*"): a scalar factor scales, as NumPy broadcasts it; `.*`
            # and `./` beside a number or a known scalar likewise (`1 ./ x`, MATLAB's and
            # matrixcalculus.org's `2.*x`, `alpha .* x` with alpha declared a scalar), as `1 - x`
            # broadcasts the number: the only reading that fits. A name whose shape is open, or
            # only guessed (a Greek letter is first tried as a scalar), keeps its shape from the
            # elementwise product (`θ ∘ x` makes θ a vector, as it did before).
            ones = [u.is_one(self.shape[k]) and (e.written == "*" or not any(
                isinstance(n, Var) and self.kinds.get(n.name) == "scalar" for n in postorder(k))) for k in kids]
            if any(ones) and (e.written == "*" or not all(ones)):
                factors = [k for k, one in zip(kids, ones) if not (one and k == ONE)] or [ONE]
                return self.product(factors) if len(factors) > 1 else factors[0]
            e = Hadamard(e.args)                              # else elementwise
            scaled = self.scalars_in_hadamard(kids)
            if scaled is not None:
                return scaled
        if isinstance(e, Add):
            kids = self.broadcast_numbers(kids)
            if self.broadcast:
                kids = self.broadcast_terms(kids)
        new = type(e)(tuple(kids)) if isinstance(e, (Add, Mul, Hadamard, Kron)) else \
            replace(e, args=tuple(kids)) if isinstance(e, Pow) else replace(e, arg=kids[0]) if kids else e
        if isinstance(new, DiagMat) and u.find(self.shape[kids[0]][1]) != 1:
            new = DiagOf(kids[0])     # diag of a matrix is its diagonal
        self.shape[new] = SHAPE_RULES[type(new)](new, [self.shape[k] for k in kids], u)
        return new

    def numpy_row_on_the_left(self, kids: list) -> list:
        """NumPy's `a @ b` with a vector a (a column here, NumPy's 1-D array): a is a row there,
        so `x @ y` is x^T y and `x @ A` is x^T A. A matrix (or a row) on the left is as written."""
        a = kids[0]
        rows, cols = self.shape[a]
        if self.u.find(cols) == 1 and self.u.find(rows) != 1:
            t = Transpose(a)
            self.shape[t] = (cols, rows)
            return [t, *kids[1:]]
        return kids

    def ones(self, written: Expr, bare: bool = True) -> Ones:
        """The ones vector a `1` stands for: a column whose size the expression fixes. A bare `1`
        in a product could also be the number: its size must be fixed (finish checks)."""
        new = Ones((self.u.fresh(), 1))
        self.shape[new] = new.shape
        if bare:
            self.ones_read[new] = " ".join(str(written).split())
        return new

    def ones_in_product(self, e: Expr, kids: list) -> list:
        """A `1` in a matrix product is the ones vector where a number would only scale: after
        a factor that is not 1x1 (`X 1`, `1^T X 1`), or before a row (`1 b^T`, `1 1^T`)."""
        if ONE not in kids:
            return kids
        is_one, find = self.u.is_one, self.u.find
        out = list(kids)
        for i, k in enumerate(kids):
            if k != ONE:
                continue
            after_matrix = i > 0 and not is_one(self.shape[out[i - 1]])
            before_row = i + 1 < len(kids) and not is_one(self.shape[kids[i + 1]]) \
                and find(self.shape[kids[i + 1]][0]) == 1
            if after_matrix or before_row:
                out[i] = self.ones(e)
        return out

    def broadcast_terms(self, kids: list) -> list:
        """NumPy's broadcasting in a sum: a scalar term beside a vector or matrix is that scalar
        in every entry (`x - alpha` is `x - alpha 1`), a row beside a matrix that row in every
        row (`X W + b^T` is `X W + 1 b^T`)."""
        is_one, find = self.u.is_one, self.u.find
        wide = [self.shape[k] for k in kids if not is_one(self.shape[k]) and not isinstance(k, Identity)]
        if not wide:            # `I + x^T x`: an I of a size nothing fixes is no reason to broadcast
            return kids
        tall = [s for s in wide if find(s[0]) != 1]
        out = []
        for k in kids:
            s = self.shape[k]
            if is_one(s):
                ones = Ones(wide[0])
                self.shape[ones] = wide[0]
                k = Mul((*(k.args if isinstance(k, Mul) else (k,)), ones))     # -alpha 1, not (-alpha) 1
                self.shape[k] = wide[0]
                self.broadcasts += 1
            elif tall and find(s[0]) == 1:
                ones = Ones((tall[0][0], 1))
                self.shape[ones] = ones.shape
                k = MatMul((ones, k))
                self.shape[k] = (tall[0][0], s[1])
                self.broadcasts += 1
            out.append(k)
        return out

    def product(self, kids: list) -> Expr:
        """Juxtaposition, left to right: a 1x1 factor scales, anything else chains."""
        acc, s = kids[0], self.shape[kids[0]]
        for b in kids[1:]:
            t = self.shape[b]
            if self.u.is_one(s) or self.u.is_one(t):
                new, shape = Mul((acc, b)), (t if self.u.is_one(s) else s)
            else:
                new = MatMul((acc, b))
                shape = shape_matmul(new, [s, t], self.u)
            self.shape[new] = shape
            acc, s = new, shape
        return acc

    def scalars_in_hadamard(self, kids: list):
        """`1 ./ x`, `2 .* X`, `x ./ 2`: a number times a vector or matrix entry by entry scales
        it, as in NumPy and MATLAB: a Mul, so that the other factor keeps its shape (without this,
        `sum(1 ./ x)` made x a scalar). None when no factor is a number. (A scalar variable is
        left alone: `alpha .* x` keeps the readings it had.)"""
        def fixed_scalar(k) -> bool:
            return self.u.is_one(self.shape[k]) and not any(isinstance(n, (Var, Identity, Ones, Zero))
                                                            for n in postorder(k))
        scalars = [k for k in kids if fixed_scalar(k)]
        rest = [k for k in kids if not fixed_scalar(k)]
        if not scalars or not rest:
            return None
        if len(rest) > 1:
            other = Hadamard(tuple(rest))
            self.shape[other] = SHAPE_RULES[Hadamard](other, [self.shape[k] for k in rest], self.u)
        else:
            other = rest[0]
        scalars = [k for k in scalars if k != ONE]            # `1 ./ x` is x .^ -1
        if not scalars:
            return other
        new = Mul((*scalars, other))
        self.shape[new] = self.shape[other]
        return new

    def broadcast_numbers(self, kids: list) -> list:
        """`1 - v`: a number added to a vector or matrix means that number in every entry."""
        wide = [self.shape[k] for k in kids if not self.u.is_one(self.shape[k])]
        if not wide:
            return kids
        out = []
        for k in kids:
            if isinstance(k, Const) or (isinstance(k, Mul) and all(isinstance(a, Const) for a in k.args)):
                ones = Ones(wide[0])
                self.shape[ones] = wide[0]
                k = Mul((k, ones))
                self.shape[k] = wide[0]
            out.append(k)
        return out

    def finish(self, result: Expr, defs: list) -> Shaped:
        """Name the free dimensions, give every Var its final shape, resolve what shapes decide."""
        u = self.u
        names = self.dim_names()
        def final(d):
            d = u.find(d)
            if isinstance(d, tuple):
                return prod(final(d[1]), final(d[2]))
            return names.get(d, d)

        def user_shape(name, v):
            r, c = (final(d) for d in v.shape)
            kind = self.kinds[name]
            if kind == "declared":
                return self.declared[name]
            if kind == "scalar" or (r == 1 and c == 1):
                return ()
            return (r,) if kind == "vector" or c == 1 and kind != "matrix" else (r, c)

        inputs = {n: user_shape(n, v) for n, v in self.inputs.items()}
        fixed = {d for v in self.inputs.values() for d in map(final, v.shape)} | \
            {d for s in self.declared.values() if s for d in s}
        free = {final(d) for o in self.ones_read for d in self.shape[o]} - fixed - {1}
        identities: list = []               # Readings of the I's that came out 1x1

        def rebuild(e: Expr, kids: list) -> Expr:
            if isinstance(e, Var):
                return Var(e.name, inputs[e.name], self.structure.get(e.name, ""))
            if isinstance(e, Identity):
                if final(e.n) == 1:         # a 1x1 identity is the number 1, and prints so, never as I
                    identities.append(Reading("I", (), self.context_of(e.n)))
                    return ONE
                return Identity(final(e.n))
            if isinstance(e, Ones):
                shape = tuple(final(d) for d in self.shape[e])
                if e in self.ones_read and any(d in free for d in shape):
                    raise self.free_ones(e, shape)
                return ONE if shape == (1, 1) else Ones(shape)
            if isinstance(e, Zero):
                return replace(e, shape=tuple(final(d) for d in self.shape[e]))
            if isinstance(e, Unvec):        # its sizes as inference fixed them (a claim's open sizes)
                return replace(e, rows=final(e.rows), cols=final(e.cols), arg=kids[0])
            if isinstance(e, MatMul):       # a 1x1 identity (now 1) in a product multiplies by 1
                kids = [k for k in kids if k != ONE] or [ONE]
                if len(kids) == 1:
                    return kids[0]
            new = type(e)(tuple(kids)) if isinstance(e, (Add, Mul, MatMul, Hadamard, Kron)) else \
                replace(e, args=tuple(kids)) if isinstance(e, Pow) else replace(e, arg=kids[0]) if kids else e
            return resolve(new)

        memo: dict = {}
        out_defs = [(n, transform(self.defined[n], rebuild, memo)) for n in defs]
        out = transform(result, rebuild, memo)
        shape_of(out)  # every node's final shape, checked once more
        readings = self.degenerate(inputs, [out, *(e for _, e in out_defs)]) + identities
        self.no_division_made_degenerate(inputs, [out, *(e for _, e in out_defs)])
        readings = list(dict.fromkeys(readings))            # each once, in order
        structure = {n: s for n, s in self.structure.items() if n in inputs}
        return Shaped(out, out_defs, inputs, self.program.name, dict(self.declared), readings,
                      structure=structure, broadcasts=self.broadcasts, divisors=frozenset(self.divisors))

    def no_division_made_degenerate(self, inputs: dict, roots: list) -> None:
        """`x^T A x / x^T x` reads ((x^T A x) / x^T) x, and makes x^T a scalar only by making x
        1x1: where a `/` made degenerate a name that acts as a vector or matrix (what would
        otherwise be a note, see `degenerate`), the divisor is no scalar: the grouping is
        wrong, and that is refused at the `/`. A free name (`sum(x) / n`) becomes the scalar."""
        matrix_role = self.in_matrix_role(roots)
        for name, shape in inputs.items():
            kind, v = self.kinds[name], self.inputs[name]
            if not (kind == "matrix" and (shape == () or 1 in shape) or
                    kind == "vector" and shape == () and not F.is_greek_lower(name) and name in matrix_role):
                continue
            for d in v.shape:
                why = self.u.why_one(d)
                if isinstance(why, HadamardPow) and why.written == "/":
                    scalar = f" (if {name} is a number, declare it one: --shape {name}= or shapes={{{name!r}: ()}})" \
                        if why.arg == Var(name) else ""
                    raise division_error(why, f"{why.at[4] if why.at else why.arg} is 1×1 only if {name} is, "
                                              f"and {name} is a {kind} here{scalar}")
                if isinstance(why, Transpose) and why.written == "dot" and kind == "matrix":
                    raise dot_error(why, f"{name} is a matrix")

    def free_ones(self, e: Ones, shape) -> ShapeError:
        """A bare `1` read as the ones vector whose size nothing in the expression fixes: as the
        number it would mean something else, so both readings are shown."""
        return ShapeError(f"`{self.ones_read[e]}` could be the number 1 or the ones vector of a size "
                          f"nothing in the expression fixes; "
                          f"as the number 1 it can be left out; the ones vector needs its size, "
                          f"as in 1_n or ones(n)")

    def context_of(self, d) -> str:
        """The text of the expression that made dimension d equal 1 (short), or ''."""
        e = self.u.why_one(d)
        if e is None:
            return ""
        text = " ".join(str(e).split())
        return text if len(text) <= 60 else text[:57] + "..."

    def degenerate(self, inputs: dict, roots: list) -> list:
        """The readings the user most likely did not mean: an undeclared upper-case name made a
        single row, column or 1x1, and an undeclared Latin lower-case name made 1x1 where it acts
        as a vector or matrix (transposed, in a matrix product with a non-scalar, softmax(x)...).
        A lower-case scalar that is only added or scaled (`a^T x + b`) is an ordinary scalar, and
        Greek names and declared shapes are what the user chose."""
        out = []
        matrix_role = self.in_matrix_role(roots)
        for name, shape in inputs.items():
            kind, v = self.kinds[name], self.inputs[name]
            if kind == "matrix" and (shape == () or 1 in shape):
                dim = v.shape[0] if shape == () or shape[0] == 1 else v.shape[1]
            elif kind == "vector" and shape == () and not F.is_greek_lower(name) and name in matrix_role:
                dim = v.shape[0]
            else:
                continue
            self.refuse_numpy_star(name, dim)
            out.append(Reading(name, shape, self.context_of(dim)))
        return out

    def refuse_numpy_star(self, name: str, dim) -> None:
        """`x.T*A*x`: in an input with a NumPy marker `*` is NumPy's elementwise product, and it
        fits here only by making a vector or matrix 1x1, which no one means: SymPy's and
        matrixcalculus.org's users mean the matrix product, NumPy's a broadcast matdiff does not
        do. Refused, showing both, rather than answered for a scalar."""
        e = self.u.why_one(dim)
        if isinstance(e, Hadamard) and e.written == "*":
            text = " ".join(str(e).split())
            raise ShapeError(
                f"`{text}`: in this NumPy input `*` is NumPy's elementwise product, which fits only if {name} "
                f"is a scalar (1×1); for the matrix product (as SymPy and matrixcalculus.org read `*`) write "
                f"`@` ({text.replace(' ∘ ', ' @ ').replace('^T', '.T')}); for the elementwise product of "
                f"equal shapes declare them (--shape, shapes=)")

    @staticmethod
    def in_matrix_role(roots: list) -> set:
        """Names of 1x1 Vars that are transposed, multiplied as a matrix by something that is not
        1x1, or given to a function of vectors or matrices."""
        seen: set = set()
        for root in roots:                  # the steps share nodes: walk each once
            seen.update(postorder(root, done=seen))
        def matrix_role(e) -> bool:
            return isinstance(e, (Transpose, Softmax, LogSumExp, BatchSoftmax, BatchLogSumExp, LogSoftmax, DiagMat, DiagOf, Vec, Kron)) or \
                isinstance(e, MatMul) and any(shape_of(k) != (1, 1) for k in e.args)
        return {k.name for e in seen if matrix_role(e)
                for k in children(e) if isinstance(k, Var) and k.shape == ()}

    def dim_names(self) -> dict:
        """Free dimensions get n, m, k, ... in order of first appearance, avoiding taken names."""
        taken = {d for s in self.declared.values() if s for d in s if isinstance(d, str)}
        taken |= set(self.inputs) | set(self.defined)
        taken |= {d for e in self.shape if isinstance(e, Ones) for d in e.shape
                  if isinstance(d, str) and not d.startswith(FRESH)}          # 1_n names its n
        pool = [n for n in DIM_NAMES if n not in taken] + \
               [f"n{i}" for i in range(1, 1000) if f"n{i}" not in taken]
        names: dict = {}
        def visit(d):
            d = self.u.find(d)
            if isinstance(d, tuple):
                visit(d[1]), visit(d[2])
            elif isinstance(d, str) and d.startswith(FRESH) and d not in names:
                names[d] = pool[len(names)]
        for v in self.inputs.values():
            for d in v.shape:
                visit(d)
        for node, s in self.shape.items():
            for d in s:
                visit(d)
        return names


def resolve(e: Expr) -> Expr:
    """What only shapes decide: a power of a scalar is a scalar power; the inverse of a
    scalar is 1/x; A^k for integer k is a matrix power; diag of a matrix is its diagonal."""
    if isinstance(e, MatPow):
        if is_scalar(e.arg):
            return HadamardPow(e.k, e.arg)
        if e.k.denominator != 1:
            raise ShapeError(f"{e}: a matrix power needs an integer exponent, got {e.k}")
        check_power(e.k)
        if e.k == 0:
            return Identity(shape_of(e.arg)[0])
        if e.k < 0:
            return MatPow(-e.k, Inverse(e.arg)) if e.k != -1 else Inverse(e.arg)
        if e.k == 1:
            return e.arg
    if isinstance(e, Inverse) and is_scalar(e.arg):
        return HadamardPow(Fraction(-1), e.arg)
    if isinstance(e, DiagMat) and shape_of(e.arg)[1] != 1:
        return DiagOf(e.arg)
    if isinstance(e, Norm) and e.written:
        return _vector_norm(e)
    if isinstance(e, Det) and e.at:            # |a| from LaTeX: det of a matrix, else the absolute value
        square = shape_of(e) == (1, 1) and not is_scalar(e.arg)
        return Det(e.arg) if square else Apply(Fn("abs"), e.arg)
    if isinstance(e, Apply) and e.fn == Fn("log") and isinstance(e.arg, Det):
        return LogDet(e.arg.arg)                # log |X| from LaTeX, X a matrix: as parse reads log(det(X))
    if isinstance(e, Pow) and e.written:
        return Pow(e.args)          # `a^b` was checked to be of scalars (shapes.shape_pow)
    if isinstance(e, HadamardPow) and e.written:
        return HadamardPow(e.k, e.arg)      # `a / b`: b was made a scalar (shapes.shape_hadamard_pow)
    if isinstance(e, Transpose) and e.written:
        return Transpose(e.arg)             # dot(x, y): x was made a vector (shapes.shape_transpose)
    return e


def _vector_norm(e: Norm) -> Norm:
    """`||x||_2` and `||x||` are the Euclidean norm of a vector (a row, a column or 1x1: the
    same number as Frobenius). Of a matrix, `||X||_2` is the spectral norm (the largest
    singular value) and bare bars could mean it too: matdiff computes neither, so it refuses
    rather than answer the Frobenius norm in their place."""
    r, c = shape_of(e.arg)
    if e.written == "1":
        return _one_norm(e, r, c)
    if r == 1 or c == 1:
        return Norm(e.arg)
    line, column, source_line, text = e.at or (None, None, "", str(e))
    where = f"line {line}, column {column}: " if line else ""
    inner = text.removesuffix("_2").strip("|‖ ") or str(e.arg)
    what = "is its spectral norm (the largest singular value)" if e.written == "2" else \
        "could mean the spectral norm or the Frobenius norm"
    caret_block = f"\n{source_line}" if source_line else ""
    raise ShapeError(f"{where}{text} of a matrix ({inner} is {shape_text((r, c))}) {what}; matdiff does not "
                     f"support the spectral norm: for the Frobenius norm write ||{inner}||_F{caret_block}")


def _one_norm(e: Norm, r, c) -> Expr:
    """`||x||_1` of a vector is sum(abs(x)). Of a matrix it could mean the induced 1-norm (the
    largest column sum of |X|, which matdiff does not compute) or the entrywise one: refused,
    with both readings and the spelling of the entrywise one."""
    if r == 1 or c == 1:
        return Sum(Apply(Fn("abs"), e.arg))
    line, column, source_line, text = e.at or (None, None, "", str(e))
    where = f"line {line}, column {column}: " if line else ""
    inner = text.removesuffix("_1").strip("|‖ ") or str(e.arg)
    caret_block = f"\n{source_line}" if source_line else ""
    entry = inner if inner.isidentifier() else f"({inner})"
    raise ShapeError(f"{where}{text} of a matrix ({inner} is {shape_text((r, c))}) could mean the induced "
                     f"1-norm (the largest column sum of |{inner}|, which matdiff does not compute) or the "
                     f"entrywise 1-norm (the sum of all |{entry}_ij|): for the entrywise one write "
                     f"norm1({inner}) or sum(abs({inner})){caret_block}")
