'use strict';

// The Anthropic Messages API through the gateway, driven by the official
// @anthropic-ai/sdk: Claude models through InvokeModel (bodies rewritten,
// streams unwrapped), other models through Converse, count_tokens, errors
// in Anthropic's shape, and the Anthropic model list.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const Anthropic = require('@anthropic-ai/sdk').default;

const { awsError, converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock } = require('./lib/eventstream');
const { startGateway, CLIENT_API_KEY, HAIKU_ID, NOVA_ID } = require('./lib/gateway');

const APP_ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';

// One Anthropic stream event inside an InvokeModelWithResponseStream frame.
function chunk(event) {
    return { event: 'chunk', payload: { bytes: Buffer.from(JSON.stringify(event)).toString('base64') } };
}

function claudeMessage(content, extra = {}) {
    return {
        id: 'msg_bdrk_01', type: 'message', role: 'assistant', model: 'claude-3-haiku-20240307',
        content, stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 4 }, ...extra,
    };
}

function claudeStream(deltas, { stop = 'end_turn', metrics = true } = {}) {
    return [
        chunk({ type: 'message_start', message: claudeMessage([], { usage: { input_tokens: 9, output_tokens: 1 } }) }),
        chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
        ...deltas.map((text) => chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })),
        chunk({ type: 'content_block_stop', index: 0 }),
        chunk({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 6 } }),
        chunk({
            type: 'message_stop',
            ...(metrics ? { 'amazon-bedrock-invocationMetrics': { inputTokenCount: 9, outputTokenCount: 6 } } : {}),
        }),
    ];
}

