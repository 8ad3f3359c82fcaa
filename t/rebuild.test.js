'use strict';

// scripts/build.sh run while an nginx has the built module loaded: the new
// .so is renamed into place, so the running nginx keeps the file it mapped
// and goes on serving (an in-place copy makes every worker crash). Runs
// only against the module build.sh makes (not the sanitizer build).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { startGateway } = require('./lib/gateway');
const { MODULE_PATH, NGINX_BIN } = require('./lib/nginx');

const TOP = path.resolve(__dirname, '..');
const BUILT = path.join(TOP, 'build/ngx_http_bedrock_module.so');
const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'still there?' }] };

const skip = MODULE_PATH !== BUILT || NGINX_BIN !== '/usr/sbin/nginx'
    ? 'runs against build/ngx_http_bedrock_module.so and /usr/sbin/nginx only'
    : false;

function workers(master) {
    const children = fs.readFileSync(`/proc/${master}/task/${master}/children`, 'utf8');
    return children.trim().split(/\s+/).filter(Boolean).map(Number);
}

function build() {
    return new Promise((resolve) => {
        execFile('bash', [path.join(TOP, 'scripts/build.sh')], { timeout: 300000 },
            (err, stdout, stderr) => resolve({ err, output: stdout + stderr }));
    });
}

describe('rebuilding the module under a running nginx', { skip }, () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());

    it('keeps the running workers serving', async () => {
        const first = await gw.chat(ASK);
        assert.equal(first.status, 200, first.text);
        const before = workers(gw.nginx.pid);
        const inode = fs.statSync(BUILT).ino;

        const { err, output } = await build();
        assert.equal(err, null, output);
        assert.notEqual(fs.statSync(BUILT).ino, inode, 'a new file, not the old one rewritten');

        for (let i = 0; i < 5; i++) {
            const res = await gw.chat(ASK);
            assert.equal(res.status, 200, res.text);
        }
        assert.deepEqual(workers(gw.nginx.pid), before, 'the same workers, none respawned');
        assert.doesNotMatch(gw.nginx.errorLog(), /exited on signal/);
    });
});
