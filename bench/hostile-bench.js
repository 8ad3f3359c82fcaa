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

const path = require('node:path');

const T_LIB = path.join(__dirname, '..', 't', 'lib');
const { converseAnswer, eventStreamAnswer } = require(path.join(T_LIB, 'fake-bedrock'));
const { textStream } = require(path.join(T_LIB, 'eventstream'));
const { startGateway, bedrockLocation } = require(path.join(T_LIB, 'gateway'));
const { NGINX_BIN, MODULE_PATH } = require(path.join(T_LIB, 'nginx'));
const { MB, workersCpu, workersRss, sampleRss } = require(path.join(T_LIB, 'procstat'));
const {
    BIG_BODIES, ASAN_ENV, increasingNames, decreasingNames, historyBody, tinyCallsBody, metadataBody,
    holdAnswers, manyValuesAnswer, waitingClients: startWaitingClients, requestsReached,
} = require(path.join(T_LIB, 'hostile'));

const JSON_HEADERS = { 'content-type': 'application/json' };

async function withGateway(fn) {
    const gw = await startGateway({
        errorLogLevel: 'info',
        env: ASAN_ENV,
        server: (fake) => bedrockLocation('/v1/', { pass: fake.url, extra: BIG_BODIES }),
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
    const { held, release } = holdAnswers(gw.fake, concurrent,
        () => (stream ? eventStreamAnswer(textStream(['ok'])) : converseAnswer()));

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
    const answer = manyValuesAnswer(values);
    gw.fake.respond = () => answer;

    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    const baseline = workersRss(gw.nginx.pid);
    const cpu = workersCpu(gw.nginx.pid);
    const clients = startWaitingClients(gw.nginx.port, concurrent, body);
    await requestsReached(gw.fake, concurrent);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const held = workersRss(gw.nginx.pid) - baseline;
    const replies = await clients.read().catch(() => []);
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
