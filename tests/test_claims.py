"""Checking a claimed gradient: the Tutorial 12 sheet's misprint is rejected with a concrete
counterexample, the corrected answer (in either notation) is accepted, and the report compares
the claim with matdiff's gradient, not with finite differences."""
from __future__ import annotations

import pytest

import matdiff
from matdiff.cli import main
from seed_cases import SEED000, TUTORIAL12

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


# ---- honest verdicts: a claim wrong only where one scale of inputs looks is WRONG (issue 11, item 7) ----

SEEDS = range(8)

NEAR_MISSES = [
    # wrong only near 0: exp(-50 x^T x) is 1 there and vanishes at unit inputs
    ("x^T x + exp(-50 x^T x)", "x", "2 x", None),
    # wrong only far out: exp(x^T x - 60) is below rounding at unit inputs
    ("x^T x + exp(x^T x - 60)", "x", "2 x", None),
    # wrong by a tiny relative amount everywhere
    ("x^T A x", "x", "1.001 (A + A^T) x", None),
    ("x^T A x", "x", "(A + A^T) x + 1/100000 x", None),
    # right only for a symmetric A
    ("x^T A x", "x", "2 A x", None),
    ("x^T A x", "x", "A x", None),
    # right only for a square A, where the projection A (A^T A)^-1 A^T is I; logdet(A^T A) is
    # singular at the first distinct sizes (A wide): the check must go to the other distinct sizes
    ("logdet(A^T A)", "A", "2 A (A^T A)^-1 + (A (A^T A)^-1 A^T - I) (0 A + 1)", None),
    # right only near 0: the first terms of a series
    ("sum(tanh(x))", "x", "1 - x .^ 2", None),
    ("sum(softplus(x))", "x", "1/2 + x / 4", None),
    ("sum(sinh(x))", "x", "1 + x .^ 2 / 2", None),
    ("sum(arctan(x))", "x", "1 - x .^ 2", None),
    # wrong by a relative 1e-6 / |x|: abs' = sign, not a smoothed sign
    ("sum(abs(x))", "x", "x ./ (abs(x) + 1/1000000)", None),
]


@pytest.mark.parametrize("src, wrt, claim, shapes", NEAR_MISSES,
                         ids=[f"{s} | {c}" for s, _, c, _ in NEAR_MISSES])
def test_a_near_miss_claim_is_wrong_at_every_seed(src, wrt, claim, shapes):
    for seed in SEEDS:
        report = matdiff.check(src, wrt, shapes=shapes, claim=claim, seed=seed)
        assert not report.ok, f"seed {seed}:\n{report}"
        assert str(report).startswith("the claim is WRONG")


def test_a_claim_wrong_only_near_0_names_the_scale_of_its_counterexample():
    report = matdiff.check("x^T x + exp(-50 x^T x)", "x", claim="2 x")
    text = str(report)
    assert "scales 1, 0.001, 0.1, 10, 100" in text                     # the scales compared
    assert "tolerance per entry: relative 1e-09" in text                # the tolerance used
    assert "counterexample: at the inputs (random inputs times 0." in text      # 0.1 or 0.001
    row = report.rows[0]
    assert abs(row.numeric - row.symbolic) > 0.1 * abs(row.symbolic)   # far beyond any rounding


RIGHT_IN_OTHER_FORMS = [
    ("x^T A x", "x", "A x + A^T x"),
    ("x^T A x", "x", "(A + A^T) x"),
    ("sum(softplus(x))", "x", "exp(x) ./ (1 + exp(x))"),            # the unstable form of sigmoid
    ("sum(sigmoid(x))", "x", "sigmoid(x) ∘ (1 - sigmoid(x))"),      # 1 - sigmoid(t) is 0 in floats at t = 40
    ("sum(softmax(x))", "x", "0"),                                  # 0 exactly; matdiff's is 0 up to rounding
    ("logsumexp(x)", "x", "exp(x) / sum(exp(x))"),
    ("log(det(X))", "X", "inv(X)^T"),
    ("x^T x + exp(-50 x^T x)", "x", "2 x - 100 exp(-50 x^T x) x"),
    ("||A x - b||^2", "x", "2 A^T A x - 2 A^T b"),
    ("sum(tanh(W x))", "W", "(1 - tanh(W x) .^ 2) x^T"),
    ("exp(a^T X b)", "X", "exp(a^T X b) a b^T"),
    ("sum(abs(x))", "x", "x ./ abs(x)"),
    ("||x||_1 + norm1(X)", "X", "sign(X)"),
    ("sum(cosh(x))", "x", "(exp(x) - exp(-x)) / 2"),
    ("sum(arcsin(x))", "x", "(1 - x .^ 2) .^ {-1/2}"),      # only at scales that keep x in (-1, 1)
    ("sum(tan(x))", "x", "cos(x) .^ -2"),
]


