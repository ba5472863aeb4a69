// Loads the cabinet's physics (sim/pico/pins.py over the sim/hardware/ package) into MicroPython's WebAssembly build in
// this process and gives the harness plain functions to call on pin changes and clock steps.
import fs from 'node:fs';
import path from 'node:path';

function copyPy(FS, hostDir, mpDir, only) {
    const mk = (d) => {
        let cur = '';
        for (const part of d.split('/').filter(Boolean)) {
            cur += '/' + part;
            if (!FS.analyzePath(cur).exists) FS.mkdir(cur);
        }
    };
    mk(mpDir);
    for (const name of fs.readdirSync(hostDir)) {
        if (!name.endsWith('.py') || (only && !only.includes(name))) continue;
        FS.writeFile(`${mpDir}/${name}`, fs.readFileSync(path.join(hostDir, name)));
    }
}

export async function loadPhysics(repo, specText, chip) {
    const {loadMicroPython} = await import('@micropython/micropython-webassembly-pyscript');
    const mp = await loadMicroPython({
        stdout: (line) => chip.log(line + '\n'),
        stderr: (line) => process.stderr.write(line + '\n'),
        heapsize: 4 * 1024 * 1024,
    });
    copyPy(mp.FS, path.join(repo, 'firmware'), '/lib/firmware');
    copyPy(mp.FS, path.join(repo, 'sim'), '/lib/sim', ['__init__.py']);
    copyPy(mp.FS, path.join(repo, 'sim', 'hardware'), '/lib/sim/hardware');   // every module of the package
    copyPy(mp.FS, path.join(repo, 'sim', 'pico'), '/lib/sim/pico', ['pins.py']);
    mp.FS.writeFile('/lib/sim/pico/__init__.py', '');
    mp.registerJsModule('pico_chip', {drive: chip.drive, log: chip.log});
    const m = mp.pyimport('sim.pico.pins');
    const wiring = JSON.parse(m.setup(specText));
    return {
        outputs: wiring.outputs,
        inputs: wiring.inputs,
        output: (pin, level, us) => m.output(pin, level, us),
        step: (us) => m.step(us),
        call: (code, us) => m.call(code, us),
    };
}
