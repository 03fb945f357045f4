"""A standard-library web app: no requirements.txt, only a Procfile."""
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = open("greeting.txt", "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print("listening on", os.environ["PORT"])
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
