"""Gradient -> a generated NumPy / JAX / PyTorch function: forward once, then back-propagation.

    fn = matdiff.lambdify("c^T Psi((W + V) Phi(W x + b))", wrt="W", functions={"Phi": "tanh", "Psi": "sin"})
    value, grads = fn(W=W, V=V, x=x, b=b, c=c)        # grads["W"] has W's shape
    print(fn.source)

The function is one statement per program step, per delta and per gradient, in the order
back-propagation computes them: the forward values are locals (z, h, ...), the backward
formulas read them, and a sub-expression used twice anywhere is computed once into a
temporary (common sub-expressions over the whole DAG). How each node is written, and what
is never formed (diagonal matrices, Kronecker products), is printing/python.py's table.

Abstract functions (Phi, Psi, ...) are the caller's. `functions=` names their implementations:
  {"Phi": "tanh"}                  a built-in: written inline, derivatives included
  {"Phi": (f, f_prime, ...)}       callables: f, then its derivatives (f'' for hessian=True)
or they are passed at each call: fn(..., Phi=np.tanh, Phi_prime=lambda t: 1 - np.tanh(t)**2).
A list of names, as elsewhere in matdiff, only declares them: then every call passes them.
"""
from __future__ import annotations

import keyword
import textwrap
import unicodedata

from matdiff.language import functions as F
from matdiff.errors import MatdiffError
from matdiff.language.algebra import add, matmul, transpose
from matdiff.language.expr import (
    Add, Apply, Expr, Fn, Leaf, MatMul, Transpose, Var, children, postorder, substitute, transform, with_children,
)
from matdiff.calculus.gradient import gradient_of
from matdiff.limits import budgeted, tick
from matdiff.codegen.buffers import buffered
from matdiff.codegen.backends import BACKENDS, ELEMENTWISE, Y_FORMS, Y_SUFFIX, derivative_name
from matdiff.codegen.gram import gram_form
from matdiff.codegen.products import has_transpose, sum_matvec_sum
from matdiff.codegen.hvp import SECTION as HVP_SECTION, directional_program
from matdiff.codegen.python import TRANSPARENT, PythonPrinter, repeats
from matdiff.printing.text import to_text
from matdiff.language.problem import Problem
from matdiff.codegen.runtime import Source, Lambdified, compile_source
from matdiff.language.shapes import shape_of

__all__ = ["Lambdified", "Source", "generate", "lambdify"]


# ---- what the caller says about abstract functions ----------------------------------------------

def implementations(functions) -> tuple:
    """functions= -> (names to declare, {name: builtin name}, {name: (callables...)})."""
    if functions is None or isinstance(functions, str):
        return ([functions] if functions else []), {}, {}
    if not isinstance(functions, dict):
        return list(functions), {}, {}
    builtin, given = {}, {}
    for name, impl in functions.items():
        if isinstance(impl, str):
            if impl not in ELEMENTWISE:
                raise MatdiffError(f"functions={{'{name}': '{impl}'}}: not a built-in elementwise function; "
                                   f"one of {', '.join(sorted(ELEMENTWISE))}, or pass callables (f, f', ...)")
            builtin[name] = impl
        elif callable(impl):
            given[name] = (impl,)
        elif isinstance(impl, (tuple, list)) and impl and all(callable(f) for f in impl):
            given[name] = tuple(impl)
        else:
            raise MatdiffError(f"functions={{'{name}': ...}}: expected a built-in's name such as 'tanh', "
                               f"or a tuple of callables (f, f', f''), got {impl!r}")
    return list(functions), builtin, given


# ---- lowering: the expression as the generated code computes it --------------------------------------

