"""Expr -> LaTeX. The same structure and precedence as the text printer (printing/text.py).

`to_latex(e)` prints one expression; `names={node: 'z1'}` prints named parts by their
name, as the text printer does. Names are typeset as a sheet writes them (W1 -> W_{1},
delta_z -> \\delta_{z}, theta -> \\theta, yhat -> \\hat{y}) and can never inject LaTeX:
any character outside letters, digits, `_` and Greek letters is escaped.
"""
from __future__ import annotations

import re
from fractions import Fraction

from matdiff.language.expr import (
    BatchLogSumExp, BatchSoftmax, LogSoftmax,
    Add, Apply, Const, Det, DiagMat, DiagOf, Differential, Expr, Hadamard, HadamardPow, Identity,
    Inverse, Kron, LogDet, LogSumExp, MatMul, MatPow, Mul, Norm, Ones, Softmax, Sum, Trace,
    Pow, Transpose, Unvec, Var, Vec, Zero, children, postorder,
)
from matdiff.language.functions import ELEMENTWISE, GREEK
from matdiff.language.algebra import is_negative
from matdiff.printing.precedence import HADAMARD, POSTFIX, PRODUCT, SUM, precedence
from matdiff.printing.text import broadcast_number, pow_operator, known_matrix, known_scalar, known_shape, negate, split_division

# ---- names ------------------------------------------------------------------------------------

# Greek letter (as a word or a Unicode letter) -> its LaTeX command; the plain word wins over var-
_GREEK_CHAR = {c: w for w, c in sorted(GREEK.items(), key=lambda kv: not kv[0].startswith("var"))}
_ACCENTS = (("hat", r"\hat"), ("bar", r"\bar"), ("tilde", r"\tilde"))
_ESCAPES = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
            "%": r"\%", "_": r"\_", "^": r"\wedge ", "~": r"\sim "}

# elementwise functions with a usual LaTeX spelling; other names go through latex_name
FUNCTIONS = {name: r.latex for name, r in ELEMENTWISE.items()}


def escape(text: str) -> str:
    """Any text as inert LaTeX math: letters and digits kept, specials escaped, anything else '?'."""
    out = "".join(c if c.isascii() and c.isalnum() else _ESCAPES.get(c, "?") for c in text)
    return rf"\mathrm{{{out}}}"


def _base(b: str) -> str | None:
    """The letters of a name: a letter, a Greek letter or word, an accented name; None if unsafe."""
    if b in GREEK:
        return "\\" + b
    if len(b) == 1 and b in _GREEK_CHAR:
        return "\\" + _GREEK_CHAR[b]
    if re.fullmatch(r"[A-Za-z]", b):
        return b
    for word, accent in _ACCENTS:
        if b.endswith(word) and len(b) > len(word):
            inner = _base(b[: -len(word)])
            if inner is not None:
                return f"{accent}{{{inner}}}"
    if re.fullmatch(r"[A-Za-z]+", b):
        return rf"\mathit{{{b}}}"
    return None


def latex_name(name: str) -> str:
    """W1 -> W_{1}; b_2 -> b_{2}; delta_z -> \\delta_{z}; θ -> \\theta; yhat -> \\hat{y}."""
    head, _, sub = name.partition("_")
    if sub in dict(_ACCENTS):                               # x_hat reads as xhat
        head, sub = head + sub, ""
    m = re.fullmatch(r"(.*?)(\d+)", head)
    base, digits = (m.group(1), m.group(2)) if m else (head, "")
    b = _base(base)
    if b is None:
        return escape(name)
    subs = [digits] if digits else []
    if sub.isdigit() and sub.isascii():
        subs.append(sub)
    elif sub:
        subs.append(latex_name(sub) if re.fullmatch(r"[^\W\d_]\w*", sub) else escape(sub))
    return f"{b}_{{{','.join(subs)}}}" if subs else b


