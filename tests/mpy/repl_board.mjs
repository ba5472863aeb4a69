#!/usr/bin/env node
// A MicroPython "board" for tests: the official MicroPython WebAssembly build behind stdin/stdout, speaking the
// REPL exactly as a Pico does over USB CDC. tests/mp_board.py puts it behind a pty so mpremote opens it by path.
//
//   node tests/mpy/repl_board.mjs --fs HOSTDIR [--events FILE] [--heap BYTES]
//
// The REPL itself is MicroPython's own (pyexec's event-driven friendly and raw REPL, fed one byte at a time
// through replProcessChar); this file only adds what a board's C main loop and USB driver do around it:
//   - boot: run boot.py, then main.py when in the friendly REPL (as ports/rp2/main.c does), then the REPL;
//   - raw-paste mode: this build's REPL answers Ctrl-E 'A' but cannot read the pasted data from its stdin, so
//     the framing (R\x01, window, \x01 grants, \x04) is done here and the code runs through the raw REPL;
//   - Ctrl-D soft reset and machine.reset(): a fresh interpreter (a new worker thread) that keeps the
//     filesystem, printing "MPY: soft reboot" on a soft reset and keeping the raw REPL across it;
//   - Ctrl-C while a program runs: checked whenever the program sleeps (time.sleep*, machine.idle), the
//     only moments a single-threaded WebAssembly VM can look at its input; a watchdog checked there too;
//   - the board's flash: the in-memory filesystem is loaded from HOSTDIR at boot and written back after every
//     executed command, before any output, and every 200 ms of sleeping, so a test can inspect it, corrupt it
//     while the board is off, or cut the power (kill this process) mid-copy and find what a board would keep;
//     OSErrors carry MicroPython's errno numbers ([Errno 2] ENOENT), as on a board, which mpremote parses;
//   - a small `machine` module (reset, soft_reset, reset_cause, unique_id, idle, freq, Pin, UART, WDT, irq
//     on/off) and os.urandom: the hardware boundary; UART and WDT use are appended to --events as JSON lines.
// sys.implementation and sys.platform stay the wasm build's own (webassembly, no native arch, no os.uname).
import fs from 'node:fs';
import path from 'node:path';
import {Worker, isMainThread, parentPort, workerData} from 'node:worker_threads';
import {fileURLToPath} from 'node:url';

const RING = 1 << 16;              // input bytes buffered between the host and the interpreter
const STANDIN_DIR = '.standin';    // the stand-in's machine.py and time wrapper: in memory, not on the flash
const SYSTEM_DIRS = new Set(['tmp', 'home', 'dev', 'proc', STANDIN_DIR]);   // not the board's flash
const CTL_HEAD = 0, CTL_TAIL = 1, CTL_SEQ = 2;

