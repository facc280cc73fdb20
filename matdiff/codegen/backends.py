"""Python text for NumPy, JAX and PyTorch: each backend's spellings, and how tightly pieces bind.

A piece of generated code is a tuple (text, precedence, operator); `wrap` parenthesizes it
where it binds too loosely for its place. BACKENDS holds what differs between the three
libraries; ELEMENTWISE and Y_FORMS the built-in functions and their derivatives, read from
their records (functions.ELEMENTWISE).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from matdiff.codegen.buffers import HELPER as _INTO
from matdiff.language.functions import ELEMENTWISE as RECORDS

# how tightly a piece of Python binds (higher binds tighter)
ADD, MUL, UNARY, POWER, POSTFIX, ATOM = 50, 60, 70, 80, 90, 100
DOT = POSTFIX - 1     # the level of `x` in `x.T`, `x.reshape(...)`: a postfix needs no parentheses


@dataclass(frozen=True)
class Backend:
    """The spellings that differ between NumPy, JAX and PyTorch ({m} is the module alias)."""
    name: str
    m: str
    imports: tuple
    ops: dict
    helpers: dict = field(default_factory=dict)   # helper name -> its source, added where used
    # u1 v1^T + u2 v2^T as one product of stacked factors (one BLAS call writes the sum once);
    # XLA fuses a sum of outer products into one loop by itself, and would materialise the stacks
    fuse_outer: bool = True
    number_args: bool = False   # a function of a number takes an array (torch.log(2) is a TypeError)
    # (A + B) v (generate._distribute_sums): "always" A v + B v, each matrix read once, where
    # forming A + B reads both, writes a sum and reads it again (NumPy: even where the sum is in
    # four products, forming it was 1.5x slower at n = 1024: its matrix-vector products run on
    # every core, a sum on one); "never" (torch: Inductor fuses the sum into its kernels and
    # prefers one product to two); "traced" (JAX: _sum_matvec decides by size when jax.jit traces
    # the code, shapes being static there: see _SUM_MATVEC)
    distribute_sums: str = "always"
    # a vector parameter is made a column on entry, so that fn.raw also takes a 1-D array (n,):
    # JAX, where under jax.jit the reshape of a 1-D input is free, but XLA's CPU compiler copies
    # a column input (n, 1) before its first product (a kernel each: at n = 256 with 1-D inputs
    # the compiled programs have exactly as many kernels as jax.value_and_grad's own)
    vectors_reshaped: bool = False


def _functions(backend: str) -> dict:
    """The built-in elementwise functions' ops in one backend, from their records."""
    return {name: r.code[backend] for name, r in RECORDS.items()}


# L^T diag(a) L with BLAS syrk (codegen/gram.py writes the calls)
_GRAM = '''def _gram(L, a, split_from=512):
    """L^T diag(a) L as Gram products (BLAS syrk: G.T @ G on one buffer), rows with a > 0 and a < 0 apart."""
    a = a.reshape(-1)
    if not np.all(np.isfinite(a)):                     # nan and inf stay where they are
        return L.T @ (a[:, None] * L)
    if np.all(a > 0):
        G = np.sqrt(a)[:, None] * L
        return G.T @ G
    if L.shape[1] < split_from:                        # small: two syrk on copies cost more than one product
        return L.T @ (a[:, None] * L)
    pos, neg = a > 0, a < 0
    P, N = L[pos], L[neg]                               # copies, scaled in place
    P *= np.sqrt(a[pos])[:, None]
    N *= np.sqrt(-a[neg])[:, None]
    H = P.T @ P
    H -= N.T @ N
    return H
'''


# A^T as an operand of an elementwise operation (A + A^T, B * A^T); a product reads A^T for free
_TRANSPOSED = '''def _transposed(A):
    """A^T for an elementwise operation. NumPy reads A.T a column at a time; when A's rows lie a
    multiple of 2 KiB apart (float64 and n = 256, 512, 1024, ...) a column's entries fall into a
    few cache sets and evict each other before their neighbours are read (A + A.T at n = 256:
    160 µs, against 13 µs for A + A). The transpose of a copy with padded rows reads as fast
    as any other column: A + _transposed(A) takes 64 µs at n = 256 and 2.4 ms (3.9) at 1024.
    Measured and not kept: returning a contiguous copy of that transpose (faster alone, but the
    second large array page-faults on every call), writing the transpose down padded columns
    (NumPy iterates in the order of the destination), 4-D tiled views (inner loops too short)."""
    if A.ndim != 2 or A.strides[1] != A.itemsize or A.strides[0] % 2048 or A.size < 65536:
        return A.T
    P = np.empty((A.shape[0], A.shape[1] + 8), A.dtype)[:, :A.shape[1]]
    np.copyto(P, A)
    return P.T
'''


