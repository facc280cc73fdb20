"""NumPy results written into the arrays of earlier calls (`out=`), never into one the caller holds.

A new n x n result costs NumPy more than the arithmetic: glibc hands a large freed block back to
the operating system, so each fresh 8 MB array page-faults again (~1,000 faults and ~3 ms a call
for softmax-relu at n = 1024, benchmarks/README.md). With buffers (`lambdify`'s default for
NumPy, `reuse_buffers=True`), each statement whose result is a matrix is written

    grad_W = _into(3, np.einsum, "ik,jk->ij", delta_z, x)

and `_into` (the generated module's helper, HELPER below) computes it into an array that an
earlier call returned or used, when one of the same shape and dtype is free, and otherwise
into a new one that it keeps for the next calls (at most KEEP a statement). An array is free
when nothing but the pool refers to it: the caller has dropped that result and every view of it
(a view, `torch.from_numpy`, a memoryview all hold a reference to the array). So a gradient the
caller keeps is never written over; the caller who keeps last call's result while calling again
(`v, g = fn(...)` in a loop) gets the second array. The price: up to KEEP arrays of each
matrix-valued statement stay allocated while the function lives (`reuse_buffers=False`: none,
every result new). The arrays are for the latest shapes and dtypes: a call with others lets
them go. A result under SMALL bytes is computed afresh each time (glibc serves such blocks
from its heap, without new pages; out= would only add einsum's and the pool's overhead).

Only the NumPy backend: JAX and PyTorch keep their own buffers (and JAX's arrays are immutable).
`--emit` writes the plain code, without the helper.
"""
from __future__ import annotations

from matdiff.errors import MatdiffError
from matdiff.language.shapes import shape_of

KEEP = 2
SMALL = 1 << 17         # bytes: glibc serves smaller blocks from its heap (no fresh pages)

HELPER = '''import sys as _sys
import threading as _threading


class _Buffers:
    """_into(key, f, *args) is f(*args), written (out=) into an array of an earlier call that
    nothing but this pool refers to any more; else a new array, kept for the next calls (at
    most KEEP per key, for the latest shapes and dtypes). A result the caller still holds, or a
    view of it, is never written over. Results under SMALL bytes are not kept (they do not
    page-fault: the allocator keeps such blocks)."""

    KEEP, SMALL = %d, %d

    def __init__(self):
        self.pool = {}                                  # key -> (signature, [arrays] or None: small)
        self.lock = _threading.Lock()
        self.idle = self._refs([np.empty(0)], 0)        # the count of an array only the pool holds

    @staticmethod
    def _refs(kept, i):
        return _sys.getrefcount(kept[i])

    def __call__(self, key, f, *args):
        sig = tuple([a if a.__class__ is str else (a.__class__, getattr(a, "shape", None), getattr(a, "dtype", None))
                     for a in args])
        entry = self.pool.get(key)
        if entry is not None and entry[0] == sig and entry[1] is None:
            return f(*args)                             # small: computed afresh
        out = None
        with self.lock:
            entry = self.pool.get(key)
            if entry is not None and entry[0] == sig and entry[1] is not None:
                kept = entry[1]
                for i in range(len(kept)):
                    if self._refs(kept, i) <= self.idle:
                        out = kept[i]                   # held by this frame now: taken
                        break
            else:                                       # new shapes: the old arrays are let go
                entry = None
        if out is not None:
            return f(*args, out=out)
        result = f(*args)
        with self.lock:
            if entry is None:
                small = not isinstance(result, np.ndarray) or result.nbytes < self.SMALL
                entry = self.pool[key] = (sig, None if small else [])
            kept = entry[1]
            if (kept is not None and len(kept) < self.KEEP and isinstance(result, np.ndarray)
                    and result.flags.owndata and result.flags.writeable):
                kept.append(result)
        return result


_into = _Buffers()
''' % (KEEP, SMALL)


