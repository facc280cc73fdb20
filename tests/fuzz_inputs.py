"""Hostile input for the fuzz tests and scripts/fuzz.py: every entry point, mutated and odd input.

A `Case` is what a user hands matdiff: the text, shapes=, functions=, the variable, a claim.
`cases(rng)` makes them (mutants of a corpus of valid programs, token splices, deep nesting,
huge numbers, unicode look-alikes and control characters, odd function names, odd shapes),
and `probe(case)` sends one through every entry point a user can reach, the API and every CLI
subcommand (in-process, through `matdiff.cli.main`), and returns what went wrong as `Finding`s:

- an exception that is not a MatdiffError (or a CLI run with a traceback, or an exit other
  than 0, 1 or 2);
- a call slower than LIMITS.max_seconds plus a margin (the fuzz sets the limit small);
- generated code whose numbers differ from matdiff's own evaluator (numeric.py): a silent
  wrong answer, the worst kind; generated code that accepts inputs of inconsistent sizes;
  --emit text that does not compile.

Each entry point is a function of the case alone (`ENTRIES`), so that a finding can be
re-run and minimised on its own (scripts/fuzz.py does).
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import random
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace

import numpy as np

import matdiff
from matdiff import api
from matdiff.errors import MatdiffError
from matdiff.limits import LIMITS

from seed_cases import GRAPH001, MLP2, SEEDS as SEED_CASES, SOFTMAX_NET, TUTORIAL12

SECONDS = 5.0          # LIMITS.max_seconds during the fuzz
MARGIN = 2.0           # a call may overrun its limit by this much (the clock is read between steps)

# ---- the corpus ---------------------------------------------------------------------------------

# the grammar's own terminals and the names and functions users write
TOKENS = ["x", "y", "A", "B", "W", "b", "c", "alpha", "θ", "\\theta", "I", "2", "0.5", "1/2", "0",
          "+", "-", "*", "/", "./", ".*", "∘", "⊙", "⊗", "^T", "'", "ᵀ", "^-1", "^{-1}", "^2", "^{3}",
          ".^ 2", "^-T", "(", ")", ",", "||", "‖", "||_F", "||_2", "=", "\n", ";", "# note\n",
          "tr(", "Tr(", "det(", "logdet(", "log(", "exp(", "sin(", "cos(", "tanh(", "sigmoid(", "σ(",
          "relu(", "softplus(", "sqrt(", "Phi(", "Psi'(", "Φ(", "φ''(", "softmax(", "logsumexp(",
          "norm(", "sum(", "diag(", "kron(", "vec(", "inv(", "trace(", "\\sigma(", " ", "  ",
          "abs(", "sign(", "tan(", "arcsin(", "acos(", "atan(", "sinh(", "cosh(", "norm1(", "norm2(", "||_1",
          # issue 14: NumPy's and matrixcalculus.org's spellings, the Frobenius product
          "@", ".T", "**", "** 2", ".dot(", "np.", "np.sum(", "np.linalg.inv(", "jnp.exp(", "dot(", ":",
          "<", ">", "⟨", "⟩", "1./", "2.*", "vector(1)"]

README = [
    TUTORIAL12,
    SOFTMAX_NET,
    "x^T A x", "log(det(X))", "inv(A)", "tanh(W x)", "W x", "logdet(X)",
    "1/2 ||W2 tanh(W1 x) - t||^2", "sum(softplus(X w))", "(a^T X b) / (c^T X d)",
    "Phi'(z) ∘ W^T v", "A^-T", "A .* B + A ./ B", "sum(diag(x) A)", "A ⊗ B", "vec(X)",
    "W1 x + b_2", "1 - z .^ 2", "||x||", "||X||_F^2", "norm(x)",
    "sum(abs(W x - y)) + ||x||_1", "norm1(X) + norm2(X)", "sum(asin(tanh(x) / 2)) + atan(c^T x)",
    "sum(sign(x) .* tan(x)) + cosh(a^T x) + sum(sinh(x))",
    "x.T @ A @ x / (x.T @ x)", "np.sum(np.exp(W @ x) * v) + np.trace(np.linalg.inv(A) @ B)",
    "sum(log(exp(-y.*(X*w))+vector(1)))", "A : X + <B, X> - -tr(2 X - -C)", "||(alpha ||x||^2) y||",
]

SEEDS = [
    TUTORIAL12,
    SOFTMAX_NET,
    MLP2,
    "x^T A x + b^T x",
    "logdet(S) + (x - m)^T inv(S) (x - m)",
    "||X W - Y||_F^2 + lambda ||W||_F^2",
    "sum(sigmoid(X w)) + tr(A^2 B)",
    GRAPH001,
    "sum(diag(x) A) + sum(kron(A, B))",
    "logsumexp(W x) - y^T W x",
    "tr(A X B X^T) + det(X)",
    "alpha ||w||^2 + sum(log(sigmoid(y ∘ (X w))))",
    "vec(X)^T vec(Y) + sum(X^3)",
    "sqrt(x^T x) + exp(-x^T x)",
]

# (text, shapes, wrt) where they are known: the 25 seed problems of the acceptance check
CORPUS = [(c.src, dict(c.shapes), c.wrt) for c in SEED_CASES] + [(s, None, None) for s in SEEDS + README]

# look-alikes, marks and controls: each must parse to the same thing, or be refused with a caret
UNICODE = ["θ", "ϑ", "φ", "ϕ", "Φ", "ψ", "Ψ", "σ", "λ", "µ", "μ", "Ｘ", "ｘ", "Ｗ", "１", "＋", "（", "）",
           "\u0301", "\u0308", "\u200f", "\u202e", "\u200b", "\ufeff", "\x00", "\u2028", "\r", "\t", "\x0c",
           "ﬁ", "²", "³", "ᵀ", "⁻¹", "𝑥", "𝐖", "ℝ", "∑", "∂", "−", "·", "×", "√", "Ⅰ", "ⅰ", "\U0001F600",
           "\\alpha", "\\phi", "\\varphi", "\\vartheta", "\\", "\udcff"]

# names for functions= / --fn that generated code or the parser could trip on
ODD_FUNCTIONS = ["lambda", "None", "True", "def", "return", "class", "np", "jnp", "torch", "math", "t1", "t2",
                 "Phi_prime", "Phi_prime_prime", "f", "value_and_grad", "grad_x", "grad_W", "delta_z", "z1",
                 "dtype", "x", "W", "b", "n", "I", "sum", "tr", "exp", "tanh", "sigmoid", "relu", "print",
                 "__import__", "__builtins__", "eval", "exec", "open", "ϕ", "φ", "ϑ", "θ", "Ｆ", "ﬁ", "f\u0301",
                 "é", "e\u0301", "_", "__", "A1", "f_1", "F", "Phi", "Psi", "g'", "1f", "a b", "", " ", "f(x)",
                 "sin2", "softmaxx", "K", "T", "d", "dW", "self", "args", "values", "out"]

# declared shapes a user may get wrong
ODD_DIMS = [0, -1, -3, 1, 2, 3, 10**6, 10**12, 2.5, float("nan"), True, None, "", " ", "n", "m", "x", "W", "I",
            "n m", "2", "n*m", "ℝ", "θ", "lambda", "None", ("*", "n", "m"), [3]]


@dataclass
class Case:
    """One user input: text, shapes=, functions=, the variable, and a claimed gradient."""
    src: str
    shapes: dict | None = None
    functions: list | None = None
    wrt: str = "x"
    claim: str | None = None
    seed: int = 0

    def short(self, n: int = 240) -> str:
        src = repr(self.src)
        parts = [src if len(src) <= n else f"{src[:n]}... ({len(self.src)} characters)"]
        if self.shapes:
            parts.append(f"shapes={self.shapes!r}")
        if self.functions:
            parts.append(f"functions={self.functions!r}")
        parts.append(f"wrt={self.wrt!r}")
        if self.claim is not None:
            claim = repr(self.claim)
            parts.append(f"claim={claim if len(claim) <= n else claim[:n] + '...'}")
        return ", ".join(parts)


# ---- mutations ----------------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def token_soup(rng: random.Random, n: int | None = None) -> str:
    return "".join(rng.choice(TOKENS) + rng.choice(["", " "]) for _ in range(n or rng.randint(1, 25)))


def mutant(rng: random.Random, src: str | None = None) -> str:
    """A valid program with a few characters or tokens deleted, doubled, swapped or inserted."""
    s = src or rng.choice(SEEDS)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(s) + 1)
        op = rng.randrange(4)
        if op == 0 and s:
            s = s[:i] + s[i + 1:]
        elif op == 1:
            s = s[:i] + rng.choice(TOKENS) + s[i:]
        elif op == 2 and i < len(s):
            s = s[:i] + s[i] + s[i:]
        elif s:
            j = rng.randrange(len(s))
            a, b = sorted((i % len(s), j))
            s = s[:a] + s[b:b + 1] + s[a + 1:b] + s[a:a + 1] + s[b + 1:]
    return s


def splice(rng: random.Random) -> str:
    """The head of one program and the tail of another, cut at token boundaries."""
    a, b = (rng.choice(CORPUS)[0] for _ in range(2))
    cut_a = [m.start() for m in re.finditer(r"\s|\(|\)", a)] or [len(a)]
    cut_b = [m.start() for m in re.finditer(r"\s|\(|\)", b)] or [0]
    return a[:rng.choice(cut_a)] + b[rng.choice(cut_b):]


def nested(rng: random.Random) -> str:
    """Deep nesting of every kind the grammar has, around a valid expression."""
    k = rng.choice([5, 30, 120, 260, 600, 3000])
    core = rng.choice(["x^T A x", "x", "A", "sum(W x)", "alpha"])
    kind = rng.randrange(9)
    if kind == 0:
        return "(" * k + core + ")" * k
    if kind == 1:
        f = rng.choice(["tanh", "exp", "sin", "sigmoid", "Phi", "sqrt", "relu", "softplus"])
        return f"sum({f}(" * 1 + f"{f}(" * k + "W x" + ")" * k + "))"
    if kind == 2:
        return "tr(" + "A" + "^-1" * k + ")"
    if kind == 3:
        return "x^T " + "A " * k + "x"
    if kind == 4:
        return "-" * k + core
    if kind == 5:
        return "tr(A" + "^T" * k + ")"
    if kind == 6:
        return "\n".join([f"h{i} = h{i - 1} + x" if i else "h0 = x" for i in range(min(k, 2100))] + ["L = sum(h%d)" % (min(k, 2100) - 1)])
    if kind == 7:
        return "sum(" + "inv(" * k + "A" + ")" * k + ")"
    return "x^T x" + " + x^T x" * k


def huge_number(rng: random.Random, src: str | None = None) -> str:
    """A number too big, too small or too long where a number or a name stood."""
    s = src or rng.choice(CORPUS)[0]
    num = rng.choice(["9" * rng.choice([20, 400, 5000]), "1" + "0" * 400, "0." + "0" * 400 + "1", "1e308", "1e-400",
                      "1/0", "0/0", "10^400", "2^-1100", "123456789012345678901234567890/3", "0.5e1000",
                      "1" * 99 + "/" + "3" * 99, "00000", "1.", ".5", "1.2.3", "1_000"])
    spots = [m.start() for m in re.finditer(r"\d+|\b[a-z]\b", s)] or [0]
    i = rng.choice(spots)
    j = i + (len(m.group()) if (m := re.match(r"\d+|[a-z]", s[i:])) else 0)
    return s[:i] + num + (" " if rng.random() < 0.5 else "") + s[j:]


def unicode_mutant(rng: random.Random, src: str | None = None) -> str:
    """Look-alike letters, combining marks, direction marks, NUL and line separators."""
    s = src or rng.choice(CORPUS)[0]
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(s) + 1)
        ch = rng.choice(UNICODE)
        if rng.random() < 0.5 and i < len(s):
            s = s[:i] + ch + s[i + 1:]
        else:
            s = s[:i] + ch + s[i:]
    return s


def rename(rng: random.Random, src: str, names: list) -> str:
    """A function or a variable of src renamed to one of names."""
    found = sorted({m.group() for m in NAME.finditer(src)})
    if not found:
        return src
    old, new = rng.choice(found), rng.choice(names)
    return re.sub(rf"\b{re.escape(old)}\b", lambda _: new, src)


def odd_function_case(rng: random.Random) -> Case:
    """An odd name declared with functions= and used: with Phi, its derivative, a variable."""
    name = rng.choice(ODD_FUNCTIONS)
    other = rng.choice(ODD_FUNCTIONS + ["Phi"])
    template = rng.choice([
        "sum({f}(x)) + sum({g}(x))", "sum({f}(W x + b))", "c^T {f}(W {g}(x))", "sum({f}'(x))",
        "z = W x\nh = {f}(z)\nL = sum({g}(h))", "sum({f}(x) ∘ {f}'(x))", "{f}(alpha) + alpha",
        "c^T {f}(W x) + c^T Phi(W x)", "sum({f}({f}(x)))", "sum({f}''(x)) + x^T x",
    ])
    src = template.format(f=name, g=other)
    declared = [name] + ([other] if other != "Phi" and rng.random() < 0.7 else [])
    wrt = rng.choice(["x", "W", "b", "alpha"])
    return Case(src, None, declared, wrt, seed=rng.randrange(1000))


def odd_shape_case(rng: random.Random) -> Case:
    src, shapes, wrt = rng.choice(CORPUS)
    names = sorted({m.group() for m in NAME.finditer(src)})
    shapes = dict(shapes or {})
    for _ in range(rng.randint(1, 2)):
        target = rng.choice(names + ["I", "n", "nosuch"])
        k = rng.choice([0, 1, 1, 2, 2, 3])
        shapes[target] = tuple(rng.choice(ODD_DIMS) for _ in range(k)) if rng.random() < 0.9 else rng.choice(
            ["n", 3, None, (1, 1), [2, 2]])
    return Case(src, shapes, None, wrt or rng.choice(names or ["x"]), seed=rng.randrange(1000))


def claim_for(rng: random.Random, src: str, wrt: str) -> str:
    """A claimed gradient: matdiff's own (right), a mutant of it, or a near miss."""
    try:
        g = api.derive_gradient(src, wrt).stepwise[wrt]
        from matdiff.printing.text import to_text
        text = to_text(g)
    except Exception:                      # noqa: BLE001 - any text will do as a claim
        text = wrt
    return rng.choice([text, mutant(rng, text), f"2 {text}", f"-{text}", f"({text})^T", text + " + 1e-9",
                       wrt, f"-{wrt}^-T", "0", "x", ""])


