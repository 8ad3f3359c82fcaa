'use strict';

// The configurations in conf-examples/ pass "nginx -t" with the built module.
// Only what needs the outside world is replaced: file paths, and AWS host
// names (this machine has no DNS) by loopback addresses.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { mintCerts } = require('./lib/certs');
const { NGINX_BIN, MODULE_PATH } = require('./lib/nginx');

const EXAMPLES = path.resolve(__dirname, '../conf-examples');

function offline(text, dir, certs) {
    if (!/^\s*resolver /m.test(text)) {
        text = text.replace(/^http \{$/m, 'http {\n    resolver 127.0.0.1;');
    }
    return text
        .replace(/^load_module .*;$/m, `load_module ${MODULE_PATH};`)
        .replace(/server bedrock-runtime\.[a-z0-9-]+\.amazonaws\.com:443;/g, 'server 127.0.0.1:443;')
        .replace(/ssl_certificate\s+(\S+);/g, `ssl_certificate ${certs.dir}/server.pem;`)
        .replace(/ssl_certificate_key\s+(\S+);/g, `ssl_certificate_key ${certs.dir}/server.key;`)
        .replace(/include (\S+\.map);/g, `include ${dir}/keys.map;`)
        .replace(/access_log \/var\/log\/nginx\//g, `access_log ${dir}/`);
}

describe('conf-examples', () => {
    let certs;
    let dir;

    before(() => {
        certs = mintCerts();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bedrock-examples-'));
        fs.writeFileSync(path.join(dir, 'keys.map'), '"Bearer sk-team-a-example" team-a;\n');
    });
    after(() => {
        certs && certs.cleanup();
        dir && fs.rmSync(dir, { recursive: true, force: true });
    });

    const files = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.conf'));

    it('has examples', () => {
        assert.ok(files.includes('minimal.conf') && files.includes('production.conf'), files.join());
    });

    for (const file of files) {
        it(`${file} passes nginx -t`, () => {
            const conf = path.join(dir, file);
            fs.writeFileSync(conf, offline(fs.readFileSync(path.join(EXAMPLES, file), 'utf8'), dir, certs));
            const run = spawnSync(NGINX_BIN, ['-t', '-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`], {
                env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
                encoding: 'utf8',
            });
            assert.equal(run.status, 0, `${run.stderr}\n${fs.readFileSync(conf, 'utf8')}`);
            assert.match(run.stderr, /test is successful/);
        });
    }
});
