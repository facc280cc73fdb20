"""The generated function at run time: inputs in by name, outputs shaped as the inputs were given.

Source is what codegen/generate.py writes; compile_source executes it (importing the backend only
then); Lambdified is what matdiff.lambdify returns.
"""
from __future__ import annotations

import linecache
from dataclasses import dataclass, field

from matdiff.codegen.backends import derivative_name
from matdiff.errors import MatdiffError


@dataclass
class Source:
    """Generated code and what it needs: `text` defines `name`(inputs..., *, functions...)."""
    text: str
    name: str
    backend: str
    inputs: dict                    # input name -> (parameter, user shape)
    functions: dict                 # parameter of an abstract function (or derivative) -> (name, order)
    wrt: list
    hessian: bool
    structure: dict = field(default_factory=dict)   # input name -> "sym" | "spd", checked at each call
    buffers: bool = False           # NumPy: matrix results into kept arrays (codegen/buffers.py)
    hvp: dict = field(default_factory=dict)         # hvp=True: wrt name -> its direction's input name (codegen/hvp.py)


class Lambdified:
    """fn(**values) -> (value, {name: gradient}) [, {name: Hessian}]; fn.source is the code.
    With hvp=True, fn(**values, dx=v) -> (value, {name: gradient}, {name: H v}), each H v shaped
    like its variable (`fn.hvp` names each variable's direction).

    Inputs: arrays (a vector as a 1-D array or a column), scalars as numbers. Outputs: the
    value as a float (a 0-d array or tensor for jax and torch, so that the function can be
    traced), each gradient in the shape its variable was given. `fn.raw` is the generated
    function itself, on columns, for jax.jit or torch.compile (bind the abstract functions
    with functools.partial); JAX's also takes a vector as a 1-D array (Backend.vectors_reshaped).

    NumPy with reuse_buffers (the default): matrix results are written into arrays of earlier
    calls that nothing refers to any more, through fn(...) and fn.raw alike; a result (or a view
    of it) that the caller holds is never written over. `fn.reuse_buffers` says which."""

    def __init__(self, src: Source, raw, defaults: dict):
        self.source = src.text
        self.backend = src.backend
        self.raw = raw
        self.inputs = src.inputs
        self.wrt = src.wrt
        self.hessian = src.hessian
        self.reuse_buffers = src.buffers
        self.hvp = dict(src.hvp)
        self.structure = dict(src.structure)
        self.function_params = dict(src.functions)
        self.defaults = defaults
        self._conv = _CONVERT[src.backend]()

    def __repr__(self) -> str:
        def which(key):                                   # Phi_prime_1 (Phi'): the name says the rest
            name, order = self.function_params[key]
            return key if key == derivative_name(name, order) else f"{key} ({name}{chr(39) * order})"
        fns = f", functions: {', '.join(map(which, self.function_params))}" if self.function_params else ""
        return f"<matdiff.lambdify {self.backend}: inputs {', '.join(self.inputs)}; wrt {', '.join(self.wrt)}{fns}>"

    def __call__(self, /, **values):                      # positional self: an input may be called self
        to_array, out_scalar = self._conv
        args, given = {}, {}
        sizes: dict = {}                                  # dimension -> (size, the input that showed it)
        for name, (py, shape) in self.inputs.items():
            if name not in values:
                raise MatdiffError(f"no value given for {name}; this function takes "
                                   f"{', '.join(self.inputs)}")
            raw = values.pop(name)
            try:
                v = to_array(raw)
            except (TypeError, ValueError, RuntimeError) as e:
                raise MatdiffError(f"{name}: expected an array of numbers, got {type(raw).__name__} ({e})") from None
            given[name] = tuple(v.shape)
            if not shape:
                if v.ndim and _prod(v.shape) != 1:
                    raise MatdiffError(f"{name} is a scalar: give a number (or a 1x1 array), not shape {given[name]}")
                v = v.reshape(())
            elif len(shape) == 1:
                if v.ndim == 1:
                    v = v.reshape(-1, 1)
                elif v.ndim != 2 or v.shape[1] != 1:
                    raise MatdiffError(f"{name} is a vector of shape {_show(shape)}: give a 1-D array or a "
                                       f"column, not shape {given[name]}")
            elif v.ndim != 2:
                raise MatdiffError(f"{name} is a matrix of shape {_show(shape)}, got shape {given[name]}")
            _check_sizes(name, shape, tuple(v.shape), given[name], sizes)
            args[py] = v
        for name, (py, shape) in self.inputs.items():       # m*n dimensions, once m and n are known
            _check_sizes(name, shape, tuple(args[py].shape), given[name], sizes, products=True)
        for name, kind in self.structure.items():
            _check_structure(name, kind, args[self.inputs[name][0]])
        for key in self.function_params:
            f = values.pop(key) if key in values else self.defaults.get(key)
            if f is None:
                name, order = self.function_params[key]
                what = f" (the function {name}{chr(39) * order})" if order else ""
                raise MatdiffError(f"{key} is not given: pass {key}=...{what}, or functions={{'{name}': (f, f', ...)}} "
                                   f"or {{'{name}': 'tanh'}} to lambdify")
            args[key] = f
        if values:
            raise MatdiffError(f"unknown argument {', '.join(values)}; this function takes "
                               f"{', '.join([*self.inputs, *self.function_params])}")
        try:
            out = self.raw(**args)
        except out_scalar.singular as e:              # inv, solve, det of a singular matrix
            raise MatdiffError(f"the function is not defined at these inputs: {e}") from None
        value = out_scalar(out[0])
        grads = {w: self._shape(out[1][w], given[w], out_scalar) for w in self.wrt}
        if self.hvp:                                      # H V, shaped like the variable (as its gradient)
            return value, grads, {w: self._shape(out[2][w], given[w], out_scalar) for w in self.wrt}
        if not self.hessian:
            return value, grads
        hess = {w: out_scalar(H) if not given[w] else H for w, H in out[2].items()}
        return value, grads, hess

    @staticmethod
    def _shape(g, shape, out_scalar):
        if not shape:
            return out_scalar(g)
        if tuple(g.shape) != shape:
            g = g.reshape(shape) if _prod(g.shape) == _prod(shape) else out_scalar.zeros(shape) + g
        return g


