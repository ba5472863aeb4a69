#!/usr/bin/env node
// A Raspberry Pi Pico running the official MicroPython rp2 UF2 in rp2040js, wired to a simulated cabinet.
// sim/pico/board.py starts it and puts its serial channels on ptys; run it through `locker-sim pico`.
//
//   node sim/pico/pico.mjs --uf2 FILE --bootrom FILE --flash IMAGE [--physics FILE.json] [--quiet]
//                          [--uart IN:OUT] [--control IN:OUT]
//
// Channels (file descriptors, all raw bytes except the control pair, which is JSON lines):
//   0 in / 1 out   the USB serial (MicroPython's REPL: mpremote and tools/flash.py talk here)
//   --uart         UART0, the cabinet link to the edge agent (default 3:4)
//   --control      {"id", "op": "py" | "reset" | "stats", ...} answered {"id", "ok", ...}; events
//                  {"event": "boot" | "usb", ...} (default 5:6)
//   2              the log: physical happenings and harness messages
//
// The flash image is a 2 MB file: the UF2 is written over it at start (as dropping it on the Pico's USB
// drive does, leaving the filesystem alone) and every program or erase goes back to the file at once, so
// killing this process is a power cut that keeps exactly what the chip had written.
//
// Time: the emulated clock never runs ahead of the wall clock (busy code runs slower, ~0.3x; idle time is
// not skipped), so the agent's timeouts and the firmware's link timeout mean what they say.
// The cabinet's physics is sim/hardware/'s Physics, run on MicroPython (WebAssembly) in this process
// (sim/pico/pins.py): pin edges reach it synchronously, so the HX711s answer bit by bit as the chip does.
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {RP2040, ConsoleLogger, LogLevel} from 'rp2040js';
import {attachFlash, attachRosc, fixUart, fixPadReadback, HostSerial, UartLine, setResetReason, FLASH_SIZE}
    from './rp2040_gaps.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const FLASH_BASE = 0x10000000;
const SLICE = 20000;                 // instructions between looks at the wall clock and the host
const PHYSICS_STEP_NS = 1e6;         // the cabinet's models advance every emulated millisecond
const MAX_LAG_NS = 20e6;             // how far behind real time the emulated clock may run and still catch up

function fail(msg) {
    process.stderr.write(`pico: ${msg}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const o = {uf2: null, bootrom: null, flash: null, physics: null, quiet: false, uart: [3, 4], control: [5, 6]};
    const fds = (v) => {
        const m = /^(\d+):(\d+)$/.exec(v);
        return m ? [parseInt(m[1], 10), parseInt(m[2], 10)] : fail(`wants IN:OUT file descriptors, got ${v}`);
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => (i + 1 < argv.length ? argv[++i] : fail(`${a} needs a value`));
        if (a === '--uf2') o.uf2 = val();
        else if (a === '--bootrom') o.bootrom = val();
        else if (a === '--flash') o.flash = val();
        else if (a === '--physics') o.physics = val();
        else if (a === '--quiet') o.quiet = true;
        else if (a === '--uart') o.uart = fds(val());
        else if (a === '--control') o.control = fds(val());
        else fail(`unknown argument ${a}`);
    }
    for (const k of ['uf2', 'bootrom', 'flash']) if (!o[k]) fail(`--${k} is required`);
    return o;
}

// UF2: 512-byte blocks, magic 0x0A324655 / 0x9E5D5157, target address at 12, payload size at 16, payload at 32.
function writeUf2(flash, data, file) {
    if (data.length % 512) fail(`${file} is not a UF2 file (its size is not a multiple of 512)`);
    let blocks = 0;
    for (let off = 0; off < data.length; off += 512) {
        const b = data.subarray(off, off + 512);
        const v = new DataView(b.buffer, b.byteOffset, 512);
        if (v.getUint32(0, true) !== 0x0a324655 || v.getUint32(4, true) !== 0x9e5d5157) {
            fail(`${file} is not a UF2 file (bad magic in block ${off / 512})`);
        }
        const addr = v.getUint32(12, true), size = v.getUint32(16, true);
        if (addr < FLASH_BASE || addr + size > FLASH_BASE + FLASH_SIZE || size > 476) {
            fail(`${file}: block ${off / 512} targets 0x${addr.toString(16)}, outside the Pico's 2 MB flash`);
        }
        flash.set(b.subarray(32, 32 + size), addr - FLASH_BASE);
        blocks++;
    }
    return blocks;
}

