"""Shape inference: declared, inferred by unification, mixed; Greek scalars; I; ShapeError messages."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import S
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from matdiff import MatdiffError, ShapeError
from matdiff.language.expr import (
    MINUS_ONE,
    Add,
    Hadamard,
    HadamardPow,
    Identity,
    Inverse,
    MatMul,
    MatPow,
    Mul,
    Pow,
    Program,
    Transpose,
    Var,
    children,
    postorder,
)
from matdiff.language.inference import infer_shapes
from matdiff.language.shapes import shape_of, shape_text
from seed_cases import (
    GRAPH001, GRAPH001_SHAPES, GRAPH003, GRAPH003_SHAPES, MLP003, MLP003_SHAPES, NET002, NET002_SHAPES, NET004,
    NET004_SHAPES, NORM001_SHAPES, SEED000, TUTORIAL12, TUTORIAL12_CONCRETE, TUTORIAL12_UNICODE,
)

# ---- the seed programs of the acceptance check (tests/seed_cases.py) -------------------------------

# id, source, declared shapes (as in check.py), the same shapes as inference must find them
# without declarations, up to renaming the dimensions, and the shapes of the program's steps.
SHAPE_SEEDS = [
    ("seed000-abstract", TUTORIAL12, SEED000, SEED000, {}),
    ("seed000-unicode", TUTORIAL12_UNICODE, SEED000, SEED000, {}),
    ("seed000-concrete", TUTORIAL12_CONCRETE, SEED000, SEED000, {}),
    ("seed001-graph", GRAPH001, GRAPH001_SHAPES, dict(x=(), y=()),
     dict(h1=(1, 1), h2=(1, 1), h3=(1, 1))),
    ("seed001-norm", "||W x||^2", NORM001_SHAPES, dict(W=("a", "b"), x=("b",)), {}),
    ("seed001-norm-program", "y = W x\nL = y^T y", NORM001_SHAPES,
     dict(W=("a", "b"), x=("b",)), dict(y=("W0", 1))),
    ("seed001-trace", "tr(B A)", dict(B=("m", "n"), A=("n", "m")), dict(B=("a", "b"), A=("b", "a")), {}),
    ("seed002-linear", "sum(tanh(X W))", dict(X=("N", "D"), W=("D", "M")),
     dict(X=("a", "b"), W=("b", "c")), {}),
    ("seed002-sigmoid", "sum(sigmoid(y))", dict(y=("n",)), dict(y=("a",)), {}),
    ("seed002-relu", "sum(relu(W x))", dict(W=("m", "n"), x=("n",)), dict(W=("a", "b"), x=("b",)), {}),
    ("seed002-net", NET002, NET002_SHAPES,
     dict(W=("a", "b"), x=("b",), U=("c", "a"), y=("c",)),
     dict(z=("W0", 1), h=("W0", 1), theta=("U0", 1), yhat=("U0", 1))),
    ("seed003-graph", GRAPH003, GRAPH003_SHAPES, GRAPH003_SHAPES, dict(c1=(1, 1), c2=(1, 1), h2=(1, 1))),
    ("seed003-mlp", MLP003, MLP003_SHAPES,
     dict(W1=("a", "b"), b1=("a",), W2=("c", "a"), b2=("c",), W3=("d", "c"), b3=("d",),
          x=("b",), t=("d",)),
     dict(z1=("W10", 1), z2=("W20", 1), z3=("W30", 1))),
    ("seed004-net", NET004, NET004_SHAPES,
     dict(W1=("a", "b"), b1=("a",), W2=("c", "a"), b2=("c",), x=("b",), t=("c",)),
     dict(z=("W10", 1), h=("W10", 1), y=("W20", 1))),
]
IDS = [s[0] for s in SHAPE_SEEDS]


def step_shapes(shaped, declared, expected):
    """expected: name -> (rows, cols) where a string 'W0' means the dimension 0 of input W."""
    def dim(d):
        return declared[d[:-1]][int(d[-1])] if isinstance(d, str) else d
    return {n: shape_of(e) for n, e in shaped.defs} == \
        {n: (dim(r), dim(c)) for n, (r, c) in expected.items()}


@pytest.mark.parametrize("id, src, declared, structure, steps", SHAPE_SEEDS, ids=IDS)
def test_seed_with_declared_shapes(id, src, declared, structure, steps):
    shaped = S(src, declared)
    assert shaped.inputs == declared
    assert shape_of(shaped.expr) == (1, 1)
    assert step_shapes(shaped, shaped.inputs, steps)
    # every variable in the tree carries its declared shape
    assert {(v.name, v.shape) for v in postorder(shaped.expr) if isinstance(v, Var)} <= set(declared.items())


def same_structure(actual: dict, expected: dict) -> bool:
    """The same names, and the same dimensions shared: a one-to-one renaming of dimensions
    maps expected onto actual (scalars stay scalars, vectors vectors, matrices matrices)."""
    if actual.keys() != expected.keys():
        return False
    rename: dict = {}
    for name, shape in expected.items():
        got = actual[name]
        if len(got) != len(shape):
            return False
        for e, a in zip(shape, got):
            if rename.setdefault(e, a) != a:
                return False
    return len(set(rename.values())) == len(rename)


@pytest.mark.parametrize("id, src, declared, structure, steps", SHAPE_SEEDS, ids=IDS)
def test_seed_without_declared_shapes(id, src, declared, structure, steps):
    shaped = S(src)
    assert same_structure(shaped.inputs, structure), shaped.inputs
    assert shape_of(shaped.expr) == (1, 1)
    assert step_shapes(shaped, shaped.inputs, steps)
    # free dimensions are named (n, m, k, ...), never left as internal placeholders
    dims = {d for s in shaped.inputs.values() for d in s}
    assert all(isinstance(d, str) and d.isidentifier() for d in dims)


def test_same_structure_helper_tells_structures_apart():
    assert same_structure({"W": ("n", "m"), "x": ("m",)}, {"W": ("a", "b"), "x": ("b",)})
    assert not same_structure({"W": ("n", "m"), "x": ("n",)}, {"W": ("a", "b"), "x": ("b",)})
    assert not same_structure({"W": ("n", "n"), "x": ("n",)}, {"W": ("a", "b"), "x": ("b",)})
    assert not same_structure({"W": ("n", "m"), "x": ()}, {"W": ("a", "b"), "x": ("b",)})


def test_the_seed_expression_names_its_dimension_n():
    shaped = S(TUTORIAL12)
    assert shaped.inputs == dict(c=("n",), W=("n", "n"), V=("n", "n"), x=("n",), b=("n",))
    assert list(shaped.inputs) == ["c", "W", "V", "x", "b"]          # order of first appearance


def test_free_dimensions_avoid_declared_names():
    shaped = S("W x", dict(W=("n", "m")))
    assert shaped.inputs == dict(W=("n", "m"), x=("m",))
    shaped = S("A B", dict(A=(2, "n")))
    assert shaped.inputs["B"][0] == "n" and shaped.inputs["B"][1] not in ("n", 2)


# ---- symbolic and integer dimensions; unification across a program --------------------------------

@pytest.mark.parametrize("src, declared, inputs, result", [
    ("tr(B A)",         dict(B=(2, "n")),                   dict(B=(2, "n"), A=("n", 2)),         (1, 1)),
    ("W x + b",         dict(W=(3, "n")),                   dict(W=(3, "n"), x=("n",), b=(3,)),   (3, 1)),
    ("W x + b",         dict(x=(4,), b=("m",)),             dict(W=("m", 4), x=(4,), b=("m",)),   ("m", 1)),
    ("A B",             dict(A=(2, 3), B=(3, "k")),         dict(A=(2, 3), B=(3, "k")),           (2, "k")),
    ("x^T A x",         dict(x=(5,)),                       dict(x=(5,), A=(5, 5)),               (1, 1)),
    ("x^T A x",         dict(A=("n", "n")),                 dict(x=("n",), A=("n", "n")),         (1, 1)),
    ("x",               dict(x="n"),                        dict(x=("n",)),                       ("n", 1)),
    ("x",               dict(x=3),                          dict(x=(3,)),                         (3, 1)),
    ("x",               dict(x=("3",)),                     dict(x=(3,)),                         (3, 1)),
    ("x",               dict(x=None),                       dict(x=("n",)),                       ("n", 1)),
    ("a x",             dict(a=()),                         dict(a=(), x=("n",)),                 ("n", 1)),
    ("alpha x",         dict(alpha=("n",)),                 dict(alpha=("n",), x=()),             ("n", 1)),
])
def test_declared_and_inferred_dimensions_mix(src, declared, inputs, result):
    shaped = S(src, declared)
    assert shaped.inputs == inputs
    assert shape_of(shaped.expr) == result


@pytest.mark.parametrize("src, inputs, steps", [
    ("z = W x\nh = V z\nJ = h^T u",
     dict(W=("n", "m"), x=("m",), V=("k", "n"), u=("k",)), dict(z=("n", 1), h=("k", 1))),
    ("z = W x\nJ = z^T x",                    # a later line makes W square
     dict(W=("n", "n"), x=("n",)), dict(z=("n", 1))),
    ("y = A x\nJ = y^T B y",
     dict(A=("n", "m"), x=("m",), B=("n", "n")), dict(y=("n", 1))),
    ("s = x^T x\nJ = s A",                    # a defined scalar scales a matrix
     dict(x=("n",), A=("m", "k")), dict(s=(1, 1))),
])
def test_unification_across_a_program(src, inputs, steps):
    shaped = S(src)
    assert same_structure(shaped.inputs, inputs), shaped.inputs
    got = {n: shape_of(e) for n, e in shaped.defs}
    assert same_structure({n: s for n, s in got.items()}, {n: s for n, s in steps.items()})
    assert all((s[1] == 1) == (steps[n][1] == 1) for n, s in got.items())


def test_a_defined_name_takes_the_shape_of_its_definition():
    shaped = S("z = W x\nh = tanh(z)\nJ = sum(h)", dict(W=(2, 3)))
    assert dict((n, shape_of(e)) for n, e in shaped.defs) == dict(z=(2, 1), h=(2, 1))
    assert shaped.inputs == dict(W=(2, 3), x=(3,))
    assert shaped.name == "J"


def test_kinds_by_case_upper_is_a_matrix_lower_a_vector():
    shaped = S("A + B")
    assert shaped.inputs == dict(A=("n", "m"), B=("n", "m"))
    shaped = S("x + y")
    assert shaped.inputs == dict(x=("n",), y=("n",))
    shaped = S("sum(x)")
    assert shaped.inputs == dict(x=("n",))
    shaped = S("x^2")                         # only a 1x1 vector is square: a scalar
    assert shaped.inputs == dict(x=())


# ---- Greek lower-case names: scalars where the expression allows -----------------------------------

@pytest.mark.parametrize("src, declared, inputs", [
    ("alpha x^T x",               {},                       dict(alpha=(), x=("n",))),
    ("α x",                       {},                       dict(α=(), x=("n",))),
    ("\\lambda A + B",            {},                       dict(λ=(), A=("n", "m"), B=("n", "m"))),
    ("x^T A x + λ ||x||^2",       {},                       dict(x=("n",), A=("n", "n"), λ=())),
    ("theta_1 x",                 {},                       dict(theta_1=(), x=("n",))),
    # a scalar cannot fit: vectors
    ("θ + x",                     dict(x=(3,)),             dict(θ=(3,), x=(3,))),
    ("θ ∘ x",                     dict(x=(3,)),             dict(θ=(3,), x=(3,))),
    ("||X θ - y||^2",             dict(X=(3, 4), y=(3,)),   dict(X=(3, 4), θ=(4,), y=(3,))),
    # a scalar fits only awkwardly (X a single column, a transposed scalar): vectors
    ("||X θ - y||^2",             {},                       dict(X=("n", "m"), θ=("m",), y=("n",))),
    ("θ^T x",                     {},                       dict(θ=("n",), x=("n",))),
    ("θ' x",                      {},                       dict(θ=("n",), x=("n",))),
    # declared shapes win
    ("alpha x",                   dict(alpha=(3,)),         dict(alpha=(3,), x=())),
])
def test_greek_lower_case_names(src, declared, inputs):
    shaped = S(src, declared)
    assert same_structure(shaped.inputs, inputs), shaped.inputs
    assert all(shaped.inputs[n] == s for n, s in declared.items())


def test_greek_upper_case_names_are_matrices():
    shaped = S("x^T Σ^-1 x")
    assert shaped.inputs == dict(x=("n",), Σ=("n", "n"))


# ---- the identity, sized by context ---------------------------------------------------------------------

@pytest.mark.parametrize("src, declared, size", [
    ("x^T (A + I) x",   dict(A=(3, 3)),        3),
    ("I x",             dict(x=(4,)),          4),
    ("A - I",           dict(A=("n", "n")),    "n"),
    ("tr(I)",           {},                    "n"),
    ("W (I + x y^T)",   dict(W=(2, 5)),        5),
])
def test_identity_takes_its_size_from_the_context(src, declared, size):
    shaped = S(src, declared)
    identities = {e for e in postorder(shaped.expr) if isinstance(e, Identity)}
    assert identities == {Identity(size)}


def test_identity_plus_an_undeclared_matrix_makes_it_square():
    assert S("I + A").inputs == dict(A=("n", "n"))


def test_two_identities_can_have_different_sizes():
    shaped = S("A I + I A", dict(A=(2, 3)))
    assert {e for e in postorder(shaped.expr) if isinstance(e, Identity)} == {Identity(2), Identity(3)}


# ---- what only shapes decide -----------------------------------------------------------------------------

def test_a_product_with_a_scalar_factor_is_a_scalar_multiplication():
    e = S("(x^T x) A").expr
    assert isinstance(e, Mul) and shape_of(e) == shape_of(e.args[1])
    assert isinstance(S("x^T A x").expr, MatMul)


@pytest.mark.parametrize("src, declared, node", [
    ("x^2",            dict(x=()),          HadamardPow(Fraction(2), Var("x", ()))),
    ("x^-1",           dict(x=()),          HadamardPow(Fraction(-1), Var("x", ()))),
    ("A^2",            dict(A=(2, 2)),      MatPow(Fraction(2), Var("A", (2, 2)))),
    ("A^-2",           dict(A=(2, 2)),      MatPow(Fraction(2), Inverse(Var("A", (2, 2))))),
    ("A^1",            dict(A=(2, 2)),      Var("A", (2, 2))),
    ("A^0",            dict(A=(2, 2)),      Identity(2)),
    ("a^b",            {},                  Pow((Var("a", ()), Var("b", ())))),        # the spelling is cleared
    ("x .^ y",         dict(x=(3,)),        Pow((Var("x", (3,)), Var("y", (3,))))),
])
def test_powers_after_shapes(src, declared, node):
    assert S(src, declared).expr == node


def test_diag_of_a_matrix_is_its_diagonal():
    assert shape_of(S("diag(x)", dict(x=(3,))).expr) == (3, 3)
    assert shape_of(S("diag(X)", dict(X=(3, 3))).expr) == (3, 1)


@pytest.mark.parametrize("src, declared, result", [
    ("vec(X)",                dict(X=(2, 3)),                  (6, 1)),
    ("kron(A, B)",            dict(A=(2, 3), B=(4, 5)),        (8, 15)),
    ("A ⊗ B",                 dict(A=("n", 2), B=(3, "m")),    (("*", "n", 3), ("*", 2, "m"))),
    ("softmax(x)",            dict(x=(5,)),                    (5, 1)),
    ("logsumexp(x)",          dict(x=(5,)),                    (1, 1)),
    ("||X||_F",               dict(X=(2, 3)),                  (1, 1)),
    ("sum(X)",                dict(X=(2, 3)),                  (1, 1)),
    ("1 - x",                 dict(x=(4,)),                    (4, 1)),        # the number in every entry
    ("x ./ y",                dict(x=(4,)),                    (4, 1)),
    ("A / 2",                 dict(A=(2, 3)),                  (2, 3)),
    ("(a^T X b) / (c^T X d)", dict(X=(2, 3)),                  (1, 1)),
    ("Phi(W x)",              dict(W=(2, 3)),                  (2, 1)),
    ("x .^ p",                dict(x=(4,), p=()),              (4, 1)),        # a scalar exponent, broadcast
    ("p .^ X",                dict(X=(2, 3), p=()),            (2, 3)),        # a scalar base, broadcast
    ("2 .^ X",                dict(X=(2, 3)),                  (2, 3)),
    ("X .^ Y",                dict(X=(2, 3)),                  (2, 3)),        # Y takes X's shape
    ("a^b",                   {},                              (1, 1)),
])
def test_result_shapes(src, declared, result):
    assert shape_of(S(src, declared).expr) == result


def test_shape_text():
    assert shape_text(()) == "scalar"
    assert shape_text(("n",)) == "n"
    assert shape_text(("n", 3)) == "n×3"
    assert shape_text((("*", "n", "m"), 1)) == "n·m×1"


# ---- errors ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("src, declared, message", [
    ("A B",          dict(A=(2, 3), B=(2, 3)),           "cannot multiply A (2×3) by B (2×3)"),
    ("A B C",        dict(A=(2, 3), B=(3, 4), C=(5, 6)), "cannot multiply A B (2×4) by C (5×6)"),
    ("A x",          dict(A=("n", "m"), x=("k",)),       "cannot multiply A (n×m) by x (k×1)"),
    ("inv(A)",       dict(A=(2, 3)),                     "the inverse needs a square matrix, but A (2×3) is not square"),
    ("A^-1",         dict(A=(2, 3)),                     "the inverse needs a square matrix, but A (2×3) is not square"),
    ("tr(A)",        dict(A=(2, 3)),                     "the trace needs a square matrix, but A (2×3) is not square"),
    ("tr(W x)",      dict(W=(2, 3)),                     "the trace needs a square matrix, but W x (2×1) is not square"),
    ("det(A)",       dict(A=(2, 3)),                     "the determinant needs a square matrix, but A (2×3) is not square"),
    ("logdet(A)",    dict(A=(2, 3)),                     "the log-determinant needs a square matrix, but A (2×3) is not square"),
    ("A^2",          dict(A=(2, 3)),                     "a matrix power needs a square matrix, but A (2×3) is not square"),
    ("x^2",          dict(x=(3,)),                       "a matrix power needs a square matrix, but x (3×1) is not square"),
    ("A + B",        dict(A=(2, 3), B=(3, 2)),           "cannot add A (2×3) and B (3×2)"),
    ("A - B",        dict(A=(2, 3), B=(3, 2)),           "cannot add A (2×3) and -B (3×2)"),
    ("W x + b",      dict(W=(2, 3), b=(3,)),             "cannot add W x (2×1) and b (3×1)"),
    ("A + y",        dict(A=(2, 2), y=(3,)),             "cannot add A (2×2) and y (3×1)"),
    ("A ∘ B",        dict(A=(2, 3), B=(3, 2)),           "cannot multiply elementwise A (2×3) and B (3×2)"),
    ("softmax(X)",   dict(X=(2, 3)),                     "softmax needs a vector, but X (2×3) is not one; for a matrix say which way: softmax(X, rows) of each row, or softmax(X, cols) of each column"),
    ("diag(X)",      dict(X=(2, 3)),                     "diag needs a vector or a square matrix, but X (2×3) is neither"),
    ("A^{1/2}",      {},                                 "A^{1/2}: a matrix power needs an integer exponent, got 1/2"),
    ("A^0.5 x",      dict(A=(2, 2)),                     "a matrix power needs an integer exponent, got 1/2"),
    ("x^p",          dict(x=(3,)),                       "x^p: ^ with a variable exponent is a power of scalars, but x (3×1) "
                                                         "is not a scalar; for the elementwise power write x .^ p"),
    ("a^X",          dict(X=(2, 2)),                     "for the elementwise power write a .^ X"),
    ("x .^ y",       dict(x=(3,), y=(4,)),               "cannot raise x (3×1) elementwise to y (4×1): the exponent is a "
                                                         "scalar or has the base's shape"),
    ("z = x\nz = y\nz", {},                              "z is defined twice"),
    ("z = W x\nz",   dict(z=(3,)),                       "z is both declared with a shape and defined in the program"),
    ("x",            dict(x=("n", "m", "k")),            "x: a shape has at most two dimensions"),
    ("x",            dict(x=(0,)),                       "x: a dimension is a positive integer or a name, got 0"),
    ("x",            dict(x=("a b",)),                   "x: a dimension is a positive integer or a name, got 'a b'"),
    ("x",            dict(x=(True,)),                    "x: a dimension is a positive integer or a name, got True"),
    ("x",            dict(x=(2.5,)),                     "x: a dimension is a positive integer or a name, got 2.5"),
])
def test_shape_errors_name_the_subexpression_and_both_shapes(src, declared, message):
    with pytest.raises(ShapeError) as info:
        S(src, declared)
    assert message in str(info.value)
    assert isinstance(info.value, MatdiffError)


def test_a_shape_error_never_shows_internal_dimension_names():
    with pytest.raises(ShapeError) as info:
        S("kron(A, B) vec(X)", dict(A=(2, 3), B=(4, 5)))
    assert "?" in str(info.value) and "?1" not in str(info.value)
    assert str(info.value).startswith("cannot multiply A ⊗ B (8×15) by vec(X)")


# ---- property: random well-shaped products and sums ------------------------------------------------------

DIMS = [2, 3, 4, "n", "m"]


@st.composite
def shaped_exprs(draw, rows, cols, depth=3):
    """(expr, declarations) with expr of shape rows x cols, as a parser would build it."""
    kind = draw(st.sampled_from(["var", "var", "matmul", "add", "hadamard", "transpose", "neg", "scale"]
                                if depth > 0 else ["var"]))
    if kind == "var":                    # the name says the shape, so equal names agree
        shape = (rows,) if cols == 1 else (rows, cols)
        name = f"V{draw(st.integers(0, 3))}_" + "_".join(map(str, shape))
        return Var(name), {name: shape}
    if kind == "transpose":
        e, d = draw(shaped_exprs(cols, rows, depth - 1))
        return Transpose(e), d
    if kind == "neg":                    # -e
        e, d = draw(shaped_exprs(rows, cols, depth - 1))
        return Mul((MINUS_ONE, e)), d
    if kind == "scale":                  # a e: juxtaposition with a scalar
        e, d = draw(shaped_exprs(rows, cols, depth - 1))
        return MatMul((Var("a"), e)), {**d, "a": ()}
    if kind == "matmul":
        inner = draw(st.sampled_from(DIMS))
        a, da = draw(shaped_exprs(rows, inner, depth - 1))
        b, db = draw(shaped_exprs(inner, cols, depth - 1))
        return MatMul((a, b)), {**da, **db}
    a, da = draw(shaped_exprs(rows, cols, depth - 1))
    b, db = draw(shaped_exprs(rows, cols, depth - 1))
    return (Add if kind == "add" else Hadamard)((a, b)), {**da, **db}


@st.composite
def well_shaped(draw):
    rows, cols = draw(st.sampled_from(DIMS)), draw(st.sampled_from(DIMS + [1]))
    e, declared = draw(shaped_exprs(rows, cols))
    return e, declared, (rows, cols)


@settings(max_examples=200, deadline=None)
@given(well_shaped())
def test_well_shaped_expressions_infer_the_shape_computed_by_hand(case):
    e, declared, shape = case
    shaped = infer_shapes(Program((), e), declared)
    assert shape_of(shaped.expr) == shape
    assert shaped.inputs == declared


@st.composite
def mismatched(draw):
    """A well-shaped expression with one product or sum whose operands do not agree."""
    rows, inner, other, cols = draw(st.lists(st.sampled_from(DIMS), min_size=4, max_size=4))
    if inner == other:
        other = {2: 3, 3: 4, 4: "n", "n": "m", "m": 2}[inner]
    op = draw(st.sampled_from(["matmul", "add", "hadamard"]))
    if op == "matmul":       # rows x inner times other x cols
        a, da = draw(shaped_exprs(rows, inner, 2))
        b, db = draw(shaped_exprs(other, cols, 2))
        bad = MatMul((a, b))
    else:                    # rows x inner plus rows x other
        a, da = draw(shaped_exprs(rows, inner, 2))
        b, db = draw(shaped_exprs(rows, other, 2))
        bad = (Add if op == "add" else Hadamard)((a, b))
    # bury it inside a well-shaped context
    wrap = draw(st.sampled_from(["none", "transpose", "add_self", "left_product"]))
    if wrap == "transpose":
        bad = Transpose(bad)
    elif wrap == "add_self":
        bad = Add((bad, bad))
    elif wrap == "left_product":
        left, dl = draw(shaped_exprs(2, rows, 1))
        bad, da = MatMul((left, bad)), {**da, **dl}
    return bad, {**da, **db}


@settings(max_examples=200, deadline=None)
@given(mismatched())
def test_mismatched_expressions_always_raise_a_shape_error(case):
    e, declared = case
    with pytest.raises(ShapeError):
        infer_shapes(Program((), e), declared)


def test_greek_name_is_a_vector_where_a_scalar_would_collapse_a_latin_vector():
    shaped = S("d = x - mu\nL = d^T inv(S) d")
    assert shaped.inputs["mu"] == shaped.inputs["x"] == ("n",)
    assert shape_of(shaped.expr) == (1, 1)


def test_greek_name_is_a_vector_where_only_that_makes_the_function_scalar():
    shaped = S("-y^T log(softmax(theta))")
    assert shaped.inputs["theta"] == shaped.inputs["y"] == ("n",)
    assert shape_of(shaped.expr) == (1, 1)


# ---- norms: a subscript matdiff does not compute exactly is refused, never read as another -------------

@pytest.mark.parametrize("src, declared, text, what", [
    ("||X||_2",             {},                   "||X||_2", "is its spectral norm"),
    ("‖X‖_2",               {},                   "‖X‖_2", "is its spectral norm"),
    ("||X||",               {},                   "||X||", "could mean the spectral norm or the Frobenius norm"),
    ("1 + ||A X - B||_2^2", dict(B=(3, 2)),       "||A X - B||_2", "is its spectral norm"),
    ("z = W x\nL = ||W||",  {},                   "||W||", "could mean"),
    ("||X||_2",             dict(X=(3, 2)),       "||X||_2", "is its spectral norm"),
])
def test_a_two_norm_or_bare_bars_of_a_matrix_is_refused_and_located(src, declared, text, what):
    with pytest.raises(ShapeError) as info:
        S(src, declared)
    message = str(info.value)
    assert text + " of a matrix" in message and what in message
    assert "for the Frobenius norm write ||" + text.strip("|‖").removesuffix("_2").strip("|‖") + "||_F" in message
    line = src.count("\n", 0, src.index(text)) + 1
    column = src.index(text) - (src.rfind("\n", 0, src.index(text)) + 1) + 1
    assert message.startswith(f"line {line}, column {column}: ")
    assert message.endswith("\n" + src.splitlines()[line - 1] + "\n" + " " * (column - 1) + "^")


def test_the_spectral_norm_is_refused_through_every_entry_point():
    import matdiff
    from matdiff.cli import main
    for call in (lambda: matdiff.gradient("||X||_2", wrt="X"), lambda: matdiff.jacobian("||X||_2", wrt="X"),
                 lambda: matdiff.hessian("||X||_2^2", wrt="X"), lambda: matdiff.check("||X||_2", wrt="X"),
                 lambda: matdiff.differential("||X||_2"), lambda: matdiff.latex("||X||_2"),
                 lambda: matdiff.sheet("||X||_2", wrt="X"), lambda: matdiff.lambdify("||X||_2", wrt="X")):
        with pytest.raises(ShapeError, match="spectral norm"):
            call()
    assert main(["grad", "||X||_2", "--wrt", "X"]) == 2


@pytest.mark.parametrize("src, shapes, reference", [
    ("||x||_2",      dict(x=(4,)),    lambda v: np.linalg.norm(v["x"])),
    ("||x||",        dict(x=(4,)),    lambda v: np.linalg.norm(v["x"])),
    ("||x^T||_2",    dict(x=(4,)),    lambda v: np.linalg.norm(v["x"])),       # a row: 2-norm = Euclidean
    ("||X||_2",      dict(X=(4, 1)),  lambda v: np.linalg.norm(v["X"], 2)),    # a column: the same number
    ("||X||_F",      dict(X=(3, 4)),  lambda v: np.linalg.norm(v["X"], "fro")),
    ("norm(X)",      dict(X=(3, 4)),  lambda v: np.linalg.norm(v["X"], "fro")),  # NumPy's (and Julia's) norm(X)
    ("||x||_2^2",    dict(x=(4,)),    lambda v: np.sum(v["x"] ** 2)),
])
def test_the_norms_matdiff_accepts_are_the_ones_written(src, shapes, reference, rng):
    import matdiff
    from helpers_calculus import fd_gradient, matdiff_value
    values = {k: rng.standard_normal(s) for k, s in shapes.items()}
    p = matdiff.derive_gradient(src, wrt=list(shapes), shapes=shapes).problem
    assert float(matdiff_value(p.f, values)[0, 0]) == pytest.approx(reference(values), rel=1e-12)
    name = next(iter(shapes))
    g = matdiff_value(matdiff.derive_gradient(src, wrt=name, shapes=shapes).inlined[name], values)
    fd = fd_gradient(lambda **v: reference(v), values, name)
    assert np.allclose(g.reshape(np.shape(fd)), fd, atol=1e-6)


@pytest.mark.parametrize("src, sub", [
    ("||x||_10", "_10"), ("||x||_23", "_23"), ("||X||_Fro", "_Fro"), ("||x||_inf", "_inf"), ("||X||_*", "_*"), ("||x||_∞", "_∞"), ("‖X‖_max", "_max"),
    ("||X||_{F}", "_{F}"), ("||X||_nuc + 1", "_nuc"), ("||X||₂", "₂"),
])
def test_a_norm_subscript_matdiff_does_not_compute_is_refused_by_name(src, sub):
    from matdiff import ParseError
    with pytest.raises(ParseError) as info:
        S(src)
    message = str(info.value)
    assert f"the norm subscript {sub} is not supported" in message and "||X||_F" in message
    assert message.startswith(f"line 1, column {src.index(sub[0]) + 1}: ")


@pytest.mark.parametrize("src, shapes", [
    ("||X||_1", dict(X=(3, 4))), ("||A X||_1 + 1", dict(A=(2, 3), X=(3, 4))), ("‖X‖_1", dict(X=(3, 3))),
])
def test_the_one_norm_of_a_matrix_is_refused_with_both_readings(src, shapes):
    """||X||_1 of a matrix: the induced 1-norm (max column sum) or the entrywise one? Never guessed."""
    from matdiff import ShapeError
    with pytest.raises(ShapeError) as info:
        S(src, shapes)
    message = str(info.value)
    assert "induced 1-norm" in message and "entrywise 1-norm" in message and "norm1(" in message
    assert message.startswith("line 1, column 1: ")


@pytest.mark.parametrize("src, shapes, same", [
    ("||x||_1", dict(x=(3,)), "sum(abs(x))"),
    ("||W x - y||_1^2", dict(W=(3, 4), x=(4,), y=(3,)), "sum(abs(W x - y))^2"),
    ("norm1(x)", dict(x=(3,)), "sum(abs(x))"),
    ("norm1(X)", dict(X=(3, 4)), "sum(abs(X))"),            # entrywise, as matrixcalculus.org reads it
    ("norm2(x)", dict(x=(3,)), "||x||"),
    ("norm2(X)", dict(X=(3, 4)), "||X||_F"),                # Frobenius, as matrixcalculus.org reads it
    ("||x^T||_1", dict(x=(3,)), "sum(abs(x^T))"),
])
def test_one_norms_and_norm2_mean_their_spelled_out_forms(src, shapes, same):
    from matdiff.printing.text import to_text
    shaped = S(src, shapes)
    assert shaped.expr == S(same, shapes).expr
    assert S(to_text(shaped.expr), shapes).expr == shaped.expr      # printed, it reads back the same


def test_a_shaped_matrix_norm_prints_with_its_subscript_so_it_reads_back_the_same():
    from matdiff.printing.text import to_text
    for src in ("||X||_F", "norm(X)", "||X W||_F^2 + ||x||"):
        shaped = S(src)
        text = to_text(shaped.expr)
        assert "||_F" in text and S(text).expr == shaped.expr
    assert to_text(S("||x||_2").expr) == "||x||"


# ---- readings the user did not mean: never silent, never printed as if they were the same -------------

def readings(src, shapes=None):
    return [(r.name, r.shape) for r in S(src, shapes).readings]


@pytest.mark.parametrize("src, shapes, expected", [
    ("tr(X w)",               None,              [("X", (1, "n"))]),
    ("I x^T x",               None,              [("I", ())]),
    ("a^T b^T",               None,              [("a", ())]),           # a transposed scalar
    ("1 + ||A X - B||^2",     dict(B=(3, 1)),    [("X", ("n", 1))]),
    ("I + x^T x",             None,              [("I", ())]),
    # what the user meant: no note
    ("c^T (I - 1/3 1 1^T) x", None,              []),                    # 1 the ones vector, I n×n
    ("X w + beta",            None,              []),                    # beta broadcast (issue 13)
    ("A x + alpha",           None,              []),
    ("X + alpha",             None,              []),
    ("softmax(x) + alpha",    None,              []),
    ("y = A x\nJ = y + alpha", None,             []),
    ("c^T (I - 1/3) x",       None,              []),
    ("X w + beta",            dict(X=(1, 3)),    []),                    # declared
    ("a^T x + b",             None,              []),                    # a scalar bias is a scalar
    ("x - mu",                None,              []),                    # the Greek heuristic's choice
    ("||X θ - y||^2",         None,              []),
    ("tr(I)",                 None,              []),
    ("x^T x A",               None,              []),
    (GRAPH001,                None,              []),                    # a scalar graph (seed 001)
    (GRAPH003,                None,              []),
])
def test_degenerate_readings_are_recorded(src, shapes, expected):
    assert readings(src, shapes) == expected


def test_a_note_says_what_was_made_degenerate_and_where():
    notes = [str(r) for r in S("tr(X w)").readings]
    assert notes == ["X is read as a single row (1×n), not a matrix, so that `tr(X w)` fits; "
                     "declare shapes (shapes= or --shape) if you meant otherwise"]
    notes = [str(r) for r in S("I + x^T x").readings]
    assert notes == ["I is 1×1 here, the number 1, so that `I + x^T x` fits; "
                     "declare shapes (shapes= or --shape) if you meant otherwise"]


def test_a_one_by_one_identity_is_the_number_one_and_never_prints_as_I():
    from matdiff.language.expr import ONE
    from matdiff.printing.latex import to_latex
    from matdiff.printing.text import to_text
    shaped = S("I + x^T x")
    assert not any(isinstance(e, Identity) for e in postorder(shaped.expr))
    assert to_text(shaped.expr) == "1 + x^T x"
    assert S("c I x").expr == MatMul((Var("c", ("n",)), Var("x", ())))      # a 1x1 I multiplies by 1
    assert S("I x^T x").expr == S("x^T x").expr and [r.name for r in S("I x^T x").readings] == ["I"]
    assert S("I + x^T x").expr.args[0] == ONE
    assert to_text(Identity(1)) == "1" and to_latex(Identity(1)) == "1"      # in a derived result too


def test_the_centering_matrix_reads_1_as_the_ones_vector_and_I_as_n_by_n(rng):
    """Issue 13: `1 1^T` beside I is the matrix of ones, so I is n×n (no note); and `I - 1/3`,
    the number broadcast to every entry, is the same matrix."""
    import warnings
    import matdiff
    from helpers_calculus import matdiff_value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ones = matdiff.derive_gradient("c^T (I - 1/3 1 1^T) x", wrt="x")
        broadcast = matdiff.derive_gradient("c^T (I - 1/3) x", wrt="x")
    assert ones.text() == "∂f/∂x = (I - 1/3 1_n 1_n^T) c"
    c = rng.standard_normal(4)
    centering = np.eye(4) - np.ones((4, 4)) / 3
    for g in (ones, broadcast):
        got = matdiff_value(g.inlined["x"], dict(c=c), dims=dict(n=4)).ravel()
        assert np.allclose(got, centering @ c)


def test_every_entry_point_of_the_api_notes_a_degenerate_reading():
    import warnings
    import matdiff
    src = "tr(X w)"
    calls = [lambda: matdiff.understand(src), lambda: matdiff.gradient(src, wrt="w"),
             lambda: matdiff.derive_gradient(src, wrt="w"), lambda: matdiff.jacobian(src, wrt="w"),
             lambda: matdiff.hessian(src, wrt="w"), lambda: matdiff.differential(src),
             lambda: matdiff.check(src, wrt="w"), lambda: matdiff.check(src, wrt="w", claim="X^T"),
             lambda: matdiff.sheet(src, wrt="w"), lambda: matdiff.latex(src),
             lambda: matdiff.lambdify(src, wrt="w")]
    for call in calls:
        for _ in range(2):                       # every time, not once per place
            with pytest.warns(matdiff.MatdiffWarning, match="X is read as a single row"):
                call()
    assert matdiff.derive_gradient(src, wrt="w").problem.notes == [str(S(src).readings[0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # what the user meant: no warning at all
        matdiff.gradient("X w + beta", wrt="w", shapes=dict(X=(1, 3)))
        matdiff.gradient("c^T (I - 1/3) x", wrt="x")


@pytest.mark.parametrize("command", [
    ["parse"], ["grad", "--wrt", "w"], ["diff"], ["jacobian", "--wrt", "w"], ["hessian", "--wrt", "w"],
    ["check", "--wrt", "w"], ["check", "--wrt", "w", "--claim", "X^T"], ["sheet", "--wrt", "w"],
    ["grad", "--wrt", "w", "--emit", "numpy"],
])
def test_every_command_prints_a_note_line_on_standard_error(command, capsys):
    from matdiff.cli import main
    assert main([command[0], "tr(X w)", *command[1:]]) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert notes == ["note: X is read as a single row (1×n), not a matrix, so that `tr(X w)` fits; "
                     "declare shapes (shapes= or --shape) if you meant otherwise"]
    assert "note:" not in out
    assert main([command[0], "tr(X w)", *command[1:], "--shape", "X=1,3"]) == 0
    assert "note:" not in capsys.readouterr().err


# property: no note means no degenerate shape, and a note means one ----------------------------------

@st.composite
def random_programs(draw):
    from test_roundtrip import parsed_trees
    return draw(parsed_trees)


def _identities(e) -> int:
    """How many I's the tree e holds, counted as written (a shared node as often as it is used)."""
    return 1 if isinstance(e, Identity) else sum(_identities(c) for c in children(e))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(random_programs())
