// What rp2040js 1.4.1 leaves out, closed for the official MicroPython rp2 port (../shared/pico/README.md lists
// the first six gaps; the seventh showed as the same boot id at every boot). Each fix is the chip's documented
// behaviour, attached to one RP2040 instance; nothing here changes rp2040js's own files.
//
//   1. flash writes: a SPI NOR flash (W25Q16, 2 MB as on the Pico) behind the SSI, chip select from IO_QSPI
//   2. UART TX interrupt: raised when a data write empties into the FIFO, cleared by ICR (not on every check)
//   3. USB CDC: an OUT-endpoint arm waits until the host has bytes (no empty packet storm)
//   4. watchdog: the caller reboots the chip (see pico.mjs); here the reset-reason registers it reads
//   5. pad read-back: an input reads the driven level, else the external level, else the pull
//   6. UART RX at the line rate on the emulated clock (uart_line below); a disabled UART hears nothing
//   7. ROSC RANDOMBIT: the ring oscillator's jitter (rp2040js leaves ROSC unimplemented: every read is all
//      ones, so os.urandom and the firmware's boot id came out the same at every boot)
import {randomInt} from 'node:crypto';
import {BasePeripheral, GPIOPin, USBCDC} from 'rp2040js';

export const FLASH_SIZE = 2 * 1024 * 1024;
const SECTOR = 4096;

// ---- 1. SPI NOR flash ------------------------------------------------------------------------------------
// Commands as a Winbond W25Q16JV answers them. Programming only clears bits (as NOR does); erase sets a
// sector, block or the chip to 0xFF. Busy (WIP) lasts the datasheet's typical time on the emulated clock, so
// code that waits on the status register waits as long as on a Pico.
const T_PAGE_NS = 400e3, T_SECTOR_NS = 45e6, T_BLOCK32_NS = 120e6, T_BLOCK64_NS = 150e6, T_CHIP_NS = 5e9;

export class NorFlash {
    constructor(mem, clock, onChange) {
        this.mem = mem;              // the chip's flash array (rp2040.flash), read by XIP directly
        this.clock = clock;
        this.onChange = onChange;    // (offset, length) after every program or erase: persistence
        this.wel = false;
        this.busyUntil = 0;
        this.cmd = -1;
        this.n = 0;
        this.addr = 0;
        this.pageStart = -1;
        this.pageEnd = -1;
    }
    get busy() {
        return this.clock.nanos < this.busyUntil;
    }
    begin() {
        this.cmd = -1;
        this.n = 0;
        this.addr = 0;
        this.pageStart = this.pageEnd = -1;
    }
    // One byte each way, as SPI exchanges them.
    exchange(b) {
        const i = this.n++;
        if (i === 0) {
            this.cmd = b;
            if (b === 0x06 && !this.busy) this.wel = true;
            if (b === 0x04) this.wel = false;
            return 0xff;
        }
        const cmd = this.cmd;
        if (cmd === 0x05) return (this.busy ? 1 : 0) | (this.wel ? 2 : 0);
        if (cmd === 0x35) return 0x02;                      // status 2: quad enable set, as boot2 wants it
        if (cmd === 0x9f) return [0xef, 0x40, 0x15][(i - 1) % 3];
        if (cmd === 0x4b) return i <= 4 ? 0xff : [0xe6, 0x60, 0x58, 0x38, 0x83, 0x4c, 0x4b, 0x52][(i - 5) % 8];
        const addrBytes = (cmd === 0x02 || cmd === 0x03 || cmd === 0x0b || cmd === 0x20 || cmd === 0x52
            || cmd === 0xd8);
        if (addrBytes && i <= 3) {
            this.addr = (this.addr << 8) | b;
            return 0xff;
        }
        const a = this.addr % FLASH_SIZE;
        if (cmd === 0x03) return this.mem[(a + i - 4) % FLASH_SIZE];
        if (cmd === 0x0b) return i === 4 ? 0xff : this.mem[(a + i - 5) % FLASH_SIZE];
        if (cmd === 0x02 && this.wel && !this.busy) {
            const page = a & ~0xff;
            const at = page | ((a + i - 4) & 0xff);        // wraps inside the 256-byte page
            this.mem[at] &= b;
            if (this.pageStart < 0) this.pageStart = page;
        }
        return 0xff;
    }
    end() {
        const cmd = this.cmd, a = this.addr % FLASH_SIZE;
        const now = this.clock.nanos;
        if (this.wel && !this.busy) {
            if (cmd === 0x02 && this.pageStart >= 0) {
                this.busyUntil = now + T_PAGE_NS;
                this.wel = false;
                this.onChange(this.pageStart, 256);
            } else if (cmd === 0x20 || cmd === 0x52 || cmd === 0xd8 || cmd === 0xc7 || cmd === 0x60) {
                const size = {0x20: SECTOR, 0x52: 32768, 0xd8: 65536}[cmd] || FLASH_SIZE;
                const start = cmd === 0xc7 || cmd === 0x60 ? 0 : a - (a % size);
                this.mem.fill(0xff, start, start + size);
                this.busyUntil = now + ({0x20: T_SECTOR_NS, 0x52: T_BLOCK32_NS, 0xd8: T_BLOCK64_NS}[cmd] || T_CHIP_NS);
                this.wel = false;
                this.onChange(start, size);
            }
        }
        this.cmd = -1;
    }
}

