import http.server
import os


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello\n")


http.server.HTTPServer(("", int(os.environ["PORT"])), Hello).serve_forever()
