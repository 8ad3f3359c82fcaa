'use strict';

// Hostile clients: malformed and oversized input, model names that try to
// reach another Bedrock API, slow and pipelined connections, odd methods.
// Each gets the right OpenAI error, nothing the allowlist did not admit
// reaches Bedrock, and the gateway keeps serving.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');

const { startGateway, bedrockLocation } = require('./lib/gateway');
const { assertOpenAIError } = require('./lib/expect');
const { sleep } = require('./lib/http');

const USER = [{ role: 'user', content: 'Hi' }];
const JSON_HEADERS = { 'content-type': 'application/json' };

const WRONG_TYPES = [
    ['model', { model: 7, messages: USER }, 'model'],
    ['messages', { model: 'gpt-4o', messages: { role: 'user' } }, 'messages'],
    ['a message', { model: 'gpt-4o', messages: ['Hi'] }, 'messages[0]'],
    ['role', { model: 'gpt-4o', messages: [{ role: 1, content: 'x' }] }, 'messages[0].role'],
    ['content', { model: 'gpt-4o', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    ['a content part', { model: 'gpt-4o', messages: [{ role: 'user', content: [{ type: 'text', text: 3 }] }] },
        'messages[0].content[0].text'],
    ['tools', { model: 'gpt-4o', messages: USER, tools: { type: 'function' } }, 'tools'],
    ['tool_choice', { model: 'gpt-4o', messages: USER, tool_choice: 5 }, 'tool_choice'],
    ['stop', { model: 'gpt-4o', messages: USER, stop: 5 }, 'stop'],
    ['stream', { model: 'gpt-4o', messages: USER, stream: 'yes' }, 'stream'],
    ['stream_options', { model: 'gpt-4o', messages: USER, stream_options: 'x' }, 'stream_options'],
    ['max_tokens', { model: 'gpt-4o', messages: USER, max_tokens: '10' }, 'max_tokens'],
    ['max_completion_tokens', { model: 'gpt-4o', messages: USER, max_completion_tokens: 1.5 },
        'max_completion_tokens'],
    ['temperature', { model: 'gpt-4o', messages: USER, temperature: '0.5' }, 'temperature'],
    ['top_p', { model: 'gpt-4o', messages: USER, top_p: true }, 'top_p'],
    ['n', { model: 'gpt-4o', messages: USER, n: '1' }, 'n'],
    ['logprobs', { model: 'gpt-4o', messages: USER, logprobs: 'x' }, 'logprobs'],
    ['response_format', { model: 'gpt-4o', messages: USER, response_format: { type: 5 } }, 'response_format'],
    ['tool_calls', { model: 'gpt-4o', messages: [{ role: 'assistant', tool_calls: { id: 'x' } }] },
        'messages[0].tool_calls'],
    ['tool_call_id', { model: 'gpt-4o', messages: [{ role: 'tool', tool_call_id: 4, content: 'x' }] },
        'messages[0].tool_call_id'],
];

const OUT_OF_RANGE = [
    ['max_tokens 1e400', '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":1e400}',
        'max_tokens'],
    ['max_tokens beyond 64 bits',
        '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":99999999999999999999999}',
        'max_tokens'],
    ['temperature 1e400', '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"temperature":1e400}',
        'temperature'],
    ['negative top_p', '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"top_p":-0.5}', 'top_p'],
];

// model strings that must neither break the request line nor reach another
// Bedrock API nor get past the allowlist
const NASTY_MODELS = ['gpt-4o\r\nX-Injected: 1', 'gpt-4o\n', '../converse', '..', '.', 'gpt-4o?x=1',
    'gpt-4o#frag', 'gpt-4o%2F..', 'gpt-4o/../../guardrail', ' gpt-4o', 'GPT-4O', ''];

function rawExchange(port, data, { waitMs = 3000 } = {}) {
    return new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1');
        let text = '';
        sock.on('data', (d) => { text += d; });
        sock.on('error', () => {});
        sock.on('close', () => resolve(text));
        sock.write(data);
        setTimeout(() => sock.destroy(), waitMs);
    });
}

