"""Generated code (matdiff.lambdify, --emit) against matdiff's own evaluator (numeric.py).

Every seed problem, in every backend that is installed (jax and torch are optional: their
tests skip when absent): the value and each gradient of the generated function must equal
what numeric.evaluate gives for f and for the derived gradient, at the same random inputs.
No timing here; speed lives in benchmarks/.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import matdiff
from matdiff.checking.sampling import dimension_sizes, finite_inputs
from matdiff.codegen.generate import emit, lambdify
from matdiff.language.expr import Fn
from matdiff.calculus.gradient import gradient_of
from matdiff.checking.numeric import Env, elementwise, evaluate_many
from matdiff.language.problem import Problem
from matdiff.calculus.second_order import hessian_of
from helpers_calculus import fd_gradient
from seed_cases import MLP003, MLP003_SHAPES, NET002, NET004, SEEDS, TUTORIAL12

BACKENDS = ["numpy", "jax", "torch"]


def backend_module(backend, request):
    if backend == "jax":
        request.getfixturevalue("x64")
    if backend == "torch":
        return pytest.importorskip("torch")
    return None


def stand_ins(fn, torch=None) -> dict:
    """The abstract functions as numeric.py evaluates them (sin(a t + b), a distinct one per name)."""
    out = {}
    for key, (name, order) in fn.function_params.items():
        def f(t, name=name, order=order):
            if torch is not None:
                return torch.as_tensor(elementwise(Fn(name, order), t.numpy()))
            return elementwise(Fn(name, order), np.asarray(t))
        out[key] = f
    return out


def reference(src, wrt, shapes, hessian=False, seed=0):
    """Random inputs (2-D, as numeric.py takes them) and f, the gradients (and Hessians) there."""
    p = Problem.of(src, shapes)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    g = gradient_of(p, names)
    dims = dimension_sizes(p.shaped)
    values = finite_inputs(p.f, p.shaped, np.random.default_rng(seed), dims)
    roots = [p.f] + [g.inlined[w] for w in names]
    roots += [hessian_of(p, w).matrix for w in names] if hessian else []
    return p, values, evaluate_many(roots, Env(values, dims))


def as_given(values: dict, shapes: dict, torch=None, columns=False) -> dict:
    """The inputs as a user passes them: vectors 1-D (or columns), scalars as floats."""
    out = {}
    for name, v in values.items():
        s = shapes[name]
        out[name] = v if len(s) == 2 or (columns and len(s) == 1) else v[:, 0] if len(s) == 1 else float(v[0, 0])
        if torch is not None:
            out[name] = torch.as_tensor(out[name], dtype=torch.float64)
    return out


def close(got, want, rtol=1e-9, atol=1e-11) -> bool:
    got = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=float)
    return got.size == want.size and np.allclose(got.reshape(want.shape), want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", SEEDS, ids=[c.id for c in SEEDS])
def test_seed_problems(c, backend, request):
    src, wrt, shapes = c.src, c.wrt, c.shapes
    torch = backend_module(backend, request)
    p, values, (f, G) = reference(src, wrt, shapes)
    fn = lambdify(src, wrt, backend=backend, shapes=shapes)
    given = as_given(values, p.shaped.inputs, torch)
    value, grads = fn(**given, **stand_ins(fn, torch))
    assert set(grads) == {wrt}
    assert close(value, f)
    assert close(grads[wrt], G)
    assert np.shape(grads[wrt]) == np.shape(given[wrt])             # the shape it was given


ISSUE13_WORDS = [
    ("sum(abs(W x)) + sum(sign(x) .* tan(x)) + ||x||_1 + norm1(W)", ("abs", "sign", "tan")),
    ("sum(asin(W x)) + sum(arccos(x)) + atan(c^T x) + sum(sinh(x)) + cosh(c^T W x)",
     ("arcsin", "arccos", "arctan", "sinh", "cosh")),
]


@pytest.mark.parametrize("src, wrt", [
    (TUTORIAL12, "x"),
    (MLP003, "x"),
    (NET002, "x"),
    (NET004, "x"),
    ("c^T tanh(W x)", "W"),                          # a Kronecker product is the answer
    ("logdet(X)", "X"),                              # a commutation matrix
    ("a^T X^-1 b", "X"),
    ("vec(X)^T kron(A, B) vec(X)", "X"),
    ("x^T diag(v) y + tr(diag(v) A)", ["x", "v"]),
    ("sum(softplus(W x))", "W"),
    ("sqrt(x^T x) + alpha x^T x", ["x", "alpha"]),
    *[(src, ["W", "x"]) for src, _ in ISSUE13_WORDS],          # issue 13's words
    ("c^T W x + d^T W x + e^T W^T f", ["W", "x"]),          # (c + d) x^T + f e^T: one matrix product
    ("c^T W x + d^T W x", "W"),                               # (c + d) x^T: a sum times a row
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
@pytest.mark.parametrize("backend", BACKENDS)
def test_hessians(src, wrt, backend, request):
    torch = backend_module(backend, request)
    p, values, refs = reference(src, wrt, None, hessian=True)
    fn = lambdify(src, wrt, backend=backend, hessian=True)
    value, grads, hessians = fn(**as_given(values, p.shaped.inputs, torch), **stand_ins(fn, torch))
    names = [wrt] if isinstance(wrt, str) else wrt
    got = [value] + [grads[w] for w in names] + [hessians[w] for w in names]
    assert all(close(a, b) for a, b in zip(got, refs))


@pytest.mark.parametrize("src, calls", ISSUE13_WORDS, ids=["abs-sign-tan", "arc-hyperbolic"])
def test_issue13_words_compile_in_every_backend_and_name_real_functions(src, calls):
    """JAX and PyTorch are not installed here: their text compiles, and calls the functions each
    library has under these names (NumPy's, which jax.numpy shares; torch's aliases)."""
    for backend in BACKENDS:
        code = emit(src, ["W", "x"], backend, hessian=True)
        compile(code, "<emitted>", "exec")
        m = {"numpy": "np", "jax": "jnp", "torch": "torch"}[backend]
        missing = [fn for fn in calls if f"{m}.{fn}(" not in code]
        assert not missing, (backend, missing)


KRON_GRADIENTS = [   # issue 13 item 6: gradients through a Kronecker product of the variable
    ("tr(kron(A, X) B)", "X", dict(A=(2, 3), X=(3, 2), B=(6, 6)), lambda A, X, B: np.trace(np.kron(A, X) @ B)),
    ("tr(kron(X, A) B)", "X", dict(A=(2, 3), X=(3, 2), B=(6, 6)), lambda A, X, B: np.trace(np.kron(X, A) @ B)),
    ("tr(kron(X, X))", "X", dict(X=(3, 3)), lambda X: np.trace(np.kron(X, X))),
    ("sum(kron(A, X))", "X", dict(A=(2, 3), X=(3, 2)), lambda A, X: np.sum(np.kron(A, X))),
    ("c^T kron(x, y)", ["x", "y"], dict(c=(6,), x=(3,), y=(2,)), lambda c, x, y: c @ np.kron(x, y)),
    ("a^T kron(X, X) b", "X", dict(a=(4,), X=(2, 3), b=(9,)), lambda a, X, b: a @ np.kron(X, X) @ b),
    ("sum(tanh(kron(A, X)))", "X", dict(A=(2, 3), X=(3, 2)), lambda A, X: np.sum(np.tanh(np.kron(A, X)))),
    ("vec(X)^T A vec(X)", "X", dict(A=(6, 6), X=(3, 2)),
     lambda A, X: X.reshape(-1, order="F") @ A @ X.reshape(-1, order="F")),
]


@pytest.mark.parametrize("src, wrt, shapes, f", KRON_GRADIENTS, ids=[c[0] for c in KRON_GRADIENTS])
def test_gradients_through_kron(src, wrt, shapes, f):
    """The generated module compiles in every backend; the NumPy one's gradients equal finite
    differences of f, and its Hessians matdiff's own evaluator."""
    for backend in BACKENDS:
        for hessian in (False, True):
            compile(emit(src, wrt, backend, shapes=shapes, hessian=hessian), "<emitted>", "exec")
    p, values, refs = reference(src, wrt, shapes, hessian=True)
    fn = lambdify(src, wrt, shapes=shapes, hessian=True)
    given = as_given(values, p.shaped.inputs)
    value, grads, hessians = fn(**given)
    names = [wrt] if isinstance(wrt, str) else wrt
    assert all(close(a, b) for a, b in zip([value, *(grads[w] for w in names), *(hessians[w] for w in names)], refs))
    for w in names:
        fd = fd_gradient(lambda **v: f(**v), {k: np.asarray(v, dtype=float) for k, v in given.items()}, w)
        assert close(grads[w], np.asarray(fd), rtol=1e-6, atol=1e-8)


