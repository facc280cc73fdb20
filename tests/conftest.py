"""Shared fixtures and helpers: a seeded rng, `P` (text -> the parsed result), AST shorthands."""
from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

from matdiff.language.expr import MINUS_ONE, Add, Const, Hadamard, HadamardPow, MatMul, Mul, Transpose, Var
from matdiff.language.parse import parse
from matdiff.language.inference import infer_shapes


@pytest.fixture(scope="module")
def x64():
    """JAX with float64 (it computes in float32 unless told otherwise), for comparisons in float64;
    skipped where JAX is not installed."""
    jax = pytest.importorskip("jax")
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", before)


@pytest.fixture
def rng():
    """A numpy Generator with a fixed seed: every run draws the same numbers."""
    return np.random.default_rng(20240611)


def P(src: str, functions=()):
    """The expression a text parses to (a program's last line)."""
    return parse(src, functions).result


def S(src: str, shapes=None, functions=()):
    """The text, parsed and shaped."""
    return infer_shapes(parse(src, functions), shapes)


# ---- AST shorthands, built exactly as the parser builds them ----------------------------------

def V(name: str) -> Var:
    return Var(name)


def C(value) -> Const:
    return Const(Fraction(value))


def mm(*factors):
    """Left-nested binary matrix product: mm(a, b, c) is MatMul((MatMul((a, b)), c))."""
    out = factors[0]
    for f in factors[1:]:
        out = MatMul((out, f))
    return out


def add(*terms):
    out = terms[0]
    for t in terms[1:]:
        out = Add((out, t))
    return out


def had(*factors):
    out = factors[0]
    for f in factors[1:]:
        out = Hadamard((out, f))
    return out


def neg(e):
    return Mul((MINUS_ONE, e))


def sub(a, b):
    return Add((a, neg(b)))


def div(a, b):
    """What the parser builds for a / b: the divisor marked "/" (a scalar, which inference
    checks), unless it is a number."""
    return Mul((a, HadamardPow(Fraction(-1), b, "" if isinstance(b, Const) else "/")))


def T(e):
    return Transpose(e)


# CI runs every property test on the same examples each time: a red run always means a
# regression, never bad luck. Locally hypothesis explores (HYPOTHESIS_PROFILE=dev for more).
from hypothesis import settings as _settings  # noqa: E402

_settings.register_profile("ci", derandomize=True, database=None)
_settings.register_profile("dev", max_examples=1000)
if os.environ.get("CI"):
    _settings.load_profile("ci")
elif os.environ.get("HYPOTHESIS_PROFILE"):
    _settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