def function_name(name: str) -> str:
    """sigmoid -> \\sigma, tanh -> \\tanh, Phi -> \\Phi, f -> f, gelu -> \\operatorname{gelu}."""
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    out = latex_name(name)
    return rf"\operatorname{{{name}}}" if out.startswith(r"\mathit") else out


def latex_dim(d) -> str:
    if isinstance(d, tuple):
        return f"{latex_dim(d[1])} {latex_dim(d[2])}"
    return str(d) if isinstance(d, int) else latex_name(str(d))


def number(k: Fraction) -> str:
    if k.denominator == 1:
        return str(k.numerator)
    sign = "-" if k < 0 else ""
    return rf"{sign}\frac{{{abs(k.numerator)}}}{{{k.denominator}}}"


def exponent(k: Fraction) -> str:
    return str(k.numerator) if k.denominator == 1 else f"{k.numerator}/{k.denominator}"


def parens(s: str) -> str:
    """(s): sized to its content where that is tall (a fraction), plain otherwise, as a sheet
    writes f(x); plain parentheses also keep \\left's extra space out of Phi(z)."""
    tall = any(t in s for t in (r"\frac", r"\underbrace", r"\sum"))
    return rf"\left({s}\right)" if tall else f"({s})"


# ---- line breaks ------------------------------------------------------------------------------

BREAK = "\x00"      # a possible line break before + or -, left by LatexPrinter(breaks=True)
BREAK_PRODUCT = "\x01"     # one between factors: taken only where no sum can be broken as well


def visible_width(s: str) -> int:
    """Roughly how many glyphs a piece of LaTeX math shows (superscripts count in full)."""
    s = s.replace(BREAK, "").replace(BREAK_PRODUCT, "")
    s = re.sub(r"\\operatorname\{(\w+)\}", r"\1", s)
    s = re.sub(r"\\(left|right|bigl|bigr|Bigl|Bigr|,|quad|qquad|mathrm|mathit|mathbf|text)\b", "", s)
    s = re.sub(r"\\(tanh|exp|log|sin|cos|det)\b", r"\1", s)      # shown as words
    s = re.sub(r"\\[A-Za-z]+", "x", s)                             # a symbol: \Phi, \odot, \top
    return len(re.sub(r"[{}\s^_&]", "", s))


_COMMAND = re.compile(r"\\(left|right)\b|\\.")