def test_builtin_implementations_of_abstract_functions():
    """functions={'Phi': 'tanh'} writes tanh inline, derivatives included: the same numbers as
    the concrete expression."""
    abstract = lambdify(TUTORIAL12, "W", functions={"Phi": "tanh", "Psi": "sin"})
    p, values, (f, G) = reference("c^T sin((W + V) tanh(W x + b))", "W", None)
    value, grads = abstract(**as_given(values, p.shaped.inputs))
    assert close(value, f) and close(grads["W"], G)
    code = [line for line in abstract.source.split('"""')[-1].splitlines() if not line.strip().startswith("#")]
    assert not any("Phi" in line for line in code) and abstract.function_params == {}


def test_callables_given_to_lambdify_or_at_the_call():
    dtanh = (lambda t: 1 - np.tanh(t) ** 2)
    fn = lambdify("sum(Phi(W x))", "W", functions={"Phi": (np.tanh, dtanh)})
    W, x = np.arange(6.0).reshape(2, 3) / 10, np.array([1.0, -1.0, 0.5])
    value, grads = fn(W=W, x=x)
    assert np.isclose(value, np.tanh(W @ x).sum())
    assert np.allclose(grads["W"], np.outer(dtanh(W @ x), x))
    plain = lambdify("sum(Phi(W x))", "W")
    assert set(plain.function_params) == {"Phi", "Phi_prime"}
    value2, grads2 = plain(W=W, x=x, Phi=np.tanh, Phi_prime=dtanh)
    assert value2 == value and np.allclose(grads2["W"], grads["W"])
    with pytest.raises(matdiff.MatdiffError, match="Phi_prime"):
        plain(W=W, x=x, Phi=np.tanh)