@pytest.mark.parametrize("src, wrt, claim", RIGHT_IN_OTHER_FORMS,
                         ids=[f"{s} | {c}" for s, _, c in RIGHT_IN_OTHER_FORMS])
def test_a_right_claim_in_another_form_is_right_at_every_seed(src, wrt, claim):
    for seed in SEEDS:
        report = matdiff.check(src, wrt, claim=claim, seed=seed)
        assert report.ok, f"seed {seed}:\n{report}"


def test_a_scale_where_the_claim_overflows_is_named_not_compared():
    text = str(matdiff.check("sum(softplus(x .^ 2))", "x", claim="2 x ∘ exp(x .^ 2) ./ (1 + exp(x .^ 2))"))
    assert text.startswith("the claim is right")
    assert "inputs at scales 1, 0.001, 0.1, 10; not at scale 100: the claim not finite (overflow)" in text


# ---- a variable that cancels, and the claim 0 (issue 11, item 5) -----------------------------------

def test_a_claim_for_a_variable_that_cancels_is_checked():
    report = matdiff.check("x^T x - x^T x", "x", claim="x")
    assert not report.ok and "∂f/∂x = 0" in report.note
    assert matdiff.check("x^T x - x^T x", "x", claim="0").ok
    assert matdiff.check("x^T x - x^T x", "x", claim="x - x").ok


@pytest.mark.parametrize("src, wrt", [("x^T A x", "x"), ("tr(W)", "W"), ("x^T x - x^T x", "x")])
def test_the_claim_0_is_the_zero_of_the_gradient_s_shape(src, wrt):
    report = matdiff.check(src, wrt, claim="0")
    assert report.ok == (src == "x^T x - x^T x")


def test_cli_claims_for_a_variable_that_cancels(capsys):
    assert main(["check", "x^T x - x^T x", "--wrt", "x", "--claim", "x"]) == 1
    out, err = capsys.readouterr()
    assert "the claim is WRONG" in out and "Traceback" not in err
    assert main(["check", "x^T x - x^T x", "--wrt", "x", "--claim", "0"]) == 0
    assert "the claim is right" in capsys.readouterr().out


def test_a_degenerate_reading_of_the_claim_is_noted(capsys):
    """`c I` as a claim for c^T x makes I 1x1: the claim is right (it is c), and says so in a note,
    as parse and every result do; a claim that needs no such reading gives no note."""
    import warnings

    from matdiff.cli import main
    with pytest.warns(matdiff.MatdiffWarning, match=r"in the claim: I is 1×1 here.*`c I`"):
        r = matdiff.check("c^T x", "x", claim="c I")
    assert r.ok and r.error == 0 and r.rows[0].numeric == r.rows[0].symbolic
    with warnings.catch_warnings():
        warnings.simplefilter("error", matdiff.MatdiffWarning)
        assert matdiff.check("c^T x", "x", claim="c").ok
        assert not matdiff.check("c^T x", "x", claim="2 c").ok
    assert main(["check", "c^T x", "--wrt", "x", "--claim", "c I"]) == 0
    out = capsys.readouterr()
    assert "note: in the claim: I is 1×1" in out.err + out.out and "the claim is right" in out.out


@pytest.mark.parametrize("src, claim, shapes, right", [
    ("tr(kron(X, X))", "2 tr(X) I", dict(X=(3, 3)), True),          # Matrix Cookbook (120)
    ("tr(kron(X, X))", "2 tr(X) I", None, True),                    # the same with symbolic sizes
    ("tr(kron(X, X))", "tr(X) I", dict(X=(3, 3)), False),
    ("tr(kron(A, X))", "tr(A) I", dict(A=(2, 2), X=(3, 3)), True),   # Matrix Cookbook (105)
    ("tr(kron(A, X))", "tr(A) I", None, True),
    ("tr(kron(A, X))", "tr(A^T A) I", dict(A=(2, 2), X=(3, 3)), False),
])
def test_claims_through_kron(src, claim, shapes, right):
    """A size the claim leaves open (the I of 2 tr(X) I) is the variable's: the claim is checked."""
    report = matdiff.check(src, wrt="X", shapes=shapes, claim=claim)
    assert report.ok is right, report


def test_a_claim_of_the_wrong_shape_is_still_refused_by_its_shape():
    with pytest.raises(matdiff.MatdiffError, match="the claim is 1×n"):
        matdiff.check("x^T x", wrt="x", claim="2 x^T")


# ---- unvec in a claim, and claims whose shapes are products of dimensions (issue 13) ----------

def printed(src, wrt, shapes=None):
    """What `matdiff grad` prints for src, without its `∂f/∂X = `."""
    return matdiff.derive_gradient(src, wrt, shapes=shapes).text().partition(" = ")[2]