function readFile(file, what) {
    try {
        return fs.readFileSync(file);
    } catch (e) {
        fail(`cannot read the ${what} ${file}: ${e.message}`);
    }
}

// ---- the host's channels -------------------------------------------------------------------------------------
function inputStream(fd, onData) {
    const s = fs.createReadStream(null, {fd, highWaterMark: 4096});
    s.on('data', onData);
    s.on('error', () => {});
    return s;
}

function output(fd) {
    let queue = [];
    let writing = false;
    const pump = () => {
        if (!queue.length) {
            writing = false;
            return;
        }
        writing = true;
        const buf = Buffer.concat(queue);
        queue = [];
        fs.write(fd, buf, 0, buf.length, null, (err) => (err ? (writing = false) : pump()));
    };
    return (bytes) => {
        queue.push(Buffer.from(bytes));
        if (!writing) setImmediate(pump);
        writing = true;
    };
}

// ---- the Pico ----------------------------------------------------------------------------------------------
class Pico {
    constructor(opts) {
        this.opts = opts;
        this.flashFd = null;
        this.flash = new Uint8Array(16 * 1024 * 1024);    // the address space rp2040js maps; 2 MB is the chip
        this.bootrom = null;
        this.mcu = null;
        this.epochNs = 0;              // emulated time of earlier boots: physics time never goes back
        this.boots = 0;
        this.bootLog = [];
        this.externals = new Map();    // gpio -> level the cabinet drives onto an input
        this.outputLevels = new Map(); // gpio -> level the chip drives (as physics last heard it)
        this.physics = null;
        this.usbOut = output(1);
        this.uartOut = output(opts.uart[1]);
        this.ctlOut = output(opts.control[1]);
        this.usbIn = [];
        this.uartBytesOut = 0;
        this.firstUartMs = [];         // per boot: emulated ms from the boot to its first UART0 byte (null: none yet)
        this.bootNs = 0;
        this.earlierOverruns = 0;      // UART0 RX overruns of earlier boots
        this.instructions = 0;
        this.wallStart = performance.now();
        this.anchorWall = 0;
        this.anchorNs = 0;
        this.timer = null;
        this.resetPending = null;
    }

    load() {
        const o = this.opts;
        const rom = readFile(o.bootrom, 'boot ROM');
        if (rom.length !== 16384) fail(`${o.bootrom} is not an RP2040 boot ROM (16384 bytes expected, got ${rom.length})`);
        this.bootrom = new Uint32Array(rom.buffer, rom.byteOffset, 4096).slice();
        this.flash.fill(0xff);
        if (fs.existsSync(o.flash)) {
            const img = fs.readFileSync(o.flash);
            this.flash.set(img.subarray(0, FLASH_SIZE));
        }
        const blocks = writeUf2(this.flash, readFile(o.uf2, 'MicroPython UF2'), o.uf2);
        this.flashFd = fs.openSync(o.flash, fs.existsSync(o.flash) ? 'r+' : 'w+');
        fs.writeSync(this.flashFd, this.flash, 0, FLASH_SIZE, 0);
        fs.fsyncSync(this.flashFd);
        this.log(`flash ${o.flash}: UF2 ${path.basename(o.uf2)} written (${blocks} blocks)`);
    }

    log(text) {
        process.stderr.write(`pico: ${text}\n`);
    }

    event(obj) {
        this.ctlOut(JSON.stringify(obj) + '\n');
    }

    get nowNs() {
        return this.epochNs + (this.mcu ? this.mcu.clock.nanos : 0);
    }