def test_vectors_as_1d_arrays_or_columns_scalars_as_floats():
    fn = matdiff.lambdify("alpha x^T A x", wrt=["x", "alpha"])
    A, x = np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([1.0, 2.0])
    value, grads = fn(x=x, A=A, alpha=0.5)
    assert isinstance(value, float) and value == pytest.approx(0.5 * x @ A @ x)
    assert grads["x"].shape == (2,) and np.allclose(grads["x"], 0.5 * (A + A.T) @ x)
    assert isinstance(grads["alpha"], float) and grads["alpha"] == pytest.approx(x @ A @ x)
    _, grads = fn(x=x.reshape(2, 1), A=A, alpha=0.5)
    assert grads["x"].shape == (2, 1)


def test_forward_values_are_reused_not_recomputed():
    """Back-propagation reads the forward pass: tanh' = 1 - z^2 from the step z, each tanh once."""
    src = emit(MLP003, ["W1", "b1", "W2", "b3"], shapes=MLP003_SHAPES)
    assert src.count("np.tanh(") == 3
    assert "1 - z1 ** 2" in src and "np.cosh" not in src
    t12 = emit(TUTORIAL12, "W", functions={"Phi": "tanh", "Psi": "sin"})
    body = "\n".join(line for line in t12.split('"""')[-1].splitlines() if not line.strip().startswith("#"))
    assert body.count("np.tanh(") == 1 and body.count("W @ x") == 1
    assert "W + V" not in body            # only ever multiplied by vectors: (W + V) h = W h + V h


@pytest.mark.parametrize("src, wrt, never", [
    ("x^T diag(v) y", ["x", "v"], "diagflat"),                  # diag(v) y -> v * y
    ("c^T diag(v) W x", ["W", "v"], "diagflat"),
    ("vec(X)^T kron(A, B) vec(X)", "X", "kron"),                # (A ⊗ B) vec(X) -> vec(B X A^T)
    ("y^T kron(A, B) x", "x", "kron"),
    ("tr(A X B)", "X", "trace"),
])
def test_no_diagonal_or_kronecker_matrix_is_formed(src, wrt, never):
    code = emit(src, wrt)
    assert never not in code
    p, values, refs = reference(src, wrt, None)
    fn = lambdify(src, wrt)
    value, grads = fn(**as_given(values, p.shaped.inputs))
    names = [wrt] if isinstance(wrt, str) else wrt
    assert all(close(a, b) for a, b in zip([value] + [grads[w] for w in names], refs))


def test_products_in_the_cheapest_order():
    """A B x is A @ (B @ x): two matrix-vector products, not a matrix-matrix one."""
    assert "grad_y = A @ (B @ x)" in emit("y^T A B x", "y")
    assert "grad_x = (y.T @ A @ B).T" in emit("y^T A B x", "x") or "grad_x = B.T @ (A.T @ y)" in emit("y^T A B x", "x")


def test_jax_raw_function_jits(x64):
    import functools
    jnp = pytest.importorskip("jax.numpy")
    fn = lambdify(TUTORIAL12, "W", backend="jax")
    raw = x64.jit(functools.partial(fn.raw, Phi=jnp.tanh, Phi_prime=lambda t: 1 - jnp.tanh(t) ** 2,
                                    Psi=jnp.sin, Psi_prime=jnp.cos))
    rng = np.random.default_rng(1)
    W, V = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    x, b, c = (rng.normal(size=(3, 1)) for _ in range(3))
    _, grads = raw(c, W, V, x, b)
    ref = x64.grad(lambda W: (c.T @ jnp.sin((W + V) @ jnp.tanh(W @ x + b)))[0, 0])(W)
    assert np.allclose(grads["W"], ref)