const SSI_SR = 0x28, SSI_DR0 = 0x60, SSI_RXFLR = 0x24, SSI_TXFLR = 0x20, SSI_SSIENR = 0x08;
const SR_TFNF = 2, SR_TFE = 4, SR_RFNE = 8;

// The SSI in the mode the boot ROM and boot2 use it: every byte written to DR0 is clocked out at once and
// the flash's answer lands in the RX FIFO. Chip select comes from IO_QSPI's SS override (forced by the ROM's
// flash routines); with the override off, boot2's automatic transfers end when their answers are all read.
class FlashSSI extends BasePeripheral {
    constructor(rp2040, nor) {
        super(rp2040, 'SSI');
        this.nor = nor;
        this.regs = new Uint32Array(64);
        this.rx = [];
        this.forced = false;       // CS held low by the override
        this.auto = false;         // an automatic transfer is open
    }
    readUint32(offset) {
        switch (offset) {
            case SSI_SR:
                return SR_TFNF | SR_TFE | (this.rx.length ? SR_RFNE : 0);
            case SSI_RXFLR:
                return Math.min(this.rx.length, 16);
            case SSI_TXFLR:
                return 0;
            case SSI_DR0: {
                const v = this.rx.length ? this.rx.shift() : 0;
                if (!this.forced && this.auto && !this.rx.length) {
                    this.nor.end();
                    this.auto = false;
                }
                return v;
            }
            case 0x58:
                return 0x51535049;
            case 0x5c:
                return 0x3430312a;
        }
        return this.regs[offset >> 2] || 0;
    }
    writeUint32(offset, value) {
        if (offset === SSI_DR0) {
            if (!this.forced && !this.auto) {
                this.nor.begin();
                this.auto = true;
            }
            this.rx.push(this.nor.exchange(value & 0xff));
            return;
        }
        if (offset === SSI_SSIENR && !(value & 1)) {
            this.rx = [];
            if (this.auto) {
                this.nor.end();
                this.auto = false;
            }
        }
        this.regs[offset >> 2] = value;
    }
    chipSelect(low) {
        if (low && !this.forced) {
            if (this.auto) this.nor.end();
            this.auto = false;
            this.forced = true;
            this.nor.begin();
        } else if (!low && this.forced) {
            this.forced = false;
            this.nor.end();
        }
    }
}

// IO_QSPI: only the SS line's output override matters here (2 = drive low, 3 = drive high, 0 = the SSI's).
class QspiIO extends BasePeripheral {
    constructor(rp2040, ssi) {
        super(rp2040, 'IO_QSPI');
        this.ssi = ssi;
        this.regs = new Uint32Array(16);
    }
    readUint32(offset) {
        return this.regs[(offset >> 2) & 15];
    }
    writeUint32(offset, value) {
        this.regs[(offset >> 2) & 15] = value;
        if (offset === 0x0c) this.ssi.chipSelect(((value >> 8) & 3) === 2);
    }
}