SYMMETRY_RTOL = 1e-8       # |A - A^T| up to this times max|A|: rounding, not an asymmetric input


def _check_structure(name: str, kind: str, value) -> None:
    """An input declared symmetric must be (the gradient on the symmetric matrices, sym(G), is
    right only there); one declared spd must also be positive definite (logdet, a Cholesky)."""
    import numpy as np
    try:
        A = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        return                                         # a tracer under jax.jit: no value to look at
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise MatdiffError(f"{name} is declared symmetric: give a square matrix, not shape {A.shape}")
    gap = float(np.max(np.abs(A - A.T), initial=0.0))
    if not gap <= SYMMETRY_RTOL * max(1.0, float(np.max(np.abs(A), initial=0.0))):
        raise MatdiffError(f"{name} is declared symmetric, but the value given is not: |{name} - {name}^T| is "
                           f"up to {gap:.3g}; the gradient with respect to it assumes {name} = {name}^T "
                           f"(symmetrize it, ({name} + {name}.T) / 2, or declare {name} without sym/spd)")
    if kind == "spd" and np.all(np.isfinite(A)) and A.size and not np.linalg.eigvalsh((A + A.T) / 2)[0] > 0:
        raise MatdiffError(f"{name} is declared symmetric positive definite, but the value given has an "
                           f"eigenvalue {np.linalg.eigvalsh((A + A.T) / 2)[0]:.3g} <= 0")


