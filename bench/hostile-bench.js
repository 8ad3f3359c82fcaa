'use strict';

// What hostile request bodies cost the nginx worker (not a test: it prints
// figures): the worker's CPU time (utime + stime from /proc) and the growth
// of its RSS, for long tool-call histories whose names come in increasing
// or decreasing order, and for bursts of concurrent large bodies that the
// fake Bedrock holds until all of them have reached it. The bodies are those
// of t/hostile.test.js. Run it against any build with BEDROCK_MODULE (and
// NGINX_BIN), e.g. an old one to compare.
//
//   node bench/hostile-bench.js [concurrent=10]
//
// Needs the built module (scripts/build.sh) and t/'s npm packages.

const net = require('node:net');
const path = require('node:path');

const T_LIB = path.join(__dirname, '..', 't', 'lib');
const { converseAnswer, eventStreamAnswer } = require(path.join(T_LIB, 'fake-bedrock'));
const { textStream } = require(path.join(T_LIB, 'eventstream'));
const { startGateway, bedrockLocation } = require(path.join(T_LIB, 'gateway'));
const { NGINX_BIN, MODULE_PATH } = require(path.join(T_LIB, 'nginx'));
const { MB, workersCpu, workersRss, sampleRss } = require(path.join(T_LIB, 'procstat'));

const JSON_HEADERS = { 'content-type': 'application/json' };
const LOCATION_EXTRA = 'client_max_body_size 20m; client_body_buffer_size 1m;';
// as in t/hostile.test.js: a small ASan quarantine keeps RSS about what is live
const ENV = /asan/.test(NGINX_BIN) ? { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=16` } : {};

const increasingNames = (n) => Array.from({ length: n }, (_, i) => `f${String(i + 1).padStart(6, '0')}`);
const decreasingNames = (n) => increasingNames(n).reverse();

function historyBody(names) {
    const calls = names.map((name, i) => ({ id: `c${i}`, type: 'function', function: { name, arguments: '{}' } }));
    return JSON.stringify({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', tool_calls: calls }],
    });
}

const TINY_CALL = '{"id":"c","function":{"name":"f","arguments":"{}"}}';
function tinyCallsBody(count, { stream = false } = {}) {
    return `{"model":"gpt-4o",${stream ? '"stream":true,' : ''}"messages":[{"role":"user","content":"Hi"},` +
        `{"role":"assistant","tool_calls":[${Array(count).fill(TINY_CALL).join(',')}]}]}`;
}

function metadataBody(values) {
    return `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"metadata":[${
        Array(values).fill('0').join(',')}]}`;
}

async function withGateway(fn) {
    const gw = await startGateway({
        errorLogLevel: 'info',
        env: ENV,
        server: (fake) => bedrockLocation('/v1/', { pass: fake.url, extra: LOCATION_EXTRA }),
    });
    try {
        const warm = await gw.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
        if (warm.status !== 200) {
            throw new Error(`warm-up request: ${warm.status} ${warm.text}`);
        }
        return await fn(gw);
    } finally {
        await gw.stop();
    }
}

/** One request at a time: its status, worker CPU and peak RSS growth. */
async function sequential(gw, body) {
    gw.fake.reset();
    const baseline = workersRss(gw.nginx.pid);
    const cpu = workersCpu(gw.nginx.pid);
    const sampler = sampleRss(gw.nginx.pid, 10);
    const res = await gw.chat(body, { headers: JSON_HEADERS, timeoutMs: 300000 });
    const peak = sampler.stop();
    return {
        status: `${res.status}`,
        note: res.status === 200 ? '' : (res.json && res.json.error ? res.json.error.message : res.text.slice(0, 80)),
        cpu: workersCpu(gw.nginx.pid) - cpu,
        held: null,
        peak: peak - baseline,
    };
}

/** `concurrent` copies at once, held by the fake until it has them all. */
async function heldBurst(gw, body, concurrent, { stream = false } = {}) {
    gw.fake.reset();
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    let allHeld;
    const held = new Promise((resolve) => { allHeld = resolve; });
    gw.fake.respond = async () => {
        if (gw.fake.requests.length === concurrent) {
            allHeld();
        }
        await released;
        return stream ? eventStreamAnswer(textStream(['ok'])) : converseAnswer();
    };

    const baseline = workersRss(gw.nginx.pid);
    const cpu = workersCpu(gw.nginx.pid);
    const sampler = sampleRss(gw.nginx.pid, 10);
    const answers = Array.from({ length: concurrent }, () => gw.chat(body, {
        headers: JSON_HEADERS, timeoutMs: 300000,
    }));
    // the bodies may be refused (an old build, or a new limit): then nothing is held
    const settled = Promise.all(answers).then(() => 'answered');
    const how = await Promise.race([held.then(() => 'held'), settled]);
    const whileHeld = how === 'held' ? workersRss(gw.nginx.pid) - baseline : null;
    release();
    const results = await Promise.all(answers);
    const peak = sampler.stop();
    const statuses = [...new Set(results.map((r) => r.status))].join(',');
    const bad = results.find((r) => r.status !== 200);
    return {
        status: `${concurrent}x ${statuses}`,
        note: bad ? (bad.json && bad.json.error ? bad.json.error.message : bad.text.slice(0, 80)) : '',
        cpu: workersCpu(gw.nginx.pid) - cpu,
        held: whileHeld,
        peak: Math.max(peak - baseline, whileHeld || 0),
    };
}

/**
 * `concurrent` clients whose answers hold `values` JSON values each, and who
 * read nothing until every answer has been translated.
 */
async function waitingClients(gw, concurrent, values) {
    gw.fake.reset();
    const answer = converseAnswer({
        content: [{ toolUse: { toolUseId: 't1', name: 'f', input: { a: new Array(values).fill(0) } } }],
        stopReason: 'tool_use',
    });
    answer.body = Buffer.from(JSON.stringify(answer.body));
    gw.fake.respond = () => answer;

    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    const baseline = workersRss(gw.nginx.pid);
    const cpu = workersCpu(gw.nginx.pid);
    const socks = Array.from({ length: concurrent }, () => {
        const sock = net.connect(gw.nginx.port, '127.0.0.1');
        sock.pause();
        sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            + `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        return sock;
    });
    const started = Date.now();
    while (gw.fake.requests.length < concurrent && Date.now() - started < 60000) {
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const held = workersRss(gw.nginx.pid) - baseline;
    const replies = await Promise.all(socks.map((sock) => new Promise((resolve) => {
        const parts = [];
        sock.on('data', (d) => parts.push(d));
        sock.on('error', () => resolve(''));
        sock.on('end', () => resolve(Buffer.concat(parts).toString()));
        sock.resume();
    })));
    const statuses = [...new Set(replies.map((r) => r.split(' ')[1]))].join(',');
    return {
        status: `${concurrent}x ${statuses}`,
        note: '',
        cpu: workersCpu(gw.nginx.pid) - cpu,
        held,
        peak: held,
        kb: answer.body.length / 1024,
    };
}

