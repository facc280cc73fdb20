"""Fuzz: random text, token soups from the grammar's own terminals, and mutated valid programs
go through every stage; the only exceptions allowed are MatdiffErrors (with a location where
the input has one). A longer run: `python scripts/fuzz.py --minutes 10`."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_inputs import SEEDS, mutant, run_all, token_soup
from matdiff.errors import ParseError

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