def cases(rng: random.Random):
    """An endless stream of Cases, every kind in turn."""
    kinds = [
        lambda: _plain(rng, mutant(rng, rng.choice(CORPUS)[0])),
        lambda: _plain(rng, splice(rng)),
        lambda: _plain(rng, nested(rng)),
        lambda: _plain(rng, huge_number(rng)),
        lambda: _plain(rng, unicode_mutant(rng)),
        lambda: _plain(rng, token_soup(rng)),
        lambda: odd_function_case(rng),
        lambda: odd_shape_case(rng),
        lambda: _plain(rng, rename(rng, rng.choice(CORPUS)[0], ODD_FUNCTIONS + UNICODE)),
        lambda: _known(rng),
    ]
    while True:
        yield rng.choice(kinds)()


def _pick_wrt(rng: random.Random, src: str, shapes=None, functions=None) -> str:
    """Mostly one of the inputs matdiff sees (to go deep), sometimes any name in the text."""
    try:
        inputs = list(api.understand(src, shapes, functions).inputs)
    except Exception:                      # noqa: BLE001 - the probe reports it, not the generator
        inputs = []
    if inputs and rng.random() < 0.85:
        return rng.choice(inputs)
    return rng.choice([m.group() for m in NAME.finditer(src)] or ["x"])


