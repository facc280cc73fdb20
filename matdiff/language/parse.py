"""Text -> Program of Exprs, exactly as written (no simplification, no shapes).

The grammar is data (grammar/matdiff.lark); ToExpr has one small method per alias.
Whether `Phi(z)` is an application or `W (x)` a product, and so whether `'` is a
derivative or a transpose, is decided here, in one place (`_retype`), from the set of
function names: a NAME token that names a function becomes a FUNC token before the
parser sees it.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from matdiff.language import functions as F
from matdiff.errors import LimitError, MatdiffError, ParseError, UnknownFunctionError, caret
from matdiff.limits import MAX_DIGITS, budgeted, check_depth, check_text, tick
from matdiff.language.dims import prod
from matdiff.language.expr import (
    MINUS_ONE, ONE, Add, Apply, Assign, Const, Det, Expr, Fn, Hadamard, HadamardPow, Identity,
    Inverse, Kron, LogDet, LogSoftmax, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Pow, Program, Softmax, Trace, Transpose, Unvec, Var,
)


def _grammar_path(name: str):
    """The grammar and its parse tables ship inside the wheel (matdiff/grammar/); a source
    checkout or an editable install reads them from the top-level grammar/ folder."""
    bundled = resources.files("matdiff").joinpath("grammar", name)
    if bundled.is_file():
        return bundled
    return Path(__file__).resolve().parents[2] / "grammar" / name


# The parse tables, built from the grammar once (scripts/make_parse_tables.py) and shipped as
# JSON beside it, so that start-up skips building them (~60 ms). JSON and never pickle: a
# file is only ever read as data, and nothing is written outside the package (the user cache
# directory an earlier version used, $MATDIFF_CACHE_DIR, was a pickle anyone with write access
# to it could use to run code on `import matdiff`).
TABLES_FILE = "matdiff.tables.json"
_OPTIONS = dict(parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=False)


def grammar_hash(grammar: str) -> str:
    """What the tables were built from: the grammar and the options."""
    return hashlib.sha256((grammar + repr(sorted(_OPTIONS.items()))).encode("utf-8")).hexdigest()


def _to_json(data):
    """lark's serialized parser -> JSON data. Its dicts keyed by int (states, tokens, the memo)
    become {"__int_keys__": {...}}; tuples become lists (lark unpacks them either way)."""
    if isinstance(data, dict):
        if data and all(isinstance(k, int) for k in data):
            return {"__int_keys__": {str(k): _to_json(v) for k, v in data.items()}}
        return {k: _to_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_to_json(v) for v in data]
    return data


def _from_json_object(obj: dict):
    inner = obj.get("__int_keys__")
    if len(obj) == 1 and isinstance(inner, dict):
        return {int(k): v for k, v in inner.items()}
    return obj


def parse_tables(grammar: str) -> dict:
    """The JSON data of the parser built from `grammar` (what scripts/make_parse_tables.py writes)."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef
    data, memo = Lark(grammar, **_OPTIONS).memo_serialize([TerminalDef, Rule])
    return {"grammar_sha256": grammar_hash(grammar), "lark": lark.__version__,
            "data": _to_json(data), "memo": _to_json(memo)}


def _load_parser(grammar: str) -> Lark:
    """The parser from the shipped tables when they were built from this very grammar (and
    lark); otherwise (missing, stale, unreadable) built from the grammar, as correct and slower."""
    try:
        tables = json.loads(_grammar_path(TABLES_FILE).read_text(encoding="utf-8"),
                            object_hook=_from_json_object)
        # lark's serialized form is its own: tables written by another lark are rebuilt, not trusted.
        if tables.get("grammar_sha256") == grammar_hash(grammar) and tables.get("lark") == lark.__version__:
            # A dict, not a file: lark's load rebuilds the parser from plain data (no pickle).
            return Lark.load({"data": tables["data"], "memo": tables["memo"]})
    except Exception:       # any fault in the tables: they are an optimisation, never required
        pass
    return Lark(grammar, **_OPTIONS)


_GRAMMAR = _grammar_path("matdiff.lark").read_text(encoding="utf-8")
_PARSER = _load_parser(_GRAMMAR)

# How an expected terminal reads in an error message.
_FRIENDLY = {"NAME": "a name", "FUNC": "a function", "NUMBER": "a number", "ONES": "a number", "TRANSPOSE": "^T", "INV_TRANSPOSE": "^-T", "POWER": "^k",
             "HPOWER": ".^k", "CARET": "^", "HCARET": ".^", "_SEP": "a new line", "$END": "the end of the input",
             "NORM_SUFFIX": "_F", "_HADAMARD": "∘", "_KRON": "⊗", "STARPOWER": "**k", "NPNAME": "a function"}