def test_errors_are_matdiff_errors():
    fn = lambdify("x^T A x", "x")
    with pytest.raises(matdiff.MatdiffError, match="no value given for A"):
        fn(x=np.ones(2))
    with pytest.raises(matdiff.MatdiffError, match="unknown argument"):
        fn(x=np.ones(2), A=np.eye(2), B=1)
    with pytest.raises(matdiff.MatdiffError, match="vector"):
        fn(x=np.ones((2, 2)), A=np.eye(2))
    with pytest.raises(matdiff.MatdiffError, match="backend"):
        lambdify("x^T A x", "x", backend="tensorflow")
    with pytest.raises(matdiff.MatdiffError, match="built-in"):
        lambdify("sum(Phi(x))", "x", functions={"Phi": "erf"})


def test_cli_emit(capsys):
    from matdiff.cli import main
    assert main(["grad", TUTORIAL12, "--wrt", "W", "--emit", "numpy"]) == 0
    code = capsys.readouterr().out
    assert code.startswith("import numpy as np") and "def value_and_grad(" in code
    namespace: dict = {}
    exec(compile(code, "<emitted>", "exec"), namespace)
    rng = np.random.default_rng(2)
    W, V = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    x, b, c = (rng.normal(size=(3, 1)) for _ in range(3))
    dtanh = (lambda t: 1 - np.tanh(t) ** 2)
    value, _ = namespace["value_and_grad"](c, W, V, x, b, Phi=np.tanh, Phi_prime=dtanh, Psi=np.sin,
                                           Psi_prime=np.cos)
    assert np.isclose(value[0, 0], (c.T @ np.sin((W + V) @ np.tanh(W @ x + b)))[0, 0])
    for backend in ("jax", "torch"):                       # emitting never imports the backend
        assert main(["grad", "x^T A x", "--wrt", "x", "--emit", backend]) == 0
        assert f"import {backend}" in capsys.readouterr().out