def _plain(rng: random.Random, src: str) -> Case:
    wrt = _pick_wrt(rng, src)
    claim = claim_for(rng, src, wrt) if rng.random() < 0.2 else None
    return Case(src, None, None, wrt, claim, seed=rng.randrange(1000))


def _known(rng: random.Random) -> Case:
    src, shapes, wrt = rng.choice(CORPUS)
    wrt = wrt or _pick_wrt(rng, src, shapes)
    return Case(src, shapes, None, wrt, claim_for(rng, src, wrt) if rng.random() < 0.3 else None,
                seed=rng.randrange(1000))


# ---- findings -----------------------------------------------------------------------------------

@dataclass
class Finding:
    """Something that must not happen: kind is 'exception', 'slow', 'wrong' or 'traceback'."""
    entry: str
    case: Case
    kind: str
    error: str                     # the exception's type and message, or what was wrong
    frame: str = ""                # the traceback's last frame: file:line in function
    seconds: float = 0.0

    def key(self) -> tuple:
        """Findings with the same key are the same bug (scripts/fuzz.py reports each once)."""
        if self.kind == "slow":                      # "took 7.9 s": the time is no part of the bug
            return (self.entry, self.kind)
        return (self.entry if self.kind != "exception" else "", self.kind, self.error.split(":")[0], self.frame)

    def __str__(self) -> str:
        where = f" at {self.frame}" if self.frame else ""
        return f"[{self.kind}] {self.entry}({self.case.short()}): {self.error}{where}"


