'use strict';

// bedrock_metrics_zone and bedrock_metrics: Prometheus text from the
// counts of every worker, read with a Prometheus text parser.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const parsePrometheus = require('parse-prometheus-text-format');

const { awsError, converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { textStream } = require('./lib/eventstream');
const { startGateway, bedrockLocation, NOVA_ID } = require('./lib/gateway');
const { request, sleep } = require('./lib/http');
const { startNginx } = require('./lib/nginx');

const CLOSE = { connection: 'close' };

function family(families, name) {
    const f = families.find((x) => x.name === name);
    assert.ok(f, `no ${name} in the metrics`);
    return f;
}

// the sample of a family whose labels are exactly these
function sample(families, name, labels) {
    const found = family(families, name).metrics.filter((m) =>
        JSON.stringify(Object.entries(m.labels || {}).sort()) === JSON.stringify(Object.entries(labels).sort()));
    assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
    return found[0];
}

// a histogram's series by hand: the parser merges the label sets of a
// histogram into one
function histogram(text, name, labels) {
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
    const value = (suffix, extra = '') => {
        const re = new RegExp(`^${name}_${suffix}\\{${want}${extra}\\} (\\S+)$`, 'mg');
        return [...text.matchAll(re)];
    };
    const buckets = value('bucket', ',le="([^"]+)"');
    const [sum] = value('sum');
    const [count] = value('count');
    assert.ok(buckets.length && sum && count, `no ${name}{${want}}`);
    return {
        buckets: buckets.map((m) => [m[1], Number(m[2])]),
        sum: Number(sum[1]),
        count: Number(count[1]),
    };
}

// the exposition format 0.0.4, line by line, as strictly as Prometheus
// reads it: the parser above accepts too much
function checkFormat(text) {
    const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
    const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
    const sampleRe = new RegExp(`^(${name})(?:\\{${label}(?:,${label})*\\})? ` +
        '(?:[+-]?(?:\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?|Inf)|NaN)$');
    const typed = new Map();
    let current = null;
    for (const line of text.slice(0, -1).split('\n')) {
        let m;
        if ((m = /^# HELP (\S+) \S.*$/.exec(line))) {
            current = m[1];
        } else if ((m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
            assert.ok(!typed.has(m[1]), `two TYPE lines for ${m[1]}`);
            typed.set(m[1], m[2]);
            assert.equal(m[1], current, 'TYPE without its HELP');
        } else {
            m = sampleRe.exec(line);
            assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
            const base = typed.get(current) === 'histogram'
                ? m[1].replace(/_(bucket|sum|count)$/, '') : m[1];
            assert.equal(base, current, `${m[1]} outside its family's block`);
        }
    }
}

async function scrape(gw) {
    const res = await request({ url: `${gw.url}/metrics`, headers: CLOSE });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.ok(res.text.endsWith('\n'));
    checkFormat(res.text);
    return { text: res.text, families: parsePrometheus(res.text) };
}

// the access log is written after the response went out
async function loggedPids(gw, count) {
    for (let i = 0; i < 200; i++) {
        const lines = gw.nginx.accessLog('pids.log').split('\n').filter(Boolean);
        if (lines.length >= count) {
            return new Set(lines);
        }
        await sleep(20);
    }
    throw new Error('the access log lacks lines');
}

describe('metrics', () => {
    let gw;
    before(async () => {
        gw = await startGateway({
            workerProcesses: 2,
            listen: 'reuseport',
            http: ['bedrock_metrics_zone bedrock 1m;', "log_format pids '$pid';"].join('\n'),
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url, extra: 'access_log %%DIR%%/pids.log pids;' }),
                'location = /metrics {',
                '    bedrock_metrics;',
                '    allow 127.0.0.1;',
                '    deny all;',
                '}',
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());

    it('starts with every family declared and nothing counted', async () => {
        const { text, families } = await scrape(gw);
        for (const [name, type] of [
            ['bedrock_requests_total', 'counter'], ['bedrock_tokens_total', 'counter'],
            ['bedrock_errors_total', 'counter'], ['bedrock_request_duration_seconds', 'histogram'],
            ['bedrock_time_to_first_token_seconds', 'histogram'], ['bedrock_active_streams', 'gauge'],
            ['bedrock_metrics_series_dropped_total', 'counter'],
        ]) {
            assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'));
            assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'));
        }
        assert.equal(family(families, 'bedrock_requests_total').metrics.length, 0);
        assert.equal(sample(families, 'bedrock_active_streams', {}).value, '0');
    });

    it('counts a mix of calls, summed over both workers', async () => {
        gw.fake.respond = (rec) => {
            const prompt = rec.json.messages[0].content[0].text;
            if (prompt === 'fail') {
                return awsError(429, 'ThrottlingException', 'Too many requests');
            }
            if (rec.path.endsWith('/converse-stream')) {
                return eventStreamAnswer(textStream(['Hel', 'lo'],
                    { usage: { inputTokens: 7, outputTokens: 2, totalTokens: 9 } }));
            }
            return converseAnswer({ text: 'Hi',
                usage: { inputTokens: 10, outputTokens: 5, totalTokens: 25, cacheReadInputTokens: 10 } });
        };
        const ask = (content, extra = {}) => gw.chat({ model: 'gpt-4o',
            messages: [{ role: 'user', content }], ...extra }, { headers: CLOSE });

        const sent = [];
        for (let i = 0; i < 6; i++) {
            sent.push(await ask('hello'));
        }
        for (let i = 0; i < 3; i++) {
            sent.push(await ask('hello', { stream: true }));
        }
        sent.push(await ask('fail'));
        sent.push(await gw.chat({ model: 'not-in-the-map', messages: [{ role: 'user', content: 'x' }] },
            { headers: CLOSE }));
        sent.push(await gw.call('POST', '/v1/chat/completions', { body: '{"model":', headers: CLOSE }));

        assert.deepEqual(sent.map((r) => r.status), [200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 404, 400]);
        for (const r of sent.slice(6, 9)) {
            assert.match(r.text, /data: \[DONE\]/);
        }

        // both workers served some of them, and the counts are the sums
        const pids = await loggedPids(gw, sent.length);
        assert.equal(pids.size, 2, 'one worker served every call: the test proves nothing');

        const { text, families } = await scrape(gw);
        const loc = { location: '/v1/' };
        assert.equal(sample(families, 'bedrock_requests_total',
            { ...loc, model: 'gpt-4o', status: '200' }).value, '9');
        assert.equal(sample(families, 'bedrock_requests_total',
            { ...loc, model: 'gpt-4o', status: '429' }).value, '1');
        const requests = family(families, 'bedrock_requests_total').metrics;
        assert.equal(requests.reduce((n, m) => n + Number(m.value), 0), sent.length);
        assert.ok(requests.every((m) => m.labels.model !== 'not-in-the-map'),
            'a name outside the map became a label');

        assert.equal(sample(families, 'bedrock_tokens_total', { model: 'gpt-4o', type: 'input' }).value,
            String(6 * 10 + 3 * 7));
        assert.equal(sample(families, 'bedrock_tokens_total', { model: 'gpt-4o', type: 'output' }).value,
            String(6 * 5 + 3 * 2));
        assert.equal(sample(families, 'bedrock_tokens_total', { model: 'gpt-4o', type: 'cache_read' }).value,
            String(6 * 10));

        assert.equal(sample(families, 'bedrock_errors_total',
            { model: 'gpt-4o', error_type: 'ThrottlingException' }).value, '1');
        const errors = family(families, 'bedrock_errors_total').metrics;
        assert.equal(errors.reduce((n, m) => n + Number(m.value), 0), 3, JSON.stringify(errors));

        const duration = histogram(text, 'bedrock_request_duration_seconds', { model: 'gpt-4o' });
        assert.equal(duration.count, 10);
        assert.deepEqual(duration.buckets.at(-1), ['+Inf', 10]);
        assert.ok(duration.sum >= 0 && duration.sum < 30);
        const bounds = duration.buckets.slice(0, -1).map(([le]) => Number(le));
        assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b));
        assert.equal(bounds.length, 14);
        const counts = duration.buckets.map(([, n]) => n);
        assert.deepEqual(counts, [...counts].sort((a, b) => a - b), 'buckets are not cumulative');

        const ttft = histogram(text, 'bedrock_time_to_first_token_seconds', { model: 'gpt-4o' });
        assert.equal(ttft.count, 3);
        assert.equal(ttft.buckets.length, 17);

        assert.equal(sample(families, 'bedrock_active_streams', {}).value, '0');
        assert.equal(sample(families, 'bedrock_metrics_series_dropped_total', {}).value, '0');
    });

    it('counts an open stream in bedrock_active_streams until it ends', async () => {
        let release;
        const gate = new Promise((resolve) => { release = resolve; });
        // messageStart and the first delta go out, then the fake waits
        gw.fake.respond = () => eventStreamAnswer(textStream(['a', 'b']), { gate: (i) => (i >= 2 ? gate : null) });
        const pending = gw.chat({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] },
            { headers: CLOSE });

        let open = null;
        for (let i = 0; i < 100 && open !== '1'; i++) {
            await sleep(20);
            open = sample((await scrape(gw)).families, 'bedrock_active_streams', {}).value;
        }
        assert.equal(open, '1');
        release();
        assert.equal((await pending).status, 200);
        for (let i = 0; i < 100 && open !== '0'; i++) {
            await sleep(20);
            open = sample((await scrape(gw)).families, 'bedrock_active_streams', {}).value;
        }
        assert.equal(open, '0');
    });

    it('answers only GET and HEAD', async () => {
        const res = await request({ url: `${gw.url}/metrics`, method: 'POST', body: 'x' });
        assert.equal(res.status, 405);
        const head = await request({ url: `${gw.url}/metrics`, method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.text, '');
    });
});

describe('metrics zone', () => {
    it('drops new series when full, counts them, and serves on', async () => {
        const gw = await startGateway({
            http: 'bedrock_metrics_zone small 32k;',
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url,
                    extra: 'bedrock_model_passthrough on;' }),
                'location = /metrics { bedrock_metrics; }',
            ].join('\n'),
        });
        try {
            gw.fake.respond = () => converseAnswer({ text: 'ok' });
            // every model id is a new series, each of 100 bytes of label
            for (let i = 0; i < 120; i++) {
                const res = await gw.chat({ model: `us.amazon.nova-lite-v1:0-${String(i).padStart(80, '0')}`,
                    messages: [{ role: 'user', content: 'x' }] });
                assert.equal(res.status, 200, res.text);
            }
            const { families } = await scrape(gw);
            const dropped = Number(sample(families, 'bedrock_metrics_series_dropped_total', {}).value);
            assert.ok(dropped > 0, 'nothing was dropped: the zone is larger than thought');
            const kept = family(families, 'bedrock_requests_total').metrics.length;
            assert.ok(kept > 0 && kept < 120, `${kept} series kept`);
        } finally {
            await gw.stop();
        }
    });

    it('escapes label values as the text format requires', async () => {
        // the alias holds a double quote, a backslash and a newline
        const alias = 'odd"na\\me\nx';
        const gw = await startGateway({
            http: 'bedrock_metrics_zone esc 64k;',
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url,
                    extra: `bedrock_model_map 'odd"na\\\\me\\nx' ${NOVA_ID};` }),
                'location = /metrics { bedrock_metrics; }',
            ].join('\n'),
        });
        try {
            gw.fake.respond = () => converseAnswer({ text: 'ok' });
            const res = await gw.chat({ model: alias, messages: [{ role: 'user', content: 'x' }] });
            assert.equal(res.status, 200, res.text);
            const { text, families } = await scrape(gw);
            assert.match(text, /^bedrock_requests_total\{location="\/v1\/",model="odd\\"na\\\\me\\nx",status="200"\} 1$/m);
            assert.equal(sample(families, 'bedrock_requests_total',
                { location: '/v1/', model: alias, status: '200' }).value, '1');
        } finally {
            await gw.stop();
        }
    });

    it('refuses bedrock_metrics without a zone, and a zone too small', async () => {
        await assert.rejects(startNginx({
            http: 'server { listen 127.0.0.1:%%PORT%%; location = /m { bedrock_metrics; } }',
        }), /"bedrock_metrics" needs a "bedrock_metrics_zone"/);
        await assert.rejects(startNginx({
            http: 'bedrock_metrics_zone z 4k; server { listen 127.0.0.1:%%PORT%%; }',
        }), /zone "z" is too small/);
    });
});
