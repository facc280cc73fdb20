"""Nothing from user input is ever evaluated; the error catalogue in docs/ is current."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import matdiff

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(matdiff.__file__).resolve().parent
FORBIDDEN = re.compile(r"\b(eval|exec|sympify|parse_expr|__import__)\s*\(|(?<![.\w])compile\s*\(")   # re.compile, torch.compile are fine


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_evaluation_of_text_in_the_package(path):
    """No eval, exec, sympify or parse_expr anywhere in matdiff: user text only ever goes through
    the grammar. (Generated code is compiled from matdiff's own printer, see codegen.)"""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        if FORBIDDEN.search(code) and "# reviewed:" not in line:
            pytest.fail(f"{path.name}:{n}: {line.strip()}")


@pytest.mark.parametrize("name", ["__import__('os')", "eval", "x.__class__", "exec(x)", "os.system('ls')"])
def test_python_in_an_expression_is_just_text(name):
    with pytest.raises(matdiff.MatdiffError):
        matdiff.gradient(name, wrt="x")


def test_a_file_argument_is_read_as_text(tmp_path, capsys):
    from matdiff.cli import main
    program = tmp_path / "net.txt"
    program.write_text("z = W x\nJ = sum(tanh(z))\n", encoding="utf-8")
    assert main(["grad", str(program), "--wrt", "W"]) == 0
    assert "∂J/∂W" in capsys.readouterr().out
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    assert main(["parse", str(binary)]) == 2


def test_error_catalogue_is_current():
    script = ROOT / "scripts" / "error_catalogue.py"
    if not script.exists():
        pytest.skip("not a source checkout")
    done = subprocess.run([sys.executable, str(script), "--check"], cwd=ROOT)
    assert done.returncode == 0, "docs/errors.md is stale: run python scripts/error_catalogue.py"


# ---- the parse tables: data shipped with the package, never a pickle, never a user cache ----

def _run_python(code: str, env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          check=False, env=env, cwd=cwd)


def _poisoned_pickle(marker: Path) -> bytes:
    """A pickle whose loading creates `marker` (open(marker, 'w')): any unpickling shows."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    return pickle.dumps(Payload())


@pytest.mark.parametrize("where", ["MATDIFF_CACHE_DIR", "XDG_CACHE_HOME", "HOME"])
def test_a_planted_cache_pickle_never_runs(tmp_path, where):
    """Issue 11.4: earlier versions let lark unpickle $MATDIFF_CACHE_DIR/grammar-<hash>.lark-cache
    (else $XDG_CACHE_HOME/matdiff/..., ~/.cache/matdiff/...) on `import matdiff`, so whoever could
    write there ran code as the user. Plant a poisoned cache where each version looked, under every
    name it could have had, and run matdiff: nothing runs, nothing is written there."""
    import hashlib
    import os

    marker = tmp_path / "PWNED"
    base = {"MATDIFF_CACHE_DIR": tmp_path / "cache",
            "XDG_CACHE_HOME": tmp_path / "xdg" / "matdiff",
            "HOME": tmp_path / "home" / ".cache" / "matdiff"}[where]
    base.mkdir(parents=True)
    grammar = (ROOT / "grammar" / "matdiff.lark").read_text(encoding="utf-8")
    payload = _poisoned_pickle(marker)
    names = {f"grammar-{hashlib.sha256(grammar.encode()).hexdigest()[:16]}.lark-cache", "matdiff.lark-cache"}
    for name in names:      # lark's cache format: a hash line, then pickles; a bare pickle too
        (base / name).write_bytes(hashlib.sha256(grammar.encode()).hexdigest().encode() + b"\n" + payload + payload)
    (base / "parser.pickle").write_bytes(payload)
    before = sorted(p.name for p in base.iterdir())

    env = {k: v for k, v in os.environ.items() if k not in ("MATDIFF_CACHE_DIR", "XDG_CACHE_HOME")}
    env[where] = str({"MATDIFF_CACHE_DIR": base, "XDG_CACHE_HOME": tmp_path / "xdg",
                      "HOME": tmp_path / "home"}[where])
    out = _run_python("import matdiff; print(matdiff.gradient('x^T x', wrt='x'))", env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2*x"
    assert not marker.exists(), "a planted pickle was loaded: code from a file ran on import"
    assert sorted(p.name for p in base.iterdir()) == before, "matdiff wrote into a cache directory"


def test_a_cache_path_that_is_a_symlink_is_not_written_through(tmp_path):
    """Issue 11.4: the old cache file, were it a symlink, was followed and its target overwritten
    (a stale or unreadable cache was rewritten). matdiff writes no cache: the target is untouched."""
    import hashlib
    import os

    grammar = (ROOT / "grammar" / "matdiff.lark").read_text(encoding="utf-8")
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    (cache / f"grammar-{hashlib.sha256(grammar.encode()).hexdigest()[:16]}.lark-cache").symlink_to(victim)
    env = {**os.environ, "MATDIFF_CACHE_DIR": str(cache)}
    out = _run_python("import matdiff; print(matdiff.parse('x^T A x').result)", env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert victim.read_text() == "precious\n"


def test_nothing_is_unpickled_at_all(tmp_path):
    """With pickle's loaders booby-trapped, import matdiff and parse: they are never called, and
    (where the lark that wrote the shipped tables is installed) the parser comes from them."""
    import lark
    import os
    code = ("import pickle\n"
            "def trap(*a, **k):\n    raise SystemExit('pickle was used')\n"
            "pickle.load = pickle.loads = trap\n"
            "import sys, matdiff\n"
            "print(matdiff.parse('x^T A x').result)\n"
            "print(sys.modules['matdiff.language.parse']._PARSER.source_path)\n")
    out = _run_python(code, dict(os.environ), tmp_path)
    assert out.returncode == 0, out.stderr
    result, source = out.stdout.splitlines()
    assert result.replace(" ", "") == "x^TAx"
    import json
    from matdiff.language.parse import TABLES_FILE, _grammar_path
    shipped = json.loads(_grammar_path(TABLES_FILE).read_text(encoding="utf-8"))
    if shipped["lark"] == lark.__version__:
        assert source == "<deserialized>", "the shipped parse tables were not used"


@pytest.mark.parametrize("pattern", [r"^\s*(import|from)\s+(pickle|marshal|shelve|dill|cloudpickle|joblib)\b",
                                     r"\b(pickle|marshal|shelve)\.\w+\s*\("])
def test_no_pickle_in_the_package(pattern):
    for path in sorted(PACKAGE.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line.split("#", 1)[0]):
                pytest.fail(f"{path.name}:{n}: {line.strip()}")


def test_parse_tables_are_current():
    """grammar/matdiff.tables.json was built from grammar/matdiff.lark as it is now."""
    script = ROOT / "scripts" / "make_parse_tables.py"
    if not script.exists():
        pytest.skip("not a source checkout")
    done = subprocess.run([sys.executable, str(script), "--check"], cwd=ROOT)
    assert done.returncode == 0, "grammar/matdiff.tables.json is stale: run python scripts/make_parse_tables.py"


def test_shipped_tables_parse_as_the_grammar_does(monkeypatch):
    """The parser loaded from the tables and one built from the grammar give the same Program,
    or the same error, for the seed problems, mutants of them and random token soups."""
    import random

    from fuzz_inputs import SEEDS, mutant, token_soup
    from lark import Lark
    P = importlib.import_module("matdiff.language.parse")       # the module: matdiff.parse is the function

    rng = random.Random(11)
    corpus = list(SEEDS) + [mutant(rng) for _ in range(300)] + [token_soup(rng) for _ in range(300)]

    def outcome(src):
        try:
            return P.parse(src, functions=("Phi", "Psi"))
        except matdiff.MatdiffError as e:
            return type(e).__name__, str(e)

    loaded = [outcome(src) for src in corpus]
    monkeypatch.setattr(P, "_PARSER", Lark(P._GRAMMAR, **P._OPTIONS))
    built = [outcome(src) for src in corpus]
    assert sum(not isinstance(o, tuple) for o in built) > len(SEEDS)       # not only errors
    assert loaded == built


def test_stale_or_broken_tables_fall_back_to_the_grammar(tmp_path, monkeypatch):
    """Tables built from another grammar, or a file that is not tables, are ignored: the parser
    is built from the grammar (slower, as right)."""
    import json
    P = importlib.import_module("matdiff.language.parse")

    def parser_with(text):
        (tmp_path / P.TABLES_FILE).write_text(text, encoding="utf-8")
        monkeypatch.setattr(P, "_grammar_path", lambda name: tmp_path / name)
        p = P._load_parser(P._GRAMMAR)
        monkeypatch.undo()
        return p

    good = P.parse_tables(P._GRAMMAR)
    assert parser_with(json.dumps(good)).source_path == "<deserialized>"     # the test can tell
    stale = dict(good, grammar_sha256=P.grammar_hash(P._GRAMMAR + "\n// changed"))
    other_lark = dict(good, lark="0.0.1")
    for text in (json.dumps(stale), json.dumps(other_lark), "not json", "[]", '{"__int_keys__": {"x": 1}}'):
        p = parser_with(text)
        assert p.source_path != "<deserialized>"
        assert [t.type for t in p.lex("x^T A x")] == ["NAME", "TRANSPOSE", "NAME", "NAME"]