describe('the Anthropic SDK through /v1/messages', () => {
    let gw;
    let client;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                'location /v1/ {',
                `    bedrock_pass ${fake.url};`,
                '    bedrock_region us-east-1;',
                `    bedrock_model_map claude ${HAIKU_ID};`,
                `    bedrock_model_map nova ${NOVA_ID};`,
                `    bedrock_model_map app ${APP_ARN} claude;`,
                '}',
            ].join('\n'),
        });
        client = new Anthropic({ baseURL: gw.url, apiKey: CLIENT_API_KEY, maxRetries: 0, timeout: 10000 });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('messages.create on Claude: InvokeModel with the Bedrock body, the answer as it is', async () => {
        const answer = claudeMessage([{ type: 'text', text: 'Bonjour' }]);
        gw.fake.respond = () => ({ status: 200, body: answer });

        const msg = await client.messages.create({
            model: 'claude',
            max_tokens: 64,
            system: [{ type: 'text', text: 'Be terse.', cache_control: { type: 'ephemeral' } }],
            messages: [{ role: 'user', content: 'Hi' }],
            thinking: { type: 'enabled', budget_tokens: 1024 },
        }, { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14, prompt-caching-2024-07-31,advanced-tool-use-2025-11-20' } });

        assert.deepEqual(msg.content, answer.content);
        assert.equal(msg.id, 'msg_bdrk_01');

        assert.equal(gw.fake.requests.length, 1);
        const req = gw.fake.requests[0];
        assert.equal(req.modelId, HAIKU_ID);
        assert.equal(req.op, 'invoke');
        assert.equal(req.json.anthropic_version, 'bedrock-2023-05-31');
        assert.equal('model' in req.json, false);
        assert.equal('stream' in req.json, false);
        assert.deepEqual(req.json.anthropic_beta,
            ['interleaved-thinking-2025-05-14', 'tool-search-tool-2025-10-19']);
        assert.deepEqual(req.json.thinking, { type: 'enabled', budget_tokens: 1024 });
        assert.deepEqual(req.json.system[0].cache_control, { type: 'ephemeral' });
        assert.equal(req.headers['x-api-key'], undefined);
        assert.ok(!JSON.stringify(req.headers).includes(CLIENT_API_KEY));
        assert.match(gw.nginx.errorLog(), /anthropic-beta not sent to Bedrock.*prompt-caching-2024-07-31/);
    });

    it('a marked application profile ARN is a Claude model', async () => {
        gw.fake.respond = () => ({ status: 200, body: claudeMessage([{ type: 'text', text: 'ok' }]) });
        await client.messages.create({ model: 'app', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
        assert.equal(gw.fake.requests[0].modelId, APP_ARN);
        assert.equal(gw.fake.requests[0].op, 'invoke');
    });

    it('messages.stream on Claude: each chunk is one event, the SDK assembles the text', async () => {
        gw.fake.respond = () => eventStreamAnswer(claudeStream(['Hel', 'lo', ' there']),
            { split: 'random', seed: 7, maxPiece: 13 });

        const stream = client.messages.stream({ model: 'claude', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
        const texts = [];
        stream.on('text', (t) => texts.push(t));
        const final = await stream.finalMessage();

        assert.deepEqual(texts, ['Hel', 'lo', ' there']);
        assert.equal(final.content[0].text, 'Hello there');
        assert.equal(final.stop_reason, 'end_turn');
        assert.equal(final.usage.output_tokens, 6);
        assert.equal(gw.fake.requests[0].op, 'invoke-with-response-stream');
    });

    it('raw stream: event lines name each event, with thinking signatures and tool input', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            chunk({ type: 'message_start', message: claudeMessage([]) }),
            chunk({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
            chunk({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
            chunk({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBsig' } }),
            chunk({ type: 'content_block_stop', index: 0 }),
            chunk({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }),
            chunk({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }),
            chunk({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }),
            chunk({ type: 'content_block_stop', index: 1 }),
            chunk({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 20 } }),
            chunk({ type: 'message_stop' }),
        ]);

        const stream = client.messages.stream({
            model: 'claude', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 },
            messages: [{ role: 'user', content: 'Weather?' }],
            tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
        });
        const final = await stream.finalMessage();
        assert.equal(final.content[0].type, 'thinking');
        assert.equal(final.content[0].thinking, 'hmm');
        assert.equal(final.content[0].signature, 'EqQBsig');
        assert.deepEqual(final.content[1], { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } });
        assert.equal(final.stop_reason, 'tool_use');
    });

    it('a throttling exception mid-stream is an error event the SDK raises', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            ...claudeStream(['partial']).slice(0, 3),
            bedrock.exception('throttlingException', 'Too many tokens'),
        ]);
        const stream = client.messages.stream({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
        await assert.rejects(stream.finalMessage(), (err) => {
            assert.match(String(err.message), /rate_limit_error/);
            return true;
        });
    });

    it('exceptions keep their class; an Anthropic error chunk is passed on once', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            ...claudeStream(['x']).slice(0, 2),
            bedrock.exception('serviceUnavailableException', 'busy'),
        ]);
        let res = await gw.call('POST', '/v1/messages', { body: { model: 'claude', max_tokens: 8, stream: true,
            messages: [{ role: 'user', content: 'Hi' }] } });
        assert.equal(res.status, 200);
        assert.match(res.text, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/);

        gw.fake.respond = () => eventStreamAnswer([
            ...claudeStream(['x']).slice(0, 2),
            chunk({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
        ]);
        res = await gw.call('POST', '/v1/messages', { body: { model: 'claude', max_tokens: 8, stream: true,
            messages: [{ role: 'user', content: 'Hi' }] } });
        assert.equal(res.text.match(/event: error/g).length, 1, res.text);
        assert.match(res.text, /"message":"Overloaded"/);
    });

    it('a stream cut before message_stop ends with an error event', async () => {
        gw.fake.respond = () => eventStreamAnswer(claudeStream(['cut']).slice(0, 3));
        const stream = client.messages.stream({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
        await assert.rejects(stream.finalMessage(), /api_error|ended before/);
    });

    it('messages.create on Nova: Converse, translated both ways', async () => {
        gw.fake.respond = () => converseAnswer({
            content: [
                { reasoningContent: { reasoningText: { text: 'think', signature: 'sig-1' } } },
                { text: 'Calling.' },
                { toolUse: { toolUseId: 'tooluse_9', name: 'get_weather', input: { city: 'Oslo' } } },
            ],
            stopReason: 'tool_use',
            usage: { inputTokens: 30, outputTokens: 7, totalTokens: 40, cacheReadInputTokens: 3 },
        });

        const msg = await client.messages.create({
            model: 'nova',
            max_tokens: 100,
            temperature: 0.5,
            stop_sequences: ['END'],
            system: 'You are brief.',
            tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }],
            tool_choice: { type: 'any' },
            messages: [
                { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo?', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
                { role: 'assistant', content: [
                    { type: 'thinking', thinking: 'earlier', signature: 'sig-0' },
                    { type: 'tool_use', id: 'tooluse_1', name: 'get_weather', input: { city: 'Bergen' } },
                ] },
                { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tooluse_1', content: 'rain', is_error: true }] },
            ],
        });

        assert.equal(msg.type, 'message');
        assert.match(msg.id, /^msg_/);
        assert.equal(msg.model, 'nova');
        assert.deepEqual(msg.content, [
            { type: 'thinking', thinking: 'think', signature: 'sig-1' },
            { type: 'text', text: 'Calling.' },
            { type: 'tool_use', id: 'tooluse_9', name: 'get_weather', input: { city: 'Oslo' } },
        ]);
        assert.equal(msg.stop_reason, 'tool_use');
        assert.equal(msg.usage.input_tokens, 30);
        assert.equal(msg.usage.cache_read_input_tokens, 3);

        const req = gw.fake.requests[0];
        assert.equal(req.modelId, NOVA_ID);
        assert.equal(req.op, 'converse');
        assert.deepEqual(req.json.inferenceConfig, { maxTokens: 100, temperature: 0.5, stopSequences: ['END'] });
        assert.deepEqual(req.json.system, [{ text: 'You are brief.' }]);
        assert.deepEqual(req.json.messages[0].content,
            [{ text: 'Weather in Oslo?' }, { cachePoint: { type: 'default', ttl: '1h' } }]);
        assert.deepEqual(req.json.messages[1].content, [
            { reasoningContent: { reasoningText: { text: 'earlier', signature: 'sig-0' } } },
            { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Bergen' } } },
        ]);
        assert.deepEqual(req.json.messages[2].content,
            [{ toolResult: { toolUseId: 'tooluse_1', content: [{ text: 'rain' }], status: 'error' } }]);
        assert.deepEqual(req.json.toolConfig.tools[0],
            { toolSpec: { name: 'get_weather', description: 'Weather', inputSchema: { json: { type: 'object' } } } });
        assert.deepEqual(req.json.toolConfig.tools[1], { cachePoint: { type: 'default' } });
        assert.deepEqual(req.json.toolConfig.toolChoice, { any: {} });
    });

    it('messages.stream on Nova: Converse events become Anthropic events', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(),
            bedrock.reasoning(0, { text: 'pondering' }),
            bedrock.reasoning(0, { signature: 'sig-x' }),
            bedrock.blockStop(0),
            bedrock.text(1, 'Sun'),
            bedrock.text(1, 'ny'),
            bedrock.blockStop(1),
            bedrock.toolStart(2, 'tooluse_2', 'get_weather'),
            bedrock.toolInput(2, '{"city"'),
            bedrock.toolInput(2, ':"Rome"}'),
            bedrock.blockStop(2),
            bedrock.messageStop('tool_use'),
            bedrock.metadata({ inputTokens: 11, outputTokens: 5, totalTokens: 16 }),
        ], { split: 'random', seed: 3 });

        const stream = client.messages.stream({ model: 'nova', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] });
        const final = await stream.finalMessage();
        assert.equal(final.content.length, 3);
        assert.deepEqual(final.content[0], { type: 'thinking', thinking: 'pondering', signature: 'sig-x' });
        assert.equal(final.content[1].type, 'text');
        assert.equal(final.content[1].text, 'Sunny');
        assert.deepEqual(final.content[2], { type: 'tool_use', id: 'tooluse_2', name: 'get_weather', input: { city: 'Rome' } });
        assert.equal(final.stop_reason, 'tool_use');
        assert.equal(final.usage.output_tokens, 5);
        assert.equal(gw.fake.requests[0].op, 'converse-stream');
    });

    it('countTokens: CountTokens on the foundation model, as input_tokens', async () => {
        gw.fake.respond = () => ({ status: 200, body: { inputTokens: 42 } });
        const res = await client.messages.countTokens({
            model: 'claude', system: 'S', messages: [{ role: 'user', content: 'count me' }],
            thinking: { type: 'enabled', budget_tokens: 2000 },
        });
        assert.equal(res.input_tokens, 42);

        const req = gw.fake.requests[0];
        assert.equal(req.op, 'count-tokens');
        assert.equal(req.modelId, 'anthropic.claude-3-haiku-20240307-v1:0');
        const inner = JSON.parse(Buffer.from(req.json.input.invokeModel.body, 'base64').toString());
        assert.equal(inner.anthropic_version, 'bedrock-2023-05-31');
        assert.equal(inner.max_tokens, 2001);
        assert.deepEqual(inner.messages, [{ role: 'user', content: 'count me' }]);
        assert.equal(inner.system, 'S');
        assert.equal('model' in inner, false);

        gw.fake.reset();
        gw.fake.respond = () => ({ status: 200, body: { inputTokens: 7 } });
        const nova = await client.messages.countTokens({ model: 'nova', messages: [{ role: 'user', content: 'x' }] });
        assert.equal(nova.input_tokens, 7);
        assert.deepEqual(gw.fake.requests[0].json,
            { input: { converse: { messages: [{ role: 'user', content: [{ text: 'x' }] }] } } });
    });

    it('errors take Anthropic shapes and the SDK error classes', async () => {
        const hi = { max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] };

        await assert.rejects(client.messages.create({ model: 'unmapped', ...hi }), (err) => {
            assert.ok(err instanceof Anthropic.NotFoundError, err.constructor.name);
            assert.equal(err.error.type, 'error');
            assert.equal(err.error.error.type, 'not_found_error');
            return true;
        });
        assert.equal(gw.fake.requests.length, 0);

        await assert.rejects(client.messages.create({ model: 'claude', messages: hi.messages }),
            (err) => err instanceof Anthropic.BadRequestError && err.error.error.type === 'invalid_request_error');
        assert.equal(gw.fake.requests.length, 0);

        gw.fake.respond = () => awsError(429, 'ThrottlingException', 'Too many requests');
        await assert.rejects(client.messages.create({ model: 'claude', ...hi }), (err) => {
            assert.ok(err instanceof Anthropic.RateLimitError, err.constructor.name);
            assert.equal(err.error.error.type, 'rate_limit_error');
            assert.ok(err.headers.get('retry-after'));
            return true;
        });

        gw.fake.respond = () => awsError(503, 'ServiceUnavailableException', 'busy');
        await assert.rejects(client.messages.create({ model: 'nova', ...hi }), (err) => {
            assert.equal(err.status, 529);
            assert.equal(err.error.error.type, 'overloaded_error');
            return true;
        });

        gw.fake.respond = () => awsError(400, 'ValidationException', 'max_tokens exceeds the model limit');
        await assert.rejects(client.messages.create({ model: 'claude', ...hi }), (err) => {
            assert.ok(err instanceof Anthropic.BadRequestError);
            assert.match(err.error.error.message, /max_tokens exceeds/);
            return true;
        });
    });

    it('bad bodies are 400 invalid_request_error without a call', async () => {
        for (const body of ['{', '[]', '{"model":"claude","max_tokens":1,"messages":"x"}',
            '{"model":"nova","max_tokens":1,"messages":[{"role":"system","content":"x"}]}',
            '{"model":"nova","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}']) {
            const res = await gw.call('POST', '/v1/messages', { body, headers: { 'content-type': 'application/json' } });
            assert.equal(res.status, 400, body);
            assert.equal(res.json.type, 'error', body);
            assert.equal(res.json.error.type, 'invalid_request_error', body);
        }
        assert.equal(gw.fake.requests.length, 0);
    });

    it('GET /v1/models answers in Anthropic shape with anthropic-version', async () => {
        const page = await client.models.list();
        const ids = [];
        for await (const m of page) {
            ids.push(m.id);
            assert.equal(m.type, 'model');
            assert.match(m.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        }
        assert.deepEqual(ids, ['claude', 'nova', 'app']);

        const one = await client.models.retrieve('nova');
        assert.equal(one.id, 'nova');
        await assert.rejects(client.models.retrieve('nope'), (err) => err instanceof Anthropic.NotFoundError);

        const openai = await gw.call('GET', '/v1/models');
        assert.equal(openai.json.object, 'list');
    });
});

// Bedrock's recorded ConverseStream answers, split at random bytes, through
// the Converse path of /v1/messages and the Anthropic SDK's accumulator.
describe('recorded ConverseStream answers through /v1/messages', () => {
    const { loadStreamRecordings } = require('./lib/fake-bedrock');
    const recordings = loadStreamRecordings();
    let gw;
    let client;

    before(async () => {
        if (recordings.length === 0) {
            return;
        }
        gw = await startGateway({
            server: (fake) => `location /v1/ { bedrock_pass ${fake.url}; bedrock_region us-east-1; ` +
                `bedrock_model_map nova ${NOVA_ID}; }`,
        });
        client = new Anthropic({ baseURL: gw.url, apiKey: CLIENT_API_KEY, maxRetries: 0, timeout: 10000 });
    });
    after(() => gw && gw.stop());

    it('has recordings to replay', { skip: recordings.length === 0 && 'no ../shared/vectors' }, () => {
        assert.ok(recordings.length > 0);
    });

    for (const rec of recordings) {
        const events = rec.frames.filter((f) => f.headers[':message-type'] === 'event');
        const failed = rec.frames.some((f) => f.headers[':message-type'] !== 'event');
        const text = events.filter((f) => f.headers[':event-type'] === 'contentBlockDelta' && f.payload.delta.text)
            .map((f) => f.payload.delta.text).join('');
        // a server-side tool is Bedrock's business: the client sees no tool_use for it
        const tools = events.filter((f) => f.headers[':event-type'] === 'contentBlockStart' &&
            f.payload.start.toolUse && f.payload.start.toolUse.type !== 'server_tool_use');
        const stop = events.find((f) => f.headers[':event-type'] === 'messageStop');

        for (const seed of [1, 2]) {
            it(`${rec.name}, seed ${seed}`, async () => {
                gw.fake.respond = () => eventStreamAnswer([rec.bin], { split: 'random', seed, maxPiece: 29 });
                const stream = client.messages.stream({ model: 'nova', max_tokens: 64,
                    messages: [{ role: 'user', content: 'Hi' }] });
                if (failed) {
                    await assert.rejects(stream.finalMessage());
                    return;
                }
                const final = await stream.finalMessage();
                const got = final.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
                assert.equal(got, text);
                assert.deepEqual(final.content.filter((b) => b.type === 'tool_use').map((b) => b.id),
                    tools.map((f) => f.payload.start.toolUse.toolUseId));
                const want = { end_turn: 'end_turn', tool_use: 'tool_use', max_tokens: 'max_tokens',
                    guardrail_intervened: 'refusal', content_filtered: 'refusal' }[stop.payload.stopReason];
                assert.equal(final.stop_reason, want);
            });
        }
    }
});
