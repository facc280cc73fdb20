"""Completeness of the rule tables: every node type has its row in every table that must know it,
and every built-in elementwise function's record has every field those tables read.

A table is a dict keyed by node class (SHAPE_RULES, DIFF_RULES, ...). A node type that
legitimately has no row in a table is listed in EXEMPT with the reason; anything else missing
fails here, and the failure names every missing (table, node) pair at once.

How to add a node type (what this file enforces):
  1. the class in matdiff/expr.py (a subclass of Leaf, Unary or Nary);
  2. a row in every table of TABLES below, or an entry in EXEMPT saying why it needs none;
  3. if the parser spells it as a function (`tr(X)`), a row in functions.STRUCTURAL.
How to add an elementwise function: one record in functions.ELEMENTWISE (see
test_every_record_is_complete), and its independent reference in the tests of REFERENCES.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import sympy as sp

from matdiff.language import expr as E
from matdiff.language import functions as F
from matdiff.language.algebra import rebuild
from matdiff.errors import MatdiffError
from matdiff.language.expr import Apply, Expr, Fn, Leaf, Nary, Unary, Var


def _module(name: str):
    # importlib: `matdiff.jacobian` as an attribute is the public function, not the module
    return importlib.import_module(f"matdiff.{name}")


# table name -> (module, attribute): every table keyed by node class that must know every node
TABLES = {
    "shape (SHAPE_RULES)":                 ("language.shapes", "SHAPE_RULES"),
    "differential (DIFF_RULES)":           ("calculus.diff", "DIFF_RULES"),
    "pull-back (PULLBACK_RULES)":          ("calculus.canon", "PULLBACK_RULES"),
    "Jacobian (JACOBIAN_RULES)":           ("calculus.jacobian", "JACOBIAN_RULES"),
    "Hessian diagonal (DIAG_RULES)":       ("calculus.curvature", "DIAG_RULES"),
    "simplify rebuild (REBUILD)":          ("language.algebra", "REBUILD"),
    "text (TEXT)":                         ("printing.text", "TEXT"),
    "text and LaTeX precedence (PRECEDENCE)": ("printing.precedence", "PRECEDENCE"),
    "LaTeX (LATEX)":                       ("printing.latex", "LATEX"),
    "SymPy (SYMPY)":                       ("printing.to_sympy", "SYMPY"),
    "NumPy evaluation (EVAL)":             ("checking.numeric", "EVAL"),
    "generated code (PY)":                 ("codegen.python", "PY"),
}

_CONSTANTS = ("Var", "Const", "Identity", "Ones")
# nodes whose differential diff.py writes linearly in the children's differentials with the node
# itself as a coefficient (d f(X) = f'(X) ∘ dX, d det X = det X tr(X^-1 dX), ...): inside a
# differential they never enclose a dX, so the tables that walk a differential never meet them
_NONLINEAR = ("Apply", "Det", "LogDet", "HadamardPow", "Pow", "Inverse", "MatPow", "Norm", "Softmax", "LogSumExp",
              "BatchSoftmax", "BatchLogSumExp", "LogSoftmax")

# (table, node) -> why that table needs no row for that node
EXEMPT = {
    ("differential (DIFF_RULES)", "Var"):
        "the walker itself writes dX for a variable of wrt and 0 for any other (diff.differential)",
    **{("pull-back (PULLBACK_RULES)", n): "a constant holds no dX, and diff writes 0 for it"
       for n in _CONSTANTS},
    ("pull-back (PULLBACK_RULES)", "Differential"):
        "the walker's base case: <M, dX> records (X, M) (canon.pullback)",
    **{("pull-back (PULLBACK_RULES)", n): "never encloses a dX in a differential" for n in _NONLINEAR},
    **{("Jacobian (JACOBIAN_RULES)", n): "a constant holds no dX: the walker skips it" for n in _CONSTANTS},
    **{("Jacobian (JACOBIAN_RULES)", n): "never encloses a dX in a differential" for n in _NONLINEAR},
    **{("Hessian diagonal (DIAG_RULES)", n): "a constant does not depend on X: the walker skips it"
       for n in ("Const", "Identity", "Ones", "Zero", "Differential")},
    ("Hessian diagonal (DIAG_RULES)", "Var"): "the walker stops at a variable: its share is the result",
    ("Hessian diagonal (DIAG_RULES)", "MatPow"):
        "known limit: A^k for an integer k > 1 is rewritten as A A ... A first; any other power "
        "raises LimitError, 'use the full Hessian'",
}


def node_types() -> list:
    """Every concrete node class in matdiff/expr.py."""
    abstract = {Expr, Leaf, Unary, Nary}
    return sorted((c for c in vars(E).values()
                   if isinstance(c, type) and issubclass(c, Expr) and c not in abstract),
                  key=lambda c: c.__name__)


def missing_rows() -> list:
    out = []
    for table, (module, attribute) in TABLES.items():
        rows = getattr(_module(module), attribute)
        for node in node_types():
            if node not in rows and (table, node.__name__) not in EXEMPT:
                out.append(f"{table}: no row for {node.__name__}")
    return out


def test_every_table_has_a_row_for_every_node_type():
    missing = missing_rows()
    assert not missing, "missing rows (add them, or an EXEMPT entry with the reason):\n  " + "\n  ".join(missing)


def test_every_exemption_is_still_needed():
    """An exemption for a row that now exists, or for a table or node that no longer exists, is stale."""
    names = {n.__name__ for n in node_types()}
    stale = []
    for table, node in EXEMPT:
        if table not in TABLES or node not in names:
            stale.append(f"{table}: {node} (no such table or node)")
        elif getattr(_module(TABLES[table][0]), TABLES[table][1]).get(getattr(E, node)) is not None:
            stale.append(f"{table}: {node} has its row now")
    assert not stale, "stale exemptions in EXEMPT:\n  " + "\n  ".join(stale)


def test_the_test_sees_every_node_type():
    """node_types() finds the classes the tables are keyed by (a guard against an empty walk)."""
    names = {n.__name__ for n in node_types()}
    assert {"Var", "Add", "MatMul", "Apply", "Softmax", "Differential"} <= names


def test_rebuild_refuses_a_node_type_it_does_not_know():
    """Returning the old node would silently stop every rewrite above it (issue 12)."""
    @E.node
    class Unknown(Unary):
        arg: Expr
    with pytest.raises(TypeError, match="no row for Unknown"):
        rebuild(Unknown(Var("x", (3, 1))), [Var("y", (3, 1))])


# ---- the structural built-ins: one table that the parser reads ----------------------------------

@pytest.mark.parametrize("name", sorted(F.STRUCTURAL))
def test_structural_builtin_parses_to_its_node(name):
    from matdiff.language.parse import parse
    node, arity = F.STRUCTURAL[name]
    args = ", ".join(["A", "B"][:arity])
    e = parse(f"{name}({args})").result
    assert type(e) is node, (name, e)


# ---- the elementwise records -------------------------------------------------------------------

RECORDS = sorted(F.ELEMENTWISE.values(), key=lambda r: r.name)
ORDERS = range(4)        # f, f', f'' (Hessians), f''' (the Hessian's numerical check)


def sample(record, n: int = 7) -> np.ndarray:
    """Arguments inside the function's domain, away from 0 (relu's kink) and from ±1 (arcsin's edges)."""
    t = np.linspace(-1.7, 1.9, n).reshape(-1, 1)
    t = t[np.abs(t[:, 0]) > 0.2]
    return np.abs(t) + 0.3 if record.domain == "positive" else t / 2 if record.domain == "unit" else t


def record_problems(r) -> list:
    """What the tables need from a record and it does not give."""
    from matdiff.codegen.generate import lower
    from matdiff.codegen.backends import BACKENDS, ELEMENTWISE as CODE, Y_FORMS, Y_SUFFIX
    from matdiff.printing.to_sympy import function_body
    out = []
    if r.domain not in F.DOMAINS:
        out.append(f"domain {r.domain!r} is none of {F.DOMAINS}")
    numpy = r.numpy(np)
    if len(numpy) != len(ORDERS) or not all(map(callable, numpy)):
        out.append(f"numpy: needs {len(ORDERS)} callables (f, f', f'', f'''), has {len(numpy)}")
    missing = [b for b in F.BACKENDS if "{x}" not in r.code.get(b, "")]
    if missing:
        out.append(f"code: no form of f({{x}}) for {', '.join(missing)}")
    if not r.code_derivatives:
        out.append("code_derivatives: needs at least the order-0 form")
    if r.numpy_helper is not None and f"def _{r.name}(" not in r.numpy_helper:
        out.append(f"numpy_helper: must define _{r.name}")
    if "_" + r.name in r.code["numpy"] and r.numpy_helper is None:
        out.append(f"code['numpy'] calls _{r.name}, but there is no numpy_helper")
    for k in ORDERS:             # generated code, as codegen.lower and printing/python.py read it
        x = Var("x", (3, 1))
        try:
            low = lower({})(Apply(Fn(r.name, k), x), [x])
        except MatdiffError as error:
            out.append(f"code: order {k}: {error}")
            continue
        name, order = low.fn.name, low.fn.order
        if name.endswith(Y_SUFFIX):
            forms = Y_FORMS.get(name[:-len(Y_SUFFIX)], [])
            if order >= len(forms) or forms[order] is None:
                out.append(f"code: no y_forms entry for order {order} of {name[:-len(Y_SUFFIX)]}")
        elif order >= len(CODE.get(name, [])):
            out.append(f"code: order {k} is written as {name} of order {order}, which has no code_derivatives entry")
    for k in ORDERS:
        for level in (False, True):      # in a Lambda body, and of a scalar argument
            body = function_body(Fn(r.name, k), scalar_level=level)
            if body.has(sp.Derivative) or body.atoms(sp.core.function.AppliedUndef):
                out.append(f"sympy: order {k}{' (scalar)' * level} is not evaluated: {body}")
    if not r.latex.startswith("\\"):
        out.append(f"latex: {r.latex!r} is no LaTeX command")
    if r.latex_applied is not None and "{x}" not in r.latex_applied:
        out.append("latex_applied: no {x} for the argument")
    for s in r.spellings:
        if s in F.ELEMENTWISE or s in F.STRUCTURAL:
            out.append(f"spelling {s!r} is another built-in's name")
    return out


def test_every_record_is_complete():
    problems = [f"{r.name}: {p}" for r in RECORDS for p in record_problems(r)]
    assert not problems, "incomplete elementwise records (matdiff/functions.py):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("r", RECORDS, ids=lambda r: r.name)
def test_numpy_derivatives_agree_with_finite_differences(r):
    """f^(k+1) is the derivative of f^(k), for every order the record gives."""
    t, h = sample(r), 1e-6
    fs = r.numpy(np)
    for k in range(len(fs) - 1):
        fd = (fs[k](t + h) - fs[k](t - h)) / (2 * h)
        np.testing.assert_allclose(fs[k + 1](t), fd, rtol=1e-5, atol=1e-6, err_msg=f"{r.name}^({k + 1})")


_HEAVISIDE = {"Heaviside": lambda x, h0=0.5: np.heaviside(x, h0)}      # relu' (t is never 0 here)


@pytest.mark.parametrize("r", RECORDS, ids=lambda r: r.name)
@pytest.mark.parametrize("level", [False, True], ids=["lambda", "scalar"])
def test_sympy_body_agrees_with_numpy(r, level):
    """The SymPy body of f^(k), in a Lambda and of a scalar argument (sympy_scalar), is f^(k)."""
    from matdiff.printing.to_sympy import T, function_body
    t = sample(r)[:, 0]
    for k, f in enumerate(r.numpy(np)):
        body = sp.lambdify(T, function_body(Fn(r.name, k), scalar_level=level), modules=[_HEAVISIDE, "numpy"])
        np.testing.assert_allclose(np.broadcast_to(body(t), t.shape), f(t), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{r.name}^({k})")


@pytest.mark.parametrize("r", RECORDS, ids=lambda r: r.name)
def test_sympy_lambda_body_is_finite_where_the_function_is(r):
    """Issue 11: an elementwise Lambda body evaluates to a finite number wherever f^(k) is finite,
    past exp's range too (no inf / inf): a record's `sympy` / `sympy_derivative` must be stable.
    (A scalar argument's body may overflow: see `sympy_scalar`.)"""
    from matdiff.printing.to_sympy import T, function_body
    t = np.array([-800.0, -50.0, 50.0, 800.0])
    for k, f in enumerate(r.numpy(np)):
        body = sp.lambdify(T, function_body(Fn(r.name, k)), modules=[_HEAVISIDE, "numpy"])
        with np.errstate(all="ignore"):
            want, got = f(t), np.broadcast_to(body(t), t.shape)
        where = np.isfinite(want)
        assert np.all(np.isfinite(got[where])), f"{r.name}^({k}) at {t[where]}: {got[where]}"
        np.testing.assert_allclose(got[where], want[where], rtol=1e-9, atol=1e-12, err_msg=f"{r.name}^({k})")


@pytest.mark.parametrize("r", RECORDS, ids=lambda r: r.name)
def test_domain_and_kink_are_what_numpy_says(r):
    """Where the check must not step across 0 (sampling._EDGES) is what the record says, and the
    record says what is true: f not finite below 0 is a positive domain, f finite inside (-1, 1)
    only a unit one; f or f' that jumps at 0 (and is not a positive domain) is a kink_at_zero."""
    from matdiff.checking import sampling
    f, df = r.numpy(np)[:2]
    with np.errstate(all="ignore"):
        below = np.isfinite(f(np.array([-0.5]))).all()
        outside = np.isfinite(f(np.array([-1.5, 1.5]))).any()
        jump = max(abs(float(g(np.array([1e-9]))[0]) - float(g(np.array([-1e-9]))[0])) for g in (f, df)) \
            if below else 0.0
    assert (r.domain == "positive") == (not below), f"{r.name}: domain {r.domain!r}"
    assert (r.domain == "unit") == (not outside), f"{r.name}: domain {r.domain!r}"
    assert r.kink_at_zero == (jump > 1e-3), f"{r.name}: kink_at_zero={r.kink_at_zero}, f or f' jumps by {jump}"
    assert (r.name in sampling._EDGES) == (r.kink_at_zero or r.domain == "positive")


@pytest.mark.parametrize("r", [r for r in RECORDS if r.derivative], ids=lambda r: r.name)
def test_symbolic_derivative_agrees_with_numpy(r):
    """How the record simplifies f^(k) (softplus' = sigmoid) is the same function."""
    from matdiff.checking.numeric import Env, evaluate
    x = Var("x", (5, 1))
    t = sample(r)[:5]
    for k in range(1, len(ORDERS)):
        e = r.derivative(k, x)
        if e is None:
            continue
        got = evaluate(e, Env({"x": t}, {}))
        np.testing.assert_allclose(got, r.numpy(np)[k](t), rtol=1e-12, err_msg=f"{r.name}^({k})")


# ---- independent references in other tests: a new record needs its own there too --------------

def _reference(module: str, name: str):
    return getattr(importlib.import_module(module), name)


REFERENCES = {
    "tests/test_diff_rules.py ELEMENTWISE (NumPy f, for the rule's gradient check)":
        ("test_diff_rules", "ELEMENTWISE"),
    "tests/test_to_sympy.py NP_DERIV (NumPy f and f', for the SymPy form)":
        ("test_to_sympy", "NP_DERIV"),
}


def test_every_record_has_its_independent_references():
    missing = [f"{where}: no entry for {r.name}"
               for where, (module, name) in REFERENCES.items()
               for r in RECORDS if r.name not in _reference(module, name)]
    assert not missing, "\n  ".join(["missing references:", *missing])


def test_a_positive_domain_is_honoured_by_the_sample():
    assert all(np.all(sample(r) > 0) for r in RECORDS if r.domain == "positive")
