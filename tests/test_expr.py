"""The AST (matdiff/expr.py): frozen nodes with structural equality and a cached hash, and the
one generic traversal (children / with_children, postorder, substitute, transform).

Every node class has one example below (`EXAMPLES`, checked against `NODE_TYPES`, so a new
node type must add one). The DAG tests share nodes (`h = h + h` nested), where a walk that
treats the DAG as a tree would take time exponential in its depth; the deep tests nest
thousands of nodes, where a recursive walk would raise RecursionError. The hypothesis tests
run on random expressions from the property generator of tests/test_properties.py.

The smart constructors that normalise (`add`, `matmul`, ...) live in matdiff/algebra.py, not
here: the nodes of expr.py are inert, and the tests below check that too.
"""
from __future__ import annotations

import dataclasses
import pickle
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings

import matdiff
from matdiff.errors import MatdiffError
from matdiff.language.expr import (
    MINUS_ONE, NODE_TYPES, ONE, Add, Apply, BatchLogSumExp, BatchSoftmax, LogSoftmax, Const, Det, DiagMat, DiagOf, Differential, Expr, Fn, Hadamard,
    HadamardPow, Identity, Inverse, Kron, Leaf, LogDet, LogSumExp, MatMul, MatPow, Mul, Nary, Norm, Ones,
    Pow, Softmax, Sum, Trace, Transpose, Unary, Unvec, Var, Vec, Zero, children, computation_order, depth, postorder,
    substitute, transform, variables, with_children,
)
from test_properties import any_expressions

A, B, C = Var("A", (3, 3)), Var("B", (3, 3)), Var("C", (3, 3))
x = Var("x", (3,))


def examples() -> dict:
    """One fresh node of every class (fresh objects on each call: no hash cached yet)."""
    A, B, x = Var("A", (3, 3)), Var("B", (3, 3)), Var("x", (3,))
    return {
        Var: Var("W", ("n", "n")),
        Const: Const(Fraction(1, 2)),
        Identity: Identity(3),
        Zero: Zero((2, 3)),
        Ones: Ones((3, 1)),
        Differential: Differential(A),
        Transpose: Transpose(A),
        Inverse: Inverse(A),
        MatPow: MatPow(Fraction(3), A),
        HadamardPow: HadamardPow(Fraction(-1, 2), A),
        Trace: Trace(A),
        Det: Det(A),
        LogDet: LogDet(A),
        Sum: Sum(A),
        Norm: Norm(x, "2", at=(1, 4)),
        DiagMat: DiagMat(x),
        DiagOf: DiagOf(A),
        Vec: Vec(A),
        Unvec: Unvec(3, 3, Vec(A)),
        Softmax: Softmax(x),
        LogSumExp: LogSumExp(x),
        BatchSoftmax: BatchSoftmax("rows", A, at=(1, 1, "")),
        BatchLogSumExp: BatchLogSumExp("cols", A),
        LogSoftmax: LogSoftmax("vector", x),
        Apply: Apply(Fn("tanh"), x),
        Add: Add((A, B)),
        MatMul: MatMul((A, B, A)),
        Mul: Mul((Const(Fraction(2)), A)),
        Hadamard: Hadamard((A, B)),
        Kron: Kron((A, B)),
        Pow: Pow((A, B), ".^"),
    }


EXAMPLE_IDS = [t.__name__ for t in NODE_TYPES]


def test_every_node_type_has_an_example():
    assert set(examples()) == set(NODE_TYPES)
    for t, e in examples().items():
        assert type(e) is t


def other_children(e: Expr) -> tuple:
    """New children for e, each different from the old one (same count)."""
    return tuple(Var(f"new{i}", (3, 3)) for i, _ in enumerate(children(e)))


def non_child_fields(e: Expr) -> dict:
    return {f.name: getattr(e, f.name) for f in dataclasses.fields(e) if f.name not in ("arg", "args")}


def chain(n: int) -> Expr:
    """A DAG of depth n with sharing: h = h + h, n times (2^n paths, n + 1 distinct nodes)."""
    h = A
    for _ in range(n):
        h = Add((h, h))
    return h


def deep(n: int, leaf: Expr = A) -> Expr:
    """A tree n deep without sharing: Transpose and Add((., B)) alternating."""
    h = leaf
    for i in range(n):
        h = Transpose(h) if i % 2 else Add((h, B))
    return h


# ---- frozen nodes, structural equality, the cached hash -------------------------------------------