def lower(builtin: dict):
    """A transform step: abstract functions given as built-ins renamed; a derivative written as
    its record says (code_derivative: exp' = exp, ...), and tanh^(k)(x), sigmoid^(k)(x) through
    y = f(x) (y_forms, shared with the forward pass)."""
    def step(e: Expr, kids: list) -> Expr:
        if not isinstance(e, Apply):
            return e if all(k is c for k, c in zip(kids, children(e))) else _with(e, kids)
        x = kids[0]
        name, k = builtin.get(e.fn.name, e.fn.name), e.fn.order
        record = F.ELEMENTWISE.get(name)
        if record is not None and record.code_derivative is not None and k >= 1:
            name, k = record.code_derivative(k)
        if name in Y_FORMS and k >= 1:
            if k >= len(Y_FORMS[name]):
                raise MatdiffError(f"no code for the derivative of order {k} of {name}")
            return Apply(Fn(name + Y_SUFFIX, k), Apply(Fn(name), x))
        return Apply(Fn(name, k), x)
    return step


def _with(e: Expr, kids: list | None, new: Expr | None = None) -> Expr:
    """e rebuilt from kids (or replaced by `new`, the same value), keeping e's known shape."""
    new = with_children(e, kids) if new is None else new
    try:
        object.__setattr__(new, "_shape", shape_of(e))   # same shape; spares a walk
    except AttributeError:
        pass
    return new


# ---- local names ----------------------------------------------------------------------------------

class Namer:
    """The one allocator of the generated module's names: each matdiff name (variable, abstract
    function or derivative, step, temporary, size) -> a unique Python identifier. Reserved: the
    keywords, the backend modules, helpers and `dtype`. A matdiff name is kept where Python
    allows it (θ stays θ); otherwise, or when taken, it gets a suffix. Names are compared after
    NFKC normalization, as Python compares identifiers: ϑ and θ are one Python name."""

    def __init__(self, reserved=()):
        self.taken = {unicodedata.normalize("NFKC", r) for r in reserved} | set(keyword.kwlist) | {"dtype"}

    def __call__(self, want: str) -> str:
        base = _identifier(want)
        name, i = base, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        if not _valid(name):                          # cannot happen; a wrong module must not either
            raise MatdiffError(f"internal: no Python name for {want!r}")
        self.taken.add(name)
        return name


def _valid(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and unicodedata.normalize("NFKC", name) == name


def _identifier(name: str) -> str:
    if _valid(name):
        return name
    out = "".join(F.GREEK_NAME.get(ch, ch) if ch.isidentifier() or ch.isdigit() else "_" for ch in name)
    out = unicodedata.normalize("NFKC", out)
    out = out if out.isidentifier() else "v_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in out)
    out = unicodedata.normalize("NFKC", out)
    if keyword.iskeyword(out):                        # lambda -> lambda_, as PEP 8 suggests
        out += "_"
    return out if _valid(out) else "v_" + "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_"
                                                 for ch in out)


def abstract_functions(exprs) -> list:
    """The (name, order) of every abstract function the generated code calls, user's own names
    (order 0) first: they keep their names when a derivative's parameter would collide."""
    found: set = set()
    seen: set = set()
    for e in exprs:
        for n in postorder(e, done=seen):
            seen.add(n)
            if isinstance(n, Apply) and n.fn.name not in ELEMENTWISE and not n.fn.name.endswith(Y_SUFFIX):
                found.add((n.fn.name, n.fn.order))
    return sorted(found, key=lambda f: (f[1], f[0]))


# ---- the source ---------------------------------------------------------------------------------------



