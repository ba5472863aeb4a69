"""The agent's one worker thread: every job, recovery and periodic task runs on it, one at a time.

A cabinet serves one person at a time and a SQLite connection stays on the thread that opened it, so badge
readers, the local API, the cloud and the idle timer hand the worker jobs (`Worker.call`) and wait for the
answer. Between jobs the worker runs its periodic tasks (`every`), and after each pass it tells the
watchers when the state changed (the API's event streams: pushed, never polled)."""
import concurrent.futures
import logging
import queue
import threading
import time

log = logging.getLogger(__name__)

WAKE_S = 0.1          # how often the worker looks at its periodic tasks when no job comes
CALL_TIMEOUT_S = 120  # longest a caller waits for one job (a multi-unit vend)


class Worker:
    def __init__(self, clock=time.monotonic, name="agent-worker"):
        self.clock = clock
        self.client = None        # the API client the running job is for (call's as_client)
        self._tasks = []          # [period_s, fn, next run]
        self._watchers = []
        self._state = None        # fn() -> the state watchers are told about
        self._last_state = None
        self._jobs = queue.Queue()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._setup = self._teardown = None

    def every(self, period_s, fn):
        """Run fn() on the worker every period_s (0: on every pass), first on the first pass."""
        self._tasks.append([period_s, fn, 0.0])

    def watch(self, fn):
        """fn(state) is called on the worker each time the state changes."""
        self._watchers.append(fn)

    def start(self, setup, teardown, state, timeout=30):
        """setup() runs first on the worker (its error is raised here), teardown() when it stops; state()
        is what watchers are handed when it changes."""
        self._setup, self._teardown, self._state = setup, teardown, state
        self._thread.start()
        self._started.wait(timeout)
        if self._start_error:
            raise self._start_error

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def call(self, fn, *args, timeout=CALL_TIMEOUT_S, as_client=None, **kwargs):
        """Run fn(*args) on the worker and return its result (or raise its exception). as_client: the API
        client asking (its token), seen by the job as `client`; None: an in-process caller."""
        future = concurrent.futures.Future()
        self._jobs.put((future, fn, args, kwargs, as_client))
        return future.result(timeout)

    def _run(self):
        try:
            self._setup()
        except BaseException as e:       # noqa: BLE001 - reported to start()'s caller
            self._start_error = e
            self._started.set()
            return
        self._started.set()
        try:
            while not self._stop.is_set():
                self._run_due_tasks()
                try:
                    future, fn, args, kwargs, self.client = self._jobs.get(timeout=WAKE_S)
                except queue.Empty:
                    pass
                else:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn(*args, **kwargs))
                        except BaseException as e:  # noqa: BLE001 - handed to the caller
                            future.set_exception(e)
                    self.client = None
                    self.publish()                  # a login or a vend reaches the screens now
        finally:
            self._teardown()

    def _run_due_tasks(self):
        for task in self._tasks:
            period, fn, due = task
            if self.clock() >= due:
                try:
                    fn()
                except Exception:  # noqa: BLE001 - one failing task (a full disk) never stops the worker
                    log.exception("periodic task %s failed; tried again in %s s", getattr(fn, "__name__", fn),
                                  period)
                task[2] = self.clock() + period
        self.publish()

    def publish(self):
        """Hand the state to the watchers when it differs from the last one handed."""
        state = self._state()
        if state != self._last_state:
            self._last_state = state
            for fn in self._watchers:
                try:
                    fn(state)
                except Exception:  # noqa: BLE001 - a watcher never stops the worker
                    log.exception("state watcher failed")
