"""uvicorn serving the web app in a background thread, on a socket bound first (port 0 works, and the Host the
app must answer to is known before it is built)."""
import socket
import threading
import time

import uvicorn


class WebServer:
    def __init__(self, make_app, host="127.0.0.1", port=8080):
        """make_app(host, port) -> the ASGI app, called once the socket is bound."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(128)
        self.host, self.port = host, self.socket.getsockname()[1]
        self.app = make_app(host, self.port)
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", access_log=False,
                                proxy_headers=False, server_header=False, http="h11", ws="none",
                                timeout_graceful_shutdown=1)
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self.socket]},
                                        name="hub-web", daemon=True)

    @property
    def url(self):
        return "http://%s:%d" % ("[%s]" % self.host if ":" in self.host else self.host, self.port)

    def start(self, timeout=10):
        self._thread.start()
        end, pause = time.monotonic() + timeout, threading.Event()
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the hub's web server did not start")
            pause.wait(0.01)
        return self

    def run_forever(self, stop):
        """Serve until the threading.Event `stop` is set."""
        self.start()
        stop.wait()
        self.stop()

    def stop(self):
        self._uvicorn.should_exit = True
        self._thread.join(5)
        self.socket.close()