@pytest.mark.parametrize("t", NODE_TYPES, ids=EXAMPLE_IDS)
def test_nodes_are_frozen_and_slotted(t):
    e = examples()[t]
    assert dataclasses.is_dataclass(e)
    assert not hasattr(e, "__dict__")
    name = dataclasses.fields(e)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(e, name, getattr(e, name))


@pytest.mark.parametrize("t", NODE_TYPES, ids=EXAMPLE_IDS)
def test_equality_is_structural(t):
    """Two nodes built separately from equal parts are equal and hash alike; they are not the same object."""
    a, b = examples()[t], examples()[t]
    assert a is not b
    assert a == b and not (a != b)
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert {a: 1}[b] == 1


@pytest.mark.parametrize("t", NODE_TYPES, ids=EXAMPLE_IDS)
def test_a_different_field_makes_a_different_node(t):
    e = examples()[t]
    if children(e):
        changed = with_children(e, other_children(e))
    else:
        f = dataclasses.fields(e)[0]
        new = {Var: "V", Const: Fraction(3), Identity: 4, Zero: (3, 2), Ones: (1, 3), Differential: B}[t]
        changed = dataclasses.replace(e, **{f.name: new})
    assert changed != e and not (changed == e)
    assert hash(changed) != hash(e)                  # not guaranteed in general, true for these


def test_nodes_of_different_classes_with_the_same_fields_differ():
    assert Trace(A) != Det(A)
    assert Add((A, B)) != Hadamard((A, B))
    assert MatPow(Fraction(2), A) != HadamardPow(Fraction(2), A)
    assert Zero((2, 3)) != Ones((2, 3))
    assert Var("x") != Var("x", (3,))                  # the shape is part of a Var
    assert Apply(Fn("tanh"), x) != Apply(Fn("tanh", 1), x)
    assert Transpose(A) != "A^T" and Transpose(A) != None  # noqa: E711 - Expr.__eq__ on another type


def test_norm_location_is_not_part_of_equality():
    """`at` says where a norm was written, for a message; equal norms written elsewhere are equal."""
    a, b = Norm(x, "2", at=(1, 4)), Norm(x, "2", at=(7, 9))
    assert a == b and hash(a) == hash(b)
    assert Norm(x, "2") != Norm(x, "bars")


def test_const_keeps_exact_fractions():
    assert Const(Fraction(1, 2)).value == Fraction(1, 2)
    assert ONE == Const(Fraction(1)) and MINUS_ONE == Const(Fraction(-1))
    assert Const(Fraction(1, 3)) != Const(Fraction(333, 1000))


def test_const_refuses_a_number_too_large_to_print():
    with pytest.raises(MatdiffError):
        Const(Fraction(9) ** 10**6)


def test_fn_derivative_counts_the_order():
    f = Fn("Phi")
    assert f.derivative() == Fn("Phi", 1)
    assert f.derivative().derivative() == Fn("Phi", 2)
    assert f.order == 0                                # Fn is frozen: derivative() is a new Fn


def test_nodes_are_inert():
    """Constructors never simplify: x + 0, 1 A, (A^T)^T, A^1 and I A stay as written."""
    z = Zero((3, 3))
    assert Add((A, z)).args == (A, z)
    assert Mul((ONE, A)).args == (ONE, A)
    assert Transpose(Transpose(A)).arg == Transpose(A)
    assert MatPow(Fraction(1), A).arg is A
    assert MatMul((Identity(3), A)).args == (Identity(3), A)
    assert Add((A, B)) != Add((B, A))                  # no canonical order either


def test_the_hash_is_computed_once_at_construction():
    e = examples()[Add]
    assert e._hash == hash((type(e).__name__, e.fields()))   # stored when the node was built ...
    assert all(c._hash == hash(c) for c in children(e))        # ... as its children's were before it
    h = hash(e)
    object.__setattr__(e, "_hash", h + 1)              # the stored hash is what hash() returns
    assert hash(e) == h + 1


def test_hash_and_equality_of_a_shared_dag_are_linear():
    """h = h + h, 3000 times: 2^3000 paths, 3001 distinct nodes, thousands deep. A hash or ==
    recomputed per path would never finish (and a recursive one would overflow the stack);
    cached and iterative, each is one pass."""
    a, b = chain(3000), chain(3000)
    assert a is not b
    assert hash(a) == hash(b)
    assert a == b
    assert chain(3000) != Add((chain(2999), chain(2998)))


def test_nodes_survive_pickling():
    """A pickled node (a worker process, a cache on disk) is equal, with the same hash."""
    e = examples()[MatMul]
    hash(e)
    back = pickle.loads(pickle.dumps(e))
    assert back == e and hash(back) == hash(e)