# What a character that starts no token most likely meant.
_LEX_HINTS = (
    (".^", "'.^' needs a number, a name or an exponent in parentheses after it, such as A .^ 2, "
           "A .^ {1/2}, x .^ p or x .^ (-p)"),
    ("^", "'^' needs T, -1, a number, a name or an exponent in parentheses after it, such as A^T, A^-1, "
          "A^2, A^{1/2}, a^b or a^(-b)"),
    ("|", "a single '|': a norm is written ||x|| or ‖x‖"),
)


def _terminal_text(name: str) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    try:
        pattern = _PARSER.get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type != "str":
        return name
    return repr(pattern.value.replace("|\ue000", "||").replace("\ue000", "‖"))


@dataclass(frozen=True)
class _Callee:
    """A function name on its way to being applied: Phi, Phi', tr, ..."""
    fn: Fn
    pos: int


def _number(text: str) -> Fraction:
    return Fraction(text.strip().strip("{}").replace(" ", ""))


def _number_value(x) -> Fraction | None:
    """The number a constant expression is (2, -2, (-1) 2), else None."""
    if isinstance(x, Const):
        return x.value
    if isinstance(x, Mul) and all(isinstance(a, Const) for a in x.args):
        k = Fraction(1)
        for a in x.args:
            k *= a.value
        return k
    return None


def _base_text(x) -> str:
    text = str(x)
    return text if isinstance(x, (Var, Const)) and not text.startswith("-") else f"({text})"


def _exponent_text(b) -> str:
    return str(b) if isinstance(b, Var) else f"({b})"


