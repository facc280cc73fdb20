"""Fuzz: random text, token soups from the grammar's own terminals, and mutated valid programs
go through every stage; the only exceptions allowed are MatdiffErrors (with a location where
the input has one). A longer run: `python scripts/fuzz.py --minutes 10`."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_inputs import SEEDS, mutant, run_all, token_soup
import matdiff
from matdiff.errors import MatdiffError, ParseError

FAST = dict(deadline=None, max_examples=800)


@settings(**FAST)
@given(st.text(max_size=60))
def test_random_text(src):
    err = run_all(src, deep=False)
    if isinstance(err, ParseError) and err.line is not None:
        assert f"line {err.line}, column {err.column}" in str(err)


@settings(**FAST)
@given(st.randoms(use_true_random=False))
def test_token_soup(rng):
    run_all(token_soup(rng), deep=False)


@settings(deadline=None, max_examples=400)
@given(st.randoms(use_true_random=False))
def test_mutated_programs_through_every_stage(rng):
    run_all(mutant(rng))


def test_every_seed_goes_through_every_stage():
    for src in SEEDS:
        assert run_all(src) is None, src


def test_a_known_mutant_sample():
    """A fixed sample, the same on every machine: 200 mutants through every stage."""
    rng = random.Random(7)
    for _ in range(200):
        run_all(mutant(rng))


# what a long fuzz run (scripts/fuzz.py) found, kept as regressions
@pytest.mark.parametrize("src, message", [
    ("h1 = 2 x\nh2 = h2 h1^2\nl = 2 h2", "h2 is used before it is defined"),
    ("z = h x\nh = relu(z)\nJ = sum(h)", "h is used before it is defined"),
    ("c^T Psi((W + V) Phi(W x⊗x + b))", "cannot multiply"),           # n = n·n: no cycle, an error
    ("x^T x / 0", "division by zero"),
    ("1/0 x^T x", "division by zero"),
])
def test_found_by_fuzzing(src, message):
    with pytest.raises(MatdiffError, match=message):
        matdiff.derive_gradient(src, "x")