function chatRequest(body, extra = '') {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    return `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}`
        + `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
}

describe('hostile clients', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            http: 'client_header_timeout 1s; client_body_timeout 1s;',
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url }),
                bedrockLocation('/any/v1/', { pass: fake.url, extra: 'bedrock_model_passthrough on;' }),
            ].join('\n'),
        });
    });
    after(async () => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('invalid UTF-8 inside a JSON string: 400', async () => {
        const body = Buffer.concat([
            Buffer.from('{"model":"gpt-4o","messages":[{"role":"user","content":"'),
            Buffer.from([0xff, 0xfe, 0x80]),
            Buffer.from('"}]}'),
        ]);
        assertOpenAIError(await gw.chat(body, { headers: JSON_HEADERS }), 400, { type: 'invalid_request_error' });
        assert.equal(gw.fake.requests.length, 0);
    });

    it('10,000 levels of nesting: 400', async () => {
        const body = `{"model":"gpt-4o","messages":${'['.repeat(10000)}${']'.repeat(10000)}}`;
        assertOpenAIError(await gw.chat(body, { headers: JSON_HEADERS }), 400, { message: /nesting/ });
    });

    it('a huge string is translated whole', async () => {
        const text = 'z'.repeat(900 * 1024);
        const res = await gw.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: text }] });
        assert.equal(res.status, 200, res.text.slice(0, 300));
        assert.equal(gw.fake.last.json.messages[0].content[0].text, text);
    });

    it('a huge array: 400, before any call', async () => {
        const messages = Array.from({ length: 100000 }, () => ({ role: 'user', content: 'x' }));
        const res = await gw.chat({ model: 'gpt-4o', messages }, { headers: JSON_HEADERS });
        assert.ok([400, 413].includes(res.status), res.text);
        assertOpenAIError(res, res.status);
        assert.equal(gw.fake.requests.length, 0);
    });

    for (const [name, body, param] of WRONG_TYPES) {
        it(`wrong type of ${name}: 400 naming ${param}`, async () => {
            assertOpenAIError(await gw.chat(body), 400, { type: 'invalid_request_error', param });
            assert.equal(gw.fake.requests.length, 0);
        });
    }

    for (const [name, body, param] of OUT_OF_RANGE) {
        it(`${name}: 400`, async () => {
            assertOpenAIError(await gw.chat(body, { headers: JSON_HEADERS }), 400, { param });
        });
    }

    for (const model of NASTY_MODELS) {
        it(`model ${JSON.stringify(model)} reaches no Bedrock API`, async () => {
            for (const prefix of ['/v1/', '/any/v1/']) {
                const res = await gw.chat({ model, messages: USER }, { prefix });
                if (res.status === 200) {
                    // only a passthrough of a well-formed id may pass, to
                    // Converse, percent-encoded into one path segment
                    assert.equal(prefix, '/any/v1/');
                    assert.match(gw.fake.last.path, /^\/model\/[A-Za-z0-9._~%-]+\/converse$/);
                    assert.equal(gw.fake.last.modelId, model);
                } else {
                    assertOpenAIError(res, [400, 404]);
                }
            }
            for (const rec of gw.fake.requests) {
                assert.ok(!JSON.stringify(rec.headers).includes('X-Injected'), 'header injected');
            }
        });
    }

    it('pipelined requests are answered in order', async () => {
        const one = chatRequest({ model: 'gpt-4o', messages: [{ role: 'user', content: 'first' }] });
        const two = chatRequest({ model: 'nope', messages: USER }, 'Connection: close\r\n');
        const text = await rawExchange(gw.nginx.port, one + two);
        const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
        assert.deepEqual(statuses, [200, 404], text);
        assert.equal(gw.fake.requests.length, 1);
    });

    it('slowloris headers are cut off, and the gateway keeps serving', async () => {
        const start = Date.now();
        const text = await new Promise((resolve) => {
            const sock = net.connect(gw.nginx.port, '127.0.0.1');
            let got = '';
            sock.on('data', (d) => { got += d; });
            sock.on('error', () => {});
            sock.on('close', () => resolve(got));
            sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
            const drip = setInterval(() => {
                if (!sock.destroyed) {
                    sock.write('X');
                }
            }, 400);
            sock.on('close', () => clearInterval(drip));
            setTimeout(() => sock.destroy(), 6000);
        });
        assert.ok(Date.now() - start < 5000, 'nginx closed the slow connection');
        assert.doesNotMatch(text, /HTTP\/1\.1 200/);
        assert.equal(gw.fake.requests.length, 0);
        assert.equal((await gw.chat({ model: 'gpt-4o', messages: USER })).status, 200);
    });

    it('a body that stalls is cut off by client_body_timeout', async () => {
        const start = Date.now();
        const text = await new Promise((resolve) => {
            const sock = net.connect(gw.nginx.port, '127.0.0.1');
            let got = '';
            sock.on('data', (d) => { got += d; });
            sock.on('error', () => {});
            sock.on('close', () => resolve(got));
            sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model":');
            setTimeout(() => sock.destroy(), 6000);
        });
        await sleep(10);
        assert.ok(Date.now() - start < 5000, 'nginx gave up on the body');
        assert.doesNotMatch(text, /HTTP\/1\.1 200/);
        assert.equal(gw.fake.requests.length, 0);
    });

    it('other methods get 405 with Allow; HEAD of the model list has no body', async () => {
        for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
            const res = await gw.call(method, '/v1/chat/completions', { body: '{}' });
            assertOpenAIError(res, 405, { code: 'method_not_allowed' });
            assert.equal(res.headers.allow, 'POST');
        }
        const res = await gw.call('POST', '/v1/models', { body: '{}' });
        assertOpenAIError(res, 405);
        assert.equal(res.headers.allow, 'GET, HEAD');

        const headRes = await gw.call('HEAD', '/v1/models');
        assert.equal(headRes.status, 200);
        assert.equal(headRes.text, '');
        assert.equal(gw.fake.requests.length, 0);
    });
});