def _enclosed(text: str) -> bool:
    """Whether text is one parenthesised group: `(a^b)`, not `(a)^(b)`."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _power_exponent(tok: str) -> Fraction:
    return _number(tok.lstrip(".").lstrip("^").lstrip("*"))


@v_args(inline=True)
class ToExpr(Transformer):
    """Parse tree -> Expr. One method per grammar alias."""

    def __init__(self, src: str, functions: frozenset[str], extents: dict | None = None, numpy: bool = False, bars=None):
        super().__init__()
        self.src = src
        self.functions = functions
        self.numpy = numpy              # the input has a NumPy marker: `*` is NumPy's (see star)
        self.extents = extents or {}    # id(meta) of a division -> where the product it heads ends
        self.bars = bars or {}      # LaTeX input: the `det` of each |X| (latex_input.py) -> where it stands

    # -- leaves
    def name(self, tok: Token):
        name = F.canonical_name(str(tok))
        return Identity() if name == "I" else Var(name)

    def function(self, tok: Token):
        return _Callee(Fn(F.canonical_function(F.canonical_name(str(tok)))), tok.start_pos)

    def derivative(self, f: _Callee):
        return _Callee(f.fn.derivative(), f.pos)          # Phi'

    def const(self, tok):
        self._check_digits(tok)
        return Const(_number(tok))

    def _check_digits(self, tok):
        """A number of thousands of digits: refused where it is written, before Python's
        int-from-text conversion (4,300 digits at most) or a Const (MAX_DIGITS) refuses it."""
        digits = sum(c.isdigit() for c in tok)
        if digits > MAX_DIGITS:         # a LimitError, as for a number folded past the bound; located
            raise LimitError(str(self._error(f"a number of {digits:,} digits: matdiff's numbers have "
                                             f"at most {MAX_DIGITS} digits", tok.start_pos)))

    # -- postfix
    def inverse_transpose(self, x, _tok):              # A^-T
        return Transpose(Inverse(self._value(x)))

    def transpose(self, x, _tok=None):                   # A^T, Aᵀ, A'
        return Transpose(self._value(x))

    @v_args(inline=True, meta=True)
    def power(self, meta, x, tok):
        k = self._exponent(tok)
        x = self._value(x)
        self._not_stacked(x, meta, tok, variable=False)
        return Inverse(x) if k == -1 else MatPow(k, x)

    @v_args(inline=True, meta=True)
    def hadamard_power(self, meta, x, tok):
        x = self._value(x)
        k = self._exponent(tok)
        self._not_stacked(x, meta, tok, variable=False)
        return HadamardPow(k, x)

    @v_args(inline=True, meta=True)
    def variable_power(self, meta, x, tok, b):          # a^b: inference checks a and b are scalars
        return self._variable_power(meta, x, tok, b, "^")

    @v_args(inline=True, meta=True)
    def variable_hadamard_power(self, meta, x, tok, b):  # x .^ y, x .^ p, 2 .^ x
        return self._variable_power(meta, x, tok, b, ".^")

    def _variable_power(self, meta, x, tok, b, op):
        x, b = self._value(x), self._value(b)
        if isinstance(b, Var) and op == "^" and b.name[:1] == "T" and len(b.name) > 1 \
                and self.src[tok.end_pos:tok.end_pos + 1] == "T":
            raise self._error(f"`{self.src[meta.start_pos:meta.end_pos].strip()}` could mean {_base_text(x)}^T "
                              f"{b.name[1:]} (transposed, times {b.name[1:]}) or {_base_text(x)}^({b.name}) "
                              f"(a power with exponent {b.name}); write a space or parentheses", tok.start_pos)
        self._not_stacked(x, meta, tok, variable=True)
        if x == Var("e") and self.src[meta.start_pos:tok.start_pos].strip() == "e":
            spaced = op if op == "^" else " .^ "
            raise self._error(f"`{self.src[meta.start_pos:meta.end_pos].strip()}` could mean exp({b}) (e, Euler's number) "
                              f"or a power of a variable named e; write exp({b}) for the first, (e){spaced}{_exponent_text(b)} "
                              f"for the second", meta.start_pos)
        if isinstance(b, Const):                        # a^(2): a number exponent, as a^2 reads
            return (Inverse(x) if b.value == -1 else MatPow(b.value, x)) if op == "^" else HadamardPow(b.value, x)
        k = _number_value(x)
        if k is not None and k <= 0:
            raise self._error(f"`{self.src[meta.start_pos:meta.end_pos].strip()}`: a power with a variable exponent needs a positive "
                              f"base (it is exp(exponent log(base))), got {_base_text(x)}", tok.start_pos)
        return Pow((x, b), op)

    def _not_stacked(self, x, meta, tok, variable: bool):
        """`a^b^c` reads as (a^b)^c or as a^(b^c), and mathematicians write the second: a power
        of a power where either exponent is variable is refused unless parentheses say which."""
        powers = (Pow, MatPow, HadamardPow, Inverse)
        if not (isinstance(x, Pow) or variable and isinstance(x, powers)):
            return
        base = self.src[meta.start_pos:tok.start_pos].strip()
        if _enclosed(base):
            return
        op = str(tok).strip()
        exponent = self.src[tok.end_pos:meta.end_pos].strip()
        if not variable:                        # POWER / HPOWER: the token holds its exponent
            op, exponent = (".^", op[2:].strip()) if op.startswith((".", "**")) else ("^", op[1:].strip())
        i = max(base.rfind("^"), 0)
        head, inner = (base[:i - 1], " .^ ") if base[i - 1:i] == "." else (base[:i], "^")
        tail = base[i + 1:].strip()
        op = " .^ " if op == ".^" else op
        whole = self.src[meta.start_pos:meta.end_pos].strip()
        raise self._error(f"`{whole}` could mean ({base}){op}{exponent} or {head.strip()}{inner}({tail}{op}{exponent}); "
                          f"write the parentheses", tok.start_pos)

    def _exponent(self, tok) -> Fraction:
        self._check_digits(tok)
        try:
            return _power_exponent(tok)
        except ZeroDivisionError:
            raise self._error("the exponent divides by zero", tok.start_pos) from None

    def call(self, f: _Callee, *args):
        return self._apply(f, [self._value(a) for a in args])

    # -- products and sums
    def matmul(self, a, *b):                             # W x, A * B, A @ B (b: the token, the factor)
        return MatMul((self._value(a), self._value(b[-1])))

    @v_args(inline=True, meta=True)
    def div(self, meta, a, slash, b):
        """`a / b` divides by a scalar b: b is marked (HadamardPow.written "/") and inference
        makes it 1x1 or refuses at the `/`, showing the grouping that was probably meant."""
        a, b = self._value(a), self._value(b)
        if isinstance(b, Const) and b.value == 0:
            raise self._error("division by zero", meta.end_pos - 1)
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(a.value / b.value)               # 1/2 is a number
        if isinstance(b, Const):
            return Mul((a, HadamardPow(Fraction(-1), b)))  # a number is a scalar: nothing to check
        line, column, shown = _where(self.src, slash.start_pos)
        rest = self.src[meta.end_pos:self.extents.get(id(meta), meta.end_pos)]
        if self.src[meta.end_pos:].lstrip().startswith(")"):
            rest = ""                                     # (a / b) c: the grouping was written
        at = (line, column, shown, " ".join(self.src[meta.start_pos:slash.start_pos].split()),
              " ".join(self.src[slash.end_pos:meta.end_pos].split()), " ".join(rest.split()))
        return Mul((a, HadamardPow(Fraction(-1), b, "/", at=at)))

    def at(self, a, _tok, b):
        """NumPy's `a @ b`: the matrix product, a vector on the left a row (inference decides)."""
        return MatMul((self._value(a), self._value(b)), "@")

    def star(self, a, b):
        """`*`: matrixcalculus.org's (and matdiff's) matrix product; in an input written in NumPy
        (`@`, `.T`, `**`, `.dot`, `np.`), NumPy's: elementwise, or scaling where a factor is
        a scalar, which inference decides from the shapes (Hadamard written "*")."""
        if self.numpy:
            return Hadamard((self._value(a), self._value(b)), "*")
        return self.matmul(a, b)

    def frobenius(self, a, b):
        """A : X = tr(A^T X), the Frobenius inner product."""
        return Trace(MatMul((Transpose(self._value(a)), self._value(b))))

    def inner(self, a, b):                              # <A, X>, ⟨A, X⟩
        return self.frobenius(a, b)

    @v_args(inline=True, meta=True)
    def dot(self, meta, x, tok, y):
        """NumPy's x.dot(y), np.dot(x, y): the inner product x^T y of two vectors (x's transpose
        marked "dot": inference refuses a matrix x, whose dot is the matrix product x @ y)."""
        return self._dot(self._value(x), self._value(y), tok.start_pos)

    def _dot(self, x, y, pos):
        return MatMul((Transpose(x, "dot", at=_where(self.src, pos)), y))

    def hadamard(self, a, b):
        return Hadamard((self._value(a), self._value(b)))

    def hadamard_div(self, a, b):
        return Hadamard((self._value(a), HadamardPow(Fraction(-1), self._value(b))))

    def kron(self, a, b):
        return Kron((self._value(a), self._value(b)))

    def add(self, a, b):
        return Add((self._value(a), self._value(b)))

    def sub(self, a, b):
        return Add((self._value(a), Mul((MINUS_ONE, self._value(b)))))

    def neg(self, a):
        return Mul((MINUS_ONE, self._value(a)))

    @v_args(inline=True, meta=True)
    def norm(self, meta, x, *suffix):
        """`||X||_F` is the Frobenius norm whatever X is. `||x||_2` and `||x||` are a vector's
        Euclidean norm, but of a matrix the spectral norm (or either); `||x||_1` is a vector's
        1-norm, but of a matrix the induced 1-norm or the entrywise one: inference checks the
        shape and refuses those, so `at` keeps where they stand and how they were written."""
        if suffix and str(suffix[0]) == "_F":
            return Norm(self._value(x))
        line = self.src.count("\n", 0, meta.start_pos) + 1
        column = meta.start_pos - (self.src.rfind("\n", 0, meta.start_pos) + 1) + 1
        at = (line, column, caret(self.src, line, column), self.src[meta.start_pos:meta.end_pos])
        return Norm(self._value(x), str(suffix[0])[1:] if suffix else "bars", at=at)

    # -- program
    def assign(self, tok, value):
        name = F.canonical_name(str(tok))
        if name in self.functions or name == "I":
            what = "the identity matrix" if name == "I" else "a function"
            raise self._error(f"cannot assign to {name}: it names {what}; choose another name", tok.start_pos)
        return Assign(name, self._value(value))

    def start(self, *lines):
        *defs, last = lines                     # parse() has checked that every def is an Assign
        if isinstance(last, Assign):
            return Program(tuple(defs), last.value, last.name)
        return Program(tuple(defs), self._value(last))

    # -- helpers
    def _value(self, x) -> Expr:
        if isinstance(x, _Callee):
            raise self._error(f"the function {_show(x.fn)} is used without an argument", x.pos)
        return x

    def _apply(self, f: _Callee, args: list) -> Expr:
        name = f.fn.name
        if name in NUMPY_PAIRS and not f.fn.order:
            if len(args) != 2:
                raise self._error(f"np.{name} takes 2 arguments, got {len(args)}", f.pos)
            x, y = args
            return self._dot(x, y, f.pos) if name == "dot" else \
                MatMul((x, Transpose(y))) if name == "outer" else MatMul((x, y))
        if name in F.CONSTRUCTORS and not f.fn.order:
            return self._construct(name, args, f.pos)
        if name in F.BATCH and len(args) == 2 and not f.fn.order:
            return self._batch(f, args)
        node, arity = F.STRUCTURAL.get(name, (None, 1))
        if name in F.CONSTRUCTORS:                       # unvec'(v, n, m): a derivative, not an arity, is wrong
            arity = len(args)
        if len(args) != arity:
            raise self._error(f"{name} takes {arity} argument{'s' * (arity > 1)}, got {len(args)}", f.pos)
        if f.fn.order and name not in F.ELEMENTWISE and name not in self.functions - F.BUILTIN:
            raise self._error(f"{name}' : only elementwise functions have a derivative here", f.pos)
        x = args[0]
        if node is Det and f.pos in self.bars:           # |X| in LaTeX: det or abs, once shapes are known
            return Det(x, at=self.bars[f.pos])
        if node in (Softmax, LogSumExp):                  # located, for the message refusing a matrix
            return node(x, at=_where(self.src, f.pos))
        if node is LogSoftmax:                            # logsoftmax(z): of a vector
            return LogSoftmax("vector", x, at=_where(self.src, f.pos))
        if node is not None:
            return node(x) if arity == 1 else node(tuple(args))      # Trace(x), Kron((x, y))
        if name in F.SPELLED and f.fn.order == 0:
            return F.SPELLED[name](x)                    # norm1(x) is sum(abs(x))
        if name == "log" and isinstance(x, Det) and not x.at and f.fn.order == 0:
            return LogDet(x.arg)                         # log(det(A)) is logdet(A)
        return Apply(f.fn, x)

    def _construct(self, name: str, args: list, pos: int) -> Expr:
        """ones(n), ones(n, m), vector(1), matrix(1): the ones vector or matrix; mean(x), which
        inference writes as sum(x) over the number of entries once x's shape is known."""
        if name == "ones" and len(args) in (1, 2):
            dims = [self._dim(a, pos) for a in args]
            return Ones((dims[0], dims[1] if len(dims) == 2 else 1))
        if name in ("vector", "matrix") and args == [ONE]:
            return Ones((None, 1 if name == "vector" else None))
        if name == "mean" and len(args) == 1:
            return Apply(Fn("mean"), args[0])
        if name == "unvec" and len(args) == 3:           # unvec(v, n, m): inference checks v has n·m entries
            rows, cols = (self._dim(a, pos, "unvec(v, rows, cols): rows and cols are", product=True)
                          for a in args[1:])
            return Unvec(rows, cols, args[0])
        raise self._error(f"{F.CONSTRUCTORS[name]}; got {name}({', '.join(map(str, args))})", pos)

    def _dim(self, a: Expr, pos: int, what: str = "ones(n): the size n is", product: bool = False):
        """A size written in ones(n) or unvec(v, n, m): a name or a positive whole number; in
        unvec also a product of them (`n m`, `n*m`: how the text printer writes a product of
        dimensions, which a Kronecker factor's shape can be)."""
        if isinstance(a, Var):
            return a.name
        if isinstance(a, Const) and a.value.denominator == 1 and 1 <= a.value <= 10 ** 9:
            return int(a.value)
        if product and isinstance(a, MatMul) and len(a.args) >= 2:
            out = 1
            for f in a.args:
                out = prod(out, self._dim(f, pos, what, product=True))
            return out
        raise self._error(f"{what} a name or a positive whole number, got {a}", pos)

    def ones(self, tok):
        """1_n (its size named), 1_{3}, 𝟙 and 𝟙_n: the ones vector; a bare 𝟙 has its size inferred."""
        size = str(tok).partition("_")[2].strip("{}")
        if not size:
            return Ones((None, 1))
        if size.isdigit():
            self._check_digits(tok)
            if not 1 <= int(size) <= 10 ** 9:
                raise self._error(f"the ones vector {tok}: its size is a positive whole number", tok.start_pos)
            return Ones((int(size), 1))
        return Ones((size, 1))

    def _batch(self, f: _Callee, args: list) -> Expr:
        """softmax(Z, rows), logsumexp(Z, cols): the second argument is the word rows or cols,
        which says along which the function runs; anything else is refused where it stands."""
        name, (x, axis) = f.fn.name, args
        word = axis.name if isinstance(axis, Var) else None
        if word not in F.AXES:
            raise self._error(f"{name}(Z, ...) takes rows or cols as its second argument "
                              f"({name}(Z, rows) of each row, {name}(Z, cols) of each column), got {axis}", f.pos)
        return F.BATCH[name](F.AXES[word], x, at=_where(self.src, f.pos))

    def _error(self, message: str, pos: int, cls=ParseError) -> ParseError:
        return _error_at(self.src, message, pos, cls)


