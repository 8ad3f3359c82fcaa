'use strict';

// Converse answers -> chat.completion: content, tool calls, finish_reason
// and usage, for hand-made answers and for every recorded vector.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { awsError, converseAnswer, loadConverseVectors } = require('./lib/fake-bedrock');
const { startGateway } = require('./lib/gateway');
const { FINISH_REASONS, assertTranslated, assertOpenAIError } = require('./lib/expect');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] };
const USAGE = { inputTokens: 12, outputTokens: 7, totalTokens: 19 };

// Answers the next call with `answer` and returns the module's response.
async function replay(gw, answer, request = ASK) {
    gw.fake.respond = () => answer;
    const res = await gw.chat(request);
    assert.equal(gw.fake.requests.length, 1, 'exactly one Bedrock call');
    return res;
}

async function expectTranslation(gw, answer) {
    const res = await replay(gw, answer);
    assert.equal(res.status, 200, res.text);
    return assertTranslated(res.json, answer.body, { model: ASK.model });
}

describe('response translation', () => {
    let gw;
    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('turns toolUse blocks into tool_calls', async () => {
        const choice = await expectTranslation(gw, converseAnswer({
            stopReason: 'tool_use',
            usage: USAGE,
            content: [
                { text: 'Let me check.' },
                { toolUse: { toolUseId: 'tooluse_abc', name: 'get_weather', input: { city: 'Paris', opts: { units: 'C', days: [1, 2] } } } },
                { toolUse: { toolUseId: 'tooluse_def', name: 'get_time', input: {} } },
            ],
        }));
        assert.equal(choice.finish_reason, 'tool_calls');
        assert.equal(choice.message.tool_calls.length, 2);
    });

    it('gives content null for a tool-only answer', async () => {
        const choice = await expectTranslation(gw, converseAnswer({
            stopReason: 'tool_use',
            usage: USAGE,
            content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_time', input: { tz: 'UTC' } } }],
        }));
        assert.equal(choice.message.content, null);
    });

    it('hands tool calls to the openai SDK', async () => {
        gw.fake.respond = () => converseAnswer({
            stopReason: 'tool_use',
            content: [{ toolUse: { toolUseId: 'tooluse_sdk', name: 'lookup', input: { q: 'x', n: 3 } } }],
        });
        const completion = await gw.openai().chat.completions.create(ASK);
        const [call] = completion.choices[0].message.tool_calls;
        assert.equal(call.id, 'tooluse_sdk');
        assert.equal(call.function.name, 'lookup');
        assert.deepEqual(JSON.parse(call.function.arguments), { q: 'x', n: 3 });
        assert.equal(completion.choices[0].finish_reason, 'tool_calls');
    });

    for (const [stopReason, finishReason] of Object.entries(FINISH_REASONS)) {
        it(`maps stopReason ${stopReason} to finish_reason ${finishReason}`, async () => {
            const content = stopReason === 'tool_use'
                ? [{ text: 'calling' }, { toolUse: { toolUseId: 't1', name: 'f', input: {} } }]
                : [{ text: `stopped by ${stopReason}` }];
            const choice = await expectTranslation(gw, converseAnswer({ stopReason, content, usage: USAGE }));
            assert.equal(choice.finish_reason, finishReason);
        });
    }

    it('concatenates text blocks in order and skips reasoning', async () => {
        const choice = await expectTranslation(gw, converseAnswer({
            content: [
                { reasoningContent: { reasoningText: { text: 'secret thoughts', signature: 'c2ln' } } },
                { text: 'Hello' },
                { text: ', ' },
                { text: 'world' },
            ],
        }));
        assert.equal(choice.message.content, 'Hello, world');
    });

    it('keeps quotes, escapes and non-ASCII text intact', async () => {
        const text = 'He said "hi"\n\tback\\slash / \u00e9t\u00e9 \u65e5\u672c \u{1F389} \u2028 end';
        const choice = await expectTranslation(gw, converseAnswer({ text }));
        assert.equal(choice.message.content, text);
    });

    it('counts cache reads and writes as prompt tokens', async () => {
        await expectTranslation(gw, converseAnswer({
            usage: {
                inputTokens: 4,
                outputTokens: 6,
                totalTokens: 1012,
                cacheReadInputTokens: 1000,
                cacheWriteInputTokens: 2,
            },
        }));
    });

    it('reads a chunked Bedrock answer in full', async () => {
        const text = Array.from({ length: 400 }, (_, i) => `sentence ${i}.`).join(' ');
        const choice = await expectTranslation(gw, converseAnswer({ text, chunked: true }));
        assert.equal(choice.message.content, text);
    });

    describe('recorded Converse vectors', () => {
        const vectors = loadConverseVectors();
        it('vectors are available', { skip: vectors.length === 0 && 'no ../shared/vectors' }, () => {
            assert.ok(vectors.length > 0);
        });

        for (const vector of vectors) {
            it(vector.name, async () => {
                // Recordings drop the x-amzn-ErrorType header AWS sends with a 400.
                const headers = vector.status === 400
                    ? awsError(400, 'ValidationException', '').headers : undefined;
                const res = await replay(gw, { status: vector.status, headers, body: vector.response });
                if (vector.status === 200) {
                    assert.equal(res.status, 200, res.text);
                    assertTranslated(res.json, vector.response, { model: ASK.model });
                } else {
                    assertOpenAIError(res, vector.status, {
                        type: 'invalid_request_error',
                        message: (m) => m.includes(vector.response.message),
                    });
                }
            });
        }
    });
});
