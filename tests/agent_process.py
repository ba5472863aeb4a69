"""The real agent process (`locker-agent run --config FILE`) for end-to-end tests, and a simulated cabinet
behind a real pty in this process, so a test can kill the agent and still look inside the cabinet."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge_agent.ledger import ManualClock, open_ledger
from sim.cabinet import SimCabinet, serve_pty
from tests.api_client import ApiClient
from tests.cabinets import example_config

LOCKER_AGENT = str(Path(sys.executable).parent / "locker-agent")
START_TIMEOUT_S = 20.0


def simulated_cabinet(speed=3.0, seed=0, lane_matrix=None, **config):
    """A SimCabinet (the example cabinet, [sim] and [lane_matrix] overridden) served on a pty at `speed`."""
    raw = example_config(**config)
    raw["lane_matrix"].update(lane_matrix or {})
    sim = SimCabinet(raw, seed=seed, firmware_errors="raise")
    return sim, serve_pty(sim, speed)


def write_agent_config(folder, port, access=None, readers=None, cloud=None, cabinet_id="CAB-E2E", agent=None):
    lines = ['[agent]', 'cabinet_id = "%s"' % cabinet_id, 'ledger = "ledger.db"', 'cabinet_port = "%s"' % port]
    lines += ["%s = %s" % (k, json.dumps(v)) for k, v in (agent or {}).items()]
    lines += ['[api]', 'port = 0']
    for section, values in (("access", access), ("readers", readers), ("cloud", cloud)):
        if section == "cloud" and values is None:
            continue
        lines += ["[%s]" % section] + ["%s = %s" % (k, json.dumps(v)) for k, v in (values or {}).items()]
    path = Path(folder) / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class AgentProcess:
    """One run of the agent; start() again after kill() is the next boot on the same ledger."""

    def __init__(self, config_path, extra_args=(), env=None, prefix=()):
        """prefix: a command to run the agent under (faketime, for a Pi clock weeks behind)."""
        self.config_path = Path(config_path)
        self.extra_args = list(extra_args)
        self.prefix = list(prefix)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.url = None
        self.log_path = self.config_path.parent / "agent.log"
        self.runs = 0

    def start(self, timeout=START_TIMEOUT_S):
        self.runs += 1
        log = open(self.log_path, "a")
        log.write("---- run %d\n" % self.runs)
        log.flush()
        self.proc = subprocess.Popen(self.prefix + [LOCKER_AGENT, "run", "--config", str(self.config_path)]
                                     + self.extra_args,
                                     stdout=subprocess.PIPE, stderr=log, text=True, env=self.env)
        log.close()
        first = {}
        reader = threading.Thread(target=lambda: first.update(line=self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = first.get("line") or ""
        if not line.startswith("api: "):
            self.kill()
            raise AssertionError("agent did not start (stdout %r); log:\n%s" % (line, self.log()[-3000:]))
        host_port = line.split("//", 1)[1].strip()
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.url = "http://%s:%d/" % (self.host, self.port)
        self.client = ApiClient(self.host, self.port)
        self.client_token = self.client.token       # open_screen gives a browser page this token
        return self

    def log(self):
        return self.log_path.read_text()

    def request(self, method, path, body=None, timeout=60):
        """As the kiosk's page (the token start() got by loading the screen, which a reader's tap logs in for)."""
        return self.client.request(method, path, body, timeout=timeout)

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Until the agent says it has settled what the last run left (it lets nobody in before)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.request("GET", "/api/state")[1]["ready"]:
                return
            threading.Event().wait(0.05)
        raise AssertionError("agent not ready after %.0f s; log:\n%s" % (timeout, self.log()[-3000:]))

    def wait_for_state(self, predicate, timeout=10.0):
        """Until GET /api/state satisfies predicate (a tap on a reader, an idle logout); returns the state."""
        end = time.monotonic() + timeout
        while True:
            state = self.request("GET", "/api/state")[1]
            if predicate(state):
                return state
            if time.monotonic() >= end:
                raise AssertionError("state never came: %r; log:\n%s" % (state, self.log()[-3000:]))
            threading.Event().wait(0.02)

    def login(self, badge):
        status, answer = self.request("POST", "/api/badge", {"badge": badge})
        assert status == 200, answer
        return answer

    def kill(self):
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer would do."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(10)
            self.proc.stdout.close()

    def stop(self):
        """SIGTERM: the clean stop a service manager does; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(20)
        self.proc.stdout.close()
        return status


def ledger_of(folder):
    return open_ledger(Path(folder) / "ledger.db", ManualClock(), count_boot=False)
