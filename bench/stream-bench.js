'use strict';

// Streaming benchmark for ngx_http_bedrock_module (not a test: it prints
// figures). A fake Bedrock (t/lib/fake-bedrock.js, in a child process)
// streams long ConverseStream answers; N concurrent clients stream chat
// completions through nginx, then call the fake directly, and we report
// streams per second, time to first token (median, p99) and the nginx
// worker's RSS. See bench/README.md.
//
//   node bench/stream-bench.js [--clients 1,100,1000] [--deltas 500]
//       [--delta-bytes 20] [--delay-ms 2] [--rounds 1] [--min-streams 5]
//
// The memory mode holds N streams open at once, through the module and
// through plain proxy_pass of the raw event stream, and prints nginx's
// total RSS and the kB each open stream costs:
//
//   node bench/stream-bench.js --hold 10000

const { execFileSync, fork } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const T_LIB = path.join(__dirname, '..', 't', 'lib');
const { startFake, eventStreamAnswer, signBedrockCall, TEST_CREDENTIALS } = require(path.join(T_LIB, 'fake-bedrock'));
const { encodeFrame, textStream } = require(path.join(T_LIB, 'eventstream'));
const { startNginx } = require(path.join(T_LIB, 'nginx'));
const {
    ENV_DIRECTIVES, HAIKU_ID, CLIENT_API_KEY, credentialsEnv, modelMapDirectives,
} = require(path.join(T_LIB, 'gateway'));
const { wirePath } = require(path.join(T_LIB, 'expect'));

const DEFAULTS = {
    clients: [1, 100, 1000],
    deltas: 500,
    deltaBytes: 20,
    delayMs: 2,
    rounds: 1,
    minStreams: 5,
    hold: 0,
};

function parseArgs(argv) {
    const opts = { ...DEFAULTS };
    const names = {
        '--clients': (v) => { opts.clients = v.split(',').map(Number); },
        '--deltas': (v) => { opts.deltas = Number(v); },
        '--delta-bytes': (v) => { opts.deltaBytes = Number(v); },
        '--delay-ms': (v) => { opts.delayMs = Number(v); },
        '--rounds': (v) => { opts.rounds = Number(v); },
        '--min-streams': (v) => { opts.minStreams = Number(v); },
        '--hold': (v) => { opts.hold = Number(v); },
    };
    for (let i = 0; i < argv.length; i += 2) {
        const set = names[argv[i]];
        if (!set || argv[i + 1] === undefined) {
            throw new Error(`usage: node bench/stream-bench.js ${Object.keys(names).map((n) => `[${n} N]`).join(' ')}`);
        }
        set(argv[i + 1]);
    }
    const bad = [...opts.clients, opts.deltas, opts.deltaBytes, opts.rounds, opts.minStreams]
        .some((n) => !Number.isInteger(n) || n < 1);
    if (bad || !(opts.delayMs >= 0) || !Number.isInteger(opts.hold) || opts.hold < 0) {
        throw new Error(`invalid arguments: ${JSON.stringify(opts)}`);
    }
    return opts;
}

/** The answer every stream gets: messageStart, `deltas` text deltas, stop, metadata. */
function benchFrames({ deltas, deltaBytes }) {
    const pieces = Array.from({ length: deltas }, (_, i) => `${i} `.padEnd(deltaBytes, 'x'));
    return textStream(pieces, { usage: { inputTokens: 10, outputTokens: deltas, totalTokens: 10 + deltas } })
        .map(encodeFrame);
}

// --- the fake, in a child process so that it does not share the clients' event loop

// In the memory mode every answer stops after its first delta (frame 1)
// until the parent sends "release"; then the rest follows at once.
async function serveFake(opts) {
    const frames = benchFrames(opts);
    const fake = await startFake();
    let release;
    let held = new Promise((resolve) => { release = resolve; });
    fake.respond = () => {
        fake.requests.length = 0;  // keep memory flat
        const mine = held;
        const gate = (i) => (i >= 2 ? mine : undefined);
        return eventStreamAnswer(frames, opts.hold ? { gate } : { delayMs: opts.delayMs });
    };
    process.on('message', (msg) => {
        if (msg === 'release') {
            release();
            held = new Promise((resolve) => { release = resolve; });
        }
    });
    process.send({ url: fake.url, port: fake.port });
    process.on('disconnect', () => fake.close().then(() => process.exit(0)));
}

function startFakeProcess(opts) {
    return new Promise((resolve, reject) => {
        const child = fork(__filename, ['--serve-fake', JSON.stringify(opts)], { stdio: 'inherit' });
        child.once('message', (msg) => resolve({ ...msg, child }));
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`fake exited with ${code}`)));
    });
}

// --- nginx