def last_frame(tb) -> str:
    frames = traceback.extract_tb(tb)
    if not frames:
        return ""
    out = _frame(frames[-1])
    ours = [f for f in frames if f.filename.startswith(os.path.join(ROOT, "matdiff"))]
    if ours and ours[-1] is not frames[-1]:          # raised in a library: where matdiff called it
        out += f" (from {_frame(ours[-1])})"
    return out


def _frame(f) -> str:
    if f.filename.startswith("<matdiff-generated"):      # one name for all generated code: one bug
        return "<matdiff-generated code>"
    return f"{os.path.relpath(f.filename, ROOT) if f.filename.startswith(ROOT) else f.filename}:{f.lineno} in {f.name}"


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(matdiff.__file__)))


class Wrong(Exception):
    """A silent wrong answer found by a probe (generated code disagrees with the evaluator)."""


def call(entry: str, case: Case, fn, out: list, limit: float | None = None):
    """fn() with LIMITS.max_seconds = SECONDS; a finding appended to out for anything but a
    MatdiffError, and for a wall time over `limit` (SECONDS by default) plus MARGIN."""
    limit = SECONDS if limit is None else limit
    saved = {k: getattr(LIMITS, k) for k in vars(LIMITS)}
    LIMITS.max_seconds = min(limit, SECONDS)
    t = time.monotonic()
    result = None
    try:
        result = fn()
    except MatdiffError:
        pass
    except Wrong as e:
        out.append(Finding(entry, case, "wrong", str(e)))
    except Exception as e:                                  # noqa: BLE001 - what the fuzz looks for
        out.append(Finding(entry, case, "exception", f"{type(e).__name__}: {_clip(str(e))}",
                           last_frame(e.__traceback__)))
    finally:
        for k, v in saved.items():
            setattr(LIMITS, k, v)
    dt = time.monotonic() - t
    if dt > limit + MARGIN:
        out.append(Finding(entry, case, "slow", f"took {dt:.1f} s (limit {limit:g} s)", seconds=dt))
    return result