def _where(src: str, pos: int) -> tuple:
    """(line, column, the source line with its caret) of a position."""
    line = src.count("\n", 0, pos) + 1
    column = pos - (src.rfind("\n", 0, pos) + 1) + 1
    return line, column, caret(src, line, column)


def _error_at(src: str, message: str, pos: int, cls=ParseError) -> ParseError:
    line = src.count("\n", 0, pos) + 1
    column = pos - (src.rfind("\n", 0, pos) + 1) + 1
    return cls(f"line {line}, column {column}: {message}\n{caret(src, line, column)}", line, column)


# NumPy's words (after np., numpy., jnp., torch., and .linalg.), as matdiff's: np.trace is tr,
# np.linalg.norm is norm (the 2-norm of a vector, the Frobenius norm of a matrix, as NumPy's
# default); np.log, np.exp, np.tanh... are the elementwise functions of the same name.
NUMPY_NAMES = {"trace": "tr", "inv": "inv", "det": "det", "norm": "norm", "sum": "sum", "diag": "diag",
               "kron": "kron", "ones": "ones", "mean": "mean", "dot": "dot", "outer": "outer",
               "matmul": "matmul", "logsumexp": "logsumexp", "softmax": "softmax"}
# Words of two arguments that are products: np.dot(x, y) = x^T y of vectors (a matrix x is
# refused: its dot is x @ y), np.outer(a, b) = a b^T, np.matmul(A, B) = A B. `dot` is a word
# without the prefix too, as the users write it.
NUMPY_PAIRS = frozenset({"dot", "outer", "matmul"})
_NUMPY_PREFIX = re.compile(r"(np|numpy|jnp|torch)\.(linalg\.)?")
# Tokens that mark an input as NumPy code: there `*` is NumPy's elementwise product.
_NUMPY_MARKS = {"NPNAME", "AT", "STARPOWER", "STARSTAR", "DOTMETHOD"}