export function attachFlash(mcu, onChange) {
    const nor = new NorFlash(mcu.flash, mcu.clock, onChange);
    const ssi = new FlashSSI(mcu, nor);
    mcu.peripherals[0x18000] = ssi;
    mcu.peripherals[0x40018] = new QspiIO(mcu, ssi);
    return nor;
}

// ---- 2. UART TX interrupt ----------------------------------------------------------------------------------
const UARTDR = 0x0, UARTICR = 0x44, UARTIMSC = 0x38, UARTCR = 0x30, TXINTR = 1 << 5, RXINTR = 1 << 4;

export function fixUart(uart) {
    uart.interruptStatus = 0;
    // The PL011 raises TXINTR when its FIFO drains past the trigger level; here a written byte leaves at
    // once, so each data write raises it, and only ICR (or new data) clears it.
    uart.checkInterrupts = function () {
        this.rp2040.setInterrupt(this.irq, !!(this.interruptStatus & this.interruptMask));
    };
    const write = uart.writeUint32.bind(uart);
    uart.writeUint32 = function (offset, value) {
        if (offset === UARTDR) {
            if (this.enabled && this.txEnabled && this.onByte) this.onByte(value & 0xff);
            this.interruptStatus |= TXINTR;
            this.checkInterrupts();
            return;
        }
        if (offset === UARTICR) {
            this.interruptStatus &= ~value;
            this.checkInterrupts();
            return;
        }
        write(offset, value);
    };
    const read = uart.readUint32.bind(uart);
    uart.readUint32 = function (offset) {
        if (offset === UARTDR) {
            const v = this.rxFIFO.pull();
            if (this.rxFIFO.empty) this.interruptStatus &= ~RXINTR;
            this.checkInterrupts();
            return v;
        }
        return read(offset);
    };
}

// ---- 6. UART RX at the line rate ---------------------------------------------------------------------------
// Bytes from the host wait here and enter the 32-deep RX FIFO one character time (10 bits) apart on the
// emulated clock. A byte that finds the FIFO full is lost and counted, as the PL011's overrun error; a
// disabled UART or receiver hears nothing.
export class UartLine {
    constructor(uart, clock) {
        this.uart = uart;
        this.clock = clock;
        this.queue = [];
        this.overruns = 0;
        this.unheard = 0;
        this.received = 0;
        this.alarm = clock.createAlarm(() => this._next());
        this.pending = false;
    }
    get byteNanos() {
        const baud = this.uart.baudDivider ? this.uart.baudRate : 115200;
        return 10e9 / baud;
    }
    push(bytes) {
        for (const b of bytes) this.queue.push(b);
        if (!this.pending && this.queue.length) {
            this.pending = true;
            this.alarm.schedule(this.byteNanos);
        }
    }
    _next() {
        this.pending = false;
        const b = this.queue.shift();
        const u = this.uart;
        if (!(u.enabled && u.rxEnabled)) {
            this.unheard++;
        } else if (u.rxFIFO.full) {
            this.overruns++;
        } else {
            this.received++;
            u.feedByte(b);
        }
        if (this.queue.length) {
            this.pending = true;
            this.alarm.schedule(this.byteNanos);
        }
    }
    cancel() {
        this.alarm.cancel();
    }
}

// ---- 3. USB CDC without the empty-packet storm ---------------------------------------------------------------
export class HostSerial {
    constructor(usb) {
        this.cdc = new USBCDC(usb);
        this.usb = usb;
        this.waiting = [];           // host bytes not yet in the CDC FIFO
        this.armed = -1;             // size of an OUT transfer the device is waiting on
        usb.onEndpointRead = (endpoint, size) => {
            if (endpoint !== this.cdc.outEndpoint) return;
            this.armed = size;
            this._deliver();
        };
    }
    set onData(fn) {
        this.cdc.onSerialData = fn;
    }
    set onConnected(fn) {
        this.cdc.onDeviceConnected = fn;
    }
    write(bytes) {
        for (const b of bytes) this.waiting.push(b);
        this._deliver();
    }
    _deliver() {
        const fifo = this.cdc.txFIFO;
        while (this.waiting.length && !fifo.full) fifo.push(this.waiting.shift());
        if (this.armed < 0 || fifo.empty) return;
        const out = new Uint8Array(Math.min(this.armed, fifo.itemCount));
        for (let i = 0; i < out.length; i++) out[i] = fifo.pull();
        this.armed = -1;
        this.usb.endpointReadDone(this.cdc.outEndpoint, out);
        while (this.waiting.length && !fifo.full) fifo.push(this.waiting.shift());
    }
}

