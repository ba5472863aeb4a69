"""A real HTTP server standing for the supplier's ERP (tests of docs/hub/orders.md): it records every POST
(headers and raw body) and answers what the test says: 200 (the default), a status such as 500, or it holds
the request until the test releases it. `down()` closes its socket (connection refused) at the same port;
`up()` listens again."""
import http.server
import socket
import threading


class Receiver:
    def __init__(self):
        self.requests = []               # [(headers dict, body bytes, status answered)]
        self.status = 200
        self.hold = None                 # a threading.Event the handler waits on before answering
        self.arrived = threading.Event()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = "http://127.0.0.1:%d/erp/orders" % self.port
        self.server = None

    def up(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                status = receiver.status
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def down(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        return self

    def accepted(self):
        """The requests answered 2xx."""
        return [(h, b) for h, b, status in self.requests if 200 <= status < 300]