// A held stream takes two descriptors (client and upstream). When one
// worker may not open that many (the hard limit, which an nginx without
// CAP_SYS_RESOURCE cannot raise), the memory mode spreads the streams over
// more workers with reuseport.
let hardNofile = null;

function connectionLimits(opts) {
    if (hardNofile === null) {
        hardNofile = Number(execFileSync('/bin/sh', ['-c', 'ulimit -Hn']).toString().trim()) || 16384;
    }
    const hard = hardNofile;
    const nofile = Math.min(hard, Math.max(16384, 2 * opts.hold + 512));
    const workerProcesses = Math.ceil((2 * opts.hold + 512) / nofile);
    return {
        workerProcesses,
        workerConnections: nofile - 256,
        nofile,
        reuseport: workerProcesses > 1 ? ' reuseport' : '',
    };
}

async function startBenchNginx(fakePort, opts) {
    const { workerProcesses, workerConnections, nofile, reuseport } = connectionLimits(opts);
    return startNginx({
        main: `${ENV_DIRECTIVES}\nworker_rlimit_nofile ${nofile};`,
        workerProcesses,
        workerConnections,
        errorLogLevel: 'warn',
        env: credentialsEnv(TEST_CREDENTIALS),
        http: [
            `upstream bench_fake { server 127.0.0.1:${fakePort}; keepalive 256; }`,
            'server {',
            `    listen 127.0.0.1:%%PORT%%${reuseport};`,
            '    access_log off;',
            '    location /v1/ {',
            '        bedrock_pass http://bench_fake;',
            '        bedrock_region us-east-1;',
            `        ${modelMapDirectives()}`,
            '    }',
            '}',
        ].join('\n'),
    });
}

// plain proxy_pass of the raw event stream, for the memory mode; clients
// sign for the fake's host, which nginx passes on
async function startProxyNginx(fakePort, opts) {
    const { workerProcesses, workerConnections, nofile, reuseport } = connectionLimits(opts);
    return startNginx({
        noModule: true,
        main: `worker_rlimit_nofile ${nofile};`,
        workerProcesses,
        workerConnections,
        errorLogLevel: 'warn',
        http: [
            `upstream bench_fake { server 127.0.0.1:${fakePort}; keepalive 256; }`,
            'server {',
            `    listen 127.0.0.1:%%PORT%%${reuseport};`,
            '    access_log off;',
            '    location /model/ {',
            '        proxy_pass http://bench_fake;',
            '        proxy_http_version 1.1;',
            '        proxy_set_header Connection "";',
            '        proxy_set_header Host $http_host;',
            '        proxy_buffering off;',
            '    }',
            '}',
        ].join('\n'),
    });
}

function workerPid(masterPid) {
    const pids = childPids(masterPid);
    if (pids.length > 0) {
        return pids[0];
    }
    for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
            if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === masterPid) {
                return Number(entry);
            }
        } catch {
            // gone
        }
    }
    throw new Error(`no worker process under nginx master ${masterPid}`);
}

function rssKb(pid) {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
}

/** The RSS of the master and all its children (kB). */
function totalRssKb(masterPid) {
    return [masterPid, ...childPids(masterPid)].reduce((kb, pid) => kb + rssKb(pid), 0);
}

