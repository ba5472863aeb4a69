"""The supplier's ERP in a pilot: a real HTTP server on loopback that takes the hub's order webhooks, checks
their signature (the tenant's secret, the time judged on the pilot's virtual clock) and keeps each document
(DIR/NNNN.xml or .json). A document whose signature does not hold is answered 401 and not kept."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sim.cloud.broker import free_port


class ErpSink:
    def __init__(self, directory, verify):
        """verify(header value, body, now_s): raises when the signature does not hold (hub/orders/signing)."""
        self.directory = Path(directory)
        self.verify = verify
        self.secret = None
        self.now_s = 0.0           # the pilot's virtual clock, moved each step
        self.documents = []        # (content type, body bytes)
        self.refused = 0
        self._lock = threading.Lock()
        self.server = None
        self.url = None

    def start(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    sink.verify(sink.secret, self.headers.get("X-Locker-Signature"), body, sink.now_s)
                except ValueError as e:
                    with sink._lock:
                        sink.refused += 1
                    self._answer(401, str(e))
                    return
                kind = self.headers.get("Content-Type", "")
                with sink._lock:
                    sink.documents.append((kind, body))
                    number = len(sink.documents)
                (sink.directory / ("%04d.%s" % (number, "json" if "json" in kind else "xml"))).write_bytes(body)
                self._answer(200, "taken")

            def _answer(self, status, words):
                data = json.dumps({"status": words}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):      # quiet: the documents are the record
                pass

        port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, name="erp-sink", daemon=True).start()
        self.url = "http://127.0.0.1:%d/orders" % port
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def received(self):
        with self._lock:
            return list(self.documents)
