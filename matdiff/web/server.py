"""`matdiff serve`: the page and its JSON API on a local web server.

Why Starlette and uvicorn (the `[web]` extra), and not the standard library's http.server: the
server must answer while a derivation runs (one slow request never blocks the others), refuse an
oversized body before reading it, and stop waiting for a request past its time limit. Starlette
gives routing, streaming request bodies and static files in a small, well-kept ASGI library;
uvicorn is its usual server. http.server would need all of that written here, and its own
documentation says it implements only basic security checks. Nothing else in matdiff imports
this module, so `pip install matdiff` stays free of both.

Each derivation runs in a worker thread (matdiff's time budget is per thread: limits.budgeted),
the event loop waits for it at most LIMITS.max_seconds (then answers 504; the derivation stops
at its next tick of the same budget), and the loop itself never computes.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import sys
import threading
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matdiff.errors import MatdiffError
from matdiff.limits import LIMITS
from matdiff.web import service

STATIC = Path(__file__).parent / "static"
GRACE = 2.0           # seconds past the time limit before the server stops waiting for a worker
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


def _web_modules():
    try:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware
        from starlette.requests import Request
        from starlette.responses import FileResponse, JSONResponse, Response
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
    except ImportError:
        raise MatdiffError('matdiff serve needs the web extra: pip install "matdiff[web]"') from None
    return (Starlette, Middleware, TrustedHostMiddleware, Request, FileResponse, JSONResponse, Response,
            Mount, Route, StaticFiles)


def max_body() -> int:
    """The largest request body: the longest expression, each character escaped in JSON (\\uXXXX
    is six bytes), and room for the other fields."""
    return 6 * LIMITS.max_length + 64 * 1024


def create_app(allowed_hosts=None, workers: int = 8):
    """The ASGI application. allowed_hosts: the Host headers answered (default: loopback names only,
    which also stops a DNS-rebinding page from reading the API); ["*"] for any."""
    (Starlette, Middleware, TrustedHostMiddleware, Request, FileResponse, JSONResponse, Response,
     Mount, Route, StaticFiles) = _web_modules()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matdiff-derive")

    def failure(e: BaseException):
        return JSONResponse(service.error_body(e), status_code=service.status_of(e))

    def refusal(status: int, message: str):
        return JSONResponse({"ok": False, "error": {"message": message, "type": "RequestError", "line": None,
                                                    "column": None, "caret": None}}, status_code=status)

    async def body_of(request: Request):
        """The JSON body, or a response that says why not (415, 413, 400)."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            # also keeps other web pages out: a cross-site request with this type needs a preflight,
            # which this server does not grant
            return None, refusal(415, "send the request as JSON (Content-Type: application/json)")
        limit = max_body()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None, refusal(413, f"the request body is {int(declared)} bytes; the limit is {limit}")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                return None, refusal(413, f"the request body is longer than {limit} bytes")
        try:
            return json.loads(data.decode("utf-8")), None
        except (UnicodeDecodeError, ValueError) as e:
            return None, refusal(400, f"the request body is not JSON: {e}")

    async def answer(request: Request, fn):
        """(fn's result for the request's body, None), or (None, the response that says why not).
        fn runs in a worker, within the time limit; a RecursionError is already a LimitError
        there (service's functions are budgeted), a MemoryError is said in words."""
        body, refused = await body_of(request)
        if refused:
            return None, refused
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(pool, fn, body), LIMITS.max_seconds + GRACE), None
        except asyncio.TimeoutError:
            return None, failure(service.timeout())
        except MatdiffError as e:
            return None, failure(e)
        except MemoryError:
            return None, failure(MatdiffError("out of memory: the sizes asked for are too large"))

    async def derive(request: Request):
        out, failed = await answer(request, service.derive)
        return failed or JSONResponse(out)

    async def sheet(request: Request):
        out, failed = await answer(request, service.sheet)
        if failed:
            return failed
        data, media, name = out
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def info(request: Request):
        return JSONResponse(service.info())

    async def page(request: Request):
        return FileResponse(STATIC / "index.html")

    hosts = allowed_hosts or LOOPBACK_HOSTS
    app = Starlette(routes=[Route("/", page), Route("/api/derive", derive, methods=["POST"]),
                            Route("/api/sheet", sheet, methods=["POST"]), Route("/api/info", info),
                            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")],
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])
    app.state.pool = pool
    pool.submit(_warm_up)
    return app


def _warm_up() -> None:
    """One small derivation in a worker at start: the first one loads NumPy and fills matdiff's
    caches (~0.2 s), which would otherwise fall on the user's first keystrokes."""
    try:
        service.derive({"expr": "c^T tanh(W x)", "wrt": ["W"]})
    except Exception:           # a warm-up that fails changes nothing: the request will say why
        pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), IPv4 or IPv6 as host says."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        raise MatdiffError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 0, open_browser: bool = True) -> None:
    """Serve until interrupted, printing the address (and opening it in the browser)."""
    _web_modules()
    try:
        import uvicorn
    except ImportError:
        raise MatdiffError('matdiff serve needs the web extra: pip install "matdiff[web]"') from None
    loopback = is_loopback(host)
    if not loopback:
        print(f"matdiff: warning: serving on {host}, not only this machine: anyone who can reach it can "
              f"run derivations here (each within the limits). Use the default 127.0.0.1 unless you "
              f"mean it.", file=sys.stderr)
    sock = bind(host, port)
    url = url_of(sock)
    app = create_app(allowed_hosts=None if loopback else ["*"])
    print(f"matdiff serves {url}  (Ctrl+C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.state.pool.shutdown(wait=False, cancel_futures=True)
        sock.close()


class ServerThread:
    """The server in a background thread of this process, for tests, scripts and notebooks:

        with ServerThread() as url:      # http://127.0.0.1:PORT/
            ...
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, workers: int = 8):
        import uvicorn
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.app = create_app(allowed_hosts=None if is_loopback(host) else ["*"], workers=workers)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> str:
        import time
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise MatdiffError(f"the server at {self.url} did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.pool.shutdown(wait=False, cancel_futures=True)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