@pytest.mark.parametrize("claim, right", [
    ("unvec((A^T + A) vec(X), n, m)", True),
    ("unvec((A + A^T) vec(X), n, m)", True),        # what matdiff grad prints
    ("unvec(A vec(X), n, m)", False),
    ("unvec(2 A vec(X), n, m)", False),
])
def test_a_claim_with_unvec(claim, right):
    """unvec is spelled as matdiff prints it: the gradient of vec(X)^T A vec(X) is checked."""
    assert printed("vec(X)^T A vec(X)", "X") == "unvec((A + A^T) vec(X), n, m)"
    report = matdiff.check("vec(X)^T A vec(X)", wrt="X", claim=claim)
    assert report.ok is right, report
    if claim == printed("vec(X)^T A vec(X)", "X"):      # the printed text reads back as the same node
        assert "symbolically" in str(report)
    assert main(["check", "vec(X)^T A vec(X)", "--wrt", "X", "--claim", claim]) == (0 if right else 1)


@pytest.mark.parametrize("shapes", [None, dict(X=(3, 2))])
def test_a_claim_with_unvec_in_sizes_the_function_fixes(shapes):
    """With numbers for sizes, the printed claim (unvec(..., 3, 2)) and the one printed without
    them (unvec(..., n, m)) are both the gradient; a wrong one is wrong."""
    for claim in (printed("vec(X)^T A vec(X)", "X", shapes), "unvec((A^T + A) vec(X), n, m)"):
        assert matdiff.check("vec(X)^T A vec(X)", wrt="X", shapes=shapes, claim=claim).ok, claim
    assert not matdiff.check("vec(X)^T A vec(X)", wrt="X", shapes=shapes, claim="unvec(A^T vec(X), n, m)").ok


KRON_CLAIM = "(1_n^T ⊗ I) (A ⊗ 1_k 1_p^T ∘ B^T) (1_m ⊗ I)"


@pytest.mark.parametrize("shapes", [None, dict(A=(2, 3), X=(4, 5)), dict(A=("n", "m"), X=(4, 5))])
@pytest.mark.parametrize("claim, right", [
    (KRON_CLAIM, True),
    ("(1_n^T ⊗ I) (2 A ⊗ 1_k 1_p^T ∘ B^T) (1_m ⊗ I)", False),
    ("(1_n^T ⊗ I) (A ⊗ 1_k 1_p^T ∘ B^T) (1_m ⊗ I) + X", False),
])
def test_a_claim_through_shapes_that_are_products(shapes, claim, right):
    """tr(kron(A, X) B): B's shape is (m·p)×(n·k), a product of dimensions; the claim is read in
    the function's own shapes, symbolic or numbers, with the names matdiff prints without shapes."""
    assert printed("tr(kron(A, X) B)", "X") == KRON_CLAIM
    report = matdiff.check("tr(kron(A, X) B)", wrt="X", shapes=shapes, claim=claim)
    assert report.ok is right, report


def test_the_kron_claim_through_the_command_line(capsys):
    args = ["check", "tr(kron(A, X) B)", "--wrt", "X", "--claim", KRON_CLAIM]
    assert main(args) == 0
    assert main(args + ["--shape", "A=2,3", "--shape", "X=4,5"]) == 0
    assert "the claim is right" in capsys.readouterr().out
    assert main(["check", "tr(kron(A, X) B)", "--wrt", "X", "--claim", KRON_CLAIM.replace("B^T", "B^T ∘ B^T"),
                 "--shape", "A=2,3", "--shape", "X=4,5"]) == 1


@pytest.mark.parametrize("src", ["tr(kron(A, X) B)", "tr(kron(X, X))", "sum(kron(A, X))", "vec(X)^T A vec(X)",
                                 "tr(kron(X, A) B)", "sum(kron(X, X))"])
@pytest.mark.parametrize("shapes", [None, dict(A=(2, 3), X=(3, 3))])
def test_what_matdiff_prints_is_a_right_claim(src, shapes):
    """The text `matdiff grad` prints, given back as a claim, is judged right (with or without
    sizes): the language reads everything the printer writes."""
    shapes = shapes if shapes is None or "kron(A" in src or "A B" in src else dict(X=shapes["X"])
    report = matdiff.check(src, wrt="X", shapes=shapes, claim=printed(src, "X", shapes))
    assert report.ok, report


def test_a_claim_name_for_no_dimension_of_the_function_is_the_size_that_fits():
    """1_k with k no dimension of the function (declared 3×4): the size that fits, each use the same."""
    assert matdiff.check("sum(kron(A, X))", wrt="X", shapes=dict(A=(2, 3), X=(3, 4)), claim="sum(A) 1_k 1_q^T").ok
    assert not matdiff.check("sum(kron(A, X))", wrt="X", shapes=dict(A=(2, 3), X=(3, 4)),
                             claim="sum(A^T A) 1_k 1_q^T").ok
    with pytest.raises(matdiff.ShapeError):       # one name, one size: 1_k 1_k^T is square, X is not
        matdiff.check("sum(kron(A, X))", wrt="X", shapes=dict(A=(2, 3), X=(3, 4)), claim="sum(A) 1_k 1_k^T")