# ---- thousands deep: no recursion ----------------------------------------------------------------

DEEP = 5000


def test_deep_equality_and_hash_do_not_recurse():
    a, b = deep(DEEP), deep(DEEP)
    assert hash(a) == hash(b)
    assert a == b
    assert deep(DEEP, leaf=C) != a                     # differ only at the bottom
    assert not (deep(DEEP, leaf=C) == a)


def test_deep_equality_finds_a_difference_at_the_bottom_with_equal_hashes():
    """Equal hashes do not decide equality: the walk goes all the way down."""
    a, b = deep(DEEP), deep(DEEP, leaf=C)
    hash(a), hash(b)
    for e in postorder(b):                             # pretend every hash collides
        object.__setattr__(e, "_hash", 0)
    for e in postorder(a):
        object.__setattr__(e, "_hash", 0)
    assert a != b


def test_deep_traversals_do_not_recurse():
    e = deep(DEEP)
    order = postorder(e)
    assert len(order) == DEEP + 2                      # every Add and Transpose, A and B
    assert depth(e) == DEEP + 1
    assert len(computation_order(e)) == DEEP + 2
    assert variables(e) == [A, B]
    swapped = substitute(e, {A: C})
    assert swapped == deep(DEEP, leaf=C)
    assert transform(e, lambda n, kids: with_children(n, kids)) == e


# ---- children and with_children ---------------------------------------------------------------------

@pytest.mark.parametrize("t", NODE_TYPES, ids=EXAMPLE_IDS)
def test_children_with_children_round_trip(t):
    e = examples()[t]
    kids = children(e)
    assert isinstance(kids, tuple) and all(isinstance(k, Expr) for k in kids)
    assert with_children(e, kids) == e
    if isinstance(e, Leaf):
        assert kids == ()
        assert with_children(e, ()) is e
        return
    assert len(kids) == (1 if isinstance(e, Unary) else len(e.args))
    new = other_children(e)
    rebuilt = with_children(e, list(new))              # any sequence
    assert type(rebuilt) is t
    assert children(rebuilt) == new
    assert non_child_fields(rebuilt) == non_child_fields(e)   # k, fn, rows, written, at, ...
    assert with_children(rebuilt, kids) == e


def test_node_kinds_partition_the_node_types():
    for t in NODE_TYPES:
        assert sum(issubclass(t, k) for k in (Leaf, Unary, Nary)) == 1, t.__name__


def test_differential_of_is_not_a_child():
    """dX is a leaf: a walk does not enter the expression it is the differential of."""
    d = Differential(Add((A, B)))
    assert children(d) == ()
    assert postorder(d) == [d]
    assert substitute(d, {A: C}) is d


# ---- postorder, computation_order, substitute, transform on DAGs with sharing ---------------------

def shared_dag():
    """f = (S + S) S^T with S = A B used three times, and A also inside S^T's argument."""
    S = MatMul((A, B))
    return Mul((Trace(Add((S, S))), MatMul((S, Transpose(S))))), S


def test_postorder_lists_every_distinct_node_once_children_first():
    f, S = shared_dag()
    order = postorder(f)
    assert len(order) == len(set(order))
    assert order[-1] is f
    position = {e: i for i, e in enumerate(order)}
    for e in order:
        for c in children(e):
            assert position[c] < position[e]
    assert set(order) == {A, B, S, Add((S, S)), Trace(Add((S, S))), Transpose(S),
                          MatMul((S, Transpose(S))), f}


def test_postorder_skips_what_is_done():
    f, S = shared_dag()
    done = {S: None}
    order = postorder(f, done=done)
    assert S not in order and A not in order and B not in order
    assert done == {S: None}                           # `done` itself is not changed
    assert set(postorder(f, done={A})) == set(postorder(f)) - {A}


def test_postorder_of_a_long_shared_chain_is_linear():
    assert len(postorder(chain(1000))) == 1001


def test_computation_order_visits_right_before_left():
    """The sheets number z0 = W x, ... in this order: each node once, the right-hand child first."""
    f = Add((A, B))
    assert computation_order(f) == [B, A, f]
    assert postorder(f) == [A, B, f]


def test_substitute_replaces_every_occurrence_and_keeps_sharing():
    f, S = shared_dag()
    g = substitute(f, {S: C})
    assert g == Mul((Trace(Add((C, C))), MatMul((C, Transpose(C)))))
    sums = [e for e in postorder(g) if isinstance(e, Add)]
    assert sums[0].args[0] is sums[0].args[1]          # still one node, used twice
    assert len(postorder(g)) == len(set(postorder(g)))