def _clip(s: str, n: int = 300) -> str:
    s = s.replace("\n", "\\n")
    return s if len(s) <= n else s[:n] + "..."


# ---- the API entry points -----------------------------------------------------------------------

def _fn(case):
    return case.functions


def e_parse(case):
    matdiff.parse(case.src, case.functions or ())


def e_understand(case):
    s = api.understand(case.src, case.shapes, _fn(case))
    from matdiff.printing.text import to_text
    to_text(s.expr, s.names)            # as `matdiff parse` prints it: a program's steps by name


def e_gradient(case):
    g = api.derive_gradient(case.src, case.wrt, case.shapes, _fn(case))
    g.text()
    g.latex_lines()
    return g


def e_gradient_sympy(case):
    return matdiff.gradient(case.src, case.wrt, case.shapes, _fn(case))


def e_gradient_list(case):
    matdiff.gradient(case.src, [case.wrt, case.wrt], case.shapes, _fn(case))


def e_differential(case):
    matdiff.differential(case.src, case.wrt, case.shapes, _fn(case))


def e_differential_all(case):
    matdiff.differential(case.src, None, case.shapes, _fn(case))


def e_jacobian(case):
    d = api.derive_jacobian(case.src, case.wrt, case.shapes, _fn(case))
    d.text()
    d.latex_lines()
    matdiff.jacobian(case.src, case.wrt, case.shapes, _fn(case))