_COMMON = {
    "abs": "{m}.abs({x})", "array": "{m}.asarray({x})", "sum": "{m}.sum({x})", "trace": "{m}.trace({x})",
    "inv": "{m}.linalg.inv({x})", "solve": "{m}.linalg.solve({x}, {y})", "det": "{m}.linalg.det({x})",
    "logdet": "{m}.linalg.slogdet({x})[1]", "norm": "{m}.linalg.norm({x})", "kron": "{m}.kron({x}, {y})",
    "matrix_power": "{m}.linalg.matrix_power({x}, {k})", "diagflat": "{m}.diagflat({x})",
    "diagonal": "{m}.diagonal({x})[:, None]",
    "eye": "{m}.eye({n})", "zeros": "{m}.zeros(({r}, {c}))",
    "ones": "{m}.ones(({r}, {c}))", "rowsum": "{m}.sum({x}, axis=1, keepdims=True)",
    "swap01": "transpose(1, 0, 2)", "hstack": "{m}.hstack(({x}))",
    "outer": "{x} * {y}.T", "outer_row": "{x} * {y}",             # u v^T (v a column), u r (r a row)
    "transposed": "{x}.T",                                         # A^T beside + - * (NumPy: _transposed)
}

NUMPY = Backend("numpy", "np", ("import numpy as np",), {
    **_COMMON, **_functions("numpy"),
    "softmax": "_softmax({x})", "logsumexp": "_logsumexp({x})",
    "softmax_rows": "_softmax_rows({x})", "softmax_cols": "_softmax_cols({x})",
    "logsumexp_rows": "_logsumexp_rows({x})", "logsumexp_cols": "_logsumexp_cols({x})",
    "log_softmax_rows": "_log_softmax_rows({x})", "log_softmax_cols": "_log_softmax_cols({x})",
    # u v^T: einsum writes it half again as fast as broadcasting (numpy 2.4, n = 256 ... 1024)
    "outer": 'np.einsum("ik,jk->ij", {x}, {y})', "outer_row": 'np.einsum("ik,kj->ij", {x}, {y})',
    "transposed": "_transposed({x})",
}, {
    **{"_" + name: r.numpy_helper for name, r in RECORDS.items() if r.numpy_helper},
    "_into": _INTO,                                      # results into kept arrays (codegen/buffers.py)
    "_gram": _GRAM,                                      # L^T diag(a) L as Gram products (codegen/gram.py)
    "_transposed": _TRANSPOSED,                          # A^T beside + - * (python.elementwise)
    "_softmax": "def _softmax(x):\n    e = np.exp(x - np.max(x))\n    return e / np.sum(e)\n",
    "_logsumexp": "def _logsumexp(x):\n    m = np.max(x)\n    return m + np.log(np.sum(np.exp(x - m)))\n",
    # softmax(Z, rows) and logsumexp(Z, rows): the exponents shifted by each row's largest entry
    **{f"_{f}_{axis}": template.format(axis=axis, a=a) for axis, a in (("rows", 1), ("cols", 0))
       for f, template in (
           ("softmax", "def _softmax_{axis}(x):\n    e = np.exp(x - np.max(x, axis={a}, keepdims=True))\n"
                       "    return e / np.sum(e, axis={a}, keepdims=True)\n"),
           ("logsumexp", "def _logsumexp_{axis}(x):\n    m = np.max(x, axis={a}, keepdims=True)\n"
                         "    return m + np.log(np.sum(np.exp(x - m), axis={a}, keepdims=True))\n"),
           ("log_softmax", "def _log_softmax_{axis}(x):\n    z = x - np.max(x, axis={a}, keepdims=True)\n"
                           "    return z - np.log(np.sum(np.exp(z), axis={a}, keepdims=True))\n"))},
})

# JAX: (A + B + ...) v decided by size when traced (generate._lazy_sums leaves such a sum unnamed)
_SUM_MATVEC = '''def _sum_matvec(v, *terms, transposed=False):
    """(A + B + ...) v, or (A + B + ...)^T v: each matrix times v where they are large (each read
    once: at n = 1024, 0.85x jax.jit(value_and_grad) against 0.97x for the sum formed; 1.2-1.5x
    faster in Tutorial 12's Hessian-vector product); the sum formed where they are small, as JAX's
    own gradient does (XLA computes it once for every product of it, and runs fewer products on
    its thread pool: at n = 256, 1.05x against 1.28x). Shapes are static under jax.jit."""
    def times(M):
        return (v.T @ M).T if transposed else M @ v
    if terms[0].size <= 1 << 17:
        total = terms[0]
        for M in terms[1:]:
            total = total + M
        return times(total)
    out = times(terms[0])
    for M in terms[1:]:
        out = out + times(M)
    return out
'''


