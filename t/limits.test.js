'use strict';

// Limits and awkward input: every one is a clean OpenAI error (never a 500,
// a crash or a hang), and what the log records cannot be forged by clients.
// Also: retries on another upstream server with bedrock_next_upstream.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { startFake, awsError, converseAnswer } = require('./lib/fake-bedrock');
const { startGateway, bedrockLocation, modelMapDirectives } = require('./lib/gateway');
const { assertOpenAIError } = require('./lib/expect');

const USER = [{ role: 'user', content: 'Hi' }];
const fn = (name) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });

function nested(depth) {
    let schema = { type: 'string' };
    for (let i = 0; i < depth; i++) {
        schema = { type: 'object', properties: { x: schema } };
    }
    return schema;
}

describe('limits and awkward input', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url }),
                bedrockLocation('/big/v1/', { pass: fake.url, extra: 'client_max_body_size 0;' }),
            ].join('\n'),
        });
    });
    after(async () => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('more than 128 tools: 400', async () => {
        const tools = Array.from({ length: 129 }, (_, i) => fn(`f${i}`));
        const res = await gw.chat({ model: 'gpt-4o', messages: USER, tools });
        assertOpenAIError(res, 400, { param: 'tools' });
        assert.equal(gw.fake.requests.length, 0);
    });

    it('allowed_tools naming none of the tools: 400', async () => {
        const res = await gw.chat({
            model: 'gpt-4o',
            messages: USER,
            tools: [fn('a'), fn('b')],
            tool_choice: {
                type: 'allowed_tools',
                allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'c' } }] },
            },
        });
        assertOpenAIError(res, 400, { param: 'tool_choice' });
    });

    it('tool_choice "none" with tool calls in the history: only their names reach Converse', async () => {
        const res = await gw.chat({
            model: 'gpt-4o',
            tools: [fn('get_weather'), fn('get_time')],
            tool_choice: 'none',
            messages: [
                { role: 'user', content: 'Weather?' },
                {
                    role: 'assistant',
                    tool_calls: [
                        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
                        { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
                    ],
                },
                { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
                { role: 'tool', tool_call_id: 'call_2', content: 'warm' },
            ],
        });
        assert.equal(res.status, 200, res.text);
        const config = gw.fake.last.json.toolConfig;
        assert.deepEqual(config.tools.map((t) => t.toolSpec.name), ['get_weather']);
        assert.equal(config.toolChoice, undefined);
    });

    it('too many JSON values: 400, not a memory blow-up', async () => {
        const body = `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"metadata":[${
            '[],'.repeat(300000)}[]]}`;
        const res = await gw.chat(body, { headers: { 'content-type': 'application/json' } });
        assertOpenAIError(res, 400, { type: 'invalid_request_error', message: /too many JSON values/ });
        assert.equal(gw.fake.requests.length, 0);
    });

    it('nesting: 95 levels of tool parameters pass, 101 are refused', async () => {
        const ok = await gw.chat({ model: 'gpt-4o', messages: USER, tools: [{
            type: 'function', function: { name: 'deep', parameters: nested(47) },
        }] });
        assert.equal(ok.status, 200, ok.text);
        assert.deepEqual(gw.fake.last.json.toolConfig.tools[0].toolSpec.inputSchema.json, nested(47));

        const deep = await gw.chat({ model: 'gpt-4o', messages: USER, tools: [{
            type: 'function', function: { name: 'deep', parameters: nested(51) },
        }] });
        assertOpenAIError(deep, 400, { message: /nesting/ });
    });

    it('bytes that are not UTF-8 in the URL: the usual 404s', async () => {
        assertOpenAIError(await gw.call('GET', '/v1/models/%ff%fe'), 404, { code: 'model_not_found' });
        assertOpenAIError(await gw.call('GET', '/v1/%ff/x'), 404, { code: 'unknown_url' });
    });

    it('a message cut inside a multi-byte character is still valid JSON', async () => {
        const res = await gw.chat({ model: 'gpt-4o', messages: [{ role: `a${'é'.repeat(700)}`, content: 'x' }] });
        assertOpenAIError(res, 400, { param: 'messages[0].role' });
    });

    it('a client cannot write lines into the error log', async () => {
        const res = await gw.chat({
            model: 'gpt-4o',
            messages: [{ role: 'x\n2026/01/01 00:00:00 [alert] 1#1: forged line', content: 'x' }],
        });
        assertOpenAIError(res, 400);
        assert.doesNotMatch(gw.nginx.errorLog(), /forged line/);
    });

    it('a body over 64 MB is refused with 413 even without client_max_body_size', async () => {
        const body = Buffer.alloc(64 * 1024 * 1024 + 1, 0x20);
        const res = await gw.call('POST', '/big/v1/chat/completions', {
            body, headers: { 'content-type': 'application/json' }, timeoutMs: 60000,
        });
        assertOpenAIError(res, 413, { code: 'request_too_large' });
        assert.equal(gw.fake.requests.length, 0);
    });
});

describe('bedrock_next_upstream', () => {
    let gw;
    let backup;

    before(async () => {
        backup = await startFake();
        gw = await startGateway({
            http: (fake) => [
                'upstream two_fakes {',
                `    server 127.0.0.1:${fake.port} max_fails=0;`,
                `    server 127.0.0.1:${backup.port} backup;`,
                '}',
            ].join('\n'),
            server: () => [
                'location /v1/ {',
                '    bedrock_pass http://two_fakes;',
                '    bedrock_region us-east-1;',
                '    bedrock_next_upstream error timeout http_503 non_idempotent;',
                modelMapDirectives(),
                '}',
                'location /once/v1/ {',
                '    bedrock_pass http://two_fakes;',
                '    bedrock_region us-east-1;',
                modelMapDirectives(),
                '}',
            ].join('\n'),
        });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            await backup.close();
        }
    });
    beforeEach(() => {
        gw.fake.reset();
        backup.reset();
        gw.fake.respond = () => awsError(503, 'ServiceUnavailableException', 'try later');
        backup.respond = () => converseAnswer({
            text: 'from the backup',
            usage: { inputTokens: 3, outputTokens: 2, totalTokens: 5 },
        });
    });

    it('a 503 is retried on the backup server when configured', async () => {
        const res = await gw.chat({ model: 'gpt-4o', messages: USER });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.choices[0].message.content, 'from the backup');
        assert.equal(res.json.usage.prompt_tokens, 3);
        assert.equal(gw.fake.requests.length, 1);
        assert.equal(backup.requests.length, 1);
    });

    it('without it, a sent POST is never repeated', async () => {
        const res = await gw.chat({ model: 'gpt-4o', messages: USER }, { prefix: '/once/v1/' });
        // the gateway's own text: only a ValidationException passes Bedrock's on
        assertOpenAIError(res, 503, { type: 'server_error', message: /Bedrock is unavailable/ });
        assert.ok(!res.json.error.message.includes('try later'), res.json.error.message);
        assert.equal(gw.fake.requests.length, 1);
        assert.equal(backup.requests.length, 0);
    });
});
