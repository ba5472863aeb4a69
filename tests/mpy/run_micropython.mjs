#!/usr/bin/env node
// Run a script on real MicroPython: the official WebAssembly build (npm @micropython/micropython-webassembly-pyscript).
//
//   node tests/mpy/run_micropython.mjs [--mount HOSTDIR:MPDIR ...] [--heap BYTES[k|m]] [--script FILE.py]
//
// Every .py file under each HOSTDIR (recursively) is copied into MicroPython's in-memory filesystem at MPDIR.
// sys.path is ['', '.frozen', '/lib'], so mount a package under /lib: `--mount firmware:/lib/firmware` makes
// `import firmware.codec` work. The script comes from --script or, without it, from stdin.
// Exit status: 0 on success (or SystemExit(0/None)); 1 when the script raises (the MicroPython traceback goes
// to stderr) or exits with a non-zero SystemExit; 2 on a usage or runner error.
//
// --heap sets the initial GC heap (loadMicroPython's heapsize; default 1 MiB). This build grows its heap on
// demand (split heap), so it is NOT a cap: measure gc.mem_alloc() in the script to check a memory budget.
import fs from 'node:fs';
import path from 'node:path';

function fail(msg) {
    process.stderr.write(`run_micropython: ${msg}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {mounts: [], script: null, heap: undefined};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => (i + 1 < argv.length ? argv[++i] : fail(`${a} needs a value`));
        if (a === '--mount') {
            const v = val();
            const at = v.lastIndexOf(':');
            if (at <= 0 || !v.slice(at + 1).startsWith('/')) fail(`--mount wants HOSTDIR:/MPDIR, got ${v}`);
            opts.mounts.push([v.slice(0, at), v.slice(at + 1)]);
        } else if (a === '--script') {
            opts.script = val();
        } else if (a === '--heap') {
            const m = /^(\d+)([km]?)$/i.exec(val());
            if (!m) fail('--heap wants BYTES, optionally with a k or m suffix');
            opts.heap = parseInt(m[1], 10) * ({'': 1, k: 1024, m: 1048576}[m[2].toLowerCase()]);
        } else {
            fail(`unknown argument ${a}`);
        }
    }
    return opts;
}

function mkdirs(FS, dir) {
    let cur = '';
    for (const part of dir.split('/').filter(Boolean)) {
        cur += '/' + part;
        if (!FS.analyzePath(cur).exists) FS.mkdir(cur);
    }
}

function copyTree(FS, hostDir, mpDir) {
    mkdirs(FS, mpDir);
    for (const ent of fs.readdirSync(hostDir, {withFileTypes: true})) {
        if (ent.name.startsWith('.') || ent.name === '__pycache__') continue;
        const src = path.join(hostDir, ent.name);
        const dst = `${mpDir.replace(/\/+$/, '')}/${ent.name}`;
        if (ent.isDirectory()) copyTree(FS, src, dst);
        else if (ent.isFile() && ent.name.endsWith('.py')) FS.writeFile(dst, fs.readFileSync(src));
    }
}

// Byte-wise output callback (linebuffer: false) batched per line, so output without a final newline is kept.
function byteSink(stream) {
    let buf = [];
    const flush = () => {
        if (buf.length) stream.write(Buffer.from(buf));
        buf = [];
    };
    const put = (bytes) => {
        for (const b of bytes) {
            buf.push(b);
            if (b === 10 || buf.length >= 4096) flush();
        }
    };
    return {put, flush};
}

const opts = parseArgs(process.argv.slice(2));
let code;
try {
    code = opts.script ? fs.readFileSync(opts.script, 'utf8') : fs.readFileSync(0, 'utf8');
} catch (e) {
    fail(`cannot read the script: ${e.message}`);
}
for (const [host] of opts.mounts) {
    if (!fs.existsSync(host) || !fs.statSync(host).isDirectory()) fail(`mount source is not a directory: ${host}`);
}

let loadMicroPython;
try {
    ({loadMicroPython} = await import('@micropython/micropython-webassembly-pyscript'));
} catch (e) {
    fail(`cannot load @micropython/micropython-webassembly-pyscript (run scripts/setup): ${e.message}`);
}

const out = byteSink(process.stdout);
const err = byteSink(process.stderr);
let status = 0;
try {
    const options = {stdout: out.put, stderr: err.put, linebuffer: false};
    if (opts.heap !== undefined) options.heapsize = opts.heap; // an undefined key would override the default
    const mp = await loadMicroPython(options);
    for (const [host, dir] of opts.mounts) copyTree(mp.FS, host, dir);
    try {
        // A line `# --- next runPython call ---` splits the script into calls that share globals. This build's
        // gc.collect() frees nothing inside the call that made the garbage, only in a later call, so a
        // heap measurement collects in a call of its own.
        for (const part of code.split(/^# --- next runPython call ---$/m)) mp.runPython(part);
    } catch (e) {
        if (e.name !== 'PythonError') throw e;
        out.flush();
        // A SystemExit behaves as in CPython: no argument or 0 is success, an int is the status, text is printed.
        const last = e.message.trimEnd().split('\n').pop();
        if (e.type === 'SystemExit') {
            const arg = last.replace(/^SystemExit:?\s?/, '');
            if (arg === '' || arg === 'None') status = 0;
            else if (/^-?\d+$/.test(arg)) status = parseInt(arg, 10) & 0xff;
            else (err.put(Buffer.from(arg + '\n')), status = 1);
        } else {
            err.put(Buffer.from(e.message));
            status = 1;
        }
    }
} catch (e) {
    // An abort inside the WebAssembly runtime; its stack would dump the whole minified bundle, so print the message only.
    out.flush();
    err.put(Buffer.from(`run_micropython: MicroPython runtime error: ${e && e.message ? e.message : e}\n`));
    status = 2;
}
out.flush();
err.flush();
process.exitCode = status;
