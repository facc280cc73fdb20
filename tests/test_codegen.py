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
from matdiff.checking import dimension_sizes, finite_inputs
from matdiff.codegen import emit, lambdify
from matdiff.expr import Fn
from matdiff.gradient import derive_gradient
from matdiff.numeric import Env, elementwise, evaluate_many
from matdiff.problem import Problem
from matdiff.second_order import derive_hessian
from seed_cases import NET002, MLP003, MLP003_SHAPES, NET004, SEEDS

BACKENDS = ["numpy", "jax", "torch"]


@pytest.fixture(scope="module")
def x64():
    """JAX computes in float32 unless told otherwise; the comparisons here are in float64."""
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", before)


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
    g = derive_gradient(p, names)
    dims = dimension_sizes(p.shaped)
    values = finite_inputs(p.f, p.shaped, np.random.default_rng(seed), dims)
    roots = [p.f] + [g.grads[w] for w in names]
    roots += [derive_hessian(p, w).matrix for w in names] if hessian else []
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
@pytest.mark.parametrize("cid, src, wrt, shapes", SEEDS, ids=[s[0] for s in SEEDS])
def test_seed_problems(cid, src, wrt, shapes, backend, request):
    torch = backend_module(backend, request)
    p, values, (f, G) = reference(src, wrt, shapes)
    fn = lambdify(src, wrt, backend=backend, shapes=shapes)
    given = as_given(values, p.shaped.inputs, torch)
    value, grads = fn(**given, **stand_ins(fn, torch))
    assert set(grads) == {wrt}
    assert close(value, f)
    assert close(grads[wrt], G)
    assert np.shape(grads[wrt]) == np.shape(given[wrt])             # the shape it was given


@pytest.mark.parametrize("src, wrt", [
    ("c^T Psi((W + V) Phi(W x + b))", "x"),
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


def test_builtin_implementations_of_abstract_functions():
    """functions={'Phi': 'tanh'} writes tanh inline, derivatives included: the same numbers as
    the concrete expression."""
    abstract = lambdify("c^T Psi((W + V) Phi(W x + b))", "W", functions={"Phi": "tanh", "Psi": "sin"})
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
    t12 = emit("c^T Psi((W + V) Phi(W x + b))", "W", functions={"Phi": "tanh", "Psi": "sin"})
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
    fn = lambdify("c^T Psi((W + V) Phi(W x + b))", "W", backend="jax")
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
        lambdify("sum(Phi(x))", "x", functions={"Phi": "arctan"})


def test_cli_emit(capsys):
    from matdiff.cli import main
    assert main(["grad", "c^T Psi((W + V) Phi(W x + b))", "--wrt", "W", "--emit", "numpy"]) == 0
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
            "sys.argv = ['matdiff', 'grad', 'c^T Psi((W + V) Phi(W x + b))', '--wrt', 'W']\n"
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
        wrt = [n for n, _ in g.vars if n in present and n not in g.kron_vars]
        assume(wrt)
        p = Problem.of(g.text, shapes)
        grad = derive_gradient(p, wrt)
        env = Env({n: np.asarray(v, dtype=float).reshape(-1, 1) if len(shapes[n]) == 1 else
                   np.asarray(v, dtype=float).reshape(1, 1) if not shapes[n] else np.asarray(v, dtype=float)
                   for n, v in values.items()}, {})
        refs = evaluate_many([p.f] + [grad.grads[w] for w in wrt], env)
        assume(all(np.all(np.isfinite(r)) for r in refs))
        try:                                      # and the Hessian with respect to the first variable
            H = derive_hessian(p, wrt[0]).matrix
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
