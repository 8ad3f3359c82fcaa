'use strict';

// Client request bodies in every framing nginx accepts: in memory, spooled
// to a temp file (larger than client_body_buffer_size), and chunked.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { startGateway, bedrockLocation, HAIKU_ID, TEST_CREDENTIALS } = require('./lib/gateway');
const { assertUpstreamCall } = require('./lib/expect');

const SPOOLED = /a client request body is buffered to a temporary file/;

// ~`bytes` of numbered lines, so a lost or reordered piece shows.
function makePrompt(bytes) {
    const lines = [];
    let size = 0;
    for (let i = 0; size < bytes; i++) {
        const line = `line ${String(i).padStart(5, '0')}: the quick brown fox jumps over the lazy dog\n`;
        lines.push(line);
        size += line.length;
    }
    return lines.join('');
}

const chatBody = (content) => JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content }] });

// Splits a Buffer into n pieces (cutting through multi-byte characters).
function slices(buf, n) {
    const step = Math.ceil(buf.length / n);
    return Array.from({ length: n }, (_, i) => buf.subarray(i * step, (i + 1) * step)).filter((b) => b.length);
}

describe('client request bodies', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            server: (fake) => bedrockLocation('/v1/', { pass: fake.url, extra: 'client_body_buffer_size 1k;' }),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    async function expectPrompt(res, prompt) {
        assert.equal(res.status, 200, res.text);
        assert.equal(gw.fake.requests.length, 1);
        assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS });
        const sent = gw.fake.last.json.messages[0].content[0].text;
        assert.equal(sent.length, prompt.length, 'prompt length');
        assert.equal(sent, prompt);
    }

    it('translates a body spooled to a temp file', async () => {
        const prompt = makePrompt(20 * 1024);
        const res = await gw.chat(chatBody(prompt), { headers: { 'content-type': 'application/json' } });
        await expectPrompt(res, prompt);
        assert.match(gw.nginx.errorLog(), SPOOLED, 'nginx spooled the body');
    });

    it('translates a small chunked body', async () => {
        const prompt = 'caf\u00e9 \u65e5\u672c\u8a9e "quoted" \\ \u{1F600} done';
        const res = await gw.chat(undefined, {
            headers: { 'content-type': 'application/json' },
            chunks: slices(Buffer.from(chatBody(prompt)), 7),
        });
        await expectPrompt(res, prompt);
    });

    it('translates a large chunked body', async () => {
        const prompt = makePrompt(20 * 1024);
        const res = await gw.chat(undefined, {
            headers: { 'content-type': 'application/json' },
            chunks: slices(Buffer.from(chatBody(prompt)), 10),
            chunkDelayMs: 5,
        });
        await expectPrompt(res, prompt);
    });

    it('translates a chunked body sent by fetch with a stream', async () => {
        const prompt = makePrompt(4 * 1024);
        const pieces = slices(Buffer.from(chatBody(prompt)), 4);
        const stream = new ReadableStream({
            pull(controller) {
                const next = pieces.shift();
                if (next) {
                    controller.enqueue(next);
                } else {
                    controller.close();
                }
            },
        });
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
            body: stream,
            duplex: 'half',
            signal: AbortSignal.timeout(10000),
        });
        const text = await res.text();
        await expectPrompt({ status: res.status, text }, prompt);
    });
});
