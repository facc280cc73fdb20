"""LaTeX math in, matdiff's own notation out (issue 14, "paste it as you have it").

A formula between `$…$`, `$$…$$`, `\\(…\\)` or `\\[…\\]` (or any input read with
syntax="latex", CLI `--from latex`) is LaTeX as the course sheets write it. This module
*translates* it into matdiff's notation, keeping for every character of the translation the
offset in the LaTeX it came from, and hands the text to the one parser (parse.py): one grammar,
one AST builder, so a LaTeX input and its matdiff twin can never mean different things. A
ParseError about the translation is re-located to the user's LaTeX (line, column, caret) and
shows the translation, so a user sees how `Wx` was read (`W x`).

Why a translator and not a second grammar: LaTeX's meaning here is mostly spelling (`^\\top`
is `^T`, `\\frac{a}{b}` is `(a) / (b)`, `\\operatorname{tr}` is `tr`); only a few constructs
need structure (the argument of a function written without parentheses, `\\log\\det X`; the
extent of `\\sum_i …`; matching bars), and a small recursive reader over LaTeX tokens does those.
LaTeX is lexed properly (commands, groups, `^`, `_`, single letters, digits), never
regex-replaced.

Readings decided here (README, "LaTeX input"):
- single letters multiply when juxtaposed (`Wx` is `W x`); a subscript of digits is part of
  the name (`W_1`, `W_{1}` are W1, as matdiff's LaTeX printer writes W1), any other subscript
  is joined with `_` (`\\delta_z` is δ_z); `\\mathrm{ab}`, `\\text{ab}`, `\\mathit{ab}`,
  `\\operatorname{ab}` are one name (a function where it names one); `\\mathcal{L}` is the name L;
- `|X|` is the determinant of a square matrix and the absolute value of a scalar; inference
  decides once shapes are known (Det's `at` is marked "bars"), and refuses a vector, showing
  both readings; `\\left| … \\right|` is the same;
- `e^{x}` is exp(x); `\\sigma` is the sigmoid; `\\sum` (with or without `_{i}`, `_{i=1}^n`) is the
  sum of all entries, an index `i` in the summand dropped (`\\sum_i y_i \\log \\hat{y}_i` is
  sum(y ∘ log(yhat)): factors that carry the index multiply entrywise);
- `\\langle A, B \\rangle` is tr(A^T B).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from matdiff.errors import LimitError, MatdiffError, ParseError, UnknownFunctionError, caret, note
from matdiff.language import functions as F
from matdiff.language.expr import Det, Program, transform, with_children
from matdiff.limits import LIMITS, check_text, tick

SYNTAXES = ("auto", "matdiff", "latex")

# ---- what is LaTeX ----------------------------------------------------------------------------

_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def delimited(src: str):
    """(start, end) of the math inside `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]` around the whole input, else None."""
    body = src.strip()
    lead = len(src) - len(src.lstrip())
    for open_, close in _DELIMITERS:
        if body.startswith(open_) and body.endswith(close) and len(body) >= len(open_) + len(close):
            return lead + len(open_), lead + len(body) - len(close)
    return None


def wants_latex(src: str, syntax: str) -> bool:
    """Whether src is read as LaTeX: syntax="latex" always, "auto" when delimited, "matdiff" never."""
    if syntax not in SYNTAXES:
        raise MatdiffError(f"syntax is one of {', '.join(map(repr, SYNTAXES))}, got {syntax!r}")
    return syntax == "latex" or (syntax == "auto" and isinstance(src, str) and delimited(src) is not None)


# ---- tokens -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tok:
    kind: str        # "cmd" (\name, \| ...), "letter", "digit", "char", "open", "close", "bar", "norm", "group"
    text: str
    start: int
    end: int
    side: str = ""   # for bars: "open", "close" or "" (either, decided by position)


_SIZERS = {r"\left", r"\right", r"\middle", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\bigl", r"\bigr", r"\Bigl",
           r"\Bigr", r"\biggl", r"\biggr", r"\Biggl", r"\Biggr", r"\bigm", r"\Bigm"}
_OPEN_DELIMS = {"(": "(", "[": "(", r"\{": "(", r"\lbrace": "(", r"\lbrack": "(", r"\lparen": "("}
_CLOSE_DELIMS = {")": ")", "]": ")", r"\}": ")", r"\rbrace": ")", r"\rbrack": ")", r"\rparen": ")"}
_BARS = {"|": ("bar", ""), r"\vert": ("bar", ""), r"\lvert": ("bar", "open"), r"\rvert": ("bar", "close"),
         r"\|": ("norm", ""), r"\Vert": ("norm", ""), r"\lVert": ("norm", "open"), r"\rVert": ("norm", "close"),
         "‖": ("norm", "")}
_SPACING = {r"\,", r"\;", r"\:", r"\!", r"\ ", r"\quad", r"\qquad", r"\displaystyle", r"\textstyle",
            r"\limits", r"\nolimits", r"\nonumber", r"\notag", r"\thinspace", r"\medspace", r"\thickspace",
            r"\enspace", r"\negthinspace", r"\hfill", "~"}
_ENVIRONMENTS = {"aligned", "align", "align*", "alignat", "alignat*", "gather", "gather*", "gathered", "split",
                 "equation", "equation*", "cases", "dcases", "multline", "multline*", "flalign", "flalign*",
                 "eqnarray", "eqnarray*"}


def tokenize(src: str, start: int, end: int) -> list:
    toks, i = [], start
    while i < end:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c == "%":                                    # a comment runs to the end of its line
            nl = src.find("\n", i, end)
            i = end if nl < 0 else nl
            continue
        if c == "\\":
            m = re.compile(r"\\([A-Za-z]+\*?|.)", re.S).match(src, i, end)
            if m is None:
                raise _error(src, "a lone backslash at the end of the input", i)
            text, stop = m.group(0), m.end()
            if len(text) > 2 and text.endswith("*"):           # \foo*: the star is not part of it
                text, stop = text[:-1], stop - 1
            toks.append(Tok("cmd", text, i, stop))
            i = stop
            continue
        if c.isdigit() and c.isascii():
            toks.append(Tok("digit", c, i, i + 1))
        elif c.isalpha():
            toks.append(Tok("letter", c, i, i + 1))
        else:
            toks.append(Tok("char", c, i, i + 1))
        i += 1
    return _delimiters(src, toks)


def _delimiters(src: str, toks: list) -> list:
    """\\left( and \\bigl( are one opening delimiter; \\right| a closing bar; \\left. nothing."""
    out, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "cmd" and t.text in _SIZERS:
            if i + 1 >= len(toks):
                raise _error(src, f"{t.text} needs a delimiter after it, such as {t.text}(", t.start)
            d = toks[i + 1]
            i += 2
            if d.text == ".":
                continue
            side = "open" if t.text in (r"\left", r"\bigl", r"\Bigl", r"\biggl", r"\Biggl") else \
                "close" if t.text in (r"\right", r"\bigr", r"\Bigr", r"\biggr", r"\Biggr") else ""
            out.append(_delimiter(src, Tok(d.kind, d.text, t.start, d.end), side))
            continue
        if t.text == "|" and i + 1 < len(toks) and toks[i + 1].text == "|" and toks[i + 1].start == t.end:
            out.append(Tok("norm", "||", t.start, toks[i + 1].end))       # ||x||, as plain text writes a norm
            i += 2
            continue
        out.append(_delimiter(src, t, ""))
        i += 1
    return out


def _delimiter(src: str, t: Tok, side: str) -> Tok:
    if t.text in _OPEN_DELIMS:
        return Tok("open", _OPEN_DELIMS[t.text], t.start, t.end)
    if t.text in _CLOSE_DELIMS:
        return Tok("close", _CLOSE_DELIMS[t.text], t.start, t.end)
    if t.text in _BARS:
        kind, own = _BARS[t.text]
        return Tok(kind, t.text, t.start, t.end, own or side)
    if t.text in (r"\langle", "⟨"):
        return Tok("langle", t.text, t.start, t.end)
    if t.text in (r"\rangle", "⟩"):
        return Tok("rangle", t.text, t.start, t.end)
    if t.kind == "cmd" and (t.text in _SPACING) or t.text == "~":
        return Tok("space", t.text, t.start, t.end)
    return t


# ---- the tables -------------------------------------------------------------------------------

# \cmd that is a function, by its matdiff name
FUNCTION_COMMANDS = {
    r"\log": "log", r"\ln": "log", r"\exp": "exp", r"\tanh": "tanh", r"\sinh": "sinh", r"\cosh": "cosh",
    r"\sin": "sin", r"\cos": "cos", r"\tan": "tan", r"\arcsin": "arcsin", r"\arccos": "arccos",
    r"\arctan": "arctan", r"\det": "det", r"\tr": "tr", r"\Tr": "tr", r"\trace": "tr", r"\diag": "diag",
    r"\sgn": "sign", r"\sigma": "σ", r"\softmax": "softmax", r"\relu": "relu",
}
# a word that names a function, as sheets spell it
WORDS = {"Tr": "tr", "trace": "tr", "Trace": "tr", "sgn": "sign", "ReLU": "relu", "Relu": "relu", "ln": "log",
         "Diag": "diag", "logdet": "logdet", "Softmax": "softmax"}
# binary operators
BINARY = {"+": "+", "-": "-", "*": "*", "/": "/", r"\circ": "∘", r"\odot": "∘", r"\oslash": "./",
          r"\otimes": "⊗", r"\cdot": "*", r"\times": "*", r"\ast": "*", "∘": "∘", "⊙": "∘", "⊗": "⊗",
          "−": "-", r"\boxdot": "∘"}
# \mathbf{x}: the letter, a name
NAME_WRAPPERS = {r"\mathbf", r"\boldsymbol", r"\bm", r"\mathit", r"\mathrm", r"\mathsf", r"\mathcal", r"\mathscr",
                 r"\vec", r"\text", r"\textrm", r"\textit", r"\textbf", r"\mathbb", r"\operatorname",
                 r"\textsf", r"\boldsymbol", r"\pmb", r"\mathbfit"}
_BOLD = {r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\pmb", r"\mathbfit"}
ACCENTS = {r"\hat": "hat", r"\widehat": "hat", r"\bar": "bar", r"\overline": "bar", r"\tilde": "tilde",
           r"\widetilde": "tilde"}
TRANSPOSE = {"T", r"\top", r"\intercal", r"\mathsf", r"\mathrm", r"\text", "ᵀ", r"\textsf", r"\mathbf", r"\mathit"}
IGNORED = {r"\displaystyle", r"\mathstrut", r"\strut", r"\phantom"}

# what cannot be read, and why: the message shows the command
UNSUPPORTED = {
    r"\int": "integrals are not matrix calculus: write the function itself",
    r"\oint": "integrals are not matrix calculus: write the function itself",
    r"\partial": "write the function itself and ask for its derivative (API wrt=…, CLI --wrt)",
    r"\nabla": "write the function itself and ask for its gradient (API wrt=…, CLI --wrt)",
    r"\lim": "limits are not supported", r"\prod": "products over an index are not supported",
    r"\max": "max is not supported (relu(x) is max(x, 0))", r"\min": "min is not supported",
    r"\sup": "sup is not supported", r"\inf": "inf is not supported", r"\arg": "arg max/min is not supported",
    r"\argmax": "arg max is not supported", r"\argmin": "arg min is not supported",
    r"\in": "shapes are declared apart from the formula: API shapes={'W': ('n', 'm')}, CLI --shape W=n,m",
    r"\mathbb": "shapes are declared apart from the formula: API shapes={'W': ('n', 'm')}, CLI --shape W=n,m",
    r"\to": "maps are not supported: write the function's formula", r"\mapsto": "maps are not supported",
    r"\rightarrow": "arrows are not supported: one formula per line, lines separated by \\\\",
    r"\Rightarrow": "arrows are not supported: one formula per line, lines separated by \\\\",
    r"\leftarrow": "arrows are not supported", r"\xrightarrow": "arrows are not supported",
    r"\cdots": "an ellipsis cannot be read: write every term", r"\ldots": "an ellipsis cannot be read",
    r"\dots": "an ellipsis cannot be read", r"\vdots": "an ellipsis cannot be read", r"\ddots": "an ellipsis cannot be read",
    r"\infty": "infinity is not a value", r"\approx": "only = is read", r"\leq": "only = is read",
    r"\geq": "only = is read", r"\le": "only = is read", r"\ge": "only = is read", r"\neq": "only = is read",
    r"\equiv": "only = is read", r"\triangleq": "write = for a definition", r"\coloneqq": "write = for a definition",
    r"\sim": "distributions are not supported", 
    r"\underbrace": "braces under a formula cannot be read: remove them", r"\overbrace": "remove the brace",
    r"\pm": "± cannot be read", r"\mp": "∓ cannot be read",
    r"\dagger": "the conjugate transpose is not supported (real matrices): write ^T",
    r"\lfloor": "floor is not supported", r"\lceil": "ceil is not supported", r"\binom": "binomials are not supported",
    r"\choose": "binomials are not supported", r"\over": "write \\frac{a}{b}", r"\label": "remove the label",
    r"\tag": "remove the tag",
}

# ---- the reader -------------------------------------------------------------------------------

class Reader:
    """Recursive descent over LaTeX tokens; every method returns a list of (text, source offset)."""

    def __init__(self, src: str, toks: list, functions: frozenset):
        self.src, self.toks, self.i = src, [t for t in toks if t.kind != "space"], 0
        self.functions = functions
        self.indices: list = []          # summation indices in scope (\sum_i ...)
        self.index_subs: set = set()     # how the innermost \sum's summand indexes its entries: {("i", "j")}
        self.used_index = False          # whether the factor just read carried one
        self.depth = 0
        self.open_bars: tuple = ()       # the kinds of bars open around here ("norm", "bar")
        self.bar_marks: list = []        # (piece list, LaTeX offset) of each `|X|` read

    # -- token access
    def peek(self, k: int = 0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def error(self, message: str, pos: int, cls=ParseError):
        return _error(self.src, message, pos, cls)

    def end_pos(self) -> int:
        return self.toks[-1].end if self.toks else len(self.src)

    def expect(self, kind: str, text: str | None, what: str):
        t = self.peek()
        if t is None or t.kind != kind or (text is not None and t.text != text):
            found = "the end of the input" if t is None else f"'{self.src[t.start:t.end]}'"
            raise self.error(f"expected {what}, found {found}", t.start if t else self.end_pos())
        return self.take()

    # -- lines
    def program(self) -> list:
        """Lines separated by \\\\ (in aligned, cases, … or bare); `&` is alignment, dropped."""
        lines, cur = [], []
        while self.peek() is not None:
            t = self.take()
            if t.kind == "cmd" and t.text in (r"\begin", r"\end"):
                self._environment(t)
                continue
            if t.kind == "cmd" and t.text in (r"\\", r"\cr", r"\newline") or t.text == ";":
                lines.append(cur)
                cur = []
                continue
            if t.text == "&":
                continue
            cur.append(t)
        lines.append(cur)
        lines = [part for line in lines for part in _equations(line)]
        out = []
        for line in lines:
            while line and line[-1].text in (".", ","):          # a sheet's sentence ends the formula
                line = line[:-1]
            if line:
                out.append(line)
        if not out:
            raise ParseError("the input is empty: expected an expression such as `x^T A x`")
        return out

    def _environment(self, t: Tok) -> None:
        self.expect("char", "{", f"{{environment}} after {t.text}")
        name = ""
        while self.peek() is not None and self.peek().text != "}":
            name += self.src[self.peek().start:self.peek().end]
            self.take()
        self.expect("char", "}", "}")
        if name not in _ENVIRONMENTS:
            raise self.error(f"the LaTeX environment {{{name}}} cannot be read: matdiff reads formulas, "
                             f"lines of them in aligned, align*, gather or cases", t.start)
        if name in ("alignat", "alignat*") and t.text == r"\begin":
            self._group_tokens()                               # {2}: the number of columns

    def line(self, toks: list) -> list:
        """[name =] expression; f(x) = … names the function f; `y = f(x) = …` takes the first name."""
        self.toks, self.i = toks, 0
        parts, depth, start = [], 0, 0
        for j, t in enumerate(toks):
            depth += t.text in ("{",) or t.kind == "open"
            depth -= t.text in ("}",) or t.kind == "close"
            if t.text == "=" and depth == 0:
                parts.append((start, j))
                start = j + 1
        parts.append((start, len(toks)))
        if len(parts) == 1:
            return self.expression_line()
        name = None
        for a, b in parts[:-1]:
            n = self._lhs_name(toks[a:b], toks[b] if b < len(toks) else toks[-1])
            name = name or n
        a, _ = parts[-1]
        self.i = a
        if a >= len(toks):
            raise self.error("expected an expression after =", toks[-1].end)
        body = self.expression_line()
        return [(name[0], name[1]), (" = ", name[1])] + body

    def _lhs_name(self, toks: list, eq: Tok):
        """The left of `=`: a name, or a name applied to arguments (f(x), F(X, W))."""
        if not toks:
            raise self.error("expected a name before =", eq.start)
        saved = self.toks, self.i
        self.toks, self.i = toks, 0
        try:
            name = self.name()
        except ParseError:
            name = None
        rest = self.toks[self.i:]
        self.toks, self.i = saved
        if name is None or (rest and rest[0].kind != "open"):
            raise self.error("the left of = is the function's name (y = …, f(x) = …), got "
                             f"`{self.src[toks[0].start:toks[-1].end]}`", toks[0].start)
        return name

    def expression_line(self) -> list:
        out = self.expression(stops=())
        t = self.peek()
        if t is not None:
            raise self.error(f"unexpected '{self.src[t.start:t.end]}'", t.start)
        return out

    # -- expressions
    def expression(self, stops: tuple) -> list:
        """Operands and binary operators until a closing delimiter, one of `stops` or the end."""
        self.depth += 1
        if self.depth > LIMITS.max_depth:
            raise LimitError(str(self.error(f"the formula is nested more than {LIMITS.max_depth} deep "
                                            f"(the depth limit)", self.peek().start if self.peek() else 0)))
        out, operand, last_indexed, any_indexed, last = [], True, False, False, []
        while True:
            tick()
            t = self.peek()
            if t is None or t.kind in ("close", "rangle") or t.text in stops or t.text in ("}", "=") \
                    or (t.kind == "cmd" and t.text in (r"\end",)):
                break
            if t.kind in ("norm", "bar") and not operand and self._closes(t):
                break
            op = BINARY.get(t.text) if t.kind in ("char", "cmd") else None
            if op is not None:
                self.take()
                if operand and op not in ("-", "+"):
                    raise self.error(f"'{t.text}' needs an operand before it", t.start)
                out.append((f" {op} " if out else op, t.start))
                operand = True
                last_indexed = False
                continue
            self.used_index = False
            f = self.factor()
            indexed = self.used_index
            any_indexed = any_indexed or indexed
            if not operand:           # \sum_i x_i y_i: factors that carry the index multiply entrywise
                self._mixed_index(indexed, last_indexed, f, last, t)
                out.append((" ∘ " if indexed and last_indexed else " ", t.start))
            last = f
            out += f
            operand = False
            last_indexed = indexed
        self.depth -= 1
        self.used_index = any_indexed
        if operand:
            t = self.peek()
            at = t.start if t is not None else self.end_pos()
            found = "the end of the input" if t is None else f"'{self.src[t.start:t.end]}'"
            raise self.error(f"expected an expression, found {found}", at)
        return out

    def _mixed_index(self, indexed: bool, last_indexed: bool, f: list, last: list, t: Tok) -> None:
        """In \\sum_i, y_i w^T x_i is no sum of entries: a factor with the index times one without
        (other than a number or a Greek scalar) is refused rather than guessed."""
        if not self.indices or indexed == last_indexed:
            return
        plain = "".join(s for s, _ in (last if indexed else f))
        if not _scalar_text(plain):
            raise self.error(f"inside \\sum_{{{','.join(self.indices)}}}, a factor with the index multiplies "
                             f"`{plain}`, which does not carry it: matdiff reads \\sum_i as the sum of the entries "
                             f"of a vector expression (\\sum_i y_i \\log p_i is sum(y ∘ log(p))); write this sum "
                             f"as a matrix expression", t.start)

    def _closes(self, t: Tok) -> bool:
        return t.side != "open" and t.kind in self.open_bars

    def factor(self) -> list:
        """A primary and its postfix: ^{…}, _{…} (names only), '."""
        t = self.peek()
        if t.kind == "letter" and t.text == "e" and self._next_is("^", 1) and not self._adjacent_letter():
            self.take()
            self.take()
            arg = self._script_tokens()
            inner = self._sub_reader(arg).expression(stops=())
            out = [("exp(", t.start)] + inner + [(")", t.start)]
            return self.postfix(out, t)
        return self.postfix(self.primary(), t)

    def _adjacent_letter(self) -> bool:
        prev = self.toks[self.i - 1] if self.i > 0 else None
        return prev is not None and prev.kind == "letter" and prev.end == self.peek().start

    def _next_is(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.text == text and t.kind == "char"

    def postfix(self, out: list, first: Tok) -> list:
        while True:
            t = self.peek()
            if t is None:
                return out
            if t.text == "^" and t.kind == "char":
                self.take()
                out = self.superscript(out, t)
            elif t.text == "'" and t.kind == "char":
                self.take()
                out = out + [("'", t.start)]
            elif t.text == "ᵀ":
                self.take()
                out = out + [("^T", t.start)]
            elif t.text == "_" and t.kind == "char":
                save = self.i
                self.take()
                sub = [x for x in self._script_tokens() if x.text != ","]
                if self.indices and sub and all(x.kind == "letter" and x.text in self.indices for x in sub):
                    # \sum_j y_j \log \operatorname{softmax}(\theta)_j: the entries of the whole vector
                    self._summed(f"({''.join(x for x, _ in out)})", sub, t)
                    continue
                self.i = save
                raise self.error("a subscript belongs to a name (x_1, W_{12}) or, in \\sum_i, marks an entry; "
                                 f"this one follows `{self.src[first.start:t.start].strip()}`", t.start)
            elif t.text == "!" and t.kind == "char":
                raise self.error("'!' (a factorial) cannot be read", t.start)
            else:
                return out

    def superscript(self, out: list, caret_tok: Tok) -> list:
        arg = self._script_tokens()
        pos = caret_tok.start
        kind = _script_kind(arg, self.src)
        if kind == "T":
            return out + [("^T", pos)]
        if kind == "-T":
            return out + [("^-T", pos)]
        if kind == "'":
            return out + [("'", pos)]
        if kind == "layer":                                     # W^{(1)}: the name W1
            return out + [(kind_digits(arg, self.src), pos)] if _is_name(out) else \
                self._power(out, arg, pos)
        if arg and arg[0].text == r"\circ":                    # X^{\circ 2}: the elementwise power
            rest = arg[1:]
            if not rest:
                raise self.error(r"^{\circ} needs an exponent: X^{\circ 2}", pos)
            k = _number(rest, self.src)
            if k is not None:
                return [("(", pos)] + out + [(f" .^ {{{k}}})", pos)]
            inner = self._sub_reader(rest).expression(stops=())
            if len(rest) == 1 and rest[0].kind in ("letter", "cmd"):
                return [("(", pos)] + out + [(" .^ ", pos)] + inner + [(")", pos)]
            return [("(", pos)] + out + [(" .^ (", pos)] + inner + [("))", pos)]
        return self._power(out, arg, pos)

    def _power(self, out, arg, pos):
        if not arg:
            raise self.error("'^' needs an exponent after it", pos)
        k = _number(arg, self.src)
        if k is not None:
            power = "^-1" if k == "-1" else f"^{{{k}}}"
            if self.indices and self.used_index:                # \sum_i x_i^2: entries squared
                return [("(", pos)] + out + [(f" .^ {{{k}}})", pos)]
            return out + [(power, pos)]
        bad = next((t for t in arg if t.kind == "cmd" and t.text in (r"\ast", r"\dagger", r"\star", r"\prime")), None)
        if bad is not None or any(t.text in ("*", "H", "+") and len(arg) == 1 for t in arg):
            b = bad or arg[0]
            if b.text == r"\prime":
                return out + [("'", pos)]
            raise self.error(f"the superscript {self.src[b.start:b.end]} cannot be read: write ^T for the "
                             f"transpose, ^{{-1}} for the inverse, ^{{k}} for a power", b.start)
        inner = self._sub_reader(arg).expression(stops=())
        return out + [("^(", pos)] + inner + [(")", pos)]

    def _script_tokens(self) -> list:
        """The argument of ^ or _: a {group} or one token (one digit of 23, as TeX reads x^23)."""
        t = self.peek()
        if t is None:
            raise self.error("'^' or '_' needs an argument after it", self.end_pos())
        if t.text == "{" and t.kind == "char":
            return self._group_tokens()
        self.take()
        if t.kind == "cmd" and t.text in NAME_WRAPPERS | set(ACCENTS):
            return [t] + self._group_tokens_keep()
        return [t]

    def _group_tokens(self) -> list:
        """The tokens inside a {group}, the braces consumed."""
        self.expect("char", "{", "{")
        depth, out = 1, []
        while True:
            t = self.take()
            if t is None:
                raise self.error("a { is never closed", self.end_pos())
            if t.text == "{" and t.kind == "char":
                depth += 1
            elif t.text == "}" and t.kind == "char":
                depth -= 1
                if depth == 0:
                    return out
            out.append(t)

    def _group_tokens_keep(self) -> list:
        """A group with its braces (for a wrapper command's argument inside a script)."""
        t = self.peek()
        if t is None or t.text != "{":
            return [self.take()] if t is not None else []
        start = self.i
        self._group_tokens()
        return self.toks[start:self.i]

    def _sub_reader(self, toks: list) -> "Reader":
        r = Reader(self.src, toks, self.functions)
        r.indices, r.depth, r.open_bars, r.index_subs = self.indices, self.depth, (), self.index_subs
        r.bar_marks = self.bar_marks
        return r

    # -- primaries
    def primary(self) -> list:
        t = self.peek()
        if t.kind == "digit" or (t.text == "." and self.peek(1) is not None and self.peek(1).kind == "digit"):
            return self.number()
        if t.kind == "open":
            self.take()
            inner = self.expression(stops=())
            self.expect("close", None, f"a closing parenthesis for the one at column {self._column(t.start)}")
            return [("(", t.start)] + inner + [(")", t.start)]
        if t.kind in ("norm", "bar"):
            return self.bars(t)
        if t.kind == "langle":
            return self.inner_product(t)
        if t.text == "{" and t.kind == "char":                 # a bare group: {a + b}
            toks = self._group_tokens()
            if not toks:
                raise self.error("an empty group {} where an expression was expected", t.start)
            return [("(", t.start)] + self._sub_reader(toks).expression(stops=()) + [(")", t.start)]
        if t.kind == "letter":
            return self.letters()
        if t.kind == "char":
            if t.text in ("𝟙",):
                self.take()
                return self._ones(t)
            if "\u0391" <= t.text <= "\u03c9":
                return self.named()
            raise self.error(f"unexpected '{t.text}'", t.start)
        if t.kind == "cmd":
            return self.command(t)
        raise self.error(f"unexpected '{self.src[t.start:t.end]}'", t.start)

    def _column(self, pos: int) -> int:
        return pos - (self.src.rfind("\n", 0, pos) + 1) + 1

    def number(self) -> list:
        t = self.peek()
        text, last = "", None
        while self.peek() is not None and (self.peek().kind == "digit" or self.peek().text == ".") \
                and (last is None or self.peek().start == last.end):
            if self.peek().text == "." and ("." in text or self.peek(1) is None or self.peek(1).kind != "digit"):
                break
            last = self.take()
            text += last.text
        return [(text, t.start)]

    def letters(self) -> list:
        """Juxtaposed single letters multiply (`Wx` is W x), but a run of letters that spells a
        known function right before its parenthesis is that function (`tr(A)`, `softmax(z)`)."""
        t = self.peek()
        run, j = [t], 1
        while self.peek(j) is not None and self.peek(j).kind == "letter" and self.peek(j).start == run[-1].end:
            run.append(self.peek(j))
            j += 1
        word = "".join(x.text for x in run)
        fn = self._function_word(word) if len(run) > 1 else None
        after = self.peek(len(run))
        if fn and after is not None and after.kind == "open":
            self.i += len(run)
            return self.apply(fn, t, self.functions)
        if len(run) >= 3 and after is not None and after.kind == "open" and after.start == run[-1].end:
            self._misspelt(word, t.start)                 # tanhh(x): not t a n h h times x
        return self.named()

    def _misspelt(self, word: str, pos: int, word_like: bool = False) -> None:
        """A word against its parenthesis that is close to a function's name is refused with the
        suggestion, never read as a product of letters (or of a name) and the parenthesis; a
        lower-case \\text{word}(…) too, as matdiff's notation refuses word(…)."""
        close = difflib.get_close_matches(word, sorted(w for w in self.functions if len(w) > 1), n=3, cutoff=0.75)
        if close:
            raise self.error(f"unknown function '{word}'; did you mean {' or '.join(close)}?", pos, UnknownFunctionError)
        if word_like and word.isalpha() and word.islower() and not F.is_greek(word):
            raise self.error(f"unknown function '{word}'; declare it as an abstract function with "
                             f"functions=['{word}'] (CLI: --fn {word})", pos, UnknownFunctionError)

    def _applied(self) -> bool:
        """Whether a letter that names a function (\\Phi, \\sigma, f) is applied: a parenthesis or a
        prime follows (\\Phi(z), \\Phi'(z), \\Phi^{\\prime}(z)); `\\Phi w` is no application."""
        n = self.peek()
        if n is None:
            return False
        if n.kind == "open" or (n.kind == "char" and n.text == "'"):
            return True
        if n.kind == "char" and n.text == "^":
            save = self.i
            self.take()
            kind = _script_kind(self._script_tokens(), self.src)
            self.i = save
            return kind == "'"
        return False

    def _function_word(self, w: str):
        if w in WORDS:
            return WORDS[w]
        if w in self.functions and (len(w) > 1 or w in F.DEFAULT_ABSTRACT):
            return w
        if w.lower() in F.BUILTIN and len(w) > 1:
            return w.lower()
        return None

    def named(self) -> list:
        """A name: a letter, a Greek letter, a wrapped word, with its subscripts and accents."""
        t = self.peek()
        name, pos = self.name()
        if name in self.functions or F.canonical_function(name) in self.functions:
            if self._applied():
                return self.apply(name, t, self.functions, taken=True)
            if name == "σ":                        # \sigma^2, \sigma x: a variance, a scale; the sigmoid is \sigma(x)
                return [("sigma", pos)]
            written = self.src[t.start:self.toks[self.i - 1].end]
            raise self.error(f"{written} without parentheses: {name} is a function here ({name}(z)); as a "
                             f"variable (a matrix, a vector) it needs another name, such as \\mathbf{{P}}", t.start)
        head = self.undecorated
        nxt = self.peek()
        if len(name) >= 3 and nxt is not None and nxt.kind == "open" and t.kind == "cmd" and t.text in NAME_WRAPPERS \
                and nxt.start == self.toks[self.i - 1].end:       # against its parenthesis: `\\mathit{abc} \\, (x)` multiplies
            self._misspelt(name, t.start, word_like=True)  # \text{tanhh}(x)
        if name != head and head == "σ" and "σ" in self.functions and nxt is not None and nxt.kind == "open":
            # \sigma_o(z), \sigma_h(z): the course sheets' sigmoid, its subscript naming the layer it
            # acts in (the lecture's two-layer net). Said in a note, as every reading that drops something.
            note(f"{name}(…) is read as the sigmoid σ(…), the subscript naming its layer; for another "
                 f"function of that name declare it (functions=['{name}'], CLI --fn {name})", stacklevel=2)
            return self.apply("σ", t, self.functions, taken=True)
        if name != head and head in self.functions and nxt is not None and nxt.kind == "open":
            raise self.error(f"{self.src[t.start:nxt.start].strip()}(…): {head} with a subscript is no function "
                             f"matdiff knows (and not a product either): write {head}(…), or declare {name} as a "
                             f"function (functions=['{name}'], CLI --fn {name})", t.start, UnknownFunctionError)
        return [(name, pos)]

    def name(self) -> tuple:
        """(name text, position) of a name and its subscripts; the tokens consumed."""
        t = self.take()
        if t is None:
            raise self.error("expected a name", self.end_pos())
        if t.kind == "letter":
            base = t.text
        elif t.kind == "char" and "\u0391" <= t.text <= "\u03c9":
            base = t.text
        elif t.kind == "cmd" and t.text[1:] in F.GREEK:
            # \Phi is the function Phi, as matdiff's seeds spell it (Φ would be another function);
            # a Greek letter that names no function is the letter itself (\theta is θ)
            word = t.text[1:]
            base = word if word in self.functions else F.GREEK[word]
        elif t.kind == "cmd" and t.text == r"\ell":
            base = "ell"
        elif t.kind == "cmd" and t.text in ACCENTS:
            inner = self._sub_reader(self._script_tokens())
            sub, _ = inner.name()
            if inner.peek() is not None:
                raise self.error(f"{t.text}{{…}} puts an accent on one name", t.start)
            base = sub + ACCENTS[t.text]
        elif t.kind == "cmd" and t.text in NAME_WRAPPERS:
            base = self._wrapped_word(t)
        else:
            raise self.error(f"expected a name, found '{self.src[t.start:t.end]}'", t.start)
        self.undecorated = base                                 # the name before its subscripts (\Phi_1: Phi)
        while self._next_is("_"):
            u = self.take()
            sub = self._script_tokens()
            before, self.used_index = self.used_index, False
            base = self._subscripted(base, sub, u)
            if self.used_index and t.kind == "cmd" and t.text in _BOLD:
                raise self.error(f"{self.src[t.start:u.end]}{self.src[sub[0].start:sub[-1].end]} inside \\sum: a bold "
                                 f"name with the index is the i-th of several vectors, which matdiff cannot index; "
                                 f"write the sum over vectors as a matrix expression (X w for the w^T x_i)", t.start)
            self.used_index = self.used_index or before
        if self._next_is("^"):                                  # W^{(1)}: the layer's name W1
            save = self.i
            self.take()
            arg = self._script_tokens()
            if _script_kind(arg, self.src) == "layer":
                return base + kind_digits(arg, self.src), t.start
            self.i = save
        return base, t.start

    def _wrapped_word(self, t: Tok) -> str:
        """\\mathbf{x} -> x, \\boldsymbol{\\theta} -> θ, \\mathrm{ab} -> ab, \\mathcal{L} -> L."""
        toks = self._script_tokens()
        if len(toks) == 1 and toks[0].kind == "cmd" and toks[0].text[1:] in F.GREEK:
            return F.GREEK[toks[0].text[1:]]
        if toks and toks[0].kind == "cmd" and toks[0].text in ACCENTS | {k: 0 for k in NAME_WRAPPERS}.keys():
            inner = self._sub_reader(toks)
            name, _ = inner.name()
            return name
        word = "".join(self.src[x.start:x.end] for x in toks)
        if not word:
            raise self.error(f"{t.text}{{}} is empty", t.start)
        if not re.fullmatch(r"[A-Za-z0-9\u0391-\u03c9]+", word):
            raise self.error(f"{t.text}{{{word}}} cannot be a name: a name is letters and digits", t.start)
        return word

    def _summed(self, base: str, letters: list, u: Tok) -> str:
        """x_i, A_{ij} in \\sum_{i,j}: the whole of x, A, entry by entry. Refused where that would
        answer another question: a diagonal (A_{ii} is tr(A)), an index left free (\\sum_i A_{ij}),
        indices of different kinds or orders in one summand (x_i A_{ij} y_j is x^T A y, A_{ij} B_{ji}
        is tr(A B))."""
        written = f"{base}_{{{self.src[letters[0].start:letters[-1].end]}}}"
        names = tuple(x.text for x in letters)
        if not all(x.kind == "letter" and x.text in self.indices for x in letters):
            raise self.error(f"{written}: some of its indices are summed and some are not; matdiff reads \\sum "
                             f"as the sum of all entries: write it as a matrix expression (A^T 1, A 1)", u.start)
        if len(set(names)) < len(names):
            raise self.error(f"{written} repeats an index (a diagonal): write \\operatorname{{tr}}(…) or "
                             f"\\operatorname{{diag}}(…)", u.start)
        self.index_subs.add(names)
        if len(self.index_subs) > 1:
            kinds = ", ".join("_" + "".join(k) for k in sorted(self.index_subs))
            raise self.error(f"{written}: the summand's entries are indexed in different ways ({kinds}): that is a "
                             f"matrix product or a transpose, not an entrywise product; write it as a matrix "
                             f"expression (x^T A y, \\operatorname{{tr}}(A B))", u.start)
        self.used_index = True
        return base

    def _subscripted(self, base: str, sub: list, u: Tok) -> str:
        if not sub:
            raise self.error("an empty subscript", u.start)
        letters = [x for x in sub if x.text != ","]
        if self.indices and any(x.kind == "letter" and x.text in self.indices for x in letters):
            return self._summed(base, letters, u)                 # \sum_i x_i: x
        text = ""
        for part in _split_commas(sub):
            if all(x.kind == "digit" for x in part) and part:
                digits = "".join(x.text for x in part)
                text += digits if not text else "_" + digits
            else:
                r = self._sub_reader(part)
                if self.indices and all(x.kind == "letter" and x.text in self.indices for x in part):
                    self.used_index = True
                    continue
                name, _ = r.name()
                while r.peek() is not None and r.peek().kind in ("letter", "digit"):
                    name += r.take().text
                if r.peek() is not None:
                    bad = r.peek()
                    raise self.error(f"the subscript `{self.src[sub[0].start:sub[-1].end]}` cannot be read: "
                                     f"a subscript is a name or digits (x_1, W_{{12}}, \\delta_z)", bad.start)
                text += "_" + name
        if text and text[0] != "_" and base[-1:].isdigit():
            text = "_" + text                                      # W1 with _2: W1_2
        return base + text

    # -- commands
    def command(self, t: Tok) -> list:
        c = t.text
        if c[1:] in F.GREEK or c in ACCENTS or c == r"\ell":
            return self.named()
        if c in NAME_WRAPPERS:
            return self.wrapped(t)
        if c in (r"\frac", r"\tfrac", r"\dfrac", r"\cfrac"):
            self.take()
            start = self.i
            top, bottom = self._sub_reader(self._script_tokens()), None
            self._not_a_derivative(t, self.toks[start:self.i])
            num = top.expression(stops=())
            bottom = self._sub_reader(self._script_tokens())
            den = bottom.expression(stops=())
            self.used_index = top.used_index or bottom.used_index
            over = " ./ " if bottom.used_index else " / "     # \sum_j \frac{y_j}{p_j}: entry by entry
            return [("((", t.start)] + num + [(")" + over + "(", t.start)] + den + [("))", t.start)]
        if c == r"\sqrt":
            self.take()
            if self.peek() is not None and self.src[self.peek().start] == "[":
                raise self.error(r"\sqrt[n]{…}: only square roots are supported", t.start)
            arg = self._sub_reader(self._script_tokens()).expression(stops=())
            return [("sqrt(", t.start)] + arg + [(")", t.start)]
        if c == r"\sum":
            return self.summation(t)
        if c in FUNCTION_COMMANDS:
            self.take()
            if c == r"\log" and self.peek() is not None and self.peek().text == r"\det":
                self.take()                                       # \log\det X: logdet(X)
                return self.apply("logdet", t, self.functions, taken=True)
            return self.apply(FUNCTION_COMMANDS[c], t, self.functions, taken=True)
        if c in UNSUPPORTED:
            raise self.error(f"the LaTeX command {c} cannot be read: {UNSUPPORTED[c]}", t.start)
        if c in (r"\begin", r"\end"):
            raise self.error(f"{c}{{…}} inside a formula cannot be read (matrices written entry by entry "
                             f"are not supported)", t.start)
        if c in IGNORED:
            self.take()
            return self.factor()
        raise self.error(f"unknown LaTeX command {c}: matdiff reads the math of matrix calculus (\\frac, "
                         f"^\\top, \\operatorname{{tr}}, \\log, \\det, \\odot, \\|x\\|, \\sum, Greek letters, …)",
                         t.start)

    def _not_a_derivative(self, t: Tok, numerator: list) -> None:
        """\\frac{d}{dx} and \\frac{df}{dx} are derivatives, never d times f over d times x."""
        body = [x for x in numerator if x.text not in ("{", "}") and not (x.kind == "cmd" and x.text in NAME_WRAPPERS)]
        k = 0
        while self.peek(k) is not None and (self.peek(k).text == "{" or self.peek(k).text in NAME_WRAPPERS):
            k += 1
        nxt = self.peek(k)
        if body and body[0].text == "d" and (len(body) == 1 or body[1].kind in ("letter", "cmd")) \
                and nxt is not None and nxt.text == "d":
            raise self.error(f"{self.src[t.start:nxt.end]}…: a derivative cannot be read: write the function "
                             f"itself and ask for its derivative (API wrt=…, CLI --wrt)", t.start)

    def wrapped(self, t: Tok) -> list:
        """\\mathbf{1} and \\mathbb{1} are the ones vector, \\mathbf{I} the identity; a word that
        names a function applies (\\operatorname{tr} A, \\text{ReLU}(z)); otherwise a name."""
        toks_start = self.i
        self.take()
        arg = self._script_tokens()
        word = "".join(self.src[x.start:x.end] for x in arg)
        if word == "1":
            return self._ones(t)
        if t.text == r"\mathbb" and word not in ("I",):
            raise self.error(f"the LaTeX command \\mathbb{{{word}}} cannot be read: " + (
                UNSUPPORTED[r"\mathbb"] if word in ("R", "C", "N", "Z") else
                "expectations are not supported" if word == "E" else "only \\mathbb{1} (the ones vector) is read"),
                t.start)
        fn = self._function_word(word) if re.fullmatch(r"[A-Za-z]+", word) else None
        if fn is not None and (len(word) > 1 or t.text == r"\operatorname"):
            return self.apply(fn, t, self.functions, taken=True)
        if t.text == r"\operatorname":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "open" and re.fullmatch(r"[A-Za-z]\w*", word):
                raise self.error(f"unknown function '{word}'; declare it as an abstract function with "
                                 f"functions=['{word}'] (CLI: --fn {word})", t.start, UnknownFunctionError)
        self.i = toks_start
        return self.named()

    def _ones(self, t: Tok) -> list:
        if self._next_is("_"):
            self.take()
            sub = self._script_tokens()
            size = "".join(self.src[x.start:x.end] for x in sub)
            if not re.fullmatch(r"[A-Za-z0-9]+", size):
                raise self.error(f"the ones vector's size is a name or a number, got {size}", sub[0].start)
            return [(f"1_{{{size}}}", t.start)]
        return [("𝟙", t.start)]

    def apply(self, fn: str, t: Tok, functions, taken: bool = False) -> list:
        """A function and its argument: in parentheses (f(x), f(x, y)), or without them the
        juxtaposed factors that follow (\\log\\det X, \\operatorname{tr} A^T B), up to an operator.
        \\tanh^2(x) is tanh(x) squared, entrywise; \\Phi'(z) the derivative."""
        primes, power = "", None
        while True:
            n = self.peek()
            if n is not None and n.text == "'" and n.kind == "char":
                self.take()
                primes += "'"
            elif n is not None and n.text == "^" and n.kind == "char":
                self.take()
                arg = self._script_tokens()
                if _script_kind(arg, self.src) == "'":
                    primes += "'"
                    continue
                k = _number(arg, self.src)
                if k is None or k.startswith("-"):
                    raise self.error(f"{self.src[t.start:n.start].strip()}^{{…}}: a power of a function is "
                                     f"a positive number (\\tanh^2(x)); an inverse function is not supported",
                                     n.start)
                power = k
            elif n is not None and n.text == "_" and n.kind == "char" and fn in ("softmax", "logsumexp", "logsoftmax"):
                self.take()
                axis = "".join(self.src[x.start:x.end] for x in self._script_tokens())
                axis = re.sub(r"\\text\{(\w+)\}|\\mathrm\{(\w+)\}", lambda m: m.group(1) or m.group(2), axis)
                if axis not in F.AXES:
                    raise self.error(f"{fn}_{{{axis}}}: the subscript is rows or cols", n.start)
                fn = (fn, axis)
            elif n is not None and n.text == "_" and n.kind == "char" and fn == "unvec":
                self.take()                             # unvec_{n \times m}(v) is unvec(v, n, m)
                sizes = self._script_tokens()
                cut = [k for k, x in enumerate(sizes) if x.text == r"\times"]
                if len(cut) != 1 or cut[0] == 0 or cut[0] == len(sizes) - 1:
                    raise self.error("unvec_{rows \\times cols}(v): the subscript is two sizes", n.start)
                rows, cols = (self._sub_reader(part).expression(stops=()) for part in (sizes[:cut[0]], sizes[cut[0] + 1:]))
                fn = (fn, "".join(x for x, _ in rows) + ", " + "".join(x for x, _ in cols))
            else:
                break
        name = fn[0] if isinstance(fn, tuple) else fn
        head = [(name + primes + "(", t.start)]
        n = self.peek()
        if n is not None and n.kind == "open":
            self.take()
            args = [self.expression(stops=(",",))]
            while self._next_is(","):
                self.take()
                args.append(self.expression(stops=(",",)))
            self.expect("close", None, f"a closing parenthesis for {name}(")
        else:
            if n is None or n.kind in ("close",) or (n.text in BINARY and n.kind in ("char", "cmd")) \
                    or n.text in ("=", ",", "}"):
                raise self.error(f"the function {name} needs an argument", t.start)
            args = [self.juxtaposed()]
        body = head
        for j, a in enumerate(args):
            body = body + ([(", ", t.start)] if j else []) + a
        if isinstance(fn, tuple):
            body = body + [(f", {fn[1]}", t.start)]
        body = body + [(")", t.start)]
        if power is not None:
            body = [("(", t.start)] + body + [(f" .^ {{{power}}})", t.start)]
        return body

    def juxtaposed(self, products: bool = False) -> list:
        """The factors after a function written without parentheses, up to an operator or a closer;
        with products (a \\sum's summand), across \\cdot, \\times, \\odot and / too, up to + or -."""
        out, last_indexed, any_indexed, last, op = [], False, False, [], None
        while True:
            t = self.peek()
            if products and out and op is None and t is not None and t.kind in ("char", "cmd") \
                    and BINARY.get(t.text) in ("*", "∘", "./", "/"):
                op = BINARY[self.take().text]
                continue
            if t is None or t.kind in ("close", "rangle") or t.text in ("}", "=", ",") \
                    or (t.text in BINARY and t.kind in ("char", "cmd")) or (t.kind == "cmd" and t.text == r"\end"):
                if op is not None:
                    raise self.error(f"expected a factor after '{op}'", t.start if t else self.end_pos())
                break
            if t.kind in ("norm", "bar") and out and self._closes(t):
                break
            self.used_index = False
            f = self.factor()
            indexed = self.used_index
            if out and op not in ("∘", "./"):
                self._mixed_index(indexed, last_indexed, f, last, t)
            both = indexed and last_indexed
            join = {None: " ∘ " if both else " ", "*": " ∘ " if both else " * ", "/": " ./ " if both else " / ",
                    "∘": " ∘ ", "./": " ./ "}[op]
            out += ([(join, t.start)] if out else []) + f
            last_indexed, last, op = indexed, f, None
            any_indexed = any_indexed or indexed
        self.used_index = any_indexed
        return out

    def summation(self, t: Tok) -> list:
        """\\sum x, \\sum_i x_i, \\sum_{i=1}^n x_i: the sum of all entries of the summand."""
        self.take()
        indices = []
        for _ in range(2):
            if self._next_is("_"):
                self.take()
                sub = self._script_tokens()
                head = []
                for x in sub:
                    if x.text in ("=", r"\in"):
                        break
                    head.append(x)
                if not all(x.kind == "letter" or x.text == "," for x in head):
                    raise self.error("\\sum_{…}: the subscript is the summation index (\\sum_i, \\sum_{i=1}^n)",
                                     sub[0].start if sub else t.start)
                indices += [x.text for x in head if x.kind == "letter"]
            elif self._next_is("^"):
                self.take()
                self._script_tokens()                             # the upper bound: all entries
        saved, saved_subs = self.indices, self.index_subs
        self.indices, self.index_subs = saved + indices, set()
        try:
            n = self.peek()
            if n is None or n.kind == "close" or (n.text in BINARY and n.kind in ("char", "cmd")):
                raise self.error("\\sum needs a summand", t.start)
            arg = self.juxtaposed(products=True)
        finally:
            self.indices, self.index_subs = saved, saved_subs
        self.used_index = False
        return [("sum(", t.start)] + arg + [(")", t.start)]

    def bars(self, t: Tok) -> list:
        """\\|x\\| (a norm, with _2, _F, _1) and |X| (the determinant of a square matrix, the
        absolute value of a scalar: inference decides)."""
        self.take()
        if t.side == "close":
            raise self.error(f"'{self.src[t.start:t.end]}' closes a bar that was never opened", t.start)
        saved = self.open_bars
        self.open_bars = saved + (t.kind,)
        try:
            inner = self.expression(stops=())
        finally:
            self.open_bars = saved
        close = self.peek()
        if close is None or close.kind != t.kind:
            what = "\\|" if t.kind == "norm" else "|"
            raise self.error(f"the bar opened here is never closed: expected {what}", t.start)
        self.take()
        if t.kind == "bar":
            mark = [("det(", t.start)]
            self.bar_marks.append((mark, t.start, self.src[t.start:close.end]))
            return mark + inner + [(")", t.start)]
        out = [("||", t.start)] + inner + [("||", close.start)]
        if self._next_is("^"):                      # \|x\|^2_2 is \|x\|_2^2: the subscript first
            save = self.i
            self.take()
            self._script_tokens()
            if self._next_is("_"):
                out = self._norm_subscript(out)
                after = self.i
                self.i = save
                out = self.superscript(out, self.take())
                self.i = after
                return out
            self.i = save
        return self._norm_subscript(out)

    def _norm_subscript(self, out: list) -> list:
        if self._next_is("_"):
            u = self.take()
            sub = "".join(self.src[x.start:x.end] for x in self._script_tokens())
            if sub not in ("2", "F", "1", "\\mathrm{F}", "\\text{F}", "\\mathrm{Fro}"):
                raise self.error(f"the norm subscript {sub} is not supported: matdiff computes \\|X\\|_F (the "
                                 f"Frobenius norm), \\|x\\| or \\|x\\|_2 (the Euclidean norm of a vector) and "
                                 f"\\|x\\|_1 (the 1-norm of a vector)", u.start)
            out.append(("_" + ("F" if "F" in sub else sub), u.start))
        return out

    def inner_product(self, t: Tok) -> list:
        """⟨A, B⟩ = tr(A^T B), for vectors and matrices alike."""
        self.take()
        a = self.expression(stops=(",",))
        self.expect("char", ",", "a comma between the two sides of ⟨A, B⟩")
        b = self.expression(stops=(",",))
        self.expect("rangle", None, "\\rangle closing ⟨A, B⟩")
        return [("tr((", t.start)] + a + [(")^T (", t.start)] + b + [("))", t.start)]


def _equations(line: list) -> list:
    """`h = \\tanh(Wx), \\quad y = v^T h`: equations on one line, separated by commas, are lines."""
    parts, cur, depth = [], [], 0
    for k, x in enumerate(line):
        depth += (x.text == "{" or x.kind in ("open", "langle")) - (x.text == "}" or x.kind in ("close", "rangle"))
        if x.text == "," and x.kind == "char" and depth == 0 and cur and _has_equals(line[k + 1:]):
            parts.append(cur)
            cur = []
            continue
        cur.append(x)
    parts.append(cur)
    return parts


def _has_equals(toks: list) -> bool:
    """Whether an `=` stands at the top level before the next top-level comma."""
    depth = 0
    for x in toks:
        depth += (x.text == "{" or x.kind in ("open", "langle")) - (x.text == "}" or x.kind in ("close", "rangle"))
        if depth == 0 and x.kind == "char" and x.text == ",":
            return False
        if depth == 0 and x.kind == "char" and x.text == "=":
            return True
    return False


def kind_digits(arg: list, src: str) -> str:
    return "".join(x.text for x in arg if x.kind == "digit")


def _scalar_text(s: str) -> bool:
    """A number, a fraction of numbers, or a Greek lower-case name: a scalar without shapes."""
    s = s.strip()
    return bool(re.fullmatch(r"-?[\d.]+|\(\(\d+\) / \(\d+\)\)", s)) or (
        re.fullmatch(r"[\u03b1-\u03c9]\w*", s) is not None and F.is_greek_lower(s))


def _is_name(out: list) -> bool:
    return len(out) == 1 and re.fullmatch(r"[A-Za-z\u0391-\u03c9]\w*", out[0][0]) is not None


def _split_commas(toks: list) -> list:
    parts, cur = [], []
    for x in toks:
        if x.text == ",":
            parts.append(cur)
            cur = []
        else:
            cur.append(x)
    parts.append(cur)
    return [p for p in parts if p]


def _script_kind(arg: list, src: str) -> str:
    """What a superscript says: "T" (the transpose), "-T", "'" (a prime), "layer" (W^{(1)}), or ""."""
    texts = [x.text for x in arg if x.text not in ("{", "}")]
    if texts in (["T"], [r"\top"], [r"\intercal"], ["ᵀ"], [r"\mathsf", "T"], [r"\mathrm", "T"], [r"\text", "T"],
                 [r"\textsf", "T"], [r"\mathbf", "T"], [r"\mathit", "T"], [r"\rm", "T"], [r"\sf", "T"]):
        return "T"
    if texts and texts[0] == "-" and _script_kind(arg[1:], src) == "T":
        return "-T"
    if texts in (["'"], [r"\prime"]):
        return "'"
    if len(texts) >= 3 and texts[0] == "(" and texts[-1] == ")" and all(x.isdigit() for x in texts[1:-1]):
        return "layer"
    return ""


def _number(arg: list, src: str) -> str | None:
    """A numeric exponent: 2, -1, 0.5, 1/2, \\frac{1}{2}, -\\frac12, as the text matdiff reads in ^{…}."""
    texts = [x.text for x in arg]
    sign = ""
    if texts[:1] == ["-"]:
        sign, texts = "-", texts[1:]
    s = "".join(texts)
    if re.fullmatch(r"\d+(\.\d+)?(/\d+)?", s):
        return sign + s
    m = re.fullmatch(r"\\[dt]?frac\{?(\d)\}?\{?(\d+)\}?", s)
    if m:
        return sign + f"{m.group(1)}/{m.group(2)}"
    m = re.fullmatch(r"\\[dt]?frac\{(\d+)\}\{(\d+)\}", s)
    if m:
        return sign + f"{m.group(1)}/{m.group(2)}"
    return None


def _error(src: str, message: str, pos: int, cls=ParseError) -> ParseError:
    line = src.count("\n", 0, pos) + 1
    column = pos - (src.rfind("\n", 0, pos) + 1) + 1
    return cls(f"line {line}, column {column}: {message}\n{caret(src, line, column)}", line, column)


# ---- the translation --------------------------------------------------------------------------

@dataclass(frozen=True)
class Translation:
    """matdiff's notation for a LaTeX input: `text`, and `positions[k]`, the LaTeX offset of text[k];
    `bars`: the offset in text of each `det` read from |X| -> where that |X| stands (for Det's `at`)."""
    latex: str
    text: str
    positions: tuple
    bars: dict

    def source_offset(self, k: int) -> int:
        if not self.positions:
            return 0
        return self.positions[min(max(k, 0), len(self.positions) - 1)]


def translate(src: str, functions=()) -> Translation:
    """LaTeX math (with or without $…$ around it) -> matdiff's notation and where each character came from."""
    if not isinstance(src, str):
        raise ParseError(f"expected the text of an expression, got {type(src).__name__}")
    check_text(src)
    span = delimited(src)
    start, end = span if span is not None else (0, len(src))
    names = F.function_names(functions)
    reader = Reader(src, tokenize(src, start, end), names)
    pieces = []
    for k, line in enumerate(reader.program()):
        if k:
            pieces.append(("\n", line[0].start))
        pieces += reader.line(line)
    text, positions, bars = [], [], {}
    for s, pos in pieces:
        text.append(s)
        positions += [pos] * len(s)
    # where each `det(` of a |X| landed in the text
    offset = 0
    bar_at = {pos: written for _, pos, written in reader.bar_marks}
    for s, pos in pieces:
        if s == "det(" and pos in bar_at:
            line = src.count("\n", 0, pos) + 1
            column = pos - (src.rfind("\n", 0, pos) + 1) + 1
            bars[offset] = (line, column, caret(src, line, column), bar_at[pos], "bars")
        offset += len(s)
    return Translation(src, "".join(text), tuple(positions), bars)


def parse_latex(src: str, functions=()):
    """Parse LaTeX math into a Program with matdiff's one parser; its errors point into the LaTeX."""
    from matdiff.language.parse import parse
    t = translate(src, functions)
    try:
        program = parse(t.text, functions, syntax="matdiff", _bars=t.bars)
    except ParseError as e:
        raise relocate(e, t) from None
    memo: dict = {}                       # shared by every line: a node is rebuilt once
    fix = lambda e: transform(e, lambda n, kids: _located(with_children(n, kids) if kids else n, t), memo)  # noqa: E731
    return Program(tuple(replace(d, value=fix(d.value)) for d in program.defs), fix(program.result), program.name)


def _located(e, t: Translation):
    """A node that keeps where it stands for a later message (a norm, a softmax: `at` is line,
    column, caret, ...) located in the translation: the same, located in the LaTeX."""
    at = getattr(e, "at", None)
    if not at or isinstance(e, Det) or not isinstance(at[0], int):
        return e
    lines = t.text.split("\n")
    k = sum(len(x) + 1 for x in lines[:at[0] - 1]) + at[1] - 1
    pos = t.source_offset(k)
    line = t.latex.count("\n", 0, pos) + 1
    column = pos - (t.latex.rfind("\n", 0, pos) + 1) + 1
    return replace(e, at=(line, column, caret(t.latex, line, column)) + tuple(at[3:]))


def relocate(e: ParseError, t: Translation) -> ParseError:
    """A ParseError about the translation, pointed at the LaTeX it came from, with the reading shown."""
    message = str(e)
    if e.line is None:
        return type(e)(f"{message}\n(the LaTeX was read as: {t.text})")
    lines = message.split("\n")
    head = lines[0]
    m = re.match(r"line \d+, column \d+: ", head)
    what = head[m.end():] if m else head
    extra = "\n".join(lines[1:-2]) if len(lines) > 3 else ""
    text_lines = t.text.split("\n")
    k = sum(len(x) + 1 for x in text_lines[:e.line - 1]) + e.column - 1
    pos = t.source_offset(k)
    read = text_lines[e.line - 1] if 0 < e.line <= len(text_lines) else t.text
    line = t.latex.count("\n", 0, pos) + 1
    column = pos - (t.latex.rfind("\n", 0, pos) + 1) + 1
    body = f"line {line}, column {column}: {what} (the LaTeX was read as `{read}`)" + (f"\n{extra}" if extra else "")
    return type(e)(f"{body}\n{caret(t.latex, line, column)}", line, column)


def to_matdiff(src: str, functions=(), syntax: str = "auto") -> str:
    """How an input is read, in matdiff's notation (the text itself when it is matdiff's already)."""
    return translate(src, functions).text if wants_latex(src, syntax) else src


__all__ = ["translate", "parse_latex", "wants_latex", "to_matdiff", "Translation", "SYNTAXES"]