// ---- 4. reset reasons ----------------------------------------------------------------------------------------
// VREG_AND_CHIP_RESET.CHIP_RESET says whether the last reset came from power-on (HAD_POR) or the RUN pin
// (HAD_RUN); after a watchdog reboot neither is set and WATCHDOG.REASON says TIMER or FORCE. MicroPython's
// machine.reset_cause() reads exactly these.
const HAD_POR = 1 << 8, HAD_RUN = 1 << 16;

class ChipReset extends BasePeripheral {
    constructor(rp2040, chipReset) {
        super(rp2040, 'VREG_AND_CHIP_RESET');
        this.regs = new Uint32Array(4);
        this.regs[0] = 0xb1;       // VREG: enabled, 1.10 V
        this.regs[1] = 0x0d;       // BOD
        this.regs[2] = chipReset;
    }
    readUint32(offset) {
        return this.regs[(offset >> 2) & 3];
    }
    writeUint32(offset, value) {
        if (offset !== 8) this.regs[(offset >> 2) & 3] = value;
    }
}

export function setResetReason(mcu, how, watchdogState) {
    const chip = how === 'power' ? HAD_POR : how === 'run' ? HAD_RUN : 0;
    mcu.peripherals[0x40064] = new ChipReset(mcu, chip);
    const wd = mcu.peripherals[0x40058];
    if (how === 'watchdog' && watchdogState) {
        wd.reason = watchdogState.reason;
        wd.scratchData.set(watchdogState.scratch);   // the scratch registers survive a watchdog reboot
    }
    return wd;
}

// ---- 5. pad read-back -----------------------------------------------------------------------------------------
// An input reads what is on the pad: the chip's own driven level when the output is enabled, else what the
// outside world drives (rp2040.padExternals: gpio -> level, kept by pico.mjs), else the pull-up, else 0.
const applyOverride = (v, o) => (o === 2 ? false : o === 3 ? true : o === 1 ? !v : v);
const original = Object.getOwnPropertyDescriptor(GPIOPin.prototype, 'inputValue');

export function fixPadReadback() {
    Object.defineProperty(GPIOPin.prototype, 'inputValue', {
        configurable: true,
        get() {
            const ext = this.rp2040.padExternals;
            if (!ext || this.rp2040.gpio[this.index] !== this) return original.get.call(this);   // QSPI pads
            if (!this.inputEnable) return applyOverride(false, this.inputOverride);
            let v;
            if (this.outputEnable) v = this.outputValue;
            else if (ext.has(this.index)) v = ext.get(this.index);
            else v = this.pullupEnabled;
            return applyOverride(!!v, this.inputOverride);
        },
    });
}

// ---- 7. ROSC random bit ----------------------------------------------------------------------------------------
// RANDOMBIT (offset 0x1c) samples the free-running ring oscillator: a bit the chip cannot predict. MicroPython
// draws os.urandom and its random seed from it. Every other ROSC register stays as rp2040js has it (reads
// all ones, writes ignored).
const ROSC_RANDOMBIT = 0x1c;

class RingOscillator extends BasePeripheral {
    constructor(rp2040) {
        super(rp2040, 'ROSC_BASE');
    }
    readUint32(offset) {
        return offset === ROSC_RANDOMBIT ? randomInt(2) : super.readUint32(offset);
    }
}

export function attachRosc(mcu) {
    mcu.peripherals[0x40060] = new RingOscillator(mcu);
}
