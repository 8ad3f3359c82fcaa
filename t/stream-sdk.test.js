'use strict';

// The official openai SDK consuming streams through nginx: content, tool
// calls (with its accumulating stream helper), reasoning, usage, and the
// error each failure raises.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');

const { awsError, eventStreamAnswer, loadConverseVectors } = require('./lib/fake-bedrock');
const { bedrock, textStream } = require('./lib/eventstream');
const { startGateway } = require('./lib/gateway');
const { USER_HI } = require('./lib/stream-expect');
const { LEAD_TEXT, streamLocations, MID_STREAM_FAILURES } = require('./lib/stream-cases');

const WEATHER = {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

describe('the openai SDK with stream: true', () => {
    let gw;

    before(async () => {
        gw = await startGateway({ server: streamLocations });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    // Iterates a stream, keeping what arrived before it threw.
    async function consume(request, { baseURL } = {}) {
        const chunks = [];
        const client = gw.openai(baseURL ? { baseURL: `${gw.url}${baseURL}` } : {});
        let error = null;
        try {
            const stream = await client.chat.completions.create({
                model: 'gpt-4o', messages: USER_HI, stream: true, ...request,
            });
            for await (const chunk of stream) {
                chunks.push(chunk);
            }
        } catch (err) {
            error = err;
        }
        const text = (field) => chunks.map((c) => (c.choices[0] && c.choices[0].delta[field]) || '').join('');
        return { chunks, error, content: text('content'), reasoning: text('reasoning_content') };
    }

    const finishReasons = (chunks) => chunks.map((c) => c.choices[0] && c.choices[0].finish_reason).filter(Boolean);

    it('streams text', async () => {
        gw.fake.respond = () => eventStreamAnswer(textStream(['Hello', ' from', ' the SDK']), { split: 'random' });
        const { chunks, error, content } = await consume();
        assert.equal(error, null);
        assert.equal(content, 'Hello from the SDK');
        assert.deepEqual(finishReasons(chunks), ['stop']);
        assert.equal(chunks[0].choices[0].delta.role, 'assistant');
        assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id');
        assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'gpt-4o'));
    });

    it('accumulates parallel tool calls with chat.completions.stream()', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(),
            bedrock.text(0, 'Checking both.'),
            bedrock.blockStop(0),
            bedrock.toolStart(1, 'tooluse_paris', 'get_weather'),
            bedrock.toolInput(1, '{"city":'),
            bedrock.toolStart(2, 'tooluse_london', 'get_weather'),
            bedrock.toolInput(2, '{"city":"London"}'),
            bedrock.toolInput(1, '"Paris"}'),
            bedrock.blockStop(1),
            bedrock.blockStop(2),
            bedrock.messageStop('tool_use'),
            bedrock.metadata(),
        ], { split: 'byte' });
        const completion = await gw.openai().chat.completions
            .stream({ model: 'gpt-4o', messages: USER_HI, tools: [WEATHER] }).finalChatCompletion();
        const choice = completion.choices[0];
        assert.equal(choice.finish_reason, 'tool_calls');
        assert.equal(choice.message.content, 'Checking both.');
        const calls = choice.message.tool_calls
            .map((t) => [t.id, t.type, t.function.name, JSON.parse(t.function.arguments)]);
        assert.deepEqual(calls, [
            ['tooluse_paris', 'function', 'get_weather', { city: 'Paris' }],
            ['tooluse_london', 'function', 'get_weather', { city: 'London' }],
        ]);
    });

    it('a tool call without text before it', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(),
            bedrock.toolStart(0, 'tooluse_only', 'get_weather'),
            bedrock.toolInput(0, '{"city":"Rome"}'),
            bedrock.blockStop(0),
            bedrock.messageStop('tool_use'),
            bedrock.metadata(),
        ]);
        const completion = await gw.openai().chat.completions
            .stream({ model: 'gpt-4o', messages: USER_HI, tools: [WEATHER] }).finalChatCompletion();
        const calls = completion.choices[0].message.tool_calls;
        assert.equal(calls.length, 1);
        assert.equal(calls[0].id, 'tooluse_only');
        assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'Rome' });
    });

    it('carries reasoning in the raw chunks (reasoning_content)', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(),
            bedrock.reasoning(0, { text: 'Let me ' }),
            bedrock.reasoning(0, { text: 'think.' }),
            bedrock.reasoning(0, { signature: 'c2lnbmF0dXJl' }),
            bedrock.blockStop(0),
            bedrock.text(1, 'Done thinking.'),
            bedrock.blockStop(1),
            bedrock.messageStop(),
            bedrock.metadata(),
        ]);
        const { error, content, reasoning } = await consume();
        assert.equal(error, null);
        assert.equal(reasoning, 'Let me think.');
        assert.equal(content, 'Done thinking.');
    });

    it('reports usage with stream_options.include_usage', async () => {
        gw.fake.respond = () => eventStreamAnswer(textStream(['Hi'], {
            usage: { inputTokens: 10, outputTokens: 4, totalTokens: 16, cacheReadInputTokens: 2 },
        }));
        const { chunks, error } = await consume({ stream_options: { include_usage: true } });
        assert.equal(error, null);
        const last = chunks[chunks.length - 1];
        assert.deepEqual(last.choices, []);
        assert.equal(last.usage.prompt_tokens, 12);
        assert.equal(last.usage.completion_tokens, 4);
        assert.equal(last.usage.total_tokens, 16);
        assert.equal(last.usage.prompt_tokens_details.cached_tokens, 2);
        assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
    });

    it('ends with content_filter when a guardrail intervened', async () => {
        gw.fake.respond = () => eventStreamAnswer(textStream(['{ADDRESS}'], { stopReason: 'guardrail_intervened' }));
        const { chunks, error } = await consume();
        assert.equal(error, null);
        assert.deepEqual(finishReasons(chunks), ['content_filter']);
    });

    for (const c of MID_STREAM_FAILURES) {
        it(`raises APIError (${c.want.type}) on ${c.name}, after the partial content`, async () => {
            gw.fake.respond = () => eventStreamAnswer(c.frames, c.answer);
            const { error, content } = await consume({}, { baseURL: c.prefix && c.prefix.replace(/\/$/, '') });
            assert.ok(error instanceof OpenAI.APIError, `APIError expected, got ${error && error.stack}`);
            assert.equal(error.constructor, OpenAI.APIError, 'the plain APIError of an in-stream error event');
            assert.equal(error.status, undefined);
            assert.equal(error.type, c.want.type);
            if ('code' in c.want) {
                assert.equal(error.code, c.want.code);
            }
            assert.equal(content, LEAD_TEXT);
        });
    }

    it('raises RateLimitError for a 429 before the stream (maxRetries 0)', async () => {
        gw.fake.respond = () => awsError(429, 'ThrottlingException', 'Too many requests');
        const { error, chunks } = await consume();
        assert.ok(error instanceof OpenAI.RateLimitError, `RateLimitError expected, got ${error && error.stack}`);
        assert.equal(error.status, 429);
        assert.equal(chunks.length, 0);
        assert.equal(gw.fake.requests.length, 1);
    });

    const vector = loadConverseVectors().find((v) => v.name === 'pydantic-converse-stream-error-400-invalid-model');
    it('raises BadRequestError for the recorded ConverseStream 400', { skip: !vector && 'no ../shared/vectors' },
        async () => {
            gw.fake.respond = () => ({
                status: 400, headers: awsError(400, 'ValidationException', '').headers, body: vector.response,
            });
            const { error } = await consume();
            assert.ok(error instanceof OpenAI.BadRequestError, `BadRequestError expected, got ${error && error.stack}`);
            assert.ok(error.message.includes(vector.response.message), error.message);
        });
});
