"""The JSON API of `matdiff serve`, through a real HTTP server on loopback (issue 16).

Every kind of result is checked by value: the gradient the API returns is read back as a claim
and compared with finite differences at random inputs; errors by their status, type and place.
Starlette and uvicorn come with the [web] extra; CI sets MATDIFF_REQUIRE_WEB, so there a missing
extra fails instead of skipping.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

import matdiff
from matdiff.limits import LIMITS
from matdiff.web import service
from matdiff.web.steps import sheet_blocks

if not os.environ.get("MATDIFF_REQUIRE_WEB"):
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")

from matdiff.web.server import ServerThread  # noqa: E402

TUTORIAL12 = "c^T Psi((W + V) Phi(W x + b))"
NETWORK = "z = W x\nh = relu(z)\ntheta = U h\nJ = -y^T log(softmax(theta))"


@pytest.fixture(scope="module")
def url():
    with ServerThread() as address:
        yield address


def call(url: str, path: str, body=None, *, data: bytes | None = None, headers=None, method=None):
    """(status, parsed JSON or raw bytes, headers) of one request."""
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url + path.lstrip("/"), data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    if hdrs.get("content-type", "").startswith("application/json"):
        return status, json.loads(raw), hdrs
    return status, raw, hdrs


def derive(url: str, **body):
    status, out, _ = call(url, "/api/derive", body)
    return status, out


# ---- every kind of result -----------------------------------------------------------------------------

def claim_of(text: str) -> str:
    """The right-hand side of the last line of a result's text (`∂f/∂W = ...`), with the auxiliary
    names (z1 = ...) put back: what a user would paste as a claim."""
    lines = text.splitlines()
    names = [line.split(" = ", 1) for line in lines[:-1]]
    rhs = lines[-1].split(" = ", 1)[1]
    for name, definition in reversed(names):
        rhs = rhs.replace(name, f"({definition})")
    return rhs


def test_gradient_is_right_by_value(url):
    status, out = derive(url, expr=TUTORIAL12, wrt=["W"])
    assert status == 200 and out["ok"], out
    assert [v["name"] for v in out["variables"]] == ["W", "V", "c", "x", "b"]
    assert out["output"] == "scalar" and out["input"]["text"] == TUTORIAL12
    # the text the page shows, read back as a claim, is the gradient by finite differences
    report = matdiff.check(TUTORIAL12, "W", claim=claim_of(out["result"]["text"]))
    assert report.ok, report
    assert out["result"]["text"] == matdiff.derive_gradient(TUTORIAL12, "W").text()
    assert out["check"]["ok"] and out["check"]["text"].startswith("check passed")
    assert "\\frac{\\partial f}{\\partial W}" in out["result"]["latex"]
    assert out["errors"] == {}
    assert [n["id"] for n in out["graph"]["nodes"] if n["wrt"]] == ["W"]
    assert out["graph"]["svg"].startswith("<svg") and out["graph"]["svg"].count('data-id=') == \
        len(out["graph"]["nodes"])


def test_program_with_two_variables(url):
    status, out = derive(url, expr=NETWORK, wrt=["U", "W"], parts=["result", "check", "steps"])
    assert status == 200, out
    assert out["check"]["ok"]
    assert out["result"]["text"] == matdiff.derive_gradient(NETWORK, ["U", "W"]).text()
    headings = [b for b in out["steps"] if b["type"] == "heading"]
    assert any(b["parts"] == [{"text": "The gradient with respect to "}, {"math": "U"}] for b in headings)


def test_jacobian_and_hessian(url):
    status, out = derive(url, expr="tanh(W x)", wrt=["x"], kind="jacobian")
    assert status == 200 and out["check"]["ok"], out
    assert out["result"]["text"] == matdiff.derive_jacobian("tanh(W x)", "x").text()
    assert out["steps"] is None and out["code"] is None          # sheets and code: gradients (and Hessians)
    status, out = derive(url, expr="x^T A x", wrt="x", kind="hessian")
    assert status == 200 and out["check"]["ok"], out
    assert out["result"]["text"] == "H = A + A^T"
    assert "hess" in out["code"]["numpy"].lower()


def test_code_is_the_generated_module(url):
    status, out = derive(url, expr=TUTORIAL12, wrt=["W"], parts=["code"])
    assert status == 200 and out["result"] is None
    for backend in ("numpy", "jax", "torch"):
        assert out["code"][backend] == matdiff.codegen.generate.emit(TUTORIAL12, ["W"], backend)
        compile(out["code"][backend], f"<{backend}>", "exec")   # it is Python (not run: a test of codegen does)


def test_steps_are_the_sheet(url):
    status, out = derive(url, expr=TUTORIAL12, wrt=["W"], parts=["steps"])
    tex = matdiff.sheet(TUTORIAL12, "W")
    assert out["steps"] == sheet_blocks(tex)
    headings = ["".join(p.get("text", "") for p in b["parts"]) for b in out["steps"] if b["type"] == "heading"]
    assert headings[:4] == ["Question", "Solution", "The computational graph", "Differentials"]
    kinds = [b["type"] for b in out["steps"]]
    assert kinds.count("graph") == 1 and kinds.index("graph") < kinds.index("list")   # drawn before the rules
    displays = [b["latex"] for b in out["steps"] if b["type"] == "display"]
    assert any("\\boxed{g = " in d for d in displays)


def test_variables_only_without_wrt(url):
    status, out = derive(url, expr="x^T A x", shapes={"A": "n,n,sym"})
    assert status == 200 and out["result"] is None and out["steps"] is None
    assert {v["name"]: (v["shape"], v["structure"]) for v in out["variables"]} == \
        {"A": (["n", "n"], "symmetric"), "x": (["n"], None)}


def test_shapes_and_latex_input(url):
    status, out = derive(url, expr=r"$x^\top A y$", shapes={"x": "n", "y": ["m"]}, wrt=["A"])
    assert status == 200, out
    assert out["input"]["text"] == "x^T A y"
    assert {v["name"]: v["shape_text"] for v in out["variables"]} == {"A": "n×m", "x": "n", "y": "m"}
    assert matdiff.check("x^T A y", "A", claim=claim_of(out["result"]["text"]),
                         shapes={"x": ("n",), "y": ("m",)}).ok


def test_notes(url):
    status, out = derive(url, expr="x^T y + I", wrt=["x"], parts=["result"])
    assert status == 200, out
    assert len(out["notes"]) == 1 and out["notes"][0].startswith("I is 1×1 here")
    status, out = derive(url, expr="x^T y", wrt=["x"], parts=["result"])
    assert out["notes"] == []                  # one request's notes are not the next one's


def test_info(url):
    status, out, _ = call(url, "/api/info", method="GET")
    assert status == 200 and out["version"] == matdiff.__version__
    assert out["limits"]["seconds"] == LIMITS.max_seconds


def test_sheet_downloads(url):
    status, raw, headers = call(url, "/api/sheet", {"expr": TUTORIAL12, "wrt": ["W"], "format": "tex"})
    assert status == 200 and raw.startswith(b"\\documentclass")
    assert "attachment" in headers["content-disposition"] and b"Numerical check" in raw
    status, raw, headers = call(url, "/api/sheet", {"expr": TUTORIAL12, "wrt": ["W"], "format": "pdf"})
    if status == 200:
        assert raw.startswith(b"%PDF") and headers["content-type"] == "application/pdf"
    else:                                       # no pdflatex here: said so, as the CLI says it
        assert status == 400 and "pdflatex" in raw["error"]["message"]
    status, raw, _ = call(url, "/api/sheet", {"expr": "tanh(W x)", "wrt": ["x"], "kind": "jacobian"})
    assert status == 400 and "gradient" in raw["error"]["message"]


# ---- every error ---------------------------------------------------------------------------------------

def test_syntax_error_has_its_place(url):
    status, out = derive(url, expr="c^T Psi((W + V)", wrt=["W"])
    assert status == 400 and not out["ok"]
    e = out["error"]
    assert e["type"] == "ParseError" and (e["line"], e["column"]) == (1, 16)
    source, marks = e["caret"].split("\n")
    assert source == "c^T Psi((W + V)" and marks.index("^") == e["column"] - 1
    assert "ends too early" in e["message"]


def test_error_in_latex_points_into_the_latex(url):
    status, out = derive(url, expr=r"$x^\top A y \frac$", wrt=["x"])
    assert status == 400 and out["error"]["caret"].startswith(r"$x^\top A y \frac$")


@pytest.mark.parametrize("body, kind, words", [
    ({"expr": "x^T A x", "wrt": ["q"]}, "DerivativeError", "not a variable"),
    ({"expr": "A x", "wrt": ["x"]}, "DerivativeError", "scalar"),
    ({"expr": "x^T A x", "shapes": {"A": "n,m", "x": "n"}, "wrt": ["x"]}, "ShapeError", "cannot multiply"),
    ({"expr": 1}, "MatdiffError", '"expr" must be a string'),
    ({"wrt": ["x"]}, "MatdiffError", 'no "expr"'),
    ({"expr": "x", "bogus": 1}, "MatdiffError", "unknown field 'bogus'"),
    ({"expr": "x^T x", "kind": "laplacian"}, "MatdiffError", '"kind" must be one of'),
    ({"expr": "x^T x", "parts": ["everything"]}, "MatdiffError", "unknown part"),
    ({"expr": "x^T x", "shapes": {"x": {"rows": 3}}}, "MatdiffError", "the shape of x"),
    ({"expr": "x^T x", "wrt": [1]}, "MatdiffError", '"wrt" must be'),
    ({"expr": "x^T x", "functions": "f"}, "MatdiffError", '"functions" must be'),
    ([1, 2], "MatdiffError", "JSON object"),
])
def test_bad_requests(url, body, kind, words):
    status, out, _ = call(url, "/api/derive", body)
    assert status == 400 and out["error"]["type"] == kind and words in out["error"]["message"], out


def test_not_json_and_wrong_type(url):
    status, out, _ = call(url, "/api/derive", data=b"{not json")
    assert status == 400 and "not JSON" in out["error"]["message"]
    status, out, _ = call(url, "/api/derive", data=b'{"expr": "x^T x"}', headers={"Content-Type": "text/plain"})
    assert status == 415                       # a form another site posts cannot reach the API
    status, _, _ = call(url, "/api/derive", method="GET")
    assert status == 405


def test_other_hosts_are_refused(url):
    status, _, _ = call(url, "/api/info", method="GET", headers={"Host": "attacker.example"})
    assert status == 400                       # a DNS-rebinding page cannot read the API


# ---- limits ------------------------------------------------------------------------------------------------

def test_body_past_the_limit_is_refused_unread(url):
    from matdiff.web.server import max_body
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:   # says a huge length, sends little
        s.sendall(f"POST /api/derive HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {max_body() + 1}\r\n\r\n{{".encode())
        answer = s.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")
    status, out, _ = call(url, "/api/derive", data=b'{"expr": "' + b"x" * (max_body() + 10) + b'"}',
                          headers={"Transfer-Encoding": "chunked"})
    assert status == 413


def test_expression_past_the_length_limit(url):
    status, out = derive(url, expr="x + " * 30_000 + "x", wrt=["x"])
    assert status == 413 and out["error"]["type"] == "LimitError" and "limit" in out["error"]["message"]


def test_time_limit(url):
    saved = LIMITS.max_seconds
    LIMITS.max_seconds = 1e-4                  # the server runs in this process: the same LIMITS
    try:
        status, out = derive(url, expr=NETWORK, wrt=["U", "W"], kind="hessian")
    finally:
        LIMITS.max_seconds = saved
    assert status == 504 and out["error"]["type"] == "LimitError" and "longer than" in out["error"]["message"]


def test_a_slow_request_blocks_no_other(url, monkeypatch):
    """One request spins on the CPU until the time limit stops it (a stand-in for a derivation that
    takes too long: it ticks the same budget); five others, sent while it runs, are answered at once."""
    from matdiff.limits import tick
    real = service.Request.__init__

    def spinning(self, body):
        real(self, body)
        if self.expr == "slow":
            while True:
                tick()

    monkeypatch.setattr(service.Request, "__init__", spinning)
    monkeypatch.setattr(LIMITS, "max_seconds", 4.0)
    with ThreadPoolExecutor(6) as pool:
        slow = pool.submit(derive, url, expr="slow", wrt=[])
        time.sleep(0.2)
        started = time.monotonic()
        fast = [pool.submit(derive, url, expr="x^T A x", wrt=["x"], parts=["result"]) for _ in range(5)]
        answers = [f.result() for f in fast]
        fast_done = time.monotonic() - started
        status, out = slow.result()
    assert all(s == 200 and a["result"]["text"] == "∂f/∂x = (A + A^T) x" for s, a in answers)
    assert status == 504 and "longer than 4 s" in out["error"]["message"]
    assert fast_done < 3.0, f"the fast requests waited {fast_done:.1f} s behind the slow one"


def test_concurrent_requests_get_their_own_answers(url):
    exprs = [f"x^T A{i} x" for i in range(8)] + [TUTORIAL12] * 4
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda e: derive(url, expr=e, wrt=["x"] if "A" in e and "Psi" not in e else ["W"],
                                               parts=["result", "check"]), exprs))
    for e, (status, out) in zip(exprs, outs):
        assert status == 200 and out["check"]["ok"]
        assert out["input"]["text"] == e


# ---- matdiff serve -------------------------------------------------------------------------------------

def _serve(*args):
    return subprocess.Popen([sys.executable, "-m", "matdiff", "serve", "--no-browser", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_matdiff_serve_prints_its_address_and_serves():
    proc = _serve()
    try:
        line = proc.stdout.readline()
        assert line.startswith("matdiff serves http://127.0.0.1:"), line + proc.stderr.read()
        address = line.split()[2]
        status, out = derive(address, expr="x^T A x", wrt=["x"], parts=["result"])
        assert status == 200 and out["result"]["text"] == "∂f/∂x = (A + A^T) x"
    finally:
        proc.terminate()
        proc.wait(10)


def test_matdiff_serve_warns_off_loopback():
    proc = _serve("--host", "0.0.0.0")
    try:
        threading.Timer(5, proc.terminate).start()
        line = proc.stdout.readline()
        assert line.startswith("matdiff serves http://0.0.0.0:")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "warning: serving on 0.0.0.0" in err


def test_matdiff_serve_without_the_extra_says_how_to_get_it():
    code = ("import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None; "
            "from matdiff.cli import main; sys.exit(main(['serve', '--no-browser']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and 'pip install "matdiff[web]"' in run.stderr


# ---- the steps: every sheet cuts into blocks ------------------------------------------------------------

@pytest.mark.parametrize("expr, wrt", [
    (TUTORIAL12, ["W"]), (NETWORK, ["U", "W"]), ("logdet(S)", ["S"]), ("||A x - b||^2", ["x"]),
    ("sum(abs(x))", ["x"]), ("x^T S x", ["S"]), ("tr(X^T X) + alpha", ["X", "alpha"]),
    ("sum(sigmoid(X w))", ["w"]), ("-y^T log(sigmoid(X w)) - (1 - y)^T log(1 - sigmoid(X w))", ["w"]),
])
def test_sheet_blocks_cover_the_sheet(expr, wrt):
    shapes = {"S": ("n", "n", "sym")} if "S" in expr else None
    blocks = sheet_blocks(matdiff.sheet(expr, wrt, shapes=shapes, check=True))
    kinds = {b["type"] for b in blocks}
    assert {"heading", "paragraph", "display", "list", "table"} <= kinds
    for b in blocks:
        for part in [p for b2 in [b] for p in b.get("parts", [])] + \
                [p for item in b.get("items", []) for p in item] + \
                [p for row in b.get("rows", []) for cell in row for p in cell]:
            assert set(part) <= {"text", "math", "emph"}
            assert "\\" not in part.get("text", "") + part.get("emph", ""), part   # no LaTeX left in text