def _is_numpy(tokens: list) -> bool:
    return any(t.type in _NUMPY_MARKS or t.type == "TRANSPOSE" and t.value == ".T" for t in tokens)


def _numpy_name(tok: Token, src: str) -> Token:
    """np.trace -> the FUNC tr; a NumPy word matdiff does not read is refused where it stands."""
    word = _NUMPY_PREFIX.sub("", str(tok), count=1)
    name = NUMPY_NAMES.get(word) or (F.canonical_function(word) if word in F.ELEMENTWISE or
                                     F.canonical_function(word) in F.ELEMENTWISE else None)
    if name is None:
        raise _error_at(src, f"{tok}: matdiff reads NumPy's {', '.join(sorted(NUMPY_NAMES))} and its "
                             f"elementwise functions (np.log, np.exp, np.tanh, ...), not {word}", tok.start_pos)
    return Token.new_borrow_pos("FUNC", name, tok)


def _retype(tokens: list, src: str, functions: frozenset) -> list:
    """The one place that tells a function from a variable: a NAME that names a function
    becomes a FUNC token, so `Phi (z)` applies and `W (x)` multiplies.

    `tanhh(x)`: a name written against `(` that is no function we know of but looks like
    one is an error with suggestions, not a silent product."""
    out = []
    for tok, nxt in zip(tokens, tokens[1:] + [None]):
        if tok.type == "NAME" and tok.startswith("\\") and tok[1:].split("_")[0] not in F.GREEK:
            # `x^\top A x` would read as x to the power `top`: a LaTeX command is never a name
            raise _error_at(src, f"{tok} is LaTeX, not matdiff's notation: put the whole formula between $…$ "
                                 f"to read it as LaTeX (CLI --from latex, API syntax=\"latex\")", tok.start_pos)
        if tok.type == "NPNAME":
            tok = _numpy_name(tok, src)
        elif tok.type == "NAME":
            name = F.canonical_name(str(tok))
            if name in functions or name == "dot" and nxt is not None and nxt.value == "(":
                tok = Token.new_borrow_pos("FUNC", tok.value, tok)
            elif nxt is not None and nxt.value == "(" and nxt.start_pos == tok.end_pos:
                _unknown_function(src, name, tok.start_pos, functions)
        out.append(tok)
    return out