/** The master's children, from /proc ([] where the kernel does not list them). */
function childPids(masterPid) {
    const listed = `/proc/${masterPid}/task/${masterPid}/children`;
    if (!fs.existsSync(listed)) {
        return [];
    }
    return fs.readFileSync(listed, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** CPU time pid has used, user + system, in seconds (clock ticks of 10 ms). */
function cpuSeconds(pid) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Samples the RSS of pid every 50 ms until stop() -> the peak (kB). */
function rssSampler(pid) {
    let peak = rssKb(pid);
    const timer = setInterval(() => { peak = Math.max(peak, rssKb(pid)); }, 50);
    return () => {
        clearInterval(timer);
        return Math.max(peak, rssKb(pid));
    };
}

// --- clients

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/**
 * One streamed request: resolves to { ok, ttftMs }. ttftMs: from sending the
 * request to firstToken(head, length) holding (head: the bytes so far, kept
 * only until then; onFirst() is called then, or at the end when it never
 * held); ok: complete(tail, length, status) at the end, tail being the last
 * bytes received.
 */
function timedStream(url, { headers, body }, { firstToken, complete, onFirst = () => {}, via = agent }) {
    return new Promise((resolve) => {
        const started = process.hrtime.bigint();
        let ttftMs = null;
        let head = Buffer.alloc(0);
        let tail = Buffer.alloc(0);
        let length = 0;
        let status = 0;
        let first = false;
        const end = (ok) => {
            if (!first) {
                first = true;
                onFirst();
            }
            resolve({ ok, ttftMs });
        };
        const req = http.request(url, { method: 'POST', headers, agent: via }, (res) => {
            status = res.statusCode;
            res.on('data', (chunk) => {
                length += chunk.length;
                tail = Buffer.concat([tail, chunk]).subarray(-64);
                if (ttftMs === null) {
                    head = Buffer.concat([head, chunk]);
                    if (firstToken(head, length)) {
                        ttftMs = Number(process.hrtime.bigint() - started) / 1e6;
                        head = null;
                        first = true;
                        onFirst();
                    }
                }
            });
            res.on('error', () => {});
            res.on('close', () => end(res.complete && complete(tail, length, status)));
        });
        req.on('error', () => end(false));
        req.end(body);
    });
}

// The first content chunk of an SSE body: an event whose delta.content is not empty.
function sseHasContent(buf) {
    for (const block of buf.toString('utf8').split('\n\n').slice(0, -1)) {
        try {
            const event = JSON.parse(block.replace(/^data: /, ''));
            const delta = event.choices && event.choices[0] && event.choices[0].delta;
            if (delta && typeof delta.content === 'string' && delta.content !== '') {
                return true;
            }
        } catch {
            // [DONE] or not JSON: not content
        }
    }
    return false;
}

function viaNginx(gatewayUrl) {
    const body = JSON.stringify({
        model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Tell me a long story.' }],
    });
    const headers = {
        authorization: `Bearer ${CLIENT_API_KEY}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
    };
    const done = Buffer.from('data: [DONE]\n\n');
    return (how = {}) => timedStream(`${gatewayUrl}/v1/chat/completions`, { headers, body }, {
        ...how,
        firstToken: sseHasContent,
        complete: (tail, length, status) => status === 200 && tail.subarray(-done.length).equals(done),
    });
}

// Straight to the fake (or to via, a proxy_pass in front of it), signed as
// an AWS SDK would; the first token is the first contentBlockDelta frame
// (frame 1), known by its byte offset.
function direct(fakeUrl, frames, via = fakeUrl) {
    const wire = wirePath(HAIKU_ID, 'converse-stream');
    const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Tell me a long story.' }] }] });
    const firstTokenEnd = frames[0].length + frames[1].length;
    const total = frames.reduce((n, f) => n + f.length, 0);
    const fake = { url: fakeUrl, region: 'us-east-1', credentials: TEST_CREDENTIALS };
    return async (how = {}) => {
        const signed = await signBedrockCall(fake, { path: wire, body });
        return timedStream(`${via}${wire}`, {
            headers: { ...signed, 'content-length': Buffer.byteLength(body) },
            body,
        }, {
            ...how,
            firstToken: (head, length) => length >= firstTokenEnd,
            complete: (tail, length, status) => status === 200 && length === total,
        });
    };
}

/** Runs `streams` calls of `one` with `clients` in parallel. */
async function runLevel(one, clients, streams) {
    let next = 0;
    const results = [];
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: clients }, async () => {
        while (next < streams) {
            next += 1;
            results.push(await one());
        }
    }));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const ttfts = results.filter((r) => r.ok && r.ttftMs !== null).map((r) => r.ttftMs).sort((a, b) => a - b);
    const pct = (p) => (ttfts.length ? ttfts[Math.min(ttfts.length - 1, Math.ceil(p * ttfts.length) - 1)] : NaN);
    return {
        streams,
        errors: results.filter((r) => !r.ok).length,
        rps: results.filter((r) => r.ok).length / seconds,
        seconds,
        p50: pct(0.5),
        p99: pct(0.99),
    };
}

/**
 * Opens n streams of `one`, at most `ramp` of them waiting for their first
 * token at a time, and once every stream has its first token (the fake
 * holds the rest) calls measure(); then has the fake release them all.
 */
async function holdLevel(one, n, { ramp, measure, release }) {
    let waiting = 0;
    let wake = null;
    const streams = [];
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
        while (waiting >= ramp) {
            await new Promise((resolve) => { wake = resolve; });
        }
        waiting += 1;
        streams.push(one({
            via: false,
            onFirst: () => {
                waiting -= 1;
                if (wake) {
                    const w = wake;
                    wake = null;
                    w();
                }
            },
        }));
    }
    while (waiting > 0) {
        await new Promise((resolve) => { wake = resolve; });
    }
    const openSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const measured = await measure();
    release();
    const results = await Promise.all(streams);
    return { ...measured, openSeconds, errors: results.filter((r) => !r.ok).length };
}

async function settledRssKb(masterPid) {
    let kb = 0;
    for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        kb = Math.max(kb, totalRssKb(masterPid));
    }
    return kb;
}

async function holdMain(opts, fake, frames) {
    const n = opts.hold;
    const rows = [['path', 'streams', 'errors', 'open s', 'nginx RSS before kB', 'RSS held kB', 'kB per stream']];
    const perStream = {};
    const runs = [
        ['module', () => startBenchNginx(fake.port, opts), (ngx) => viaNginx(ngx.url)],
        ['proxy_pass', () => startProxyNginx(fake.port, opts), (ngx) => direct(fake.url, frames, ngx.url)],
    ];
    for (const [name, start, path] of runs) {
        const nginx = await start();
        try {
            const one = path(nginx);
            for (let i = 0; i < 10; i++) {
                const warm = one({ via: false, onFirst: () => fake.child.send('release') });
                if (!(await warm).ok) {
                    throw new Error(`warm-up stream through ${name} failed`);
                }
            }
            const before = await settledRssKb(nginx.pid);
            const r = await holdLevel(one, n, {
                ramp: 500,
                measure: async () => ({ held: await settledRssKb(nginx.pid) }),
                release: () => fake.child.send('release'),
            });
            perStream[name] = (r.held - before) / n;
            rows.push([name, n, r.errors, r.openSeconds.toFixed(1), before, r.held, perStream[name].toFixed(1)]);
            console.error(`  ${n} streams held through ${name}`);
        } finally {
            await nginx.stop();
        }
    }
    console.log(`memory: ${n} streams open at once, each held after its first delta; ` +
        `nginx RSS is the master and its ${connectionLimits(opts).workerProcesses} worker(s), ` +
        'the most of 5 readings 200 ms apart\n');
    console.log(table(rows));
    console.log(`\nmodule / proxy_pass, kB per open stream: ${(perStream.module / perStream.proxy_pass).toFixed(2)}x`);
}

function table(rows) {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
    return rows.map((r) => r.map((c, i) => String(c).padStart(widths[i])).join('  ')).join('\n');
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const frames = benchFrames(opts);
    const fake = await startFakeProcess(opts);
    if (opts.hold) {
        try {
            await holdMain(opts, fake, frames);
        } finally {
            fake.child.disconnect();
        }
        return;
    }
    let nginx = null;
    try {
        nginx = await startBenchNginx(fake.port, opts);
        const worker = workerPid(nginx.pid);
        const idleKb = rssKb(worker);
        const paths = { nginx: viaNginx(nginx.url), direct: direct(fake.url, frames) };

        // warm-up: connections, first allocations
        for (const one of Object.values(paths)) {
            const r = await one();
            if (!r.ok) {
                throw new Error('warm-up stream failed: is streaming built into the module?');
            }
        }
        const warmKb = rssKb(worker);

        console.log(`stream: ${opts.deltas} deltas of ${opts.deltaBytes} bytes, ${opts.delayMs} ms apart ` +
            `(${frames.reduce((n, f) => n + f.length, 0)} bytes of event stream)`);
        console.log(`nginx worker ${worker}: RSS ${idleKb} kB idle, ${warmKb} kB after warm-up\n`);

        const rows = [['clients', 'path', 'streams', 'errors', 'streams/s', 'ttft p50 ms', 'ttft p99 ms',
            'worker RSS peak kB', 'worker CPU s', 'CPU us per event']];
        for (const clients of opts.clients) {
            const streams = Math.max(clients * opts.rounds, opts.minStreams);
            for (const [name, one] of Object.entries(paths)) {
                const stop = rssSampler(worker);
                const cpu = cpuSeconds(worker);
                const r = await runLevel(one, clients, streams);
                const peak = stop();
                const viaNginx = name === 'nginx';
                // the frames of every stream run, each one event-stream message in and one event out
                const used = cpuSeconds(worker) - cpu;
                rows.push([clients, name, r.streams, r.errors, r.rps.toFixed(1), r.p50.toFixed(1), r.p99.toFixed(1),
                    viaNginx ? peak : '-', viaNginx ? used.toFixed(2) : '-',
                    viaNginx ? (used * 1e6 / (r.streams * frames.length)).toFixed(1) : '-']);
                console.error(`  ${clients} clients via ${name}: ${r.seconds.toFixed(1)} s`);
            }
        }
        console.log(table(rows));
        console.log(`\nnginx worker RSS after the run: ${rssKb(worker)} kB`);
    } finally {
        agent.destroy();
        if (nginx) {
            await nginx.stop();
        }
        fake.child.disconnect();
    }
}

if (process.argv[2] === '--serve-fake') {
    serveFake(JSON.parse(process.argv[3])).catch((err) => {
        console.error(err);
        process.exit(1);
    });
} else {
    main().catch((err) => {
        console.error(err.stack || err);
        process.exitCode = 1;
    });
}