JAX = Backend("jax", "jnp", ("import jax", "import jax.numpy as jnp"), {
    **_COMMON, **_functions("jax"),
    "softmax": "jax.nn.softmax({x}, axis=0)", "logsumexp": "jax.nn.logsumexp({x})",
    "softmax_rows": "jax.nn.softmax({x}, axis=1)", "softmax_cols": "jax.nn.softmax({x}, axis=0)",
    "logsumexp_rows": "jax.nn.logsumexp({x}, axis=1, keepdims=True)",
    "logsumexp_cols": "jax.nn.logsumexp({x}, axis=0, keepdims=True)",
    "log_softmax_rows": "jax.nn.log_softmax({x}, axis=1)", "log_softmax_cols": "jax.nn.log_softmax({x}, axis=0)",
    # A^T v as (v^T A)^T: XLA on the CPU copies A^T and runs a naive loop for A^T v (10x slower
    # at n = 1024, jax 0.10), where v^T A is the vector-matrix product its own gradients use
    "matvec_t": "({v}.T @ {A}).T",
    "sqnorm": "jnp.sum(jnp.square({x}))",          # ||v||^2 without a sqrt and a square
    "sum_matvec": "_sum_matvec({v}, {terms})",       # (A + B) v; {terms} ends ", transposed=True" for (A + B)^T v
}, {"_sum_matvec": _SUM_MATVEC}, fuse_outer=False, distribute_sums="traced", vectors_reshaped=True)

TORCH = Backend("torch", "torch", ("import torch",), {
    **_COMMON, **_functions("torch"),
    "softmax": "torch.softmax({x}, dim=0)",
    "logsumexp": "torch.logsumexp({x}.reshape(-1), 0)", "array": "torch.tensor({x}, dtype=dtype)",
    "softmax_rows": "torch.softmax({x}, dim=1)", "softmax_cols": "torch.softmax({x}, dim=0)",
    "logsumexp_rows": "torch.logsumexp({x}, dim=1, keepdim=True)",
    "logsumexp_cols": "torch.logsumexp({x}, dim=0, keepdim=True)",
    "log_softmax_rows": "torch.log_softmax({x}, dim=1)", "log_softmax_cols": "torch.log_softmax({x}, dim=0)",
    "eye": "torch.eye({n}, dtype=dtype)",
    "zeros": "torch.zeros(({r}, {c}), dtype=dtype)", "ones": "torch.ones(({r}, {c}), dtype=dtype)",
    "rowsum": "torch.sum({x}, dim=1, keepdim=True)", "swap01": "permute(1, 0, 2)",
    "kron": "torch.kron({x}.contiguous(), {y}.contiguous())",   # torch 2.13: kron of a transposed view fails
    "sqnorm": "torch.sum(torch.square({x}))",
    # A v on 1-D views: torch.compile (Inductor) fuses mv into its own kernels, where a column
    # makes it an extern mm call between them (mlp3-tanh at n = 1024: 25% slower, 2 threads)
    "matvec": "torch.mv({A}, {v}[:, 0])[:, None]",
}, number_args=True, fuse_outer=False, distribute_sums="never")

BACKENDS = {b.name: b for b in (NUMPY, JAX, TORCH)}

# The k-th derivative of each built-in elementwise function, over {x}; "op:NAME" is a backend op.
ELEMENTWISE = {name: list(r.code_derivatives) for name, r in RECORDS.items()}

# Derivatives written with the function's value y = f(x), which the forward pass has computed
# already: tanh' = 1 - y^2, sigmoid' = y (1 - y), relu' = sign(y), as back-propagation code
# writes them. codegen.lower turns tanh^(k)(x) into Apply(Fn("tanh@y", k), tanh(x)).
Y_FORMS = {name: [None, *r.y_forms] for name, r in RECORDS.items() if r.y_forms}
Y_SUFFIX = "@y"

_SIMPLE = re.compile(r"[\w.]+(\((?:[^()]|\([^()]*\))*\))?")
_CALL = re.compile(r"[\w.]+\((?:[^()]|\([^()]*\))*\)(\[[^\]]*\])?")

N_LARGE = 1000   # the size a symbolic dimension is taken to have when ordering a product


def number(k: Fraction) -> str:
    return str(k.numerator) if k.denominator == 1 else repr(k.numerator / k.denominator)


def derivative_name(name: str, order: int) -> str:
    """The parameter that carries an abstract function's derivative: Phi_prime, Phi_prime2, ..."""
    return name if order == 0 else f"{name}_prime" if order == 1 else f"{name}_prime{order}"


def wrap(t: tuple, level: int, op: str | None = None, left: bool = True) -> str:
    """Parenthesize a piece that binds looser than `level`. At the product level, `*` and `@`
    bind alike in Python, so a piece of the other operator, or on the right of `@`, is wrapped."""
    text, prec, own = t
    if prec > level:
        return text
    if prec == level and level == MUL and op is not None and own == op and (left or op == "*"):
        return text
    return f"({text})"


def template_prec(text: str) -> int:
    return ATOM if _CALL.fullmatch(text) else ADD
