"""A small web app for xcloud using only Python's standard library.

It listens on $PORT (xcloud sets it; 5000 when run by hand).
"""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if self.path == "/healthz" else b"Hello from __APP__ (Python)\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    print(f"listening on :{port}", flush=True)
    ThreadingHTTPServer(("", port), Handler).serve_forever()