function fail(msg) {
    process.stderr.write(`repl_board: ${msg}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {fs: null, events: null, heap: 1 << 20};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => (i + 1 < argv.length ? argv[++i] : fail(`${a} needs a value`));
        if (a === '--fs') opts.fs = val();
        else if (a === '--events') opts.events = val();
        else if (a === '--heap') opts.heap = parseInt(val(), 10);
        else fail(`unknown argument ${a}`);
    }
    if (!opts.fs) fail('--fs HOSTDIR is required (the board\'s flash)');
    return opts;
}

// ---- the USB side: bytes in from the host into a shared ring, one worker (one interpreter) per boot ----
function mainThread() {
    const opts = parseArgs(process.argv.slice(2));
    fs.mkdirSync(opts.fs, {recursive: true});
    const sab = new SharedArrayBuffer(16 + RING);
    const ctl = new Int32Array(sab, 0, 4);
    const ring = new Uint8Array(sab, 16, RING);
    let pending = Buffer.alloc(0);

    const pushPending = () => {
        while (pending.length) {
            const head = Atomics.load(ctl, CTL_HEAD), tail = Atomics.load(ctl, CTL_TAIL);
            const free = RING - 1 - ((head - tail + RING) % RING);
            if (free === 0) break;
            const n = Math.min(free, pending.length, RING - head);
            ring.set(pending.subarray(0, n), head);
            Atomics.store(ctl, CTL_HEAD, (head + n) % RING);
            pending = pending.subarray(n);
        }
        Atomics.add(ctl, CTL_SEQ, 1);
        Atomics.notify(ctl, CTL_SEQ);
        if (pending.length) setTimeout(pushPending, 2);   // the interpreter is behind: USB would NAK
    };
    process.stdin.on('data', (data) => {
        pending = Buffer.concat([pending, data]);
        pushPending();
    });
    process.stdin.on('end', () => process.exit(0));

    let worker = null;
    const boot = (mode, cause) => {
        worker = new Worker(fileURLToPath(import.meta.url), {workerData: {sab, opts, mode, cause}});
        worker.on('message', (m) => {
            if (m.type !== 'reset') return;
            const old = worker;
            old.removeAllListeners('exit');
            old.terminate().then(() => {
                if (m.cause !== 'soft') {          // a hard reset drops the USB link and what was in flight
                    pending = Buffer.alloc(0);
                    Atomics.store(ctl, CTL_TAIL, Atomics.load(ctl, CTL_HEAD));
                }
                boot(m.mode, m.cause);
            });
        });
        worker.on('error', (e) => fail(`the interpreter crashed: ${e && e.stack || e}`));
        worker.on('exit', () => fail('the interpreter stopped'));
    };
    boot('friendly', 'power-on');
}

// ---- one boot of the board: an interpreter, its filesystem, its REPL ----
async function boardThread() {
    const {sab, opts, mode: bootMode, cause} = workerData;
    const ctl = new Int32Array(sab, 0, 4);
    const ring = new Uint8Array(sab, 16, RING);
    let mode = bootMode;
    let out = [];
    let mute = false;

    let flash = null;
    const flush = () => {
        if (!out.length) return;
        if (flash) flash.sync();      // what the board printed about its flash is on the (host) flash first
        fs.writeSync(1, Buffer.from(out));
        out = [];
    };
    const put = (bytes) => {
        if (mute) return;
        for (const b of bytes) {
            if (dropNext.count > 0) dropNext.count--;
            else out.push(b);
        }
        if (out.length >= 4096) flush();
    };
    const available = () => (Atomics.load(ctl, CTL_HEAD) - Atomics.load(ctl, CTL_TAIL) + RING) % RING;
    const readByte = () => {       // blocks like mp_hal_stdin_rx_chr on a board
        flush();
        while (available() === 0) {
            const seq = Atomics.load(ctl, CTL_SEQ);
            if (available() === 0) Atomics.wait(ctl, CTL_SEQ, seq, 1000);
        }
        const tail = Atomics.load(ctl, CTL_TAIL);
        const b = ring[tail];
        Atomics.store(ctl, CTL_TAIL, (tail + 1) % RING);
        return b;
    };
    const event = (record) => {
        if (opts.events) fs.appendFileSync(opts.events, JSON.stringify(record) + '\n');
    };

    const {loadMicroPython} = await import('@micropython/micropython-webassembly-pyscript');
    const mp = await loadMicroPython({stdin: readByte, stdout: put, stderr: put, linebuffer: false,
                                      heapsize: opts.heap});
    flash = new Flash(mp.FS, opts.fs);
    flash.load();

    let wdt = null;    // {timeout, deadline}
    const reset = (newMode, newCause) => {
        flush();
        flash.sync();
        parentPort.postMessage({type: 'reset', mode: newMode, cause: newCause});
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);   // never returns: the board is gone
    };
    let lastSync = Date.now();
    // Called from the interpreter whenever the program sleeps: Ctrl-C, the watchdog, and the flash write-back.
    const poll = () => {
        flush();
        const head = Atomics.load(ctl, CTL_HEAD);
        for (let t = Atomics.load(ctl, CTL_TAIL); t !== head; t = (t + 1) % RING) {
            if (ring[t] === 3) {       // the interrupt char: dropped, and everything before it with it
                Atomics.store(ctl, CTL_TAIL, (t + 1) % RING);
                mp._module._mp_sched_keyboard_interrupt();
                break;
            }
        }
        if (wdt && Date.now() > wdt.deadline) {
            event({event: 'wdt_reset'});
            reset('friendly', 'wdt');
        }
        if (Date.now() - lastSync > 200) {
            flash.sync();
            lastSync = Date.now();
        }
    };
    globalThis.standin = {
        poll,
        sleep(ms) {        // sleep, but wake for input so Ctrl-C is seen at once
            const until = Date.now() + ms;
            for (;;) {
                poll();
                const left = until - Date.now();
                if (left <= 0) return;
                const seq = Atomics.load(ctl, CTL_SEQ);
                Atomics.wait(ctl, CTL_SEQ, seq, Math.min(left, 50));
            }
        },
        reset(kind) { reset(kind === 'soft' ? mode : 'friendly', kind === 'soft' ? 'soft' : 'hard'); },
        resetCause: () => cause,
        uniqueId: () => flash.uniqueId(),
        random: (n) => [...crypto.getRandomValues(new Uint8Array(n))],
        event: (json) => event(JSON.parse(json)),
        wdtStart(timeout) { wdt = {timeout, deadline: Date.now() + timeout}; event({event: 'wdt_start', timeout}); },
        wdtFeed() { if (wdt) wdt.deadline = Date.now() + wdt.timeout; },
    };

    mp.FS.mkdir('/' + STANDIN_DIR);
    mp.FS.writeFile(`/${STANDIN_DIR}/standin_time.py`, STANDIN_TIME);
    mp.FS.writeFile(`/${STANDIN_DIR}/machine.py`, STANDIN_MACHINE);
    mp.FS.writeFile(`/${STANDIN_DIR}/standin_os.py`, STANDIN_OS);
    mp.runPython(PRELUDE);
    if (cause === 'soft') put(Buffer.from('MPY: soft reboot\r\n'));
    event({event: 'boot', cause, mode});
    mp.runPython("_standin_run('boot.py')");
    if (mode === 'friendly') mp.runPython("_standin_run('main.py')");
    flash.sync();

    mute = mode === 'raw';         // replInit prints the friendly banner; a raw-mode reboot shows only the raw one
    mp.replInit();
    mute = false;
    if (mode === 'raw') mp.replProcessChar(1);
    let lineLen = 0;     // bytes of the raw REPL's current command
    const feed = (c) => {
        if (mode === 'friendly' && c === 1) mode = 'raw';
        else if (mode === 'raw' && c === 2) mode = 'friendly';
        lineLen = c <= 4 ? 0 : lineLen + 1;
        const ret = mp.replProcessChar(c);
        if (c === 4 || ret !== 0) flash.sync();
        if (ret !== 0) reset(mode, 'soft');   // Ctrl-D on an empty line, or SystemExit: the board soft-resets
    };
    for (;;) {
        const c = readByte();
        if (mode === 'raw' && lineLen === 0 && c === 5) {
            const a = readByte(), b = readByte();
            if (a === 65 && b === 1) {
                rawPaste(readByte, put, feed);
                continue;
            }
            for (const x of [c, a, b]) feed(x);
            continue;
        }
        feed(c);
    }
}

// Raw-paste mode (Ctrl-E 'A' Ctrl-A at the start of a raw REPL command), as pyexec.c frames it: answer
// "R\x01" and the window size, grant another window with \x01 each time one has been consumed, acknowledge the
// host's Ctrl-D with one, then run the code. This build's event-driven REPL announces raw-paste but cannot read
// the data from its stdin, so the framing is done here and the code runs through the raw REPL itself, whose
// "OK" (sent by raw mode, not by raw-paste) is dropped.
function rawPaste(readByte, put, feed) {
    const WINDOW = 128;
    put([82, 1, WINDOW & 0xff, WINDOW >> 8, 1]);
    const code = [];
    let remain = WINDOW;
    for (;;) {
        const c = readByte();
        if (c === 4) break;
        if (c === 3) {                 // Ctrl-C from the host: abandon, as the board does
            put([4]);
            return;
        }
        code.push(c);
        if (--remain === 0) {
            put([1]);
            remain = WINDOW;
        }
    }
    put([4]);
    dropNext.count = 2;                // the raw REPL's "OK"
    for (const c of code) feed(c);
    feed(4);
}
const dropNext = {count: 0};

// The board's flash: the interpreter's in-memory FS, loaded from and written back to a host directory.
class Flash {
    constructor(FS, dir) {
        this.FS = FS;
        this.dir = dir;
        this.known = new Map();   // board path -> Buffer last written to the host (null for a directory)
    }

    load() {
        const walk = (host, board) => {
            for (const ent of fs.readdirSync(host, {withFileTypes: true})) {
                if (board === '' && SYSTEM_DIRS.has(ent.name)) continue;
                const h = path.join(host, ent.name), b = `${board}/${ent.name}`;
                if (ent.isDirectory()) {
                    this.FS.mkdir(b);
                    this.known.set(b, null);
                    walk(h, b);
                } else if (ent.isFile()) {
                    const data = fs.readFileSync(h);
                    this.FS.writeFile(b, data);
                    this.known.set(b, data);
                }
            }
        };
        walk(this.dir, '');
    }

    sync() {
        const seen = new Set();
        const walk = (board) => {
            for (const name of this.FS.readdir(board || '/')) {
                if (name === '.' || name === '..' || (board === '' && SYSTEM_DIRS.has(name))) continue;
                const b = `${board}/${name}`, h = path.join(this.dir, b);
                seen.add(b);
                if (this.FS.isDir(this.FS.stat(b).mode)) {
                    if (!this.known.has(b)) fs.mkdirSync(h, {recursive: true});
                    this.known.set(b, null);
                    walk(b);
                } else {
                    const data = Buffer.from(this.FS.readFile(b));
                    const old = this.known.get(b);
                    if (!old || !old.equals(data)) {
                        fs.writeFileSync(h, data);
                        this.known.set(b, data);
                    }
                }
            }
        };
        walk('');
        // Deepest first, so a directory is empty by the time it goes.
        for (const b of [...this.known.keys()].sort().reverse()) {
            if (seen.has(b)) continue;
            fs.rmSync(path.join(this.dir, b), {recursive: true, force: true});
            this.known.delete(b);
        }
    }

    uniqueId() {      // a stable serial number per board, kept beside its flash
        const file = path.join(path.dirname(path.resolve(this.dir)), path.basename(this.dir) + '.uid');
        if (!fs.existsSync(file)) fs.writeFileSync(file, Buffer.from(crypto.getRandomValues(new Uint8Array(8))));
        return [...fs.readFileSync(file)];
    }
}

// Installed before boot.py: the `machine` module (the hardware boundary) and a `time` whose sleeps let the
// board see Ctrl-C, as the USB interrupt does on a real board. Python, run by the interpreter under test.
const STANDIN_TIME = `
import js
from time import *
def sleep_ms(ms):
    js.standin.sleep(ms)
def sleep_us(us):
    js.standin.sleep(us // 1000)
def sleep(s):
    js.standin.sleep(int(s * 1000))
`;

// os.urandom is the board's hardware RNG (rp2: the ring oscillator); this build has none.
const STANDIN_OS = `
from os import *
import js
def urandom(n):
    return bytes(list(js.standin.random(n)))
`;

const STANDIN_MACHINE = `
import js, json
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_CAUSES = {'power-on': PWRON_RESET, 'hard': HARD_RESET, 'wdt': WDT_RESET, 'soft': SOFT_RESET}

def _event(name, **kw):
    kw['event'] = name
    js.standin.event(json.dumps(kw))

def reset():
    js.standin.reset('hard')

def soft_reset():
    js.standin.reset('soft')

def reset_cause():
    return _CAUSES.get(js.standin.resetCause(), PWRON_RESET)

def unique_id():
    return bytes(list(js.standin.uniqueId()))

def freq(hz=None):
    return 125000000

def idle():
    js.standin.poll()

def disable_irq():
    return 1

def enable_irq(state=1):
    pass

class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 4
    IRQ_FALLING = 8
    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._v = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self._v = value
    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
    def on(self):
        self._v = 1
    def off(self):
        self._v = 0
    def irq(self, handler=None, trigger=0, hard=False):
        pass

class UART:
    def __init__(self, id, baudrate=115200, tx=None, rx=None, **kw):
        self.id = id
        self.written = 0
        _event('uart_open', id=id, baudrate=baudrate)
    def any(self):
        return 0
    def read(self, n=-1):
        return None
    def readinto(self, buf, n=-1):
        return None
    def write(self, data):
        self.written += len(data)
        return len(data)
    def flush(self):
        pass

class WDT:
    def __init__(self, id=0, timeout=5000):
        js.standin.wdtStart(timeout)
    def feed(self):
        js.standin.wdtFeed()
`;

// Run before boot.py, in __main__: the stand-in modules go on sys.path (after the board's own entries) and
// `time` is replaced in sys.modules by the sleeping-with-Ctrl-C one.
const PRELUDE = `
import sys
sys.path.append('/${STANDIN_DIR}')
import standin_time, standin_os
sys.modules['time'] = standin_time
sys.modules['os'] = standin_os
del standin_time, standin_os

# The build's filesystem raises OSError with Emscripten's errno numbers (ENOENT is 44); a board's raises
# MicroPython's (ENOENT is 2, printed "[Errno 2] ENOENT"), which is what mpremote parses. So the root is
# remounted through a thin VFS that renumbers them.
import os
_HIDDEN = ('tmp', 'home', 'dev', 'proc', '${STANDIN_DIR}')
_ERRNO = {44: 2, 20: 17, 31: 21, 54: 20, 2: 13, 55: 39, 28: 22, 8: 9, 63: 1, 29: 5, 51: 28, 69: 30}

class _BoardVfs:
    def __init__(self, inner):
        self.inner = inner
    def _call(self, name, *args):
        try:
            return getattr(self.inner, name)(*args)
        except OSError as e:
            raise OSError(_ERRNO.get(e.errno, e.errno))
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def open(self, path, mode):
        return self._call('open', path, mode)
    def ilistdir(self, path):
        entries = self._call('ilistdir', path)
        if path not in ('', '/'):
            return entries
        return iter([e for e in entries if e[0] not in _HIDDEN])   # Emscripten's and the stand-in's own
    def stat(self, path):
        return self._call('stat', path)
    def statvfs(self, path):
        return self._call('statvfs', path)
    def mkdir(self, path):
        return self._call('mkdir', path)
    def rmdir(self, path):
        return self._call('rmdir', path)
    def remove(self, path):
        return self._call('remove', path)
    def rename(self, old, new):
        return self._call('rename', old, new)
    def chdir(self, path):
        return self._call('chdir', path)
    def getcwd(self):
        return self._call('getcwd')

_inner = os.VfsPosix()      # (VfsPosix('/') cannot rename in this build)
os.umount('/')
os.mount(_BoardVfs(_inner), '/')
del _inner

def _standin_run(path):
    # pyexec_file_if_exists: run a top-level script as __main__, print what it raises.
    import os, js
    try:
        os.stat(path)
    except OSError:
        return
    try:
        with open(path) as f:
            src = f.read()
        exec(compile(src, path, 'exec'), {'__name__': '__main__'})
    except BaseException as e:
        sys.print_exception(e)
        if isinstance(e, SystemExit):
            js.standin.reset('soft')
`;

if (isMainThread) mainThread(); else await boardThread();