def generate(p: Problem, wrt, backend: str = "numpy", builtin: dict | None = None, hessian: bool = False,
             buffers: bool = False, hvp: bool = False) -> Source:
    """The source of fn(inputs) -> (value, {name: gradient}[, {name: Hessian}]); with buffers
    (NumPy only), matrix results are written into kept arrays (codegen/buffers.py); with hvp, of
    fn(inputs, directions) -> (value, {name: gradient}, {name: Hessian-vector product}) (codegen/hvp.py)."""
    if backend not in BACKENDS:
        raise MatdiffError(f"backend={backend!r}: one of {', '.join(BACKENDS)}")
    if hessian and hvp:
        raise MatdiffError("hessian=True and hvp=True: ask for one (the Hessian-vector product never forms the Hessian)")
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    g = gradient_of(p, names)
    hess = _hessians(p, names) if hessian else {}
    hv = directional_program(p, names, g) if hvp else None
    B = BACKENDS[backend]
    namer = Namer({B.m, "jax", "np", "jnp", "torch", *B.helpers})

    # the caller's names first (inputs, then abstract functions): they are keyword parameters
    local: dict = {}                                    # Var -> its Python name
    inputs = {}
    for name, shape in p.shaped.inputs.items():
        py = namer(name)
        inputs[name] = (py, shape)
        local[Var(name, shape, p.shaped.structure.get(name, ""))] = py
    for w, D in (hv.directions.items() if hv else ()):  # hvp: a direction per variable, after the inputs
        inputs[D.name] = (namer(D.name), p.shaped.inputs[w])
        local[D] = inputs[D.name][0]
    stmts = []                                          # (target, expr, section), named below
    for sym, rhs in p.steps:
        stmts.append((sym, rhs, "forward"))
    stmts.append(("value", p.result, "forward"))
    for d, e in g.deltas:
        stmts.append((d, e, "backward"))
    stmts += [(("grad", w), g.stepwise[w], "backward") for w in names]
    stmts += [(("hess", w), hess[w], "Hessians") for w in hess]
    if hv:
        stmts += [(T, e, HVP_SECTION) for T, e in hv.tangents] + [(("hvp", w), hv.outputs[w], HVP_SECTION) for w in names]
    stmts, lowered = _lowered(stmts, p, builtin or {}, B.distribute_sums)
    stmts = _live(stmts)
    fparams: dict = {}                                  # parameter -> (function name, order)
    fn_names: dict = {}                                 # (function name, order) -> parameter
    for name, order in abstract_functions(e for _, e, _ in stmts):
        key = namer(derivative_name(name, order))
        fparams[key], fn_names[name, order] = (name, order), key
    fname = namer("value_grad_hessian" if hessian else "value_grad_hvp" if hvp else "value_and_grad")

    special: dict = {}                                  # "value", ("grad", w), ("hess", w) -> name

    def target_name(t):
        if isinstance(t, Var):
            local[t] = namer(t.name)
            return local[t]
        special[t] = namer(p.shaped.name or "f") if t == "value" else namer(f"{t[0]}_{t[1]}")
        return special[t]
    stmts = [(target_name(t), e, sec) for t, e, sec in stmts]
    value_name = special["value"]
    grad_names = {w: special["grad", w] for w in names}
    hess_names = {w: special["hess", w] for w in hess}
    auto = {lowered[k]: v for k, v in g.names.items() if k in lowered}   # z1, z4: the printed names

    def fn_param(name, order):
        if (name, order) not in fn_names:             # a call the scan above did not see: named now
            key = namer(derivative_name(name, order))
            fparams[key], fn_names[name, order] = (name, order), key
        return fn_names[name, order]

    dims_used: dict = {}
    dim_source = _dim_sources(inputs)

    def dim(d):
        if isinstance(d, int):
            return str(d)
        if isinstance(d, tuple):
            return f"{dim(d[1])} * {dim(d[2])}"
        if d not in dim_source:
            raise MatdiffError(f"cannot tell the size {d} from the inputs' shapes: no input has a dimension {d} "
                               f"(it is the size of an I, 0 or 1 that no input fixes), and the result needs it")
        if d not in dims_used:
            dims_used[d] = namer(d)
        return dims_used[d]

    printer = PythonPrinter(B, dict(local), dim, fn_param)
    f = p.shaped.name or "f"
    # the formula above each gradient's line, where it fits: over the program's names (which are
    # locals here), not the printer's auxiliary z1, z4 (which the code need not have)
    notes = {grad_names[w]: f"∂{f}/∂{w} = {to_text(g.stepwise[w])}".replace("\n", " ") for w in names}
    notes = {k: v for k, v in notes.items() if len(v) <= 96}
    lazy = _lazy_sums(stmts) if B.distribute_sums == "traced" else set()
    body = _emit(stmts, buffered(printer) if buffers and backend == "numpy" else printer, namer, auto, notes, lazy)
    sig = ", ".join(py for py, _ in inputs.values())
    fkeys = sorted(fparams, key=lambda k: (fparams[k][0], fparams[k][1]))
    if fkeys:
        sig += ", *, " + ", ".join(fkeys)
    # JAX: each vector made a column on entry, and its gradient (and H v) given back in the shape
    # the vector came in (Backend.vectors_reshaped): a 1-D vector has a 1-D gradient, as in fn(...)
    reshaped = {w: namer(f"{inputs[w][0]}_shape") for w in names
                if B.vectors_reshaped and len(inputs[w][1]) == 1}

    def given_back(w, out):
        return f"{B.m}.reshape({out}, {reshaped[w]})" if w in reshaped else out
    returns = f"{value_name}, {{" + ", ".join(f"{w!r}: {given_back(w, grad_names[w])}" for w in names) + "}"
    if hessian:
        returns += ", {" + ", ".join(f"{w!r}: {hess_names[w]}" for w in hess) + "}"
    if hvp:
        returns += ", {" + ", ".join(f"{w!r}: {given_back(w, special['hvp', w])}" for w in names) + "}"
    head = [f"def {fname}({sig}):", _docstring(p, names, hessian, inputs, {k: fparams[k] for k in fkeys},
                                               B.vectors_reshaped)]
    if B.vectors_reshaped:
        head += [f"    {reshaped[w]} = {B.m}.shape({inputs[w][0]})" for w in reshaped]
        head += [f"    {py} = {B.m}.reshape({py}, (-1, 1))" for py, shape in inputs.values() if len(shape) == 1]
    head += [f"    {dims_used[d]} = {dim_source[d]}" for d in dims_used]
    if printer.uses_dtype:
        first = next((py for py, s in inputs.values() if s), None)
        head.append(f"    dtype = {first}.dtype" if first else "    dtype = torch.get_default_dtype()")
    lines = [*B.imports, "", *(B.helpers[h] + "\n" for h in sorted(printer.helpers)), *head, *body,
             f"    return {returns}", ""]
    text = "\n".join(lines).replace("\n\n\n\n", "\n\n\n")
    _compiles(text)
    return Source(text, fname, backend, inputs, fparams, names, hessian, dict(p.shaped.structure),
                  buffers and backend == "numpy", {w: D.name for w, D in hv.directions.items()} if hv else {})


