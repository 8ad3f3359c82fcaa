'use strict';

// Fault injection: a Bedrock that resets, drips, lies about its framing or
// answers something else entirely. Every fault gives its OpenAI error (or
// SSE error event), an error-log line, no crash, and the next call works.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const OpenAI = require('openai');

const {
    startRawUpstream, frame, eventFrame, exceptionFrame, head, chunk, sleep,
} = require('./lib/raw-upstream');
const { startGateway, bedrockLocation, CLIENT_API_KEY } = require('./lib/gateway');
const { assertOpenAIError } = require('./lib/expect');
const { awsError, converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock, encodeFrame } = require('./lib/eventstream');
const { DONE, parseSse } = require('./lib/sse');
const { until } = require('./lib/http');

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
    // control bytes in a header become "?": the request id is logged and
    // sent on, the error type is logged
    ['control bytes in Bedrock\'s headers', ASK, (sock) => {
        const body = '{"message":"bad"}';
        sock.end(Buffer.concat([head(400, {
            'Content-Type': 'application/json', 'Content-Length': body.length,
            'x-amzn-RequestId': 'req\x1b[31m"x', 'x-amzn-ErrorType': 'ValidationException\x07',
        }), Buffer.from(body)]));
    }, (res) => {
        assertOpenAIError(res, 400, { type: 'invalid_request_error' });
        assert.equal(res.headers['x-request-id'], 'req?[31m?x');
    }, /upstream returned 400 ValidationException\? \(request id "req\?\[31m\?x"\)/],
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

// ---------------------------------------------------------------------------
// A hostile Bedrock behind the well-behaved fake (signatures still checked):
// text that is not UTF-8, text that forges error-log lines or carries AWS
// account details, counts past int64, tool calls of the wrong types, events
// after messageStop.

const asBytes = (data) => (Buffer.isBuffer(data) ? data : Buffer.from(data));

// POSTs a chat completion and keeps the raw bytes of the answer (gw.chat
// decodes them, replacing what is not UTF-8): { status, headers, bytes,
// text (lossy), complete }.
function postRaw(gw, body, { timeoutMs = 10000 } = {}) {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
        const req = http.request(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: {
                authorization: `Bearer ${CLIENT_API_KEY}`,
                'content-type': 'application/json',
                'content-length': payload.length,
                connection: 'close',
            },
            timeout: timeoutMs,
        }, (res) => {
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('error', () => {});
            res.on('close', () => {
                const bytes = Buffer.concat(parts);
                resolve({
                    status: res.statusCode, headers: res.headers, bytes, text: bytes.toString('utf8'),
                    complete: res.complete,
                });
            });
        });
        req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
    });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text; fails when they are not UTF-8 (CESU-8 surrogates included). */
function decodeStrict(bytes, where) {
    try {
        return strictUtf8.decode(bytes);
    } catch (err) {
        const at = bytes.findIndex((b) => b >= 0x80);
        return assert.fail(`${where} is not UTF-8 (${err.message}); bytes from the first non-ASCII one: ` +
            `${bytes.subarray(Math.max(at, 0), Math.max(at, 0) + 24).toString('hex')}`);
    }
}

/** A Converse answer as JSON text written by hand; pieces may be Buffers of any bytes. */
function converseJson(content, usage = '{"inputTokens":1,"outputTokens":2,"totalTokens":3}') {
    return {
        status: 200,
        body: Buffer.concat([
            '{"output":{"message":{"role":"assistant","content":', content,
            '}},"stopReason":"end_turn","usage":', usage, ',"metrics":{"latencyMs":1}}',
        ].map(asBytes)),
    };
}

/** The events of a strict text/event-stream body: JSON values and "[DONE]". */
function sseEventsOf(text) {
    const { events, error } = parseSse(text);
    assert.equal(error, null, error);
    return events.map((e) => (e === DONE ? DONE : JSON.parse(e)));
}

const choiceEvents = (events) => events.filter((e) => e !== DONE && e.choices && e.choices.length === 1);
const streamedContent = (events) => choiceEvents(events).map((e) => e.choices[0].delta.content || '').join('');