    // how: 'power' (first power or a power cycle), 'run' (the RUN pin pulled low), 'watchdog'
    boot(how, watchdogState) {
        if (this.mcu) {
            this.epochNs += this.mcu.clock.nanos;
            this.earlierOverruns += this.uartLine.overruns;
            this.uartLine.cancel();
            this.physicsAlarm.cancel();
        }
        const mcu = new RP2040();
        const clock = mcu.clock;
        mcu.logger = new ConsoleLogger(LogLevel.Error);
        mcu.loadBootrom(this.bootrom);
        mcu.flash = this.flash;                               // after loadBootrom, which erases its own
        mcu.flash16 = new Uint16Array(this.flash.buffer);
        mcu.flashView = new DataView(this.flash.buffer);
        mcu.padExternals = this.externals;
        attachFlash(mcu, (offset, length) => fs.writeSync(this.flashFd, this.flash, offset, length, offset));
        attachRosc(mcu);
        const wd = setResetReason(mcu, how, watchdogState);
        wd.onWatchdogTrigger = () => {
            // rp2040js keeps firing an expired watchdog: stop it, and reboot between slices (not in the middle
            // of the instruction whose write triggered it).
            wd.alarm.enable = false;
            wd.timer.enable = false;
            this.resetPending = {how: 'watchdog', state: {reason: wd.reason, scratch: wd.scratchData.slice()}};
        };
        fixUart(mcu.uart[0]);
        fixUart(mcu.uart[1]);
        mcu.uart[0].onByte = (b) => {
            this.uartBytesOut++;
            const last = this.firstUartMs.length - 1;
            if (this.firstUartMs[last] === null) this.firstUartMs[last] = (this.nowNs - this.bootNs) / 1e6;
            this.uartOut([b]);
        };
        this.uartLine = new UartLine(mcu.uart[0], clock);
        this.usb = new HostSerial(mcu.usbCtrl);
        this.usb.onData = (bytes) => this.usbOut(bytes);
        this.usb.onConnected = () => {
            if (this.usbIn.length) this.usb.write(this.usbIn.splice(0));
            this.event({event: 'usb', connected: true});
        };
        for (const [pin, level] of this.externals) mcu.gpio[pin].setInputValue(!!level);
        this.mcu = mcu;
        this.watchOutputs();
        this.physicsAlarm = clock.createAlarm(() => this.stepPhysics());
        this.physicsAlarm.schedule(PHYSICS_STEP_NS);
        mcu.core.PC = FLASH_BASE;                             // boot2 at the start of flash, as the ROM jumps
        this.boots++;
        const reason = how === 'watchdog' ? (watchdogState.reason & 2 ? 'force' : 'timer') : how;
        this.bootLog.push(reason);
        this.bootNs = this.nowNs;
        this.firstUartMs.push(null);
        this.event({event: 'boot', how, reason, boots: this.boots, ms: Math.floor(this.nowNs / 1e6)});
    }

    // ---- pins <-> physics --------------------------------------------------------------------------------
    watchOutputs() {
        const pins = this.physics ? this.physics.outputs : [];
        for (const pin of pins) {
            const g = this.mcu.gpio[pin];
            const update = () => this.outputChanged(pin, g.outputEnable && g.outputValue ? 1 : 0);
            g.addListener(update);
            update();                                        // a new boot: every output is an input again
        }
    }

    outputChanged(pin, level) {
        if (this.outputLevels.get(pin) === level) return;
        this.outputLevels.set(pin, level);
        if (this.physics) this.physics.output(pin, level, this.nowNs / 1000);
    }

    drive(pin, level) {
        level = level ? 1 : 0;
        if (this.externals.get(pin) === level) return;
        this.externals.set(pin, level);
        if (this.mcu) this.mcu.gpio[pin].setInputValue(!!level);
    }

    stepPhysics() {
        if (this.physics) this.physics.step(this.nowNs / 1000);
        this.physicsAlarm.schedule(PHYSICS_STEP_NS);
    }

    // ---- running ---------------------------------------------------------------------------------------
    start() {
        this.wallStart = performance.now();
        this.anchorWall = this.wallStart;      // (wall ms, emulated ns) the pace is measured from
        this.anchorNs = this.nowNs;
        this.run();
    }

