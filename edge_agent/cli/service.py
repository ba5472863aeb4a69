"""`locker-agent run --config FILE`: the agent process on the Pi (or on a PC against `locker-sim cabinet`).

It opens the ledger, opens the cabinet link, settles what the last run left pending (nobody is let in
before that), starts the badge readers the config names, the cloud sync when there is a [cloud] section,
and the local API, and runs until SIGTERM or Ctrl-C. The first line on stdout is "api: http://HOST:PORT" (useful with port = 0); logs go to stderr.

Exit status: 0 stopped on request, 2 bad config or a port/ledger that cannot be opened, 3 the cabinet link
failed while running (systemd restarts the agent; the ledger keeps everything).
"""
import logging
import signal
import sys
import threading
import time

from edge_agent import api
from edge_agent.app.agent import Agent, NotReady
from edge_agent.app.config import AgentConfigError, load_agent_config
from edge_agent.badge import taps
from edge_agent.badge.ids import log_tag
from edge_agent.flows import cabinet_events
from edge_agent.ledger import LedgerError, SystemClock, open_ledger
from edge_agent.link.mcu_reset import silence_watch
from edge_agent.rules.refusal import Refusal

log = logging.getLogger("locker-agent")

EXIT_USAGE = 2
EXIT_LINK_FAILED = 3


def _readers(config):
    """The device readers the config names, opened now (a missing pyscard is a config error, said clearly)."""
    readers = []
    if config.pcsc_reader is not None:
        try:
            from edge_agent.badge.pcsc import PcscBadgeReader
        except ImportError as e:
            raise AgentConfigError("[readers] pcsc = true needs pyscard (pip install 'locker[pi]'): %s" % e)
        readers.append(PcscBadgeReader(config.pcsc_reader or None))
    if config.serial_reader:
        from edge_agent.badge.serial_reader import SerialBadgeReader
        readers.append(SerialBadgeReader(config.serial_reader))
    return readers


def _feed(agent, reader, stop):
    """Hand every tap from one reader to the agent; a tap while the locker starts up is refused, not kept."""
    for tap in taps(reader, stop):
        tag = log_tag(tap.badge_id)             # never the number itself: it is a credential
        log.info("tap: %s on %s", tag, tap.reader)
        try:
            answer = agent.call(agent.tap, tap.badge_id)
        except NotReady:
            log.warning("tap ignored: the locker is still starting up")
            continue
        except Refusal as refused:
            log.info("tap: %s refused: %s", tag, refused.reason)
            continue
        log.info("tap: %s -> %s %s", tag, type(answer).__name__, getattr(answer, "user_id", ""))


def main(config_path):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_agent_config(config_path)
    except AgentConfigError as e:
        sys.stderr.write("locker-agent: error: %s\n" % e)
        return EXIT_USAGE
    from edge_agent.link.serial import CabinetLink   # pyserial: only the running agent needs it
    try:
        # One host per cabinet line; events acknowledged once the agent has stored them (docs/protocol.md).
        link = CabinetLink(config.cabinet_port, config.baud, exclusive=True, ack_when_stored=cabinet_events.STORED)
    except Exception as e:   # noqa: BLE001 - SerialException, OSError: say which port and why
        sys.stderr.write("locker-agent: error: cannot open the cabinet port %s: %s\n" % (config.cabinet_port, e))
        return EXIT_USAGE
    stop = threading.Event()
    clock = SystemClock(config.timesync_flag)
    agent = Agent(lambda: open_ledger(config.ledger, clock, cabinet_id=config.cabinet_id), link, config)
    try:
        agent.start()
        readers = _readers(config)
    except (LedgerError, AgentConfigError, OSError) as e:
        sys.stderr.write("locker-agent: error: %s\n" % e)
        link.close()
        return EXIT_USAGE
    sync = None
    if config.cloud is not None:
        from edge_agent.cloud.sync import CloudSync
        sync = CloudSync(lambda: open_ledger(config.ledger, clock, cabinet_id=config.cabinet_id, count_boot=False),
                         config, config.cloud, agent)
        try:
            sync.start()
        except (OSError, ValueError) as e:
            sys.stderr.write("locker-agent: error: [cloud] key_file: %s\n" % e)
            agent.stop()
            link.close()
            return EXIT_USAGE
        agent.cloud = sync          # the screen's state shows the cloud's connection, backlog and last ack
    try:
        server = api.serve(agent, config.api_host, config.api_port)
    except (OSError, ValueError) as e:
        sys.stderr.write("locker-agent: error: [api] %s\n" % e)
        if sync is not None:
            sync.stop()
        agent.stop()
        for reader in readers:
            reader.close()
        link.close()
        return EXIT_USAGE
    host, port = server.server_address[:2]
    print("api: http://%s:%d" % (host, port), flush=True)
    for reader in readers:
        threading.Thread(target=_feed, args=(agent, reader, stop), name="reader", daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    status = 0
    watch = silence_watch(config, log, time.monotonic())   # [cabinet] reset_after_silent_s; None: off
    while not stop.wait(0.5):
        if watch is not None:
            watch.check(link.last_heard, time.monotonic())
        if link.closed:
            log.error("the cabinet link failed; stopping so the service manager restarts the agent")
            status = EXIT_LINK_FAILED
            break
    server.shutdown()
    if sync is not None:
        sync.stop()        # says "offline" (retained) before the broker's last will would
    agent.stop()
    for reader in readers:
        reader.close()
    link.close()
    log.info("stopped")
    return status
