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

const { fork } = require('node:child_process');
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
    if (bad || !(opts.delayMs >= 0)) {
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

async function serveFake(opts) {
    const frames = benchFrames(opts);
    const fake = await startFake();
    fake.respond = () => {
        fake.requests.length = 0;  // keep memory flat
        return eventStreamAnswer(frames, { delayMs: opts.delayMs });
    };
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

async function startBenchNginx(fakePort) {
    return startNginx({
        main: `${ENV_DIRECTIVES}\nworker_rlimit_nofile 16384;`,
        workerConnections: 4096,
        errorLogLevel: 'warn',
        env: credentialsEnv(TEST_CREDENTIALS),
        http: [
            `upstream bench_fake { server 127.0.0.1:${fakePort}; keepalive 256; }`,
            'server {',
            '    listen 127.0.0.1:%%PORT%%;',
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

function workerPid(masterPid) {
    const listed = `/proc/${masterPid}/task/${masterPid}/children`;
    if (fs.existsSync(listed)) {
        const pids = fs.readFileSync(listed, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        if (pids.length > 0) {
            return pids[0];
        }
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
 * only until then); ok: complete(tail, length, status) at the end, tail
 * being the last bytes received.
 */
function timedStream(url, { headers, body }, { firstToken, complete }) {
    return new Promise((resolve) => {
        const started = process.hrtime.bigint();
        let ttftMs = null;
        let head = Buffer.alloc(0);
        let tail = Buffer.alloc(0);
        let length = 0;
        let status = 0;
        const req = http.request(url, { method: 'POST', headers, agent }, (res) => {
            status = res.statusCode;
            res.on('data', (chunk) => {
                length += chunk.length;
                tail = Buffer.concat([tail, chunk]).subarray(-64);
                if (ttftMs === null) {
                    head = Buffer.concat([head, chunk]);
                    if (firstToken(head, length)) {
                        ttftMs = Number(process.hrtime.bigint() - started) / 1e6;
                        head = null;
                    }
                }
            });
            res.on('error', () => {});
            res.on('close', () => resolve({ ok: res.complete && complete(tail, length, status), ttftMs }));
        });
        req.on('error', () => resolve({ ok: false, ttftMs }));
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
    return () => timedStream(`${gatewayUrl}/v1/chat/completions`, { headers, body }, {
        firstToken: sseHasContent,
        complete: (tail, length, status) => status === 200 && tail.subarray(-done.length).equals(done),
    });
}

// Straight to the fake, signed as an AWS SDK would; the first token is the
// first contentBlockDelta frame (frame 1), known by its byte offset.
function direct(fakeUrl, frames) {
    const wire = wirePath(HAIKU_ID, 'converse-stream');
    const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Tell me a long story.' }] }] });
    const firstTokenEnd = frames[0].length + frames[1].length;
    const total = frames.reduce((n, f) => n + f.length, 0);
    const fake = { url: fakeUrl, region: 'us-east-1', credentials: TEST_CREDENTIALS };
    return async () => {
        const signed = await signBedrockCall(fake, { path: wire, body });
        return timedStream(`${fakeUrl}${wire}`, {
            headers: { ...signed, 'content-length': Buffer.byteLength(body) },
            body,
        }, {
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

function table(rows) {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
    return rows.map((r) => r.map((c, i) => String(c).padStart(widths[i])).join('  ')).join('\n');
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const frames = benchFrames(opts);
    const fake = await startFakeProcess(opts);
    let nginx = null;
    try {
        nginx = await startBenchNginx(fake.port);
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
            'worker RSS peak kB', 'worker CPU s']];
        for (const clients of opts.clients) {
            const streams = Math.max(clients * opts.rounds, opts.minStreams);
            for (const [name, one] of Object.entries(paths)) {
                const stop = rssSampler(worker);
                const cpu = cpuSeconds(worker);
                const r = await runLevel(one, clients, streams);
                const peak = stop();
                const viaNginx = name === 'nginx';
                rows.push([clients, name, r.streams, r.errors, r.rps.toFixed(1), r.p50.toFixed(1), r.p99.toFixed(1),
                    viaNginx ? peak : '-', viaNginx ? (cpuSeconds(worker) - cpu).toFixed(2) : '-']);
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
