'use strict';

// Mints a throw-away CA and a server certificate for "localhost",
// 127.0.0.1 and any extra DNS names, with the openssl CLI.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function openssl(dir, args) {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function mintCerts({ names = [] } = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bedrock-certs-'));
    fs.chmodSync(dir, 0o755);

    openssl(dir, ['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem',
        '-days', '2', '-subj', '/CN=ngx-bedrock-test-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);

    openssl(dir, ['req', '-new', ...EC_KEY, '-keyout', 'server.key', '-out', 'server.csr',
        '-subj', '/CN=localhost']);
    fs.writeFileSync(path.join(dir, 'server.ext'), [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${['localhost', ...names].map((n) => `DNS:${n}`).join(',')},IP:127.0.0.1`,
        '',
    ].join('\n'));
    openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
        '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem']);

    const read = (f) => fs.readFileSync(path.join(dir, f));
    return {
        dir,
        caFile: path.join(dir, 'ca.pem'),
        ca: read('ca.pem'),
        key: read('server.key'),
        cert: read('server.pem'),
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

module.exports = { mintCerts };
