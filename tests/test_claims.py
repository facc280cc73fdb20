"""Checking a claimed gradient: the Tutorial 12 sheet's misprint is rejected with a concrete
counterexample, the corrected answer (in either notation) is accepted, and the report compares
the claim with matdiff's gradient, not with finite differences."""
from __future__ import annotations

import pytest

import matdiff
from matdiff.cli import main

TUTORIAL12 = "c^T Psi((W + V) Phi(W x + b))"
SEED000 = dict(W=("n", "n"), V=("n", "n"), x=("n",), b=("n",), c=("n",))

# the sheet's printed final line: Psi(W x + b) where Phi(W x + b) is meant (Jacobians as Hadamard products)
MISPRINT = ("(Psi'((W + V) Psi(W x + b)) ∘ c) Psi(W x + b)^T"
            " + (Phi'(W x + b) ∘ (W + V)^T (Psi'((W + V) Psi(W x + b)) ∘ c)) x^T")
CORRECTED = MISPRINT.replace("Psi(W x + b)", "Phi(W x + b)")
# the same answer as the sheet writes it, with the Jacobians diag(f'(z))
CORRECTED_DIAG = ("diag(Psi'((W + V) Phi(W x + b))) c Phi(W x + b)^T"
                  " + diag(Phi'(W x + b)) (W + V)^T diag(Psi'((W + V) Phi(W x + b))) c x^T")


def test_the_misprint_is_rejected_with_a_counterexample():
    report = matdiff.check(TUTORIAL12, "W", shapes=SEED000, claim=MISPRINT)
    assert not report.ok
    text = str(report)
    assert text.startswith("the claim is WRONG")
    assert "finite differences" not in text and "formula" not in text
    row = report.rows[0]
    assert row.name.startswith("W[") and abs(row.numeric - row.symbolic) > 1e-3     # claim vs gradient
    assert "claim" in text and "matdiff's gradient" in text
    for name in ("W", "V", "x", "b", "c"):                        # the inputs of the counterexample
        assert f"    {name} = " in text
    assert "Phi(t) = sin(" in text and "Psi(t) = sin(" in text     # the stand-ins, distinct
    assert f"of the claim is {row.numeric:+.6g}, of matdiff's gradient {row.symbolic:+.6g}" in text
    assert "the claim has Psi(W x + b) where matdiff's gradient has Phi(W x + b)" in text


@pytest.mark.parametrize("claim", [CORRECTED, CORRECTED_DIAG], ids=["hadamard", "diag"])
def test_the_corrected_answer_is_accepted(claim):
    report = matdiff.check(TUTORIAL12, "W", shapes=SEED000, claim=claim)
    assert report.ok, str(report)
    assert str(report).startswith("the claim is right")
    assert "∂f/∂W = " in report.note


def test_an_exactly_equal_claim_is_symbolically_equal():
    report = matdiff.check(TUTORIAL12, "W", shapes=SEED000, claim=CORRECTED)
    assert "symbolically" in report.note


def test_a_missing_term_is_named():
    claim = "(Psi'((W + V) Phi(W x + b)) ∘ c) Phi(W x + b)^T"
    report = matdiff.check(TUTORIAL12, "W", shapes=SEED000, claim=claim)
    assert not report.ok
    assert "the claim misses the term (Phi'(W x + b) ∘ (W + V)^T" in report.note


def test_cli_check_claim(capsys):
    assert main(["check", TUTORIAL12, "--wrt", "W", "--claim", MISPRINT]) == 1
    out = capsys.readouterr().out
    assert "the claim is WRONG" in out and "<-- wrong" in out
    assert main(["check", TUTORIAL12, "--wrt", "W", "--claim", CORRECTED_DIAG]) == 0
    assert "the claim is right" in capsys.readouterr().out


def test_plain_check_keeps_its_rows():
    text = str(matdiff.check("x^T A x", "x"))
    assert text.startswith("check passed") and "finite differences" in text and "formula" in text