def _compiles(text: str) -> None:
    """Generated code compiles, or matdiff refuses: --emit never prints what Python rejects.
    Parsed and compiled only: nothing runs."""
    try:
        compile(text, "<matdiff-generated>", "exec")  # reviewed: matdiff's printer output, never executed here
    except (SyntaxError, RecursionError, MemoryError, ValueError) as e:
        raise MatdiffError(f"the generated code is not valid Python ({type(e).__name__}: {e}); "
                           f"please report this expression") from None


def _hessians(p: Problem, names: list) -> dict:
    """Each variable's Hessian (matdiff.hessian), written over the program's steps where it can."""
    from matdiff.calculus.second_order import hessian_of
    back = {inline: sym for sym, inline in p.inline.items() if not isinstance(inline, Leaf)}
    return {w: gram_form(substitute(hessian_of(p, w).matrix, back)) for w in names}


def _lowered(stmts: list, p: Problem, builtin: dict, distribute_sums: str = "always") -> tuple:
    """Every statement lowered (one memo: shared nodes stay shared); then a node that a forward
    step computes is read from that step (tanh(W x + b) in a backward formula is z1).
    Returns the statements and {node: its lowered form}."""
    memo: dict = {}
    step = lower(builtin)
    out = [(t, transform(e, step, memo), s) for t, e, s in stmts]
    lowered = dict(memo)
    computed: dict = {}
    for i, (t, e, s) in enumerate(out):
        tick()
        if computed:
            out[i] = (t, substitute(e, computed), s)
        if i < len(p.steps) and not isinstance(out[i][1], Leaf):
            computed[out[i][1]] = p.steps[i][0]
    if distribute_sums == "always":
        out = _distribute_sums(out)
    elif distribute_sums == "traced":                  # JAX: a sum with a transposed term is
        out = _distribute_sums(out, has_transpose)     # distributed (products.sum_matvec_sum)
    return _share_subchains(out), lowered