function lastErrorEvent(events, where) {
    assert.ok(!events.includes(DONE), `${where}: no [DONE] after a failure`);
    const last = events[events.length - 1];
    assert.ok(last && last.error, `${where}: the stream ends with an error event: ${JSON.stringify(last)}`);
    assert.deepEqual(Object.keys(last.error).sort(), ['code', 'message', 'param', 'type']);
    return last.error;
}

const STREAM_ASK = { ...ASK, stream: true };
const delta = (jsonText) => eventFrame('contentBlockDelta', Buffer.concat(
    ['{"contentBlockIndex":0,"delta":{"text":', jsonText, '},"p":"abc"}'].map(asBytes)));
const streamOf = (...middle) => eventStreamAnswer([
    bedrock.messageStart(), ...middle, bedrock.blockStop(0), bedrock.messageStop(), bedrock.metadata(),
]);

// Not UTF-8 (C0 AF an overlong "/", ED A0 80 a CESU-8 surrogate, FF never
// valid) between valid neighbours
const BAD_BYTES = Buffer.concat([
    Buffer.from('"x'), Buffer.from([0xc0, 0xaf]), Buffer.from('y'), Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from('z'), Buffer.from([0xff]), Buffer.from('w"'),
]);
const BAD_BYTES_TEXT = /^x\uFFFD+y\uFFFD+z\uFFFD+w$/;

describe('hostile Bedrock: text that is not UTF-8 reaches clients as UTF-8', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    // [name, JSON string as Bedrock writes it, the content the client must get]
    const TEXTS = [
        ['a lone low surrogate escaped as \\udc00', '"a\\udc00b"', 'a\uFFFDb'],
        ['a lone surrogate next to a valid pair', '"a\\udc00b\\ud83d\\ude00"', 'a\uFFFDb\u{1F600}'],
        ['a lone high surrogate escaped as \\ud800', '"a\\ud800b"', 'a\uFFFDb'],
        ['raw bytes C0 AF, ED A0 80 and FF', BAD_BYTES, BAD_BYTES_TEXT],
    ];
    const check = (got, want) => (want instanceof RegExp ? assert.match(got, want) : assert.equal(got, want));

    for (const [name, jsonText, want] of TEXTS) {
        it(`Converse: ${name} -> 200, UTF-8, U+FFFD in its place`, async () => {
            gw.fake.respond = () => converseJson(Buffer.concat([asBytes('[{"text":'), asBytes(jsonText),
                asBytes('}]')]));
            const res = await postRaw(gw, ASK);
            assert.equal(res.status, 200, res.text);
            const body = JSON.parse(decodeStrict(res.bytes, 'the response body'));
            const { content } = body.choices[0].message;
            assert.ok(content.includes('\uFFFD'), JSON.stringify(content));
            check(content, want);
        });

        it(`ConverseStream: ${name} in a delta -> UTF-8 SSE, U+FFFD in its place`, async () => {
            gw.fake.respond = () => streamOf(delta(jsonText));
            const res = await postRaw(gw, STREAM_ASK);
            assert.equal(res.status, 200, res.text);
            const events = sseEventsOf(decodeStrict(res.bytes, 'the SSE body'));
            assert.equal(events[events.length - 1], DONE, res.text.slice(-300));
            const content = streamedContent(events);
            assert.ok(content.includes('\uFFFD'), JSON.stringify(content));
            check(content, want);
        });
    }
});

// A line of the error log forged by a Bedrock text, and what nginx itself
// starts its lines with (its pid#tid is never 1#1 here). At debug level nginx
// also logs multi-line buffers (response headers): only the lines holding
// the forged text are judged.
const FORGED = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[emerg\] 1#1: forged/;
const NGINX_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[[a-z]+\] (\d+)#\d+: /;
const FORGED_TAIL = '\n2026/12/02 10:00:00 [emerg] 1#1: forged';

function assertNoForgedLines(log) {
    const lines = log.split('\n');
    assert.deepEqual(lines.filter((l) => FORGED.test(l)), [], 'a Bedrock text forged a line of error.log');
    const foreign = lines.filter((l) => {
        if (!l.includes('2026/12/02 10') && !l.includes('1#1: forged')) {
            return false;
        }
        const m = NGINX_LINE.exec(l);
        return !m || m[1] === '1';
    });
    assert.deepEqual(foreign, [], 'error.log lines that a newline from Bedrock started');
}