def e_hessian(case):
    d = api.derive_hessian(case.src, case.wrt, case.shapes, _fn(case))
    d.text()
    matdiff.hessian(case.src, case.wrt, case.shapes, _fn(case))


def e_hessian_diagonal(case):
    d = api.derive_hessian(case.src, case.wrt, case.shapes, _fn(case), diagonal=True)
    d.text()
    d.latex_lines()
    matdiff.hessian(case.src, case.wrt, case.shapes, _fn(case), diagonal=True)


def e_check(case):
    matdiff.check(case.src, case.wrt, case.shapes, _fn(case), seed=case.seed)


def e_check_claim(case):
    matdiff.check(case.src, case.wrt, case.shapes, _fn(case), claim=case.claim if case.claim is not None else case.wrt,
                  seed=case.seed)


def e_second_check(case):
    api.derive_jacobian(case.src, case.wrt, case.shapes, _fn(case)).check()
    api.derive_hessian(case.src, case.wrt, case.shapes, _fn(case)).check()


def e_latex_text(case):
    matdiff.latex(case.src, case.shapes, _fn(case))


def e_latex_result(case):
    g = api.derive_gradient(case.src, case.wrt, case.shapes, _fn(case))
    matdiff.latex(g)
    matdiff.latex(g.inlined[case.wrt])
    matdiff.latex(g.sympy())


def e_sheet(case):
    notation = "hadamard" if case.seed % 2 else "diag"
    matdiff.sheet(case.src, case.wrt, case.shapes, _fn(case), notation=notation, check=case.seed % 3 == 0)


def e_emit(case):
    """--emit text for every backend: it must compile (jax and torch need not be installed)."""
    from matdiff.codegen.generate import emit
    for backend in ("numpy", "jax", "torch"):
        text = emit(case.src, case.wrt, backend, case.shapes, _fn(case), hessian=case.seed % 4 == 0)
        try:
            compile(text, f"<emit {backend}>", "exec")
        except SyntaxError as e:
            raise Wrong(f"--emit {backend} prints code that does not compile: {e}") from None


# what the generated code is compared with: matdiff's own evaluator, with abstract functions
# replaced by the same stand-ins (numeric.stand_in) that the generated code is given
def _stand_in(name: str):
    from matdiff.checking.numeric import stand_in
    a, b = stand_in(name)
    return tuple((lambda t, k=k: a**k * np.sin(a * t + b + k * np.pi / 2)) for k in range(4))


def _abstract_names(expr_roots) -> set:
    from matdiff.language.expr import Apply, postorder
    from matdiff.checking.numeric import ELEMENTWISE
    out = set()
    seen: set = set()
    for r in expr_roots:
        for n in postorder(r, done=seen):
            seen.add(n)
            if isinstance(n, Apply) and n.fn.name not in ELEMENTWISE:
                out.add(n.fn.name)
    return out


MAX_ENTRIES = 20_000          # the largest input the fuzz will allocate when it calls generated code


def _lambdified(case):
    """The generated function (abstract functions bound to numeric.py's stand-ins), the problem,
    the gradient, the sizes of the symbolic dimensions and of each input; None where an input
    would be too large to allocate."""
    from matdiff.checking.sampling import dimension_sizes
    from matdiff.language.problem import Problem
    from matdiff.language.shapes import as2

    p = Problem.of(case.src, case.shapes, case.functions)
    g = api.derive_gradient(case.src, case.wrt, case.shapes, case.functions)
    names = _abstract_names([p.f, *g.inlined.values()]) | set(case.functions or ())
    fns = {n: _stand_in(n) for n in names}
    fn = matdiff.lambdify(case.src, case.wrt, shapes=case.shapes, functions=fns or case.functions,
                          hessian=case.seed % 5 == 0)
    dims = dimension_sizes(p.shaped)
    sizes = {}
    for name, shape in p.shaped.inputs.items():
        r, c = (_size(d, dims) for d in as2(shape))
        if r * c > MAX_ENTRIES:
            return None
        sizes[name] = (r, c)
    return fn, p, g, dims, sizes