def _unknown_function(src: str, name: str, pos: int, functions: frozenset) -> None:
    close = difflib.get_close_matches(name, sorted(functions), n=3, cutoff=0.75)
    product = ""
    if name.lower() != name and name.lower() in functions:
        # ReLU(x), Exp(x), Det(A): that function in other letters, or a matrix so named times (x)
        close = [name.lower(), *(c for c in close if c != name.lower())]
        product = f" (for a matrix named {name} times the parenthesis, write a space: `{name} (...)`)"
    if close or (len(name) >= 3 and name.isalpha() and name.islower() and not F.is_greek(name)):
        hint = f"; did you mean {' or '.join(close)}?{product}" if close else \
            f"; declare it as an abstract function with functions=['{name}'] (CLI: --fn {name})"
        raise _error_at(src, f"unknown function '{name}'{hint}", pos, UnknownFunctionError)


def _parse_tree(src: str, functions: frozenset) -> Tree:
    """Lex, retype the names, feed the parser. A character no token starts with is
    reported with what the parser would have accepted there."""
    tokens, bad = [], None
    try:
        for tok in _PARSER.lex(_mark_norm_bars(src)):
            tokens.append(tok)
    except UnexpectedCharacters as e:
        bad = e
    if bad is None and all(t.type == "_SEP" for t in tokens):
        raise ParseError("the input is empty: expected an expression such as `x^T A x`")
    parser = _PARSER.parse_interactive()
    for tok in _retype(tokens, src, functions):
        tick()                                     # 100,000 characters take a while to parse
        parser.feed_token(tok)
    if bad is not None:
        bad.allowed = parser.accepts()
        raise bad
    tree = parser.feed_eof(tokens[-1] if tokens else None)
    return tree, _is_numpy(tokens)


