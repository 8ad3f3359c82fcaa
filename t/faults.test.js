'use strict';

// Fault injection: a Bedrock that resets, drips, lies about its framing or
// answers something else entirely. Every fault gives its OpenAI error (or
// SSE error event), an error-log line, no crash, and the next call works.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startRawUpstream, frame, head, chunk, sleep } = require('./lib/raw-upstream');
const { startGateway, bedrockLocation } = require('./lib/gateway');
const { assertOpenAIError } = require('./lib/expect');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] };
const STREAM = { ...ASK, stream: true };

const CONVERSE = Buffer.from(JSON.stringify({
    output: { message: { role: 'assistant', content: [{ text: 'fine again' }] } },
    stopReason: 'end_turn',
    usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 },
    metrics: { latencyMs: 1 },
}));

async function answerWell(sock) {
    sock.write(Buffer.concat([
        head(200, { 'Content-Type': 'application/json', 'Content-Length': CONVERSE.length }),
        CONVERSE,
    ]));
}

const START = [
    frame('messageStart', { role: 'assistant' }),
    frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'partial' } }),
];

const STREAM_HEAD = head(200, {
    'Content-Type': 'application/vnd.amazon.eventstream',
    'Transfer-Encoding': 'chunked',
});

// [name, request, script(sock), check(res), error-log pattern]
const FAULTS = [
    ['reset before the status line', ASK, (sock) => sock.resetAndDestroy(),
        (res) => assertOpenAIError(res, 502, { type: 'server_error' }),
        /(recv\(\) failed|prematurely closed)/],
    ['reset after the headers', ASK, async (sock) => {
        sock.write(head(200, { 'Content-Type': 'application/json', 'Content-Length': 500 }));
        await sleep(50);
        sock.resetAndDestroy();
    }, (res) => assertOpenAIError(res, 502, { type: 'server_error' }),
    /(recv\(\) failed|prematurely closed)/],
    ['an HTML 502 page', ASK, (sock) => {
        const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
        sock.end(Buffer.concat([head(502, {
            'Content-Type': 'text/html', 'Content-Length': html.length,
        }), Buffer.from(html)]));
    }, (res) => assertOpenAIError(res, 502, { type: 'server_error', message: /502/ }),
    /upstream returned 502/],
    ['oversized response headers', ASK, (sock) => {
        sock.end(head(200, { 'Content-Type': 'application/json', 'X-Big': 'x'.repeat(20000) }));
    }, (res) => assertOpenAIError(res, 502, { type: 'server_error' }), /too big header/],
    ['a 200 with an empty body', ASK, (sock) => {
        sock.write(head(200, { 'Content-Type': 'application/json', 'Content-Length': 0 }));
    }, (res) => assertOpenAIError(res, 502, { code: 'upstream_error' }), /invalid Converse response/],
    ['garbage instead of JSON', ASK, (sock) => {
        sock.write(Buffer.concat([head(200, {
            'Content-Type': 'application/json', 'Content-Length': 9,
        }), Buffer.from('not json!')]));
    }, (res) => assertOpenAIError(res, 502, { code: 'upstream_error' }), /invalid Converse response/],
    ['a drip of one byte a while past the read timeout', ASK, async (sock) => {
        const all = Buffer.concat([head(200, {
            'Content-Type': 'application/json', 'Content-Length': CONVERSE.length,
        }), CONVERSE]);
        for (let i = 0; i < 10 && !sock.destroyed; i++) {
            sock.write(all.subarray(i, i + 1));
            await sleep(300);
        }
    }, (res) => assertOpenAIError(res, 504, { code: 'upstream_timeout' }), /upstream timed out/],
    ['a stream reset in the middle of a frame', STREAM, async (sock) => {
        const next = frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'lost' } });
        sock.write(Buffer.concat([STREAM_HEAD, chunk(Buffer.concat([...START, next.subarray(0, 20)]))]));
        await sleep(100);
        sock.resetAndDestroy();
    }, (res) => assertStreamError(res, { content: 'partial' }), /(recv\(\) failed|before messageStop|prematurely)/],
    ['garbage instead of an event stream', STREAM, (sock) => {
        sock.end(Buffer.concat([STREAM_HEAD, chunk(Buffer.from('<html>surprise</html>')), chunk('')]));
    }, (res) => assertStreamError(res, {}), /invalid event stream: prelude checksum mismatch/],
    ['a wrong content type for a stream', STREAM, (sock) => {
        sock.write(Buffer.concat([head(200, {
            'Content-Type': 'application/json', 'Content-Length': CONVERSE.length,
        }), CONVERSE]));
    }, (res) => assertOpenAIError(res, 502, { code: 'upstream_error' }), /without an event stream/],
    ['a stream with an empty body', STREAM, (sock) => {
        sock.write(Buffer.concat([STREAM_HEAD, chunk('')]));
    }, (res) => assertStreamError(res, {}), /before messageStop/],
    ['a stream that drips past the read timeout', STREAM, async (sock) => {
        sock.write(Buffer.concat([STREAM_HEAD, chunk(Buffer.concat(START))]));
        const rest = chunk(frame('messageStop', { stopReason: 'end_turn' }));
        for (let i = 0; i < 10 && !sock.destroyed; i++) {
            await sleep(1100);
            sock.write(rest.subarray(i, i + 1));
        }
    }, (res) => assertStreamError(res, { content: 'partial', code: 'upstream_timeout' }),
    /upstream timed out/],
];

function sseEvents(text) {
    return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
}

function assertStreamError(res, { content, code }) {
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const events = sseEvents(res.text);
    assert.ok(!events.includes('[DONE]'), 'a failed stream must not end with [DONE]');
    const last = JSON.parse(events[events.length - 1]);
    assert.deepEqual(Object.keys(last), ['error'], res.text);
    assert.equal(last.error.type, 'server_error');
    if (code) {
        assert.equal(last.error.code, code);
    }
    if (content) {
        const text = events.slice(0, -1).map((e) => JSON.parse(e))
            .map((c) => (c.choices[0] && c.choices[0].delta.content) || '').join('');
        assert.equal(text, content);
    }
}

describe('fault injection', () => {
    let raw;
    let gw;

    before(async () => {
        raw = await startRawUpstream();
        gw = await startGateway({
            server: () => bedrockLocation('/v1/', {
                pass: raw.url,
                extra: 'bedrock_read_timeout 1s;',
            }),
        });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            await (raw && raw.close());
        }
    });

    for (const [name, request, script, check, logLine] of FAULTS) {
        it(name, async () => {
            raw.play(script);
            // after a failure that the upstream module reports once the
            // stream has started, nginx closes the client connection
            // behind the complete response: no reuse of it here
            const res = await gw.chat(request, { timeoutMs: 15000, headers: { connection: 'close' } });
            check(res);
            assert.match(gw.nginx.errorLog(), logLine);

            raw.play(answerWell);
            const again = await gw.chat(ASK);
            assert.equal(again.status, 200, again.text);
            assert.equal(again.json.choices[0].message.content, 'fine again');
        });
    }
});