def e_lambdify(case):
    """Generate, call at inputs of the declared sizes, compare with numeric.evaluate."""
    from matdiff.checking.numeric import Env, evaluate_many

    made = _lambdified(case)
    if made is None:
        return
    fn, p, g, dims, sizes = made
    rng = np.random.default_rng(case.seed)
    values2d = {n: rng.normal(size=rc) for n, rc in sizes.items()}
    natural = {n: _natural(values2d[n], p.shaped.inputs[n]) for n in values2d}
    ref = evaluate_many([p.f, g.inlined[case.wrt]], Env(values2d, dims))
    out = fn(**natural)
    _agree("the value", out[0], ref[0], case)
    _agree(f"the gradient wrt {case.wrt}", out[1][case.wrt], ref[1], case)


def e_lambdify_wrong_sizes(case):
    """Call with a size that contradicts another input's (or a fixed size): the call must refuse."""
    made = _lambdified(case)
    if made is None:
        return
    fn, p, g, dims, sizes = made
    rng = np.random.default_rng(case.seed)
    natural = {n: _natural(rng.normal(size=rc), p.shaped.inputs[n]) for n, rc in sizes.items()}
    for name, rc in _inconsistent(p.shaped.inputs, dims, sizes):
        wrong = dict(natural)
        wrong[name] = _natural(rng.normal(size=rc), p.shaped.inputs[name])
        try:
            fn(**wrong)
        except MatdiffError:
            continue
        raise Wrong(f"generated code accepted {name} of shape {rc}, inconsistent with the other inputs")


def _size(d, dims):
    if isinstance(d, tuple):
        return _size(d[1], dims) * _size(d[2], dims)
    return d if isinstance(d, int) else dims[d]


def _natural(v2d, shape):
    if len(shape) == 0:
        return float(v2d.reshape(-1)[0]) if v2d.size else 0.0
    if len(shape) == 1:
        return v2d.reshape(-1)
    return v2d


def _inconsistent(inputs: dict, dims: dict, sizes: dict) -> list:
    """(name, 2-D size) pairs in which one dimension of one input is off by one, where that
    dimension is a number or is shared with another input: sizes no call may accept."""
    from matdiff.language.shapes import as2
    count: dict = {}
    for s in inputs.values():
        for d in s:
            count[d] = count.get(d, 0) + 1
    out = []
    for name, s in inputs.items():
        for axis, d in enumerate(s):
            if isinstance(d, int) or count.get(d, 0) > 1:
                rc = list(sizes[name])
                rc[axis if len(s) == 2 else 0] += 1
                out.append((name, tuple(rc)))
                break
    return out[:2]


def _agree(what, got, ref, case):
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if got.size != ref.size:
        raise Wrong(f"{what}: generated code gives shape {got.shape}, the evaluator {ref.shape}")
    got, ref = got.reshape(-1), ref.reshape(-1)
    if not np.all(np.isfinite(ref)):
        return
    if not np.all(np.isfinite(got)):
        raise Wrong(f"{what}: generated code gives {got}, the evaluator {ref}")
    scale = max(1.0, float(np.max(np.abs(ref))))
    if np.max(np.abs(got - ref)) > 1e-7 * scale:
        raise Wrong(f"{what}: generated code gives {got[:4]}, the evaluator {ref[:4]}")


# ---- the command line, in-process -----------------------------------------------------------------

def _shape_args(case) -> list:
    out = []
    for name, dims in (case.shapes or {}).items():
        dims = dims if isinstance(dims, (tuple, list)) else (dims,)
        out += ["--shape", f"{name}=" + ",".join(str(d) for d in dims)]
    return out


def cli_argv(case: Case, command: str) -> list:
    """The argv for one subcommand, with options chosen by the case's seed."""
    s = case.seed
    base = [command, case.src] + _shape_args(case) + [a for f in (case.functions or []) for a in ("--fn", f)]
    base += ["--limit", LIMIT_ARGS[s % len(LIMIT_ARGS)]] if s % 3 == 2 else []
    if command == "parse":
        return base
    base += ["--wrt", case.wrt]
    if command == "grad":
        return base + [["--check"], ["--sympy"], ["--latex"], ["--emit", "numpy"], ["--emit", "jax"],
                       ["--emit", "torch"], ["--check", "--latex"]][s % 7]
    if command == "diff":
        return base if s % 2 else [command, case.src]
    if command == "check":
        return base + (["--claim", case.claim] if case.claim is not None else [])
    if command in ("jacobian", "hessian"):
        extra = [["--check"], ["--sympy"], ["--latex"], []][s % 4]
        if command == "hessian" and s % 3 == 0:
            extra = extra + ["--diagonal"]
        return base + extra
    if command == "sheet":
        return base + [["--check"], ["--notation", "hadamard"], [], ["-o", "OUT"]][s % 4]
    raise ValueError(command)