def _distribute_sums(stmts: list, which=lambda T: True) -> list:
    """(A + B) v = A v + B v and u^T (A + B) = u^T A + u^T B for matrices A, B and vectors u, v:
    two matrix-vector products read each matrix once, where forming A + B first reads both,
    writes a new matrix and reads it again (Tutorial 12's W + V). Only the sums `which` accepts."""
    def terms(M: Expr):
        T = M.arg if isinstance(M, Transpose) else M
        if not isinstance(T, Add) or any(1 in shape_of(t) for t in T.args) or not which(T):
            return None
        return [transpose(t) for t in T.args] if T is not M else list(T.args)

    def step(e: Expr, kids: list) -> Expr:
        tick()
        e = e if all(k is c for k, c in zip(kids, children(e))) else _with(e, kids)
        if isinstance(e, MatMul) and len(e.args) == 2:
            (M, v), (u, N) = e.args, e.args
            if shape_of(v)[1] == 1 and (ts := terms(M)) is not None:
                return _with(e, None, add(*(matmul(t, v) for t in ts)))
            if shape_of(u)[0] == 1 and (ts := terms(N)) is not None:
                return _with(e, None, add(*(matmul(u, t) for t in ts)))
        return e
    memo: dict = {}
    return [(t, transform(e, step, memo), s) for t, e, s in stmts]


def _lazy_sums(stmts: list) -> set:
    """The sums of matrices that only ever multiply a column, (A + B) v or (A + B)^T v, each in a
    product of two factors: left unnamed, so that the printer writes each product as the backend's
    sum_matvec (JAX: formed or distributed by size when traced, backends._SUM_MATVEC); the printer
    writes every unnamed such product so (products.combine)."""
    parents: dict = {}
    seen: set = set()
    roots = {e for _, e, _ in stmts}
    for _, e, _ in stmts:
        for n in postorder(e, done=seen):
            seen.add(n)
            for c in set(children(n)):
                parents.setdefault(c, []).append(n)

    def times_column(P: Expr, M: Expr) -> bool:
        return (isinstance(P, MatMul) and len(P.args) == 2 and P.args[0] == M
                and shape_of(P.args[1])[1] == 1 and shape_of(P)[0] != 1)

    def lazy(A: Expr) -> bool:
        if A in roots or not sum_matvec_sum(A):
            return False
        for P in parents.get(A, []):
            if isinstance(P, Transpose):
                if P in roots or not all(times_column(Q, P) for Q in parents.get(P, [])):
                    return False
            elif not times_column(P, A):
                return False
        return bool(parents.get(A))
    return {n for n in seen if lazy(n)}


def _share_subchains(stmts: list) -> list:
    """A product that contains another product of the program as a run of its factors uses
    it: `W x x^T` next to `W x` becomes `(W x) x^T`, so W x is computed once."""
    products: set = set()
    seen: set = set()
    for _, e, _ in stmts:
        for n in postorder(e, done=seen):
            seen.add(n)
            if isinstance(n, MatMul):
                products.add(n)
    if not any(len(n.args) > 2 for n in products):
        return stmts
    lengths: dict = {}                                  # first factor -> the products' lengths, longest first
    for n in products:
        lengths.setdefault(n.args[0], set()).add(len(n.args))
    lengths = {k: sorted(v, reverse=True) for k, v in lengths.items()}

    def longest_run(args: tuple):
        """The longest run of args (the leftmost on a tie) that is a product of the program."""
        best = None
        for i, a in enumerate(args):
            tick()
            for size in lengths.get(a, ()):
                if best is not None and size <= best[0]:
                    break
                if 2 <= size < len(args) and i + size <= len(args) and MatMul(args[i:i + size]) in products:
                    best = (size, i)
                    break
        return best

    def step(e: Expr, kids: list) -> Expr:
        e = e if all(k is c for k, c in zip(kids, children(e))) else _with(e, kids)
        if isinstance(e, MatMul) and len(e.args) > 2:
            run = longest_run(e.args)
            if run is not None:
                size, i = run
                return _with(e, None, MatMul(e.args[:i] + (MatMul(e.args[i:i + size]),) + e.args[i + size:]))
        return e
    memo: dict = {}
    return [(t, transform(e, step, memo), s) for t, e, s in stmts]


