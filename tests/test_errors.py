"""Every error kind, with its message: line, column, the source line, a caret, what was expected."""
from __future__ import annotations

import pytest

import matdiff
from matdiff import MatdiffError, ParseError, ShapeError, UnknownFunctionError
from matdiff.language.expr import Apply, Fn, Var
from matdiff.language.parse import parse


def caret_parts(message: str):
    """'line L, column C: what' / source line / caret line -> (L, C, what, source, caret)."""
    head, source, caret = message.split("\n")
    where, what = head.split(": ", 1)
    line, column = (int(w.split()[1]) for w in where.split(", "))
    return line, column, what, source, caret


def error_of(src, functions=()) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(src, functions)
    return info.value


# src, line, column, the character under the caret ('' at the end of a line), words in the message
SYNTAX = [
    ("A + ",                          1, 5,  "",  ["the input ends too early", "expected", "a name", "a number", "'('"]),
    ("(A + B",                        1, 7,  "",  ["the input ends too early", "')'"]),
    ("A + B)",                        1, 6,  ")", ["unexpected ')'", "the end of the input"]),
    ("x^T A x)",                      1, 8,  ")", ["unexpected ')'"]),
    ("A ++ B",                        1, 4,  "+", ["unexpected '+'", "a name"]),
    ("A ∘∘ B",                        1, 4,  "∘", ["unexpected '∘'"]),
    ("= x",                           1, 1,  "=", ["unexpected '='"]),
    ("3 = x",                         1, 3,  "=", ["unexpected '='"]),
    ("x =",                           1, 4,  "",  ["the input ends too early"]),
    ("A $ B",                         1, 3,  "$", ["unexpected character '$'", "a name", "'+'"]),
    ("A^",                            1, 2,  "^", ["'^' needs T, -1, a number, a name", "A^T", "a^b"]),
    ("A^Tx",                          1, 2,  "^", ["could mean A^T x", "A^(Tx)"]),
    ("a^-b",                          1, 2,  "^", ["'^' needs T, -1, a number, a name", "a^(-b)"]),
    ("A .^",                          1, 3,  ".", ["'.^' needs a number, a name", "x .^ p"]),
    ("a^b^c",                         1, 4,  "^", ["could mean (a^b)^c or a^(b^c)"]),
    ("x .^ 2 .^ p",                   1, 8,  ".", ["could mean (x .^ 2) .^ p or x .^ (2 .^ p)"]),
    ("(-2) .^ x",                     1, 6,  ".", ["needs a positive base"]),
    ("e^x",                           1, 1,  "e", ["could mean exp(x) (e, Euler's number)", "(e)^x"]),
    ("e .^ (x + 1)",                  1, 1,  "e", ["exp(x + 1)", "(e) .^ (x + 1)"]),
    ("|x|",                           1, 1,  "|", ["a norm is written ||x||"]),
    ("||x",                           1, 4,  "",  ["the input ends too early", "'||'"]),
    ("W(x, y)",                       1, 4,  ",", ["unexpected ','", "')'"]),
    ("A - - -B",                      1, 7,  "-", ["unexpected '-'"]),   # one unary minus after an operator (A - -B), not two
    # programs: the error is on its own line
    ("z = W x\nh = relu(z $ 2)\nJ = sum(h)", 2, 12, "$", ["unexpected character '$'", "')'"]),
    ("z = W x\nh = relu(z) +\nJ = sum(h)",   2, 14, "",  ["the line ends too early", "a name"]),
    ("z = W x\n\n  h = (z\nJ = sum(h)",      3, 9,  "",  ["the line ends too early", "')'"]),
    ("# comment\nz = W x\ny = z^",           3, 6,  "^", ["'^' needs"]),
]


@pytest.mark.parametrize("src, line, column, char, words", SYNTAX, ids=[s for s, *_ in SYNTAX])
def test_syntax_errors_point_at_line_and_column_with_a_caret(src, line, column, char, words):
    e = error_of(src)
    got_line, got_column, what, source, caret = caret_parts(str(e))
    assert (got_line, got_column) == (line, column) == (e.line, e.column)
    assert source == src.splitlines()[line - 1]
    assert caret == " " * (column - 1) + "^"
    assert source[column - 1:column] == char
    for w in words:
        assert w in what
    assert type(e) is ParseError and isinstance(e, MatdiffError)


@pytest.mark.parametrize("src, column", [("A^{1/0}", 2), ("x .^ {2/0}", 3)])
def test_an_exponent_that_divides_by_zero(src, column):
    e = error_of(src)
    assert (e.line, e.column) == (1, column)
    assert "the exponent divides by zero" in str(e)


def test_empty_input():
    for src in ("", "   ", "\n\n", "# only a comment", "\n# a comment\n;\n"):
        e = error_of(src)
        assert "the input is empty" in str(e)


def test_a_bare_expression_before_the_last_line():
    e = error_of("z = W x\n  tanh(z)\nJ = sum(z)")
    line, column, what, source, caret = caret_parts(str(e))
    assert (line, column) == (2, 3)
    assert "only the last line may be a bare expression" in what
    assert caret == "  ^"
    e = error_of("z = W x; y; J = 2")
    assert (e.line, e.column) == (1, 10)