async function main() {
    const concurrent = Number(process.argv[2] || 10);
    const rows = [];
    const add = (name, body, result) => rows.push({ name, kb: Buffer.byteLength(body) / 1024, ...result });

    await withGateway(async (gw) => {
        for (const [name, names] of [
            ['25,000 increasing tool names', increasingNames(25000)],
            ['25,000 decreasing tool names', decreasingNames(25000)],
            // past the request's budget of JSON values: refused while parsing
            ['60,000 decreasing tool names', decreasingNames(60000)],
            // about the most tool calls that budget admits
            ['37,000 decreasing tool names', decreasingNames(37000)],
        ]) {
            const body = historyBody(names);
            add(name, body, await sequential(gw, body));
        }
    });
    for (const [name, body, stream] of [
        [`${concurrent} x 19,000 tiny tool calls`, tinyCallsBody(19000), false],
        [`${concurrent} x metadata of 255,000 values`, metadataBody(255000), false],
        [`${concurrent} x 19,000 tiny tool calls, streamed`, tinyCallsBody(19000, { stream: true }), true],
    ]) {
        // a fresh nginx for each burst, so that none reuses what another freed
        await withGateway(async (gw) => add(name, body, await heldBurst(gw, body, concurrent, { stream })));
    }
    await withGateway(async (gw) => {
        const r = await waitingClients(gw, concurrent, 900000);
        rows.push({ name: `${concurrent} x answers of 900,000 values, clients not reading`, ...r });
    });

    const mb = (bytes) => (bytes === null ? '-' : `${(bytes / MB).toFixed(0)} MB`);
    console.log(`module ${MODULE_PATH}, nginx ${NGINX_BIN}, one worker\n`);
    console.log('| case | body (answer for the last) | status | worker CPU | RSS growth while held | peak RSS growth | note |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) {
        console.log(`| ${r.name} | ${r.kb.toFixed(0)} KB | ${r.status} | ${r.cpu.toFixed(2)} s | ${mb(r.held)} | ` +
            `${mb(r.peak)} | ${r.note} |`);
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
