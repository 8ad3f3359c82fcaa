'use strict';

// Configurations with many bedrock_pass (or proxy_pass) locations over
// HTTPS, one per model allowlist as operators write them, and what nginx
// pays for them: the master's memory once started, and `nginx -t` time.
// Used by t/tls-contexts.test.js (memory only) and bench/config-bench.js.

const fs = require('node:fs');
const { startNginx, nginxTest } = require('./nginx');
const { ENV_DIRECTIVES, HAIKU_ID } = require('./gateway');

const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
const KINDS = ['bedrock', 'bedrock-ca-each', 'bedrock-ca', 'proxy-ca', 'proxy-system'];

/**
 * The server{} body of n locations of one kind:
 *   bedrock          bedrock_pass, the system CA store (the default)
 *   bedrock-ca-each  bedrock_pass, bedrock_ssl_trusted_certificate repeated
 *                    in every location (equal settings)
 *   bedrock-ca       bedrock_pass, the CA file set once for the server
 *   proxy-ca         proxy_pass with proxy_ssl_verify and the CA file set
 *                    once for the server, as nginx users write it
 *   proxy-system     the same with the system CA bundle as the file
 */
function locations(kind, n, { url, caFile }) {
    const lines = [];
    const bedrock = kind.startsWith('bedrock');
    if (kind === 'bedrock-ca') {
        lines.push(`bedrock_ssl_trusted_certificate ${caFile};`);
    } else if (!bedrock) {
        lines.push('proxy_ssl_verify on;', 'proxy_ssl_name localhost;',
            `proxy_ssl_trusted_certificate ${kind === 'proxy-system' ? SYSTEM_CA_FILE : caFile};`);
    }
    if (bedrock) {
        lines.push('bedrock_region us-east-1;', 'bedrock_ssl_name localhost;');
    }
    for (let i = 0; i < n; i++) {
        if (bedrock) {
            const each = kind === 'bedrock-ca-each' ? ` bedrock_ssl_trusted_certificate ${caFile};` : '';
            lines.push(`location /team${i}/v1/ { bedrock_pass ${url}; bedrock_model_map m${i} ${HAIKU_ID};${each} }`);
        } else {
            lines.push(`location /team${i}/v1/ { proxy_pass ${url}; }`);
        }
    }
    return lines.join('\n');
}

function config(kind, n, options) {
    return {
        main: ENV_DIRECTIVES,
        http: `server {\n    listen 127.0.0.1:%%PORT%%;\n${locations(kind, n, options)}\n}`,
        env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'unused', AWS_EC2_METADATA_DISABLED: 'true' },
        errorLogLevel: 'notice',
    };
}

function statusKb(pid, field) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
}

/** Starts nginx with the configuration; the master's RSS in kB, then stops. */
async function masterMemory(kind, n, options) {
    const nginx = await startNginx(config(kind, n, options));
    try {
        return { rssKb: statusKb(nginx.pid, 'VmRSS'), hwmKb: statusKb(nginx.pid, 'VmHWM') };
    } finally {
        await nginx.stop();
    }
}

/** `nginx -t` on the configuration: { code, ms }. */
async function testTime(kind, n, options) {
    const start = process.hrtime.bigint();
    const { code, stderr } = await nginxTest(config(kind, n, options));
    return { code, stderr, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

module.exports = { SYSTEM_CA_FILE, KINDS, locations, masterMemory, testTime };
