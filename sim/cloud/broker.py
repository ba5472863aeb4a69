"""A real Mosquitto of our own (../shared/design/test-rig.md, "MQTT broker"): a child process with a config file
of its own, on a free loopback port, never the system broker on 1883. The tests and `locker-sim fleet` use it.

    broker = Broker(tmp_path / "broker", persistence=True).start()
    ... broker.port ...
    broker.kill(); broker.start()      # a crash and the next boot: same port, same persistence file

In tests, the `broker` fixture (tests/mqtt_broker.py) is a started Broker, stopped at the end of the test.
"""
import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path


MOSQUITTO = "/usr/sbin/mosquitto"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def free_port():
    """A loopback port nobody listens on right now (the kernel's choice, so never 1883 by design)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One Mosquitto; start() again after stop() or kill() is its next boot on the same port and files."""

    def __init__(self, tmp_dir, persistence=False, port=None, extra_config=(), shipped=None):
        """extra_config: more mosquitto.conf lines (a password file, an ACL, TLS...). shipped: the text of a
        whole mosquitto.conf (deploy/broker's, its file paths already pointing at the test's copies) used in
        place of ours; only its listener moves to our loopback port and its persistence into tmp_dir."""
        self.dir = Path(tmp_dir)
        self.persistence = persistence
        self.port = port or free_port()
        self._port_given = port is not None
        self.extra_config = list(extra_config)
        self.shipped = shipped
        self.conf_path = self.dir / "mosquitto.conf"
        self.log_path = self.dir / "mosquitto.log"
        self.persistence_dir = self.dir / "persistence"
        self.proc = None
        self.runs = 0

    def _write_config(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = ["# written by sim/cloud/broker.py",
                 # Run as root, Mosquitto would switch to the `mosquitto` user and could not write our files.
                 "user %s" % pwd.getpwuid(os.getuid()).pw_name,
                 # stderr goes to the log file (Popen below), so start-up errors land there too.
                 "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice", "log_type information",
                 "connection_messages true"]
        if self.shipped is not None:
            self.persistence_dir.mkdir(exist_ok=True)
            moved = {"listener": "listener %d 127.0.0.1" % self.port,
                     "persistence_location": "persistence_location %s/" % self.persistence_dir}
            lines += [moved.get(line.split(" ", 1)[0], line) for line in self.shipped.splitlines()]
            self.conf_path.write_text("\n".join(lines + self.extra_config) + "\n")
            return
        lines += ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                  "persistence %s" % ("true" if self.persistence else "false")]
        if self.persistence:
            self.persistence_dir.mkdir(exist_ok=True)
            lines += ["persistence_location %s/" % self.persistence_dir, "persistence_file mosquitto.db"]
        self.conf_path.write_text("\n".join(lines + self.extra_config) + "\n")

    @property
    def persistence_file(self):
        return self.persistence_dir / "mosquitto.db"

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT_S):
        """Start Mosquitto and wait until its port accepts connections; RuntimeError (with the log) if it
        dies first. A port we chose that someone took meanwhile is chosen again, once or twice."""
        if self.running:
            raise RuntimeError("the broker is already running (pid %d)" % self.proc.pid)
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                if self._port_given or attempt == 2:
                    raise RuntimeError("port %d is taken; log:\n%s" % (self.port, self.log()[-3000:])) from None
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout):
        self._write_config()
        self.runs += 1
        with open(self.log_path, "a") as log:
            log.write("---- run %d (port %d)\n" % (self.runs, self.port))
            log.flush()
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf_path)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        end = time.monotonic() + timeout
        while True:
            # Ready when this run says it is running (its sockets are open then) and the port answers: the
            # port alone could be someone else's listener, answering while our Mosquitto fails to bind.
            if " running" in self._this_run_log():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        pass
                    if self.running:
                        return self
                except OSError:
                    pass
            try:
                self.proc.wait(0.02)    # the pause between tries, cut short if Mosquitto dies
            except subprocess.TimeoutExpired:
                pass
            if not self.running:
                log = self.log()
                if "Address already in use" in self._this_run_log():
                    raise _PortTaken()
                raise RuntimeError("mosquitto exited with %s; log:\n%s" % (self.proc.returncode, log[-3000:]))
            if time.monotonic() >= end:
                self.kill()
                raise RuntimeError("mosquitto did not listen on %d in %.0f s; log:\n%s"
                                   % (self.port, timeout, self.log()[-3000:]))

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM: a clean stop (with persistence on, Mosquitto writes its file). Nothing if not running."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self):
        """SIGKILL: a crash or a power cut; what was not yet saved in the persistence file is gone."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(STOP_TIMEOUT_S)

    def restart(self, kill=False):
        """Stop (or kill) and start again: same port, same persistence file."""
        self.kill() if kill else self.stop()
        return self.start()

    def _this_run_log(self):
        return self.log().rsplit("---- run", 1)[-1]

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class _PortTaken(Exception):
    pass