def test_no_note_means_every_name_and_I_has_the_shape_its_case_says(e):
    from matdiff.printing.text import to_text
    try:
        shaped = infer_shapes(Program((), e))
    except MatdiffError:
        assume(False)
        return
    noted = {r.name for r in shaped.readings}
    for name, shape in shaped.inputs.items():
        if name[0].isupper():                   # a matrix: both dimensions other than 1, or a note
            assert (shape == () or 1 in shape) == (name in noted), (to_text(e), shaped.inputs)
        elif name in noted:                     # a vector or scalar name noted only when made 1x1
            assert shape == ()
    assert not any(isinstance(n, Identity) and n.n == 1 for n in postorder(shaped.expr))
    if "I" not in noted:                        # no I written became the number 1
        assert _identities(shaped.expr) >= _identities(e)


@settings(max_examples=200, deadline=None)
@given(well_shaped())
def test_declared_shapes_are_never_noted(case):
    e, declared, _ = case
    assert infer_shapes(Program((), e), declared).readings == []


def test_a_solution_sheet_states_a_degenerate_reading_in_its_question():
    import warnings
    import matdiff
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        tex = matdiff.sheet("tr(X w)", wrt="w")
        assert r"\emph{Note:} $X \in \mathbb{R}^{1 \times n}$ is read so, not as a matrix" in tex
        assert r"\emph{Note:} $I$ is $1 \times 1$ here" in matdiff.sheet("I + x^T x", wrt="x")
    assert "Note:" not in matdiff.sheet("c^T (X w + b)", wrt="w")


def test_a_known_factor_of_a_product_dimension_divides_a_number():
    """(1_2^T ⊗ I) B with B 8×15: 2·n = 8 fixes the I's size n = 4 (a claim matdiff printed with sizes)."""
    from matdiff.language.inference import infer_shapes
    from matdiff.language.parse import parse
    from matdiff.language.shapes import shape_of
    e = infer_shapes(parse("(1_2^T ⊗ I) B"), {"B": (8, 15)}).expr
    assert shape_of(e) == (4, 15)
    with pytest.raises(ShapeError):                  # 3 does not divide 8
        infer_shapes(parse("(1_3^T ⊗ I) B"), {"B": (8, 15)})