    // How far the emulated clock may go now: real time since the anchor. Busy code runs slower than real
    // time and falls behind; that time is not caught up afterwards in one jump (timers would then fire early
    // by the wall clock, e.g. a 5 s watchdog in a moment): once more than MAX_LAG_NS behind, the anchor moves.
    allowedNs() {
        const wall = performance.now();
        let allowed = this.anchorNs + (wall - this.anchorWall) * 1e6;
        if (allowed - this.nowNs > MAX_LAG_NS) {
            this.anchorNs = this.nowNs;
            this.anchorWall = wall - MAX_LAG_NS / 1e6;
            allowed = this.nowNs + MAX_LAG_NS;
        }
        return allowed;
    }

    run() {
        this.timer = null;
        if (this.resetPending) {
            const {how, state} = this.resetPending;
            this.resetPending = null;
            this.log(`reset (${how})`);
            this.boot(how, state);
        }
        const mcu = this.mcu;
        const {core, clock} = mcu;
        const limit = this.allowedNs() - this.epochNs;      // on this boot's chip clock
        let i = 0;
        for (; i < SLICE && !this.resetPending; i++) {
            if (core.waiting) {
                const dt = clock.nanosToNextAlarm;
                if (dt <= 0 || clock.nanos + dt > limit) break;
                clock.tick(dt);
            } else {
                if (clock.nanos > limit) break;
                clock.tick(core.executeInstruction() * 8);     // 125 MHz: 8 ns a cycle
            }
        }
        this.instructions += i;
        // Up to the wall clock (idle, waiting for a timer): sleep until real time moves on.
        if (i < SLICE && clock.nanos >= limit - 1e6) this.timer = setTimeout(() => this.run(), 1);
        else this.timer = setImmediate(() => this.run());
    }

    // ---- host input ------------------------------------------------------------------------------------
    fromUsb(bytes) {
        if (this.usb && this.usb.cdc.initialized) this.usb.write(bytes);
        else for (const b of bytes) this.usbIn.push(b);
    }

    fromAgent(bytes) {
        this.uartLine.push(bytes);
    }

    stats() {
        return {
            emulated_ms: this.nowNs / 1e6,
            wall_ms: performance.now() - this.wallStart,
            instructions: this.instructions,
            boots: this.boots,
            boot_reasons: this.bootLog,
            uart0_overruns: this.earlierOverruns + this.uartLine.overruns,
            uart0_bytes_in: this.uartLine.received,
            uart0_bytes_out: this.uartBytesOut,
            uart0_first_byte_ms: this.firstUartMs,
        };
    }
}

// ---- control --------------------------------------------------------------------------------------------------
function control(pico, line) {
    let msg;
    try {
        msg = JSON.parse(line);
    } catch (e) {
        pico.event({ok: false, error: `not JSON: ${line}`});
        return;
    }
    const reply = (body) => pico.event(Object.assign({id: msg.id}, body));
    try {
        if (msg.op === 'stats') {
            reply({ok: true, value: pico.stats()});
        } else if (msg.op === 'reset') {
            pico.resetPending = {how: msg.how === 'power' ? 'power' : 'run'};
            reply({ok: true});
        } else if (msg.op === 'py') {
            if (!pico.physics) throw new Error('no physics in this run (no --physics)');
            reply({ok: true, value: JSON.parse(pico.physics.call(msg.code, pico.nowNs / 1000))});
        } else {
            reply({ok: false, error: `unknown op ${msg.op}`});
        }
    } catch (e) {
        reply({ok: false, error: String(e.message || e)});
    }
}

function lines(onLine) {
    let buf = '';
    return (data) => {
        buf += data.toString('utf8');
        let at;
        while ((at = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, at).trim();
            buf = buf.slice(at + 1);
            if (line) onLine(line);
        }
    };
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    fixPadReadback();
    const pico = new Pico(opts);
    pico.load();
    if (opts.physics) {
        const {loadPhysics} = await import('./physics.mjs');
        pico.physics = await loadPhysics(REPO, readFile(opts.physics, 'physics config').toString('utf8'), {
            drive: (pin, level) => pico.drive(pin, level),
            log: (text) => (opts.quiet ? null : process.stderr.write(text)),
        });
    }
    inputStream(0, (d) => pico.fromUsb(d));
    inputStream(opts.uart[0], (d) => pico.fromAgent(d));
    inputStream(opts.control[0], lines((l) => control(pico, l)));
    pico.boot('power');
    pico.start();
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