describe('hostile Bedrock: error texts that forge error-log lines (error_log at debug level)', () => {
    let gw;

    before(async () => {
        gw = await startGateway({ errorLogLevel: 'debug' });
    });
    after(async () => {
        if (gw && gw.nginx) {
            // stop() fails on any line holding "[emerg]": drop the (checked)
            // lines that quote the forged text before it reads the log
            const file = path.join(gw.nginx.dir, 'error.log');
            const kept = fs.readFileSync(file, 'utf8').split('\n').filter((l) => !l.includes('1#1: forged'));
            fs.writeFileSync(file, kept.join('\n'));
        }
        await (gw && gw.stop());
    });
    // each test reads only what the log gained during it
    let mark = 0;
    const errorLogNow = () => gw.nginx.errorLog().slice(mark);
    beforeEach(() => {
        gw.fake.reset();
        mark = gw.nginx.errorLog().length;
    });

    // the log once it holds `marker`, checked for forged lines, then that it
    // still holds the text (matching `escaped`: its newline escaped)
    async function checkLog(marker, escaped) {
        assertNoForgedLines(errorLogNow());
        const log = await until(() => {
            const text = errorLogNow();
            return text.includes(marker) && text;
        }, `"${marker}" in error.log`);
        assertNoForgedLines(log);
        assert.match(log, escaped, 'Bedrock\'s text is logged on one line, its newline escaped');
    }

    it('a stream exception whose :exception-type holds a newline and a forged line', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'partial'),
            exceptionFrame(`throttlingException${FORGED_TAIL} line`, { message: 'Too many tokens' }),
        ], { stall: true });
        const res = await postRaw(gw, STREAM_ASK);
        assert.equal(res.status, 200, res.text);
        lastErrorEvent(sseEventsOf(res.text), 'the stream');
        await checkLog('forged line', /throttlingException[^\n]{1,6}2026\/12\/02 10:00:00 \[emerg\] 1#1: forged line/);
    });

    it('a 400 whose __type holds a newline and a forged line', async () => {
        gw.fake.respond = () => ({
            status: 400, body: { __type: `ValidationException${FORGED_TAIL}`, message: 'x' },
        });
        const res = await gw.chat(ASK);
        assertOpenAIError(res, [400, 502]);
        // the type as far as its first ':' (the module cuts it there)
        await checkLog('2026/12/02 10', /ValidationException[^\n]{1,6}2026\/12\/02 10/);
    });

    it('a ValidationException whose message holds a newline and a forged line', async () => {
        gw.fake.respond = () => awsError(400, 'ValidationException', `bad input${FORGED_TAIL} message`);
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 400, { type: 'invalid_request_error' });
        await checkLog('forged message', /bad input[^\n]{1,6}2026\/12\/02 10:00:00 \[emerg\] 1#1: forged message/);
    });
});

const ACCOUNT = '123456789012';
const ACCESS_DENIED = 'User: arn:aws:sts::123456789012:assumed-role/GatewayRole/i-0abc123 is not authorized to ' +
    'perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude';
const BAD_IDENTIFIER = 'The provided model identifier arn:aws:bedrock:us-east-1:123456789012:inference-profile/abc ' +
    'is invalid for account 123456789012.';

function assertNone(message, words) {
    for (const word of words) {
        assert.ok(!message.includes(word), `the client's message holds "${word}": ${message}`);
    }
}

function assertRedactedIdentifier(message) {
    assert.ok(message.includes('The provided model identifier'), message);
    assert.ok(message.includes('is invalid for account'), message);
    assertNone(message, [ACCOUNT, 'arn:aws']);
}

