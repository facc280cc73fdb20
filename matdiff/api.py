"""The public API (SPEC §3): text in, SymPy out. Each function runs the pipeline stages in order."""
from __future__ import annotations

from .errors import MatdiffError
from .expr import Program
from .parse import parse
from .shapes import Shaped, infer_shapes


def understand(src, shapes=None, functions=None) -> Shaped:
    """Parse and shape an expression or program: the function as matdiff understands it."""
    functions = _names(functions)
    program = src if isinstance(src, Program) else parse(src, functions)
    return infer_shapes(program, _shapes(shapes))


def _names(functions) -> tuple:
    if functions is None:
        return ()
    if isinstance(functions, str):
        functions = [functions]
    out = []
    for f in functions:
        if not isinstance(f, str) or not f.isidentifier():
            raise MatdiffError(f"a function name is a word such as 'f' or 'Gamma', got {f!r}")
        out.append(f)
    return tuple(out)


def _shapes(shapes) -> dict:
    if shapes is None:
        return {}
    if not isinstance(shapes, dict):
        raise MatdiffError(f"shapes= is a dict such as {{'W': ('n', 'n'), 'x': ('n',)}}, got {type(shapes).__name__}")
    return shapes