def _dim_sources(inputs: dict) -> dict:
    """Each symbolic dimension -> where the inputs show it (`W.shape[0]`); vectors are columns."""
    out: dict = {}
    for py, shape in inputs.values():
        for axis, d in enumerate(shape):
            if isinstance(d, str) and d not in out:
                out[d] = f"{py}.shape[{axis}]"
    return out


def _emit(stmts: list, printer: PythonPrinter, namer: Namer, auto: dict, notes: dict, lazy: set = frozenset()) -> list:
    """One line per statement, each shared sub-expression computed once into a temporary,
    just before the first line that needs it; `notes` are comments above named lines; `lazy`
    nodes are never named (printed where they are used)."""
    roots = [e for _, e, _ in stmts]
    order: list = []
    seen: set = set()
    for r in roots:
        for n in postorder(r, done=seen):
            seen.add(n)
            order.append(n)
    uses: dict = {}
    for r in roots:
        uses[r] = uses.get(r, 0) + 1
    rootset = set(roots)
    named: dict = {}                                     # node -> name, once decided
    for t, e, _ in stmts:
        if not isinstance(e, Var):
            named.setdefault(e, t)
    hoisted: set = set()
    for e in reversed(order):                            # parents before children
        tick()
        if isinstance(e, Var):
            continue
        if e not in rootset and not isinstance(e, TRANSPARENT) and e not in lazy and uses.get(e, 0) >= 2:
            hoisted.add(e)
        mult = 1 if (e in rootset or e in hoisted) else uses.get(e, 0)
        for c in children(e):
            uses[c] = uses.get(c, 0) + mult * repeats(e)
    lines: list = []
    section = None
    done: set = set()
    temps = 0
    for target, root, sec in stmts:
        tick()
        if sec != section:
            lines.append(f"    # {sec}")
            section = sec
        if root in done or isinstance(root, Var):
            if printer.term(root)[0] != target:             # the same value under another name
                lines.append(f"    {target} = {printer.term(root)[0]}")
            continue
        for n in postorder(root, done=done):
            if n in done or n is root or not (n in hoisted or (n in named and n in rootset)):
                continue
            name = named.get(n)
            if name is None:
                want = auto.get(n)
                if want is None:
                    temps += 1
                    want = f"t{temps}"
                name = named[n] = namer(want)
            if name in notes:
                lines.append(f"    # {notes[name]}")
            lines.append(f"    {name} = {printer(n)}")
            printer.names[n] = name
            done.add(n)
        if target in notes:
            lines.append(f"    # {notes[target]}")
        lines.append(f"    {target} = {printer(root)}")
        printer.names.setdefault(root, target)
        done.add(root)
    return lines