def test_substitute_does_not_look_inside_what_it_replaces():
    S = MatMul((A, B))
    f = Add((S, A))
    g = substitute(f, {S: Transpose(A), A: C})
    assert g == Add((Transpose(A), C))                 # the A inside the replacement stays


def test_substitute_without_a_match_returns_the_same_object():
    f, _ = shared_dag()
    assert substitute(f, {}) is f
    assert substitute(f, {Var("unused", (3, 3)): C}) is f
    h = chain(300)
    assert substitute(h, {A: A}) == h


def test_substitute_on_a_long_shared_chain():
    g = substitute(chain(1000), {A: C})
    assert len(postorder(g)) == 1001
    assert variables(g) == [C]


def test_transform_calls_fn_once_per_distinct_node():
    f, _ = shared_dag()
    calls = []

    def fn(e, kids):
        calls.append(e)
        return with_children(e, kids)

    assert transform(f, fn) == f
    assert len(calls) == len(set(calls)) == len(postorder(f))
    calls.clear()
    transform(chain(1000), fn)
    assert len(calls) == 1001


def test_transform_rebuilds_bottom_up():
    """fn sees the already-rebuilt children: renaming every Var renames it everywhere."""
    f, _ = shared_dag()
    renamed = transform(f, lambda e, kids: Var(e.name + "'", e.shape) if isinstance(e, Var)
                        else with_children(e, kids))
    assert {v.name for v in variables(renamed)} == {"A'", "B'"}


def test_transform_shares_a_memo_between_roots():
    f, S = shared_dag()
    calls = []

    def fn(e, kids):
        calls.append(e)
        return with_children(e, kids)

    memo: dict = {}
    transform(S, fn, memo)
    n = len(calls)
    assert n == 3                                      # A, B, S
    transform(f, fn, memo)
    assert S not in calls[n:] and A not in calls[n:]   # done already, not redone
    assert len(calls) == len(postorder(f))


# ---- random expressions from the property generator -------------------------------------------------

PROPERTY_SETTINGS = dict(max_examples=60, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def parsed(g) -> Expr:
    return matdiff.understand(g.text, shapes=dict(g.vars)).expr


def fresh_copy(e: Expr) -> Expr:
    """The same tree with every node a new object."""
    return transform(e, lambda n, kids: with_children(n, kids) if kids else dataclasses.replace(n))


@settings(**PROPERTY_SETTINGS)
@given(g=any_expressions)
def test_random_expressions_equal_their_fresh_copies(g):
    e = parsed(g)
    copy = fresh_copy(e)
    assert copy is not e
    assert not any(a is b for a, b in zip(postorder(copy), postorder(e)))   # == below walks the structure
    assert copy == e and hash(copy) == hash(e)
    assert postorder(copy) == postorder(e)


@settings(**PROPERTY_SETTINGS)
@given(g=any_expressions)
def test_random_expressions_round_trip_through_with_children(g):
    for n in postorder(parsed(g)):
        assert with_children(n, children(n)) == n
        if children(n):
            new = tuple(Var(f"r{i}", (2, 2)) for i in range(len(children(n))))
            rebuilt = with_children(n, new)
            assert children(rebuilt) == new and non_child_fields(rebuilt) == non_child_fields(n)


@settings(**PROPERTY_SETTINGS)
@given(g=any_expressions)
def test_random_expressions_postorder_and_transform_visit_each_node_once(g):
    e = parsed(g)
    order = postorder(e)
    assert len(order) == len(set(order))
    assert order[-1] is e
    position = {n: i for i, n in enumerate(order)}
    assert all(position[c] < position[n] for n in order for c in children(n))
    assert set(computation_order(e)) == set(order)
    calls = []
    transform(e, lambda n, kids: calls.append(n) or with_children(n, kids))
    assert len(calls) == len(order)
    assert depth(e) == 1 + max((depth(c) for c in children(e)), default=0)


@settings(**PROPERTY_SETTINGS)
@given(g=any_expressions)
def test_random_expressions_substitute_each_variable(g):
    e = parsed(g)
    vs = variables(e)
    assert len(vs) == len(set(vs))
    assert {v.name for v in vs} <= {n for n, _ in g.vars}
    renamed = {v: Var(v.name + "_new", v.shape) for v in vs}
    out = substitute(e, renamed)
    assert variables(out) == [renamed[v] for v in vs]
    assert substitute(out, {b: a for a, b in renamed.items()}) == e
    assert substitute(e, {}) is e