# --limit values a user may give; a call's wall time is held to the fuzz's own limit all the same
LIMIT_ARGS = ["depth=40", "seconds=2", "power=3", "length=30", "lines=2", "bogus=1", "depth=abc", "seconds=-1",
              "seconds=0.01", "depth=100000", "max_power=2", "depth", "=", "seconds=1e400", "lines=nan"]


def run_cli(argv: list, stdin: str = "") -> tuple:
    """matdiff.cli.main(argv) in this process: (exit code, stdout, stderr)."""
    from matdiff import cli
    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as e:               # argparse's usage errors: exit 2, a usage line
                code = e.code
    finally:
        sys.stdin = old_in
    return code, out.getvalue(), err.getvalue()


def cli_entry(command: str):
    def run(case):
        argv = cli_argv(case, command)
        with tempfile.TemporaryDirectory() as tmp:
            argv = [os.path.join(tmp, "sheet.tex") if a == "OUT" else a for a in argv]
            stdin = ""
            if case.seed % 5 == 1 and command != "check":       # the program on standard input
                stdin, argv = argv[1], [argv[0], "-"] + argv[2:]
            code, out, err = run_cli(argv, stdin)
        if "Traceback" in err or "Traceback" in out:
            raise Wrong(f"matdiff {' '.join(argv[:1])} printed a traceback: {_clip(err[-400:])}")
        if code not in (0, 1, 2):
            raise Wrong(f"exit status {code!r}")
        if "--emit" in argv and code == 0:
            try:
                compile(out, "<emit>", "exec")
            except SyntaxError as e:
                raise Wrong(f"--emit prints code that does not compile and exits 0: {e}") from None
        if code == 2 and not err.strip():
            raise Wrong("exit status 2 with no message")
    return run


ENTRIES = {
    "parse": e_parse, "understand": e_understand, "derive_gradient": e_gradient, "gradient": e_gradient_sympy,
    "gradient[list]": e_gradient_list, "differential": e_differential, "differential[all]": e_differential_all,
    "jacobian": e_jacobian, "hessian": e_hessian, "hessian[diagonal]": e_hessian_diagonal, "check": e_check,
    "check[claim]": e_check_claim, "check[second order]": e_second_check, "latex[text]": e_latex_text,
    "latex[result]": e_latex_result, "sheet": e_sheet, "emit": e_emit, "lambdify": e_lambdify,
    "lambdify[wrong sizes]": e_lambdify_wrong_sizes,
    **{f"cli {c}": cli_entry(c) for c in ("parse", "grad", "diff", "check", "jacobian", "hessian", "sheet")},
}

# the entry points a quick look needs (text in, the cheapest results out)
CHEAP = ["parse", "understand", "derive_gradient", "differential", "latex[text]", "cli parse", "cli diff"]


# how many calls with a time budget of their own an entry point makes (e_hessian: derive_hessian,
# then hessian): its wall time is held to that many limits (plus the margin)
BUDGETS = {"jacobian": 2, "hessian": 2, "hessian[diagonal]": 2, "check[second order]": 2, "latex[result]": 2,
           "emit": 3, "lambdify": 2, "lambdify[wrong sizes]": 2}


def probe(case: Case, entries=None) -> list:
    """case through the entry points (all by default); the findings."""
    out: list = []
    for name in entries or ENTRIES:
        call(name, case, lambda: ENTRIES[name](case), out, limit=SECONDS * BUDGETS.get(name, 1))
    return out


# ---- the old interface: one text through every stage (kept for the quick tests) ------------------

def run_all(src: str, deep: bool = True):
    """Every stage on src; raises the first finding as an AssertionError, else returns None."""
    findings = probe(Case(src, wrt=_first_name(src)), None if deep else CHEAP)
    if findings:
        raise AssertionError("\n".join(str(f) for f in findings))


def _first_name(src: str) -> str:
    m = NAME.search(src)
    return m.group() if m else "x"
