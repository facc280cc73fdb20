"""Hessian-vector products as generated code: forward mode over the gradient program, H never formed.

    fn = matdiff.lambdify("c^T Psi((W + V) Phi(W x + b))", wrt="x", functions=..., hvp=True)
    value, grads, hvps = fn(W=W, V=V, x=x, b=b, c=c, dx=v)    # hvps["x"] = H v, shaped like x

The gradient program (forward steps, deltas, gradients; gradient.gradient_of) is differentiated
once more, symbolically, with dW := the direction: each step and each delta `s = rhs` that
depends on a variable gets its tangent `ds = d(rhs)` (calculus/diff.differential, the children's
differentials read from the tangents already computed), and each gradient G its directional
derivative d(G)[dW := V], shaped like W. For a vector x that is H v; for a matrix W it is
unvec(H vec(V)). With several variables, the directions move together: the result is the joint
Hessian (with its cross blocks) times the stacked directions. A variable declared symmetric takes
sym(V) = (V + V^T)/2, which is H vec(V) for the Hessian on the symmetric matrices (H = P H P).

The cost is that of the gradient again, about: matrix-vector products where the gradient has them
(JAX's jvp of grad does the same work; the generated code does it without tracing).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from matdiff.calculus.diff import depends_on, differential
from matdiff.calculus.simplify import known_derivative
from matdiff.language.algebra import add, mul, rebuild, transpose
from matdiff.language.expr import Apply, Const, Differential, Expr, Var, Zero, postorder, substitute, transform
from matdiff.language.shapes import shape_of
from matdiff.limits import tick

SECTION = "Hessian-vector products"


@dataclass
class DirectionalProgram:
    """directions: wrt name -> the direction's Var (an input of the generated function);
    tangents: [(tangent Var, its expression)] in computing order; outputs: wrt name -> d(gradient)."""
    directions: dict
    tangents: list
    outputs: dict


def direction_name(w: str, taken: set) -> str:
    """`dx` for x, `dW` for W: the differential's own name; `dx_1` where the program has a dx."""
    base = f"d{w}"
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _zero_derivative(n: Expr) -> bool:
    return isinstance(n, Apply) and isinstance(known_derivative(n), Zero)


def _without_zero_derivatives(e: Expr) -> Expr:
    """A term with a derivative its record knows to be 0 (relu'') dropped: `relu''(z) ∘ dz ∘ t`
    would compute t (a matrix-vector product) only to multiply it by 0, and a compiler cannot
    drop it (0 * inf is nan). Rebuilt through the smart constructors, which fold the zero."""
    if not any(_zero_derivative(n) for n in postorder(e)):
        return e
    return transform(e, lambda n, kids: known_derivative(n) if _zero_derivative(n) else rebuild(n, kids), {})


def directional_program(p, names: list, g) -> DirectionalProgram:
    """The tangent statements and each gradient's directional derivative (see the module docstring).
    `g` is gradient_of(p, names): its deltas and stepwise gradients are what is differentiated."""
    taken = set(p.shaped.inputs) | set(p.vars)
    for sym, _ in p.steps:
        taken.add(sym.name)
    for d, _ in g.deltas:
        taken.add(d.name)
    for root in [p.result, *(e for _, e in p.steps), *(e for _, e in g.deltas), *g.stepwise.values()]:
        for n in postorder(root):
            if isinstance(n, Var):
                taken.add(n.name)
            elif isinstance(n, Apply):                 # an abstract function is a keyword parameter too
                taken.add(n.fn.name)
    directions: dict = {}
    seed: dict = {}                                 # Differential(W) -> the direction (sym(V) if W is symmetric)
    for w in names:
        W = p.var(w)
        V = Var(direction_name(w, taken), W.shape)
        directions[w] = V
        seed[Differential(W)] = mul(Const(Fraction(1, 2)), add(V, transpose(V))) if W.structure else V
    moving = {p.var(w) for w in names}              # the variables and every symbol that depends on them
    tangents: list = []

    def d(e: Expr) -> Expr:
        tick()
        return _without_zero_derivatives(substitute(differential(e, moving), seed))

    for sym, rhs in [*p.steps, *g.deltas]:
        if not depends_on(rhs, moving)[rhs]:
            continue
        T = Var(direction_name(sym.name, taken), sym.shape)
        tangents.append((T, d(rhs)))
        seed[Differential(sym)] = T
        moving.add(sym)
    outputs = {w: d(g.stepwise[w]) for w in names}
    for w in names:                                  # a gradient that does not depend on the variables: 0
        if shape_of(outputs[w]) != shape_of(g.stepwise[w]):
            raise AssertionError(f"internal: d(grad {w}) has shape {shape_of(outputs[w])}")
    return DirectionalProgram(directions, tangents, outputs)