def _docstring(p: Problem, names: list, hessian: bool, inputs: dict, fparams: dict,
               vectors_reshaped: bool = False) -> str:
    """`f = c^T Psi(...)`: what the function returns, its conventions, and which parameter is
    which where Python could not take the matdiff name as it is."""
    what = "value, gradients and Hessians" if hessian else "value and gradients"
    f = p.shaped.name or "f"
    head = f"{f} = {to_text(p.f)}" if not p.steps else f"{f}, the program's last line,"
    lines = [f"The {what} of {head}", "by back-propagation (generated by matdiff).", "",
             f"With respect to {', '.join(names)}. Vectors are columns (n, 1); each gradient has its variable's shape.",
             *(["A vector may also be a 1-D array (n,), its gradient then 1-D too: under jax.jit that is",
                "faster (XLA copies a column input)."] if vectors_reshaped else []),
             "Hessians follow the vec convention: d²f = vec(dX)^T H vec(dX)." if hessian else
             "A scalar is a 0-d or a 1x1 array."]
    renamed = [f"{py} is {name}" for name, (py, _) in inputs.items() if py != name]
    if renamed:
        lines += textwrap.wrap(f"Inputs under another name (Python would not take theirs): {', '.join(renamed)}.", 96)
    if fparams:
        lines += textwrap.wrap("Abstract functions and their derivatives are keyword parameters: "
                               + ", ".join(f"{k} = {n}{chr(39) * o}" for k, (n, o) in fparams.items()) + ".", 96)
    text = "\n".join("    " + line if line else "" for line in lines)
    return '    """' + _literal_safe(text[4:]) + '\n    """'


def _literal_safe(text: str) -> str:
    """Text for inside a triple-quoted docstring: a backslash or quotes from a name stay text."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _live(stmts: list) -> list:
    """The statements the outputs need: a program line nothing depends on is left out (its
    sizes, e.g. the n of an I in `s1 = tr(I)`, need no value)."""
    defined = {t: e for t, e, _ in stmts if isinstance(t, Var)}
    need: set = set()
    seen: set = set()
    todo = [e for t, e, _ in stmts if not isinstance(t, Var)]
    while todo:
        tick()
        for n in postorder(todo.pop(), done=seen):
            seen.add(n)
            if isinstance(n, Var) and n in defined and n not in need:
                need.add(n)
                todo.append(defined[n])
    return [s for s in stmts if not isinstance(s[0], Var) or s[0] in need]


@budgeted
def lambdify(expr, wrt, backend: str = "numpy", shapes=None, functions=None, hessian: bool = False,
             syntax: str = "auto", reuse_buffers: bool | None = None, hvp: bool = False) -> Lambdified:
    """Generated code for the value and the gradients (and with hessian=True the Hessians; with
    hvp=True a function of the inputs and a direction per variable, dx for x, that gives the value,
    the gradients and the Hessian-vector products, H never formed: codegen/hvp.py).

    reuse_buffers (NumPy; the default there): each matrix result is written into an array of an
    earlier call that nothing refers to any more (the caller has dropped it and its views), so
    that large results do not page-fault afresh at every call; an array the caller holds is
    never written over. False: every result a new array. See codegen/buffers.py.

    >>> import numpy as np, matdiff
    >>> fn = matdiff.lambdify("x^T A x", wrt="x")
    >>> fn(x=np.array([1.0, 2.0]), A=np.eye(2))
    (5.0, {'x': array([2., 4.])})
    """
    if reuse_buffers not in (None, True, False):
        raise MatdiffError(f"reuse_buffers={reuse_buffers!r}: True or False")
    if reuse_buffers and backend != "numpy":
        raise MatdiffError(f"reuse_buffers=True is for backend='numpy'; {backend} keeps its own buffers")
    declared, builtin, given = implementations(functions)
    p = Problem.of(expr, shapes, declared, syntax)
    src = generate(p, wrt, backend, builtin, hessian, buffers=reuse_buffers is not False, hvp=hvp)
    # each callable bound to the parameter the generated code calls it by (Phi' may be
    # Phi_prime_1 where a function of the caller is called Phi_prime)
    defaults = {key: given[name][order] for key, (name, order) in src.functions.items()
                if name in given and order < len(given[name])}
    return Lambdified(src, compile_source(src), defaults)


@budgeted
def emit(expr, wrt, backend: str = "numpy", shapes=None, functions=None, hessian: bool = False,
         syntax: str = "auto", hvp: bool = False) -> str:
    """The source text alone (`matdiff grad ... --emit numpy`); imports no backend."""
    declared, builtin, _ = implementations(functions)
    return generate(Problem.of(expr, shapes, declared, syntax), wrt, backend, builtin, hessian, hvp=hvp).text

