'use strict';

// What many bedrock_pass locations cost nginx, against the same number of
// proxy_pass locations, in one run: `nginx -t` time (median of a few runs)
// and the master's RSS once started. Not a test: it prints figures.
//
//   node bench/config-bench.js [locations=200] [runs=5]
//
// Needs the built module (scripts/build.sh) and t/'s npm packages.

const path = require('node:path');

const t = path.resolve(__dirname, '../t');
const { mintCerts } = require(path.join(t, 'lib/certs'));
const { KINDS, masterMemory, testTime } = require(path.join(t, 'lib/many-locations'));

const DESCRIBE = {
    bedrock: 'bedrock_pass, system CA store (the default)',
    'bedrock-ca-each': 'bedrock_pass, CA file in every location',
    'bedrock-ca': 'bedrock_pass, CA file set for the server',
    'proxy-ca': 'proxy_pass, proxy_ssl_verify, CA file set for the server',
    'proxy-system': 'proxy_pass, proxy_ssl_verify, system CA bundle as the file',
};

function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
    const n = Number(process.argv[2] || 200);
    const runs = Number(process.argv[3] || 5);
    const certs = mintCerts();
    const options = { url: 'https://127.0.0.1:9', caFile: certs.caFile };
    const rows = [];

    try {
        for (const kind of KINDS) {
            const times = [];
            for (let i = 0; i < runs; i++) {
                const { code, stderr, ms } = await testTime(kind, n, options);
                if (code !== 0) {
                    throw new Error(`nginx -t failed for ${kind}:\n${stderr}`);
                }
                times.push(ms);
            }
            const { rssKb } = await masterMemory(kind, n, options);
            rows.push({ kind, ms: median(times), mb: rssKb / 1024 });
        }
    } finally {
        certs.cleanup();
    }

    const base = rows.find((r) => r.kind === 'proxy-ca');
    console.log(`${n} locations over HTTPS, nginx -t median of ${runs}; ` +
        'ratios against proxy_pass with its CA file set for the server\n');
    console.log('| configuration | nginx -t | master RSS | time ratio | memory ratio |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) {
        console.log(`| ${DESCRIBE[r.kind]} | ${r.ms.toFixed(0)} ms | ${r.mb.toFixed(1)} MB | ` +
            `${(r.ms / base.ms).toFixed(2)}x | ${(r.mb / base.mb).toFixed(2)}x |`);
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