def _show(fn: Fn) -> str:
    return fn.name + "'" * fn.order


_OPENS_AFTER = set("(,=+-*/∘⊙⊗;\n:@<⟨") | {""}
CLOSE = "\ue000"          # a private-use character: what a closing bar becomes (no one types it)


def _mark_norm_bars(src: str) -> str:
    """`||x - t||` opens and closes with the same token, which no LALR grammar can tell
    from a product `t ||y||`. A bar after an operator, `(` or the start opens a norm;
    otherwise it closes the innermost open one. Closing bars become `|` + CLOSE (or CLOSE for
    `‖`), of the same length, so columns in error messages stay right."""
    out, opens, i = [], [], 0                    # opens: the parenthesis depth of each open norm
    opened = -1                                  # where the last opening bar ended
    paren = 0
    while i < len(src):
        if src[i] == "#":                        # a comment runs to the end of its line
            end = src.find("\n", i)
            end = len(src) if end < 0 else end
            out.append(src[i:end])
            i = end
            continue
        if src[i] in "\n;":                      # a norm never spans lines
            opens, paren = [], 0
        paren += (src[i] == "(") - (src[i] == ")")
        if src[i] == CLOSE:                      # typed: no token, an error where it stands
            out.append("\ufffd")
            i += 1
            continue
        bar = "||" if src.startswith("||", i) else "‖" if src[i] == "‖" else None
        if bar is None:
            out.append(src[i])
            i += 1
            continue
        before = src[:i].rstrip()[-1:]
        just_opened = opened >= 0 and not src[opened:i].strip()    # `|| ||x|| ||`
        # a bar inside parentheses opened after the norm cannot close it: ||(a ||x||) y||
        if opens and opens[-1] == paren and before not in _OPENS_AFTER and not just_opened:
            out.append("|" + CLOSE if bar == "||" else CLOSE)
            opens.pop()
            opened = -1
        else:
            out.append(bar)
            opens.append(paren)
            opened = i + len(bar)
        i += len(bar)
    return "".join(out)


@budgeted
def parse(src: str, functions=(), syntax: str = "auto", *, _bars=None) -> Program:
    """Parse an expression or a program. syntax="auto" reads a formula between $…$, $$…$$, \\(…\\)
    or \\[…\\] as LaTeX and anything else as matdiff's notation; "latex" and "matdiff" say which
    (LaTeX is translated into matdiff's notation by latex_input.py, then parsed here).

    >>> parse("c^T Phi(W x)").result
    MatMul(args=(Transpose(arg=Var(name='c', shape=None)), Apply(fn=Fn(name='Phi', order=0), arg=MatMul(args=(Var(name='W', shape=None), Var(name='x', shape=None))))))
    """
    if not isinstance(src, str):
        raise ParseError(f"expected the text of an expression, got {type(src).__name__}")
    if syntax != "matdiff":
        from matdiff.language import latex_input
        if latex_input.wants_latex(src, syntax):
            return latex_input.parse_latex(src, functions)
    if not src.strip():
        raise ParseError("the input is empty: expected an expression such as `x^T A x`")
    check_text(src)
    names = F.function_names(functions)
    try:
        tree, numpy = _parse_tree(src, names)
    except UnexpectedInput as e:
        raise _syntax_error(src, e) from None
    check_depth(_depth(tree))         # before the recursive transform below
    for line in tree.children[:-1]:
        if not (isinstance(line, Tree) and line.data == "assign"):
            pos = line.meta.start_pos if isinstance(line, Tree) else line.start_pos
            pos = max(src.rfind("\n", 0, pos), src.rfind(";", 0, pos)) + 1   # where the line starts
            pos += len(src[pos:]) - len(src[pos:].lstrip(" \t"))
            raise _error_at(src, "only the last line may be a bare expression; earlier lines define names: "
                                 "`name = expression`", pos)
    try:
        return ToExpr(src, names, _division_extents(tree), numpy, _bars).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, MatdiffError):     # a ParseError, or a LimitError of a folded number
            raise e.orig_exc from None
        raise


