"""Dimensions: ints, names ("n") and products ("*", a, b); union-find to unify them."""
from __future__ import annotations

FRESH = "?"  # prefix of a dimension not yet named; never a user's dimension name
DIM_NAMES = ("n", "m", "k", "p", "q", "r", "s", "d", "l", "u", "v", "w")


# ---- dimensions ------------------------------------------------------------------------------

def prod(a, b):
    """The product of two dimensions, folded where it can be."""
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return ("*", a, b)


def dim_text(d) -> str:
    if isinstance(d, tuple):
        return f"{dim_text(d[1])}·{dim_text(d[2])}"
    if isinstance(d, str) and d.startswith(FRESH):
        return "?"                              # not fixed yet (an error during inference)
    return str(d)


def shape_text(s) -> str:
    """(2, 3) -> '2×3'; user-level () -> 'scalar', (n,) -> 'n'."""
    if s == ():
        return "scalar"
    return "×".join(dim_text(d) for d in s)


def as2(shape) -> tuple:
    """A Var's declared shape as (rows, cols)."""
    return {0: (1, 1), 1: (shape[0], 1) if len(shape) == 1 else None, 2: tuple(shape)}[len(shape)]


class Dims:
    """Union-find over dimensions. Declared names and ints are rigid; fresh ones bind."""

    def __init__(self):
        self.parent: dict = {}
        self.count = 0
        self.context = None     # the expression being shaped (inference sets it), for why_one
        self.why: dict = {}     # fresh dimension bound to 1 -> the expression that bound it

    def fresh(self) -> str:
        self.count += 1
        return f"{FRESH}{self.count}"

    def find(self, d):
        if isinstance(d, tuple):
            return prod(self.find(d[1]), self.find(d[2]))
        while isinstance(d, str) and d in self.parent:
            d = self.parent[d]
        return d

    def unify(self, a, b) -> bool:
        a, b = self.find(a), self.find(b)
        if a == b:
            return True
        if isinstance(a, str) and a.startswith(FRESH):
            return self._bind(a, b)
        if isinstance(b, str) and b.startswith(FRESH):
            return self._bind(b, a)
        if isinstance(a, tuple) and isinstance(b, tuple):
            return self.unify(a[1], b[1]) and self.unify(a[2], b[2])
        if isinstance(b, tuple):
            a, b = b, a
        if isinstance(a, tuple) and isinstance(b, int):
            return self._divide(a, b)
        return False

    def _divide(self, p: tuple, n: int) -> bool:
        """k·? = n, with k a known number: ? := n / k (2·? and 8 in `(1_2^T ⊗ I) B` with B 8×15)."""
        for known, other in ((p[1], p[2]), (p[2], p[1])):
            if isinstance(known, int):
                return n % known == 0 and self.unify(other, n // known)
        return False

    def _bind(self, fresh: str, d) -> bool:
        """fresh := d, unless d contains fresh (n = n·n from `W (x ⊗ x)` next to `W x`): that
        would make a cycle, and no size but 1 satisfies it."""
        if _occurs(fresh, d):
            return False
        self.parent[fresh] = d
        if d == 1 and self.context is not None:
            self.why[fresh] = self.context
        return True

    def why_one(self, d):
        """The expression that made dimension d equal 1, or None: the last link of d's chain is
        the one bound to 1 (an earlier link bound to it while it was still free)."""
        last = None
        while isinstance(d, str) and d in self.parent:
            last, d = d, self.parent[d]
        return self.why.get(last) if d == 1 else None

    def is_one(self, s) -> bool:
        return self.find(s[0]) == 1 and self.find(s[1]) == 1

    def resolve(self, s) -> tuple:
        return tuple(self.find(d) for d in s)


def _occurs(name: str, d) -> bool:
    return d == name or (isinstance(d, tuple) and (_occurs(name, d[1]) or _occurs(name, d[2])))


class Strict(Dims):
    """For trees already shaped: no dimension binds, so unify is an equality check."""

    def unify(self, a, b) -> bool:
        a, b = self.find(a), self.find(b)
        return a == b or _factors(a) == _factors(b)


def _factors(d) -> tuple:
    """A dimension as its sorted factors: m·n and n·m, (m·n)·k and m·(n·k) are one size
    (Kronecker products and commutation matrices meet vec in either order)."""
    if isinstance(d, tuple):
        return tuple(sorted(_factors(d[1]) + _factors(d[2]), key=repr))
    return (d,)