def test_the_command_does_not_import_sympy():
    """SymPy costs half a second at start-up and NumPy ~50 ms: `matdiff grad` without --sympy
    or --check loads neither (nor jax, nor torch). Start-up time is issue 6's 0.3 s goal."""
    code = ("import sys, runpy\n"
            f"sys.argv = ['matdiff', 'grad', {TUTORIAL12!r}, '--wrt', 'W']\n"
            "try:\n    runpy.run_module('matdiff', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('LOADED:', sorted(m for m in ('sympy', 'numpy', 'jax', 'torch') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "∂f/∂W" in out.stdout
    assert "LOADED: []" in out.stdout


# ---- random functions: the property-test generator of test_properties.py, through generated code ----

try:
    from hypothesis import assume, given, settings
    from test_properties import SETTINGS, Degenerate, present_variables, scalar, scalar_functions, values_for
except ImportError:                               # that generator moved or renamed: these tests only skip
    scalar_functions = None


@pytest.mark.skipif(scalar_functions is None, reason="test_properties' generator is not available")
def test_random_functions_through_generated_code():
    """Random scalar functions (sums, products, transposes, inverses, powers, diag, vec, kron,
    traces, norms, softmax, elementwise functions): the value, the gradients and the Hessian with
    respect to one variable from the generated NumPy code equal matdiff's own evaluator."""
    @settings(max_examples=120, **SETTINGS)
    @given(g=scalar_functions, seed=st_seeds())
    def check(g, seed):
        assume(g.vars)
        values = values_for(g.vars, seed)
        try:
            scalar(g, values)
        except Degenerate:
            assume(False)
        shapes = dict(g.vars)
        present = present_variables(g.text, shapes)
        wrt = [n for n, _ in g.vars if n in present]
        assume(wrt)
        p = Problem.of(g.text, shapes)
        grad = gradient_of(p, wrt)
        env = Env({n: np.asarray(v, dtype=float).reshape(-1, 1) if len(shapes[n]) == 1 else
                   np.asarray(v, dtype=float).reshape(1, 1) if not shapes[n] else np.asarray(v, dtype=float)
                   for n, v in values.items()}, {})
        refs = evaluate_many([p.f] + [grad.inlined[w] for w in wrt], env)
        assume(all(np.all(np.isfinite(r)) for r in refs))
        try:                                      # and the Hessian with respect to the first variable
            H = hessian_of(p, wrt[0]).matrix
        except matdiff.MatdiffError:
            H = None
        if H is not None:
            refs += evaluate_many([H], env)
        fn = lambdify(g.text, wrt, shapes=shapes, hessian=H is not None)
        out = fn(**values, **stand_ins(fn))
        got = [out[0]] + [out[1][w] for w in wrt] + ([out[2][wrt[0]]] if H is not None else [])
        scale = max(1.0, *(float(np.max(np.abs(r))) for r in refs if np.all(np.isfinite(r))))
        for a, b in zip(got, refs):
            if np.all(np.isfinite(b)):
                assert close(a, b, rtol=1e-7, atol=1e-9 * scale), (g.text, wrt)
    check()


def st_seeds():
    from hypothesis import strategies as st
    return st.integers(0, 2**16)


# ---- issue 11: names, sizes, time ---------------------------------------------------------------------

def reference_fns(src, wrt, functions, hessian=False, seed=0):
    """reference() for a source that declares abstract functions."""
    p = Problem.of(src, None, functions)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    g = gradient_of(p, names)
    dims = dimension_sizes(p.shaped)
    values = finite_inputs(p.f, p.shaped, np.random.default_rng(seed), dims)
    roots = [p.f] + [g.inlined[w] for w in names] + ([hessian_of(p, w).matrix for w in names] if hessian else [])
    return p, values, evaluate_many(roots, Env(values, dims))


def test_a_function_named_like_another_functions_derivative():
    """Phi' and a function called Phi_prime are two parameters: cos and exp, not exp twice."""
    fn = matdiff.lambdify("sum(Phi(x)) + sum(Phi_prime(x))", wrt="x",
                          functions={"Phi": (np.sin, np.cos), "Phi_prime": (np.exp, np.exp)})
    x = np.array([0.3, -1.2, 2.0])
    value, grads = fn(x=x)
    assert value == pytest.approx(np.sum(np.sin(x) + np.exp(x)))
    assert np.allclose(grads["x"], np.cos(x) + np.exp(x))
    assert sorted(fn.function_params.values()) == [("Phi", 0), ("Phi", 1), ("Phi_prime", 0), ("Phi_prime", 1)]


HOSTILE = ["t1", "t2", "z1", "np", "jnp", "torch", "jax", "lambda", "None", "True", "def", "class", "dtype",
           "value_and_grad", "value_grad_hessian", "grad_W", "hess_W", "f", "n", "Phi_prime", "Phi_prime2",
           "self", "values"]   # fn(**values) is Lambdified.__call__(self, /, **values): self was taken (the fuzzer)


@pytest.mark.parametrize("name", HOSTILE + ["θ", "ϑ", "ϕ"])
def test_hostile_function_names(name):
    """An abstract function named like a keyword, a module, a temporary or another parameter:
    every backend's module compiles, and the NumPy one computes what numeric.py does (each
    stand-in is a different function, so a parameter bound to the wrong one shows)."""
    src = f"sum({name}(W x)) + c^T Phi(W x) + sum(Phi(W x))"
    functions = [name, "Phi"]
    for backend in BACKENDS:
        for hessian in (False, True):
            compile(emit(src, "W", backend, functions=functions, hessian=hessian), "<emitted>", "exec")
    p, values, refs = reference_fns(src, "W", functions, hessian=True)
    fn = lambdify(src, "W", functions=functions, hessian=True)
    assert len(set(fn.function_params)) == len(set(fn.function_params.values())) == 6
    value, grads, hessians = fn(**as_given(values, p.shaped.inputs), **stand_ins(fn))
    assert all(close(a, b) for a, b in zip([value, grads["W"], hessians["W"]], refs))


@pytest.mark.parametrize("name", HOSTILE + ["θ", "ϑ"])
def test_hostile_variable_names(name):
    """A variable named like a keyword, a module or a generated name is passed by its own name;
    the code compiles in every backend and computes what numeric.py does."""
    src = f"sum(tanh(W x)) + {name}^T tanh(W x) + {name}^T W θ + sum(Phi(W x))"
    if name == "θ":
        src = src.replace("W θ", "W ϑ")
    wrt = ["W", name]
    for backend in BACKENDS:
        compile(emit(src, wrt, backend), "<emitted>", "exec")
    p, values, refs = reference(src, wrt, None)
    fn = lambdify(src, wrt)
    value, grads = fn(**as_given(values, p.shaped.inputs), **stand_ins(fn))
    assert all(close(a, b) for a, b in zip([value, grads["W"], grads[name]], refs))


def test_nfkc_equal_names_are_two_names():
    """Python reads ϕ as φ and ϑ as θ (NFKC): two matdiff names must stay two parameters."""
    src = "sum(φ(x)) + sum(ϕ(x)) + θ^T x + 2 ϑ^T x"
    p, values, refs = reference_fns(src, "x", ["φ", "ϕ"])
    code = emit(src, "x", functions=["φ", "ϕ"])
    compile(code, "<emitted>", "exec")
    fn = lambdify(src, "x", functions=["φ", "ϕ"])
    assert len(fn.function_params) == 4 and len({py for py, _ in fn.inputs.values()}) == 3
    value, grads = fn(**as_given(values, p.shaped.inputs), **stand_ins(fn))
    assert close(value, refs[0]) and close(grads["x"], refs[1])
    assert "θ_1 is ϑ" in code                                  # the docstring says which is which


def test_cli_emit_with_keyword_function_names(capsys):
    from matdiff.cli import main
    assert main(["grad", "sum(lambda(W x)) + sum(None(W x)) + sum(t1(W x))", "--wrt", "W",
                 "--fn", "lambda", "--fn", "None", "--fn", "t1", "--emit", "numpy"]) == 0
    code = capsys.readouterr().out
    namespace: dict = {}
    exec(compile(code, "<emitted>", "exec"), namespace)
    W, x = np.arange(6.0).reshape(2, 3) / 10, np.array([[1.0], [-1.0], [0.5]])
    fns = {"lambda_": np.sin, "lambda_prime": np.cos, "None_": np.tanh,
           "None_prime": lambda t: 1 - np.tanh(t) ** 2, "t1": np.exp, "t1_prime": np.exp}
    value, grads = namespace["value_and_grad"](W, x, **fns)
    z = W @ x
    assert np.isclose(float(value), np.sum(np.sin(z) + np.tanh(z) + np.exp(z)))
    assert np.allclose(grads["W"], (np.cos(z) + 1 - np.tanh(z) ** 2 + np.exp(z)) @ x.T)


def test_a_number_under_vec_or_a_transpose():
    """vec(b^T x) is 1x1: its derivative printed `1.reshape(1, 1)`, which is no Python."""
    for src in ("vec(b^T x)", "tr(vec(b^T x)) + vec(b^T x)^T vec(x^T x)"):
        p, values, (f, G) = reference(src, "x", None)
        fn = lambdify(src, "x")
        value, grads = fn(**as_given(values, p.shaped.inputs))
        assert close(value, f) and close(grads["x"], G)


@pytest.mark.parametrize("src", ["log(det(alpha))", "logdet(alpha) + inv(alpha) + alpha^-2",
                                 "alpha^3 + tr(alpha) + sum(diag(alpha)) + ||alpha||", "det(alpha x^T x)"])
def test_matrix_functions_of_a_scalar(src):
    """det, logdet, inv, tr, ... of a scalar (a 0-d array in the generated code): the value and
    the gradient, not NumPy's 'at least two-dimensional'."""
    p, values, (f, G) = reference(src, "alpha", None)
    fn = lambdify(src, "alpha")
    value, grads = fn(**as_given(values, p.shaped.inputs))
    assert close(value, f) and close(grads["alpha"], G)
    value, grads = fn(**{**as_given(values, p.shaped.inputs), "alpha": 2.0})
    assert np.isfinite(value) and isinstance(grads["alpha"], float)


def test_inputs_of_the_wrong_size_are_refused():
    fn = lambdify("x^T A x + b^T B y", "x", shapes={"y": 4})
    ok = dict(x=np.ones(2), A=np.eye(2), b=np.ones(3), B=np.ones((3, 4)), y=np.ones(4))
    fn(**ok)
    cases = [({"A": np.eye(3)}, r"A has shape \(3, 3\), but it should be \(n, n\), n = 2 from x"),
             ({"A": np.ones((2, 3))}, r"A has shape \(2, 3\).*axis 1 is 3, not 2"),
             ({"y": np.ones(3)}, r"y has shape \(3,\), but it should be \(4,\)"),
             ({"B": np.ones((3, 5))}, r"B has shape \(3, 5\).*axis 1 is 5, not 4"),
             ({"b": np.ones(4)}, r"B has shape \(3, 4\).* from b"),
             ({"A": np.ones(2)}, r"A is a matrix of shape \(n, n\), got shape \(2,\)"),
             ({"x": np.ones((2, 2))}, r"x is a vector"),
             ({"x": "ab"}, r"x: expected an array of numbers"),
             ({"x": np.ones(2) * 1j}, r"x: .*complex128 is no array of real numbers"),     # not its real part
             ({"x": np.ones(0), "A": np.ones((0, 0))}, r"x has shape \(0,\), with no entries")]
    for change, message in cases:
        with pytest.raises(matdiff.MatdiffError, match=message):
            fn(**{**ok, **change})
    scalar = lambdify("alpha x^T x", "x")
    with pytest.raises(matdiff.MatdiffError, match="alpha is a scalar"):
        scalar(x=np.ones(2), alpha=np.ones(2))
    assert scalar(x=np.ones(2), alpha=np.ones((1, 1)))[0] == 2.0


def test_a_size_nothing_needs_needs_no_value():
    """`s1 = tr(I)` in a line the result does not use: its I's size is not asked for; a size
    the result does need and the inputs do not show is still a clear error."""
    fn = lambdify("s1 = tr(I)\nf = x^T x", "x")
    value, grads = fn(x=np.array([1.0, 2.0]))
    assert value == 5.0 and np.allclose(grads["x"], [2.0, 4.0])
    assert "eye" not in fn.source
    with pytest.raises(matdiff.MatdiffError, match="cannot tell the size"):
        lambdify("s1 = tr(I)\nf = x^T x + s1", "x")


@pytest.mark.parametrize("src, wrt", [
    ("x^T " + " ".join(f"A{i}" for i in range(1, 201)) + " x", "x"),
    ("tr(" + " ".join(f"A{i}" for i in range(1, 201)) + ")", "A100"),
    ("x^T " + " ".join(["A"] * 200) + " x", "A"),
])
def test_long_products_are_ordered_in_polynomial_time(src, wrt):
    """A 200-factor product took minutes to order (interval DP building every option's text);
    now greedily beyond EXACT_CHAIN factors: well under the time limit, and under a tiny limit
    a LimitError, never a long wait."""
    import time
    start = time.monotonic()
    code = emit(src, wrt)
    assert time.monotonic() - start < 20
    compile(code, "<emitted>", "exec")
    before = matdiff.LIMITS.max_seconds
    matdiff.LIMITS.max_seconds = 0.001
    try:
        with pytest.raises(matdiff.LimitError, match="seconds"):
            emit(src, wrt)
        with pytest.raises(matdiff.LimitError, match="seconds"):
            lambdify(src, wrt)
    finally:
        matdiff.LIMITS.max_seconds = before


def test_long_products_compute_right():
    """The greedy order of a long chain (past EXACT_CHAIN) against numeric.py."""
    from matdiff.codegen.products import EXACT_CHAIN
    n = EXACT_CHAIN + 6
    src = "c^T " + " ".join(f"A{i}" for i in range(1, n + 1)) + " diag(v) B x"
    p, values, refs = reference(src, ["A3", "v", "x"], None)
    fn = lambdify(src, ["A3", "v", "x"])
    value, grads = fn(**as_given(values, p.shaped.inputs))
    assert all(close(a, b, rtol=1e-8) for a, b in zip([value, grads["A3"], grads["v"], grads["x"]], refs))


def test_a_singular_matrix_at_the_call():
    fn = lambdify("a^T X^-1 b", "X")
    with pytest.raises(matdiff.MatdiffError, match="not defined at these inputs"):
        fn(a=np.ones(2), b=np.ones(2), X=np.zeros((2, 2)))


def test_code_that_would_not_compile_is_refused(monkeypatch):
    """The last guard: --emit never prints what Python rejects (here a broken docstring)."""
    import matdiff.codegen.generate as codegen
    monkeypatch.setattr(codegen, "_docstring", lambda *args: '    """unclosed')
    with pytest.raises(matdiff.MatdiffError, match="not valid Python"):
        emit("x^T x", "x")


@pytest.mark.parametrize("src", ["y^T kron(A, alpha) x", "y^T kron(alpha, A) x", "tr(kron(A, 2) X) + sum(X)",
                                 "y^T (3 kron(alpha, A) + kron(B, beta)) x"])
def test_kron_with_a_scalar_factor(src):
    """A ⊗ alpha with alpha a 0-d array: it scales, where `@` on a 0-d array raises."""
    wrt = "X" if "X" in src else "x"
    p, values, (f, G) = reference(src, wrt, None)
    fn = lambdify(src, wrt)
    value, grads = fn(**as_given(values, p.shaped.inputs))
    assert close(value, f) and close(grads[wrt], G)


def test_repr_says_which_parameter_is_which_function():
    fn = lambdify("sum(Phi(x)) + sum(Phi_prime(x))", "x", functions=["Phi", "Phi_prime"])
    assert fn.function_params["Phi_prime_1"] == ("Phi", 1)
    assert "Phi_prime_1 (Phi')" in repr(fn)


def test_a_declared_name_like_a_derivative_with_stand_ins_agrees_with_the_evaluator():
    """functions=["Phi_prime"] only (Phi undeclared, as the fuzz's stand-ins bind them): the
    gradient was once different from the evaluator's. Phi -> sin, Phi' -> cos, Phi_prime -> exp."""
    fn = lambdify("sum(Phi(x)) + sum(Phi_prime(x))", "x", functions=["Phi_prime"])
    params = fn.function_params
    by_role = {role: name for name, role in params.items()}
    bound = {by_role[("Phi", 0)]: np.sin, by_role[("Phi", 1)]: np.cos,
             by_role[("Phi_prime", 0)]: np.exp, by_role[("Phi_prime", 1)]: np.exp}
    x = np.array([0.3, -0.7, 1.1])
    value, grads = fn(x=x, **bound)
    assert np.isclose(value, np.sin(x).sum() + np.exp(x).sum())
    assert np.allclose(grads["x"], np.cos(x) + np.exp(x))


# ---- powers with a variable exponent: `**` broadcasts a scalar side in every backend -------------------

POWERS = [
    ("a^b + a^(b c)", ["a", "b", "c"], None),
    ("sum(x .^ p)", ["x", "p"], dict(x=("n",), p=())),
    ("c^T (x .^ y)", ["x", "y"], None),
    ("sum(2 .^ (W x))", ["W", "x"], None),
    ("sum(alpha .^ x)", ["alpha", "x"], None),
    ("(a^b)^c", ["a", "b", "c"], None),              # ** is right-associative: the base in parentheses
]


@pytest.mark.parametrize("src, wrt, shapes", POWERS, ids=[s for s, _, _ in POWERS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_powers_with_a_variable_exponent(src, wrt, shapes, backend, request):
    for hessian in (False, True):                    # the text compiles without the backend installed
        compile(emit(src, wrt, backend=backend, shapes=shapes, hessian=hessian), "<emitted>", "exec")
    torch = backend_module(backend, request)        # skips JAX and PyTorch where they are not installed
    p, values, refs = reference(src, wrt, shapes, hessian=True)
    fn = lambdify(src, wrt, backend=backend, shapes=shapes, hessian=True)
    value, grads, hessians = fn(**as_given(values, p.shaped.inputs, torch))
    got = [value] + [grads[w] for w in wrt] + [hessians[w] for w in wrt]
    assert all(close(a, b) for a, b in zip(got, refs))


# ---- a transposed operand of + - * (backends._TRANSPOSED: NumPy pads the rows it reads by column) ---

def transposed_helper():
    from matdiff.codegen.backends import _TRANSPOSED
    scope = {"np": np}
    exec(_TRANSPOSED, scope)                            # the helper's own text, as generated code has it
    return scope["_transposed"]


@pytest.mark.parametrize("shape, dtype, order", [
    ((256, 256), np.float64, "C"),          # rows 2 KiB apart: the padded copy
    ((1024, 256), np.float64, "C"),         # tall
    ((256, 512), np.float64, "C"),          # wide, rows 4 KiB apart
    ((512, 512), np.float32, "C"),          # 2 KiB rows in float32
    ((256, 256), np.float64, "F"),          # a transposed layout: A.T is contiguous already
    ((300, 300), np.float64, "C"),          # rows 2400 bytes apart: the view
    ((8, 256), np.float64, "C"),            # small
])
def test_the_transposed_helper_is_the_transpose(shape, dtype, order):
    A = np.asarray(np.random.default_rng(0).normal(size=shape), dtype=dtype, order=order)
    before = A.copy()
    T = transposed_helper()(A)
    assert T.shape == A.T.shape and T.dtype == A.dtype and np.array_equal(T, A.T)
    assert np.array_equal(A, before)
    assert (T.base is not None and not np.shares_memory(T, A)) == (order == "C" and A.size >= 65536
                                                                   and A.strides[0] % 2048 == 0)


@pytest.mark.parametrize("src, wrt, n", [("x^T A x", "x", 256), ("x^T A x", "x", 300),
                                         ("sum(A .* X^T) + tr(X^T X)", "X", 256)])
def test_generated_transposed_operands_at_padded_sizes(src, wrt, n):
    """At n = 256 the helper copies (n = 300 reads the view): the values equal NumPy's own."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(n, n))
    fn = lambdify(src, wrt, hessian=(wrt == "x"))
    assert "_transposed(" in fn.source
    if wrt == "x":
        x = rng.normal(size=n)
        f, g, H = fn(x=x, A=A)
        assert np.allclose(f, x @ A @ x) and np.allclose(g["x"], (A + A.T) @ x) and np.array_equal(H["x"], A + A.T)
    else:
        X = rng.normal(size=(n, n))
        f, g = fn(A=A, X=X)
        assert np.allclose(f, np.sum(A * X.T) + np.sum(X * X)) and np.allclose(g["X"], A.T + 2 * X)
