"""A tiny desk on 127.0.0.1 that fails: it answers 500 then 400 (or always 404) and, like a
careless proxy, echoes the request's headers and body in its error body."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class EchoDesk:
    mode: str = "echo"  # "echo": 500, 500, then 400, echoing; "404": a plain not-found
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> EchoDesk:
        desk = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
                body = self.rfile.read(length) if length else b""
                text_body = body.decode("utf-8", "replace")
                seen = f"{self.command} {self.path}\n{self.headers}\n{text_body}"
                desk.requests.append(seen)
                if desk.mode == "404":
                    status, text = 404, b'{"error": "RecordNotFound"}'
                else:
                    status = 500 if len(desk.requests) <= 2 else 400
                    text = f"Bad request. You sent:\n{seen}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status == 404
                                 else "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