def split_lines(s: str, width: int) -> list:
    """s (with BREAK marks) as lines of about `width` glyphs: broken only at marks outside braces
    and outside \\left ... \\right, so that every line is valid LaTeX by itself, and there at the
    shallowest parenthesis depth (between terms rather than factors) that still gives lines of a
    fair length."""
    parts, marks, brace, sized, depth, i = [], [], 0, 0, 0, 0
    piece = []
    while i < len(s):
        c = s[i]
        if c == "\\":
            word = _COMMAND.match(s, i).group(0)
            sized += (word == r"\left") - (word == r"\right")
            piece.append(word)
            i += len(word)
            continue
        if c in (BREAK, BREAK_PRODUCT):
            if brace == 0 and sized == 0:
                parts.append("".join(piece))
                piece = []
                marks.append((depth, c == BREAK_PRODUCT))
        else:
            brace += (c == "{") - (c == "}")
            depth += (c == "(") - (c == ")")
            piece.append(c)
        i += 1
    parts.append("".join(piece))
    # parts[k] lies between marks k-1 and k; a line is parts[a:b], cut before part b
    at = [0]
    for p in parts:
        at.append(at[-1] + visible_width(p))

    def w(a, b):
        return at[b] - at[a]
    lines, a, n = [], 0, len(parts)
    while w(a, n) > width * 1.12:                       # a little over: one line still reads best
        fits = [b for b in range(a + 1, n) if w(a, b) <= width]
        fair = [b for b in fits if w(a, b) >= width // 3 and w(b, n) >= width // 5] or fits
        if not fair:
            if a + 1 >= n:
                break
            cut = a + 1                                 # nothing fits: the shortest overfull line
        else:
            shallow = min(marks[b - 1] for b in fair)
            cut = max(b for b in fair if marks[b - 1] == shallow)
        lines.append("".join(parts[a:cut]))
        a = cut
    lines.append("".join(parts[a:]))
    return [line.strip() for line in lines]


# ---- the printer ------------------------------------------------------------------------------

SHALLOW = 60       # nesting the printer's recursion takes without help (see LatexPrinter.__call__)


class LatexPrinter:
    """One function per node type via the LATEX table; `names` prints named sub-expressions by name."""

    def __init__(self, names: dict | None = None, breaks: bool = False):
        self.names = names or {}
        self.brk = BREAK if breaks else ""      # where a long line may be broken (see split_lines)
        self.brk_product = BREAK_PRODUCT if breaks else ""
        self.memo: dict = {}                    # node -> its LaTeX as an operand (top=False)

    def __call__(self, e: Expr, top: bool = True) -> str:
        if not top and e in self.names:
            return latex_name(self.names[e])
        if not top and e in self.memo:
            return self.memo[e]
        if top:
            self.warm(e)
        return LATEX[type(e)](e, self)

    def wrap(self, e: Expr, level: int, strict: bool = False) -> str:
        """e, in parentheses if it binds looser than `level` (or as loose, when strict)."""
        s = self(e, top=False)
        p = 50 if e in self.names else precedence(e)
        return parens(s) if p < level or (strict and p == level) else s

    def warm(self, e: Expr) -> None:
        """The printer recurses a few frames per level: a deep expression (A^-1^-1... 240 deep,
        within the depth limit) would pass Python's recursion limit. Its operands printed first,
        children before parents, every recursive call finds its operand printed and returns at
        once. Named nodes print as their name: the walk stops there (a program's steps stay linear)."""
        order: list = []
        for c in children(e):
            order += postorder(c, done=self.names)
        height: dict = {}
        for n in order:
            height[n] = 1 + max((height.get(c, 0) for c in children(n)), default=0)
        if max(height.values(), default=0) > SHALLOW:
            for n in order:
                if n not in self.memo:
                    self.memo[n] = self(n, top=False)

    def base(self, e: Expr) -> str:
        """The base of a superscript: anything that carries a superscript itself is parenthesised,
        since LaTeX has no A^{\\top}^{-1}."""
        if isinstance(e, Ones) and e not in self.names and (known_shape(e) or (1, 1))[0] == 1 \
                and (known_shape(e) or (1, 1)) != (1, 1):
            return parens(self(e, top=False))
        return self.wrap(e, POSTFIX, strict=True)

    def chain(self, args, sep: str, level: int) -> str:
        """Left-associative: the first operand may be as loose as the operator, the others not."""
        return sep.join(self.wrap(a, level, strict=i > 0) for i, a in enumerate(args))

    def paren(self, e: Expr) -> str:
        return parens(self(e, top=False))


def l_add(e, p):
    first = e.args[0]
    if first not in p.names and broadcast_number(first, e.args) is not None:
        first = broadcast_number(first, e.args)  # 1 - x: a number in a sum is in every entry
    out = p.wrap(first, SUM)
    for a in e.args[1:]:
        if a not in p.names and broadcast_number(a, e.args) is not None:
            a = broadcast_number(a, e.args)
        if is_negative(a) and a not in p.names:
            out += p.brk + " - " + p.wrap(negate(a), SUM, strict=True)
        else:
            out += p.brk + " + " + p.wrap(a, SUM, strict=True)
    return out


def l_mul(e, p):
    if is_negative(e):
        return "-" + p.wrap(negate(e), HADAMARD)
    num, den = split_division(e)
    if den and num:
        top = factors(num, p) if len(num) > 1 else p(num[0], top=False)
        bottom = factors(den, p) if len(den) > 1 else p(den[0], top=False)
        return rf"\frac{{{top}}}{{{bottom}}}"

    def paren(i, a):     # as the text printer: (x^T x) A, but 2 W x x^T
        last_matrix = i == len(e.args) - 1 and i > 0 and isinstance(a, MatMul) and known_matrix(a)
        return not last_matrix and (i > 0 or isinstance(a, MatMul))
    return factors(e.args, p, [paren(i, a) for i, a in enumerate(e.args)])


def factors(args, p, strict=None) -> str:
    """Scalar factors side by side: 2 x, but h_{1} \\, dh_{1} (a thin space between letters)."""
    out = ""
    for i, a in enumerate(args):
        out += ("" if i == 0 else " " if isinstance(args[i - 1], Const) else r" \, ") + \
            p.wrap(a, PRODUCT, strict=bool(strict and strict[i]))
    return out


def l_hadamard(e, p):
    out = p.wrap(e.args[0], HADAMARD)
    for a in e.args[1:]:
        if isinstance(a, HadamardPow) and a.k == -1 and a not in p.names:
            out += r" \oslash " + p.wrap(a.arg, HADAMARD, strict=True)
        else:
            out += p.brk_product + r" \odot " + p.wrap(a, HADAMARD, strict=True)
    return out


def l_hadamard_pow(e, p):
    k = exponent(e.k)
    return f"{p.base(e.arg)}^{{{k}}}" if known_scalar(e.arg) else f"{p.base(e.arg)}^{{\\circ {k}}}"


def l_pow(e, p):
    """a^{b} for scalars, X^{\\circ Y} elementwise (the exponent in parentheses unless a name)."""
    base, exponent = e.args
    x = p(exponent, top=False)
    if pow_operator(e) == "^":
        return f"{p.base(base)}^{{{x}}}"
    if not (isinstance(exponent, Var) or exponent in p.names):
        x = parens(x)
    return f"{p.base(base)}^{{\\circ {x}}}"


def l_transpose(e, p):
    if isinstance(e.arg, Inverse) and e.arg not in p.names:
        return f"{p.base(e.arg.arg)}^{{-\\top}}"
    return f"{p.base(e.arg)}^{{\\top}}"


def l_matpow(e, p):
    if isinstance(e.arg, Inverse) and e.k > 0 and known_matrix(e.arg) and e.arg not in p.names:
        return f"{p.base(e.arg.arg)}^{{-{exponent(e.k)}}}"
    return f"{p.base(e.arg)}^{{{exponent(e.k)}}}"


def l_apply(e, p):
    record = ELEMENTWISE.get(e.fn.name)
    s = known_shape(e.arg)
    if e.fn.name == "abs" and s is not None and 1 not in s:   # |X| of a matrix reads as its determinant
        return r"\operatorname{abs}" + p.paren(e.arg)
    if record is not None and record.latex_applied and e.fn.order == 0:        # \sqrt{x}
        return record.latex_applied.replace("{x}", p(e.arg, top=False))
    return function_name(e.fn.name) + "'" * e.fn.order + p.paren(e.arg)


def l_norm(e, p):
    s = known_shape(e.arg)
    frobenius = s is not None and 1 not in s
    inner = p(e.arg, top=False)
    bars = (r"\left\lVert ", r" \right\rVert") if r"\frac" in inner else (r"\lVert ", r" \rVert")
    return bars[0] + inner + bars[1] + ("_{F}" if frobenius else "")


def l_ones(e, p):
    """A column of ones is 1, a row 1^T, a matrix of them 1 1^T (as the text printer)."""
    r, c = e.shape if e.shape else (1, 1)
    return r"\mathbf{1}" if c == 1 else r"\mathbf{1}^{\top}" if r == 1 else r"\mathbf{1}\mathbf{1}^{\top}"


def l_differential(e, p):
    inner = p(e.of, top=False)
    return "d" + inner if isinstance(e.of, Var) or e.of in p.names else "d" + parens(inner)


def call(op):
    return lambda e, p: op + p.paren(e.arg)


LATEX = {
    Var:          lambda e, p: latex_name(e.name),
    Const:        lambda e, p: number(e.value),
    Identity:     lambda e, p: "1" if e.n == 1 else "I",     # a 1x1 identity is the number 1: never I
    Zero:         lambda e, p: "0",
    Ones:         l_ones,
    Differential: l_differential,
    Add:          l_add,
    MatMul:       lambda e, p: p.chain(e.args, r" \, " + p.brk_product, PRODUCT),
    Mul:          l_mul,
    Hadamard:     l_hadamard,
    Kron:         lambda e, p: p.chain(e.args, r" \otimes ", HADAMARD),
    Transpose:    l_transpose,
    Inverse:      lambda e, p: f"{p.base(e.arg)}^{{-1}}",
    MatPow:       l_matpow,
    HadamardPow:  l_hadamard_pow,
    Pow:          l_pow,
    Apply:        l_apply,
    Trace:        call(r"\operatorname{tr}"),
    Det:          call(r"\det"),
    LogDet:       call(r"\log\det"),
    Sum:          call(r"\operatorname{sum}"),
    Norm:         l_norm,
    DiagMat:      call(r"\operatorname{diag}"),
    DiagOf:       call(r"\operatorname{diag}"),
    Vec:          call(r"\operatorname{vec}"),
    Unvec:        lambda e, p: rf"\operatorname{{unvec}}_{{{latex_dim(e.rows)} \times {latex_dim(e.cols)}}}"
                               + p.paren(e.arg),
    Softmax:      call(r"\operatorname{softmax}"),
    LogSumExp:    call(r"\operatorname{logsumexp}"),
    BatchSoftmax: lambda e, p: rf"\operatorname{{softmax}}_{{\text{{{e.axis}}}}}" + p.paren(e.arg),
    BatchLogSumExp: lambda e, p: rf"\operatorname{{logsumexp}}_{{\text{{{e.axis}}}}}" + p.paren(e.arg),
    LogSoftmax:   lambda e, p: r"\operatorname{logsoftmax}" + ("" if e.axis == "vector" else rf"_{{\text{{{e.axis}}}}}")
                               + p.paren(e.arg),
}


def to_latex(e: Expr, names: dict | None = None) -> str:
    """Expr -> LaTeX math (no delimiters).

    >>> from matdiff.language.parse import parse
    >>> to_latex(parse("c^T Psi(W1 x)").result)
    'c^{\\\\top} \\\\, \\\\Psi(W_{1} \\\\, x)'
    """
    return LatexPrinter(names)(e)


def shape_latex(s) -> str:
    """A user-level shape as the set it lives in: () -> R, (n,) -> R^{n}, (m, n) -> R^{m \\times n}."""
    if not s:
        return r"\mathbb{R}"
    return r"\mathbb{R}^{" + r" \times ".join(latex_dim(d) for d in s) + "}"


# ---- results ----------------------------------------------------------------------------------

def aligned(lines) -> str:
    """[(lhs, rhs), ...] -> an aligned block `lhs &= rhs`, one line each."""
    body = r" \\ ".join(f"{lhs} &= {rhs}" for lhs, rhs in lines)
    return r"\begin{aligned} " + body + r" \end{aligned}"


def program_latex(shaped) -> str:
    """A shaped expression (its LaTeX) or program (an aligned block, one line per step)."""
    names = shaped.names
    rows = [(latex_name(n), to_latex(e, names)) for n, e in shaped.defs]
    body = to_latex(shaped.expr, names)
    return aligned(rows + [(latex_name(shaped.name or "f"), body)]) if rows or shaped.name else body