def _division_extents(tree) -> dict:
    """`x^T A x / x^T x` is ((x^T A x) / x^T) x: for the message that refuses dividing by x^T,
    where the product that the division heads ends (id of the div's meta -> end position), so
    that the message can show the grouping most likely meant, (x^T A x) / (x^T x). Each
    product's left spine is walked once, from its outermost product: linear in the tree."""
    extents: dict = {}
    inner = set()
    trees = [t for t in tree.iter_subtrees() if t.data == "matmul"]
    for t in trees:
        first = t.children[0]
        if isinstance(first, Tree) and first.data == "matmul":
            inner.add(id(first))
    for t in trees:
        if id(t) in inner:
            continue
        first = t.children[0]
        while isinstance(first, Tree) and first.data == "matmul":
            first = first.children[0]
        if isinstance(first, Tree) and first.data == "div":
            extents[id(first.meta)] = t.meta.end_pos
    return extents


def _depth(tree) -> int:
    """The depth of a lark tree, without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        t, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in getattr(t, "children", ()) if isinstance(c, Tree))
    return deepest


def parse_expression(src: str, functions=()) -> Expr:
    """Parse a single expression (a program's result)."""
    return parse(src, functions).result


def _syntax_error(src: str, e: UnexpectedInput) -> ParseError:
    line, column = getattr(e, "line", 1), getattr(e, "column", 1)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        expected = sorted({_terminal_text(t) for t in getattr(e, "expected", ())})
        lines = src.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        what = "the input ends too early"
    elif isinstance(e, UnexpectedToken):
        expected = {_terminal_text(t) for t in e.accepts or e.expected}
        text = src[e.token.start_pos:e.token.end_pos]
        what = "the line ends too early" if text == "\n" else f"unexpected '{text}'"
    elif isinstance(e, UnexpectedCharacters):
        expected = {_terminal_text(t) for t in e.allowed or ()}
        what = f"unexpected character {src[e.pos_in_stream]!r}"
        for start, hint in _LEX_HINTS:
            if src.startswith(start, e.pos_in_stream):
                what, expected = hint, ()
                break
        if src[e.pos_in_stream] in "_₀₁₂₃₄₅₆₇₈₉ₚ" and src[:e.pos_in_stream].rstrip().endswith(("||", "‖")):
            what, expected = _norm_subscript(src, e.pos_in_stream), ()
    else:  # pragma: no cover - lark has no other kinds
        expected, what = [], "cannot read this"
    if isinstance(e, (UnexpectedEOF, UnexpectedToken)):
        # `A^`, `a^-b`: what may follow ^ and .^ (the parser stopped just after the operator)
        bad = len(src) if isinstance(e, UnexpectedEOF) or e.token.type == "$END" else e.token.start_pos
        before = src[:bad].rstrip()
        if before.endswith("^"):
            op = ".^" if before.endswith(".^") else "^"
            pos = len(before) - len(op)
            what, expected = dict(_LEX_HINTS)[op], ()
            line = src.count("\n", 0, pos) + 1
            column = pos - (src.rfind("\n", 0, pos) + 1) + 1
    # words first (a name, a number), then the operators
    expected = sorted(expected, key=lambda t: (not t[0].isalpha(), t))
    want = f"; expected {', '.join(expected)}" if expected else ""
    return ParseError(f"line {line}, column {column}: {what}{want}\n{caret(src, line, column)}", line, column)


def _norm_subscript(src: str, pos: int) -> str:
    """`||X||_1`, `||x||_inf`, `||X||_*`: a norm matdiff does not compute is refused by name,
    never read as another one."""
    sub = re.match(r"_?(\{[^}\n]*\}|\w+|\S?)", src[pos:]).group(0)
    return (f"the norm subscript {sub} is not supported: matdiff computes ||X||_F (the Frobenius norm, "
            f"of any matrix), ||x|| or ||x||_2 (the Euclidean norm of a vector), ||x||_1 (the 1-norm of a "
            f"vector) and norm1(X) (the sum of |X_ij|); no other norm (no inf-, nuclear or spectral norm)")