def buffered(printer):
    """The printer `_emit` writes statements with: a statement whose result is a matrix (no
    dimension 1) and whose code is one product, einsum, elementwise operation or ufunc call is
    written through `_into`; everything else as printer writes it."""
    return _Buffered(printer)


class _Buffered:
    def __init__(self, printer):
        self._printer = printer
        self._keys = 0

    def __getattr__(self, name):                        # term, names, helpers, ...: the printer's
        return getattr(self._printer, name)

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._printer, name, value)

    def __call__(self, e) -> str:
        text = self._printer(e)
        try:
            r, c = shape_of(e)
        except (TypeError, ValueError, MatdiffError):     # a scalar (no two axes), or no known shape
            return text
        if r == 1 or c == 1:
            return text
        call = into_call(text)
        if call is None:
            return text
        self._keys += 1
        self._printer.helpers.add("_into")
        return f"_into({self._keys}, {call})"


def _scan(text: str) -> tuple:
    """Each character outside strings as (index, character, bracket depth after it), and whether
    the text is balanced (no bracket closed before it opened, none left open, no open string).
    The one walk under _tokens and _one_call."""
    out, depth, quote, ok = [], 0, None, True
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
            continue
        depth += (ch in "([{") - (ch in ")]}")
        ok = ok and depth >= 0
        out.append((i, ch, depth))
    return out, ok and depth == 0 and quote is None


def _tokens(text: str) -> list | None:
    """The text split at its top-level spaces (outside brackets and strings); None if unbalanced."""
    scanned, balanced = _scan(text)
    if not balanced:
        return None
    cuts = [i for i, ch, depth in scanned if ch == " " and depth == 0]
    return [text[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(text)])]


_BINARY = {"+": "np.add", "-": "np.subtract"}
_ARITHMETIC = {"+", "-", "*", "/", "@", "**"}      # any other operator (a comparison, `if`): left alone


def into_call(text: str) -> str | None:
    """`f, args` for `_into(key, f, args)` where `text` is one call of a function that takes
    out= (np.einsum, a ufunc), a sum (its last + or -: np.add or np.subtract of the two sides), a
    chain of `@`, or one `*` of two operands; else None. Generated code has no operator that binds
    looser than + and -, and a unary minus is written without a space."""
    tokens = _tokens(text)
    if tokens is None:
        return None
    if len(tokens) == 1:
        head, paren, _ = text.partition("(")
        if not paren or not text.endswith(")") or not _one_call(text, len(head)):
            return None
        if head == "np.einsum" or _is_ufunc(head):
            return f"{head}, {text[len(head) + 1:-1]}"
        return None
    operands, ops = tokens[::2], tokens[1::2]
    if len(tokens) % 2 == 0 or any(not t for t in operands) or not set(ops) <= _ARITHMETIC:
        return None
    if any(op in "+-" for op in ops):                  # the last + or - is evaluated last
        i = max(i for i, op in enumerate(ops) if op in "+-")
        return f"{_BINARY[ops[i]]}, {' '.join(tokens[:2 * i + 1])}, {' '.join(tokens[2 * i + 2:])}"
    if all(op == "@" for op in ops):                   # left to right
        return f"np.matmul, {' @ '.join(operands[:-1])}, {operands[-1]}"
    if ops == ["*"]:
        return f"np.multiply, {operands[0]}, {operands[1]}"
    return None


def _one_call(text: str, open_at: int) -> bool:
    """The parenthesis at open_at closes at the end of text (`f(a)`, not `f(a)[0](b)`); the text
    before open_at has no brackets (a function's name)."""
    closing = (i for i, ch, depth in _scan(text)[0] if i > open_at and depth == 0 and ch in ")]}")
    return next(closing, None) == len(text) - 1


def _is_ufunc(head: str) -> bool:
    if not head.startswith("np.") or "." in head[3:]:
        return False
    import numpy as np
    return isinstance(getattr(np, head[3:], None), np.ufunc)