@pytest.mark.parametrize("src, functions, column, words", [
    ("tanhh(x)",          (),      1, ["unknown function 'tanhh'", "did you mean tanh"]),
    ("c^T Tanh(W x)",     (),      5, ["unknown function 'Tanh'", "did you mean tanh"]),
    ("sigmod(x)",         (),      1, ["unknown function 'sigmod'", "sigmoid"]),
    ("relu(x) + relus(x)", (),     11, ["unknown function 'relus'", "relu"]),
    ("foo(x)",            (),      1, ["unknown function 'foo'", "declare it", "functions=['foo']", "--fn foo"]),
    ("2 swish(W x)",      (),      3, ["unknown function 'swish'", "--fn swish"]),
    ("2 gelu(W x)",       (),      3, ["unknown function 'gelu'", "did you mean relu?"]),
    ("fooo(x)",           ("foo",), 1, ["unknown function 'fooo'", "did you mean foo?"]),
    # a function in other letter case is that function or a matrix times (x): both shown, never a silent product
    ("c^T ReLU(x)",       (),      5, ["unknown function 'ReLU'", "did you mean relu?", "`ReLU (...)`"]),
    ("Det(A)",            (),      1, ["unknown function 'Det'", "did you mean det?", "a matrix named Det"]),
    ("c^T Exp(W x)",      (),      5, ["unknown function 'Exp'", "did you mean exp?"]),
])
def test_unknown_functions_say_so_and_suggest(src, functions, column, words):
    e = error_of(src, functions)
    assert isinstance(e, UnknownFunctionError) and isinstance(e, ParseError)
    line, got_column, what, source, caret = caret_parts(str(e))
    assert (line, got_column) == (1, column)
    for w in words:
        assert w in what


def test_a_declared_function_is_no_longer_unknown():
    assert parse("foo(x)", ["foo"]).result == Apply(Fn("foo"), Var("x"))


@pytest.mark.parametrize("src", ["tanhh (x)", "W(x)", "xy(x)", "h1(x)", "theta(x)", "ReLU (x)", "Sigma(x)"])
def test_a_name_that_does_not_look_like_a_function_multiplies(src):
    assert type(parse(src).result).__name__ == "MatMul"


@pytest.mark.parametrize("src, line, column, words", [
    ("Phi + x",                 1, 1, ["the function Phi is used without an argument"]),
    ("c^T Phi'",                1, 5, ["the function Phi' is used without an argument"]),
    ("z = W x\ny = tanh^T z",   2, 5, ["the function tanh is used without an argument"]),
    ("kron(A)",                 1, 1, ["kron takes 2 arguments, got 1"]),
    ("tr(A, B)",                1, 1, ["tr takes 1 argument, got 2"]),
    ("2 Phi(x, y)",             1, 3, ["Phi takes 1 argument, got 2"]),
    ("tr'(A)",                  1, 1, ["only elementwise functions have a derivative"]),
    ("softmax'(x)",             1, 1, ["only elementwise functions have a derivative"]),
    ("unvec'(v, 2, 3)",         1, 1, ["only elementwise functions have a derivative"]),
    ("2 unvec(v, 0, 3)",        1, 3, ["rows and cols are a name or a positive whole number, got 0"]),
    ("unvec(v, 2.5, 3)",        1, 1, ["rows and cols are a name or a positive whole number, got 5/2"]),
    ("unvec(v, x + y, 3)",      1, 1, ["rows and cols are a name or a positive whole number, got x + y"]),
    ("unvec(v, n)",             1, 1, ["unvec(v, rows, cols) is the rows×cols matrix", "got unvec(v, n)"]),
    ("sum = x^T x\nsum",        1, 1, ["cannot assign to sum: it names a function"]),
    ("I = A\nI x",              1, 1, ["cannot assign to I: it names the identity matrix"]),
])
def test_misused_functions(src, line, column, words):
    e = error_of(src)
    got_line, got_column, what, source, caret = caret_parts(str(e))
    assert (got_line, got_column) == (line, column)
    assert caret == " " * (column - 1) + "^"
    for w in words:
        assert w in what


def test_every_error_is_a_matdiff_error():
    assert issubclass(ParseError, MatdiffError)
    assert issubclass(UnknownFunctionError, ParseError)
    assert issubclass(ShapeError, MatdiffError)
    assert issubclass(MatdiffError, Exception)
    assert matdiff.MatdiffError is MatdiffError and matdiff.ParseError is ParseError


@pytest.mark.parametrize("src, shapes, functions, kind", [
    ("x^T A x)",      None,                         None,        ParseError),
    ("tanhh(x)",      None,                         None,        UnknownFunctionError),
    ("A B",           {"A": (2, 3), "B": (2, 3)},   None,        ShapeError),
    ("x",             {"x": (1, 2, 3)},             None,        ShapeError),
    ("x",             ["x"],                        None,        MatdiffError),
    ("f(x)",          None,                         ["f g"],     MatdiffError),
    (42,              None,                         None,        MatdiffError),
])
def test_understand_raises_only_matdiff_errors(src, shapes, functions, kind):
    with pytest.raises(kind):
        matdiff.understand(src, shapes=shapes, functions=functions)


@pytest.mark.parametrize("src", [
    "(((((((((((x", "x)))))))", "'", "''", "^T", "∘", "||", "‖", ",", "x,y", "#", "\\", "\\\\x",
    "x ⊗", "A^{", "A^{1/0}", "1/0", "A .^ {1/0}", "x__", "\u0000", "x\u200by", "A^-", "Phi''''(x",
])
def test_garbage_is_a_parse_error_or_parses(src):
    try:
        parse(src)
    except ParseError as e:
        assert str(e)