describe('hostile Bedrock: AWS account details never reach clients', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('AccessDeniedException: the gateway\'s own message; Bedrock\'s text on one error.log line', async () => {
        gw.fake.respond = () => awsError(403, 'AccessDeniedException', ACCESS_DENIED);
        const res = await gw.chat(ASK);
        const err = assertOpenAIError(res, 403, { type: 'permission_error', code: 'access_denied' });
        assertNone(err.message, [ACCOUNT, 'arn:', 'GatewayRole', 'assumed-role', 'is not authorized']);
        await until(() => gw.nginx.errorLog().split('\n').some((l) => l.includes(ACCESS_DENIED)),
            'Bedrock\'s whole message on one line of error.log');
    });

    it('ValidationException: Bedrock\'s text, without the account id and the ARN', async () => {
        gw.fake.respond = () => awsError(400, 'ValidationException', BAD_IDENTIFIER);
        const res = await gw.chat(ASK);
        const err = assertOpenAIError(res, 400, { type: 'invalid_request_error' });
        assertRedactedIdentifier(err.message);
    });

    it('validationException in a stream: the error event\'s message redacted the same way', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'partial'),
            bedrock.exception('validationException', BAD_IDENTIFIER),
        ], { stall: true });
        const res = await postRaw(gw, STREAM_ASK);
        assert.equal(res.status, 200, res.text);
        const err = lastErrorEvent(sseEventsOf(res.text), 'the stream');
        assert.equal(err.type, 'invalid_request_error', JSON.stringify(err));
        assertRedactedIdentifier(err.message);
    });

    it('a ValidationException of 200 KB: 2 KB of it reach the client and the log', async () => {
        const text = `${BAD_IDENTIFIER} ${'x'.repeat(200 * 1024)}`;
        gw.fake.respond = () => awsError(400, 'ValidationException', text);
        const res = await gw.chat(ASK);
        const err = assertOpenAIError(res, 400, { type: 'invalid_request_error' });
        assertRedactedIdentifier(err.message);
        assert.ok(err.message.length <= 2048, `${err.message.length} characters`);
        await until(() => gw.nginx.errorLog().includes('upstream returned 400 ValidationException'),
            'the error-log line');
        const line = gw.nginx.errorLog().split('\n').reverse()
            .find((l) => l.includes('upstream returned 400 ValidationException'));
        assert.ok(line.length < 4096, `a log line of ${line.length} bytes`);
    });

    it('ThrottlingException: the gateway\'s own message, no account id', async () => {
        gw.fake.respond = () => awsError(429, 'ThrottlingException', `Too many requests for account ${ACCOUNT}`);
        const res = await gw.chat(ASK);
        const err = assertOpenAIError(res, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
        assertNone(err.message, [ACCOUNT, 'Too many requests for account']);
    });

    it('throttlingException in a stream: the gateway\'s own message, no account id', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'partial'),
            bedrock.exception('throttlingException', `Too many tokens for account ${ACCOUNT}`),
        ], { stall: true });
        const res = await postRaw(gw, STREAM_ASK);
        const err = lastErrorEvent(sseEventsOf(res.text), 'the stream');
        assert.equal(err.type, 'rate_limit_error', JSON.stringify(err));
        assertNone(err.message, [ACCOUNT, 'Too many tokens for account']);
    });
});

const INT64_MAX = '9223372036854775807';
const HUGE_USAGE = `{"inputTokens":${INT64_MAX},"outputTokens":5,"totalTokens":${INT64_MAX},` +
    `"cacheReadInputTokens":${INT64_MAX}}`;