def _show(shape) -> str:
    """(n, m), (n,) for a vector, with m*n dimensions as such."""
    def one(d):
        return f"{one(d[1])}*{one(d[2])}" if isinstance(d, tuple) else str(d)
    return "(" + ", ".join(one(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _size_of(d, sizes: dict):
    """A dimension's size from what the inputs showed; None where not known yet."""
    if isinstance(d, int):
        return d
    if isinstance(d, tuple):
        a, b = _size_of(d[1], sizes), _size_of(d[2], sizes)
        return None if a is None or b is None else a * b
    return sizes[d][0] if d in sizes else None


def _check_sizes(name: str, shape: tuple, got: tuple, shown: tuple, sizes: dict, products: bool = False) -> None:
    """Each axis of an input against its declared size, and a named size against what the
    inputs before it showed (x and A sharing n must agree); the first input to show a named
    size fixes it. With products, only the m*n dimensions (known once m and n are)."""
    for axis, d in enumerate(shape):
        if isinstance(d, tuple) != products:
            continue
        want = _size_of(d, sizes)
        if want is None:
            if got[axis] == 0:
                raise MatdiffError(f"{name} has shape {shown}, with no entries; it should be {_show(shape)}")
            if isinstance(d, str):
                sizes[d] = (got[axis], name)
            continue
        if got[axis] == 0:                             # no entries: NumPy's max, det, ... would fail
            raise MatdiffError(f"{name} has shape {shown}, with no entries; it should be {_show(shape)}")
        if got[axis] != want:
            where = "" if isinstance(d, int) else \
                f", {d} = {want} from {sizes[d][1]}" if isinstance(d, str) else f", {_show((d,))[1:-2]} = {want}"
            raise MatdiffError(f"{name} has shape {shown}, but it should be {_show(shape)}{where}: "
                               f"axis {axis} is {got[axis]}, not {want}")


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def _numpy():
    import numpy as np

    def to_array(v):
        a = np.asarray(v)
        if a.dtype.kind not in "biuf":                 # complex would lose its imaginary part
            raise TypeError(f"an array of {a.dtype} is no array of real numbers")
        return a if a.dtype.kind == "f" else a.astype(float)

    def out_scalar(v):
        return float(np.asarray(v).reshape(()))
    out_scalar.zeros = np.zeros
    out_scalar.singular = np.linalg.LinAlgError
    return to_array, out_scalar


def _jax():
    import jax.numpy as jnp

    def to_array(v):
        a = jnp.asarray(v)
        if jnp.iscomplexobj(a):
            raise TypeError(f"an array of {a.dtype} is no array of real numbers")
        return a

    def out_scalar(v):
        return jnp.reshape(v, ())
    out_scalar.zeros = jnp.zeros
    out_scalar.singular = ()                           # JAX gives inf/nan, raises nothing
    return to_array, out_scalar


def _torch():
    import torch

    def to_array(v):
        if isinstance(v, torch.Tensor) and v.is_complex():
            raise TypeError(f"a tensor of {v.dtype} is no tensor of real numbers")
        if isinstance(v, torch.Tensor):
            return v if v.is_floating_point() else v.to(torch.get_default_dtype())
        t = torch.as_tensor(v)
        return t if t.is_floating_point() and t.ndim else t.to(torch.float64)

    def out_scalar(v):
        return torch.as_tensor(v).reshape(())
    out_scalar.zeros = torch.zeros
    out_scalar.singular = getattr(torch.linalg, "LinAlgError", ())
    return to_array, out_scalar


_CONVERT = {"numpy": _numpy, "jax": _jax, "torch": _torch}


def compile_source(src: Source):
    """exec the generated module (importing its backend); registered with linecache, so that
    tracebacks and inspect.getsource show the generated lines."""
    filename = f"<matdiff-generated {src.backend} {id(src):x}>"
    linecache.cache[filename] = (len(src.text), None, src.text.splitlines(True), filename)
    namespace: dict = {}
    try:
        # reviewed: the text is matdiff's own printer output; user names reach it only as
        # identifiers that codegen.Namer has made (keywords renamed, e.g. lambda_), and generate has
        # compiled the text once already
        exec(compile(src.text, filename, "exec"), namespace)  # reviewed: generated code, not user text
    except ImportError as e:
        raise MatdiffError(f"backend {src.backend!r} is not installed ({e}); "
                           f"pip install matdiff[{src.backend}]") from None
    return namespace[src.name]