function assertSaturatedUsage(text) {
    assert.ok(text.includes(`"prompt_tokens":${INT64_MAX}`), `prompt_tokens saturated: ${text}`);
    assert.ok(text.includes(`"total_tokens":${INT64_MAX}`), `total_tokens saturated: ${text}`);
    assert.doesNotMatch(text, /_tokens"\s*:\s*-/, 'no negative count');
}

describe('hostile Bedrock: counts, tool calls and events past the end', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('usage counts at INT64_MAX saturate prompt_tokens and total_tokens', async () => {
        gw.fake.respond = () => converseJson('[{"text":"big"}]', HUGE_USAGE);
        const res = await postRaw(gw, ASK);
        assert.equal(res.status, 200, res.text);
        assertSaturatedUsage(res.text);
    });

    it('usage counts at INT64_MAX in a stream\'s metadata saturate the usage chunk', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'big'), bedrock.blockStop(0), bedrock.messageStop(),
            eventFrame('metadata', `{"usage":${HUGE_USAGE},"metrics":{"latencyMs":1},"p":"ab"}`),
        ]);
        const res = await postRaw(gw, { ...STREAM_ASK, stream_options: { include_usage: true } });
        assert.equal(res.status, 200, res.text);
        const usageEvent = res.text.split('\n\n').find((e) => /"choices":\[\]/.test(e));
        assert.ok(usageEvent, `a usage chunk: ${res.text}`);
        assertSaturatedUsage(usageEvent);
        assert.doesNotMatch(res.text, /_tokens"\s*:\s*-/, 'no negative count');
    });

    const BAD_TOOL_USES = [
        ['a toolUseId that is an object', { toolUse: { toolUseId: { x: 1 }, name: 'f', input: {} } }],
        ['a name that is a number', { toolUse: { toolUseId: 't1', name: 42, input: {} } }],
        ['toolUse: null', { toolUse: null }],
    ];
    for (const [name, block] of BAD_TOOL_USES) {
        it(`a Converse answer with ${name}: 502 server_error, as for any unreadable answer`, async () => {
            gw.fake.respond = () => converseAnswer({ content: [{ text: 'calling' }, block], stopReason: 'tool_use' });
            const res = await gw.chat(ASK);
            assertOpenAIError(res, 502, { type: 'server_error', code: 'upstream_error' });
            await assert.rejects(gw.openai().chat.completions.create(ASK),
                (err) => err instanceof OpenAI.InternalServerError && err.status === 502);
        });
    }

    it('events after messageStop are not sent: one finish_reason, one [DONE]', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'a'), bedrock.messageStop('end_turn'), bedrock.text(0, 'b'),
            bedrock.metadata(),
        ]);
        const res = await postRaw(gw, STREAM_ASK);
        assert.equal(res.status, 200, res.text);
        const events = sseEventsOf(res.text);
        assert.equal(streamedContent(events), 'a', res.text);
        assert.equal(choiceEvents(events).filter((e) => e.choices[0].finish_reason !== null).length, 1, res.text);
        assert.equal(events.filter((e) => e === DONE).length, 1, res.text);
        assert.equal(events[events.length - 1], DONE);
        assert.ok(!events.some((e) => e.error), res.text);
    });

    it('an event that is not JSON after messageStop is not even read: [DONE]', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'a'), bedrock.messageStop('end_turn'),
            eventFrame('contentBlockDelta', 'not json'), bedrock.metadata(),
        ]);
        const res = await postRaw(gw, STREAM_ASK);
        assert.equal(res.status, 200, res.text);
        const events = sseEventsOf(res.text);
        assert.equal(streamedContent(events), 'a', res.text);
        assert.equal(events[events.length - 1], DONE, res.text);
        assert.ok(!events.some((e) => e.error), res.text);
    });

    it('a text block that also holds a toolUse is text, and no tool call', async () => {
        gw.fake.respond = () => converseAnswer({
            content: [
                { text: 'both', toolUse: { toolUseId: 't1', name: 'f', input: {} } },
                { toolUse: { toolUseId: 't2', name: 'g', input: {} } },
            ],
            stopReason: 'tool_use',
        });
        const res = await gw.chat(ASK);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.choices[0].message.content, 'both');
        assert.deepEqual(res.json.choices[0].message.tool_calls.map((c) => c.id), ['t2'], res.text);
    });

    it('a frame cut short after messageStop: an error event, no [DONE]', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'a'), bedrock.messageStop(),
            encodeFrame(bedrock.metadata()).subarray(0, 10),
        ], { truncateAfter: 4 });
        const res = await postRaw(gw, STREAM_ASK);
        assert.equal(res.status, 200, res.text);
        const events = sseEventsOf(res.text);
        const err = lastErrorEvent(events, 'the stream');
        assert.equal(err.type, 'server_error', JSON.stringify(err));
        assert.equal(streamedContent(events), 'a', res.text);
    });
});

describe('hostile Bedrock: $bedrock_error_type for a stream ended by an exception', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            http: 'log_format errtype \'$bedrock_error_type|$status\';',
            server: (fake) => [
                'access_log %%DIR%%/errtype.log errtype;',
                bedrockLocation('/v1/', { pass: fake.url }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());

    it('logs the exception\'s type', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'partial'), bedrock.exception('throttlingException', 'Slow down'),
        ], { stall: true });
        const res = await postRaw(gw, STREAM_ASK);
        assert.equal(res.status, 200, res.text);
        lastErrorEvent(sseEventsOf(res.text), 'the stream');
        const line = await until(() => gw.nginx.accessLog('errtype.log').split('\n').filter(Boolean)[0],
            'the access log line');
        assert.equal(line, 'throttlingException|200');
    });
});
