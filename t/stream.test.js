'use strict';

// "stream": true: the request becomes a signed ConverseStream call, and the
// event stream becomes chat.completion.chunk events (generated streams; the
// recorded ones are in stream-recordings.test.js).

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock, textStream } = require('./lib/eventstream');
const { startGateway, bedrockLocation, HAIKU_ID, TEST_CREDENTIALS } = require('./lib/gateway');
const { assertUpstreamCall, FINISH_REASONS } = require('./lib/expect');
const { streamChat } = require('./lib/sse');
const { replayStream, USER_HI } = require('./lib/stream-expect');

const WEATHER = {
    type: 'function',
    function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
};

// Two parallel calls; `lead` blocks come before them.
function twoToolCalls(lead = []) {
    const first = lead.length > 0 ? 1 : 0;
    return [
        bedrock.messageStart(),
        ...lead,
        ...(lead.length > 0 ? [bedrock.blockStop(0)] : []),
        bedrock.toolStart(first, 'tooluse_paris', 'get_weather'),
        bedrock.toolInput(first, ''),
        bedrock.toolInput(first, '{"city":'),
        bedrock.toolInput(first, '"Paris"}'),
        bedrock.blockStop(first),
        bedrock.toolStart(first + 1, 'tooluse_london', 'get_weather'),
        bedrock.toolInput(first + 1, '{"city":"Lon'),
        bedrock.toolInput(first + 1, 'don"}'),
        bedrock.blockStop(first + 1),
        bedrock.messageStop('tool_use'),
        bedrock.metadata(),
    ];
}

describe('streaming chat completions', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    describe('the ConverseStream call', () => {
        it('goes to /converse-stream, signed, with the same body as a non-streaming call', async () => {
            const ask = {
                model: 'gpt-4o',
                messages: [
                    { role: 'system', content: 'Be terse.' },
                    { role: 'user', content: 'Weather in Paris?' },
                ],
                tools: [WEATHER],
                tool_choice: 'auto',
                max_tokens: 100,
                temperature: 0.5,
                stop: ['END'],
            };
            gw.fake.respond = () => converseAnswer();
            const plain = await gw.chat(ask);
            assert.equal(plain.status, 200, plain.text);
            const converse = gw.fake.last;

            gw.fake.respond = () => eventStreamAnswer(textStream(['Sunny']));
            const res = await streamChat(gw, { ...ask, stream_options: { include_usage: true } }).done;
            assert.equal(res.status, 200, res.text);
            const stream = gw.fake.last;
            assertUpstreamCall(stream, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS, op: 'converse-stream' });
            assert.equal(stream.path, converse.path.replace(/\/converse$/, '/converse-stream'));
            assert.deepEqual(stream.json, converse.json, 'the Converse body does not depend on "stream"');
        });

        it('routes by alias like non-streaming calls', async () => {
            await replayStream(gw, textStream(['Hi']), { body: { model: 'gpt-4o' } });
            assert.equal(gw.fake.last.modelId, HAIKU_ID);
        });
    });

    describe('translation', () => {
        it('text deltas become content chunks after the role chunk', async () => {
            const { summary } = await replayStream(gw, textStream(['Hello', ', ', 'wörld', ' "quoted"\n', '\\ ✓']));
            assert.equal(summary.content, 'Hello, wörld "quoted"\n\\ ✓');
            assert.equal(summary.finishReason, 'stop');
        });

        it('empty text deltas produce no chunk', async () => {
            await replayStream(gw, textStream(['', 'a', '', '', 'b', '']));
        });

        it('a stream with no content at all still has the role and finish chunks', async () => {
            const { chunks } = await replayStream(gw, textStream([]));
            assert.equal(chunks.length, 2);
        });

        it('two parallel tool calls after text: indexes 0 and 1', async () => {
            const { summary } = await replayStream(gw, twoToolCalls([bedrock.text(0, 'Let me check.')]), {
                body: { tools: [WEATHER] },
            });
            assert.deepEqual(summary.toolOrder, [0, 1]);
            assert.deepEqual(summary.tools.map((t) => JSON.parse(t.arguments)),
                [{ city: 'Paris' }, { city: 'London' }]);
            assert.equal(summary.finishReason, 'tool_calls');
        });

        it('tool calls with no text before them start at index 0', async () => {
            const { summary } = await replayStream(gw, twoToolCalls(), { body: { tools: [WEATHER] } });
            assert.deepEqual(summary.toolOrder, [0, 1]);
            assert.equal(summary.content, '');
        });

        it('tool state is keyed by contentBlockIndex, not arrival order', async () => {
            const frames = [
                bedrock.messageStart(),
                bedrock.text(0, 'Two lookups.'),
                bedrock.blockStop(0),
                bedrock.toolStart(3, 'tooluse_a', 'get_weather'),
                bedrock.toolStart(7, 'tooluse_b', 'get_time'),
                bedrock.toolInput(7, '{"tz":'),
                bedrock.toolInput(3, '{"city":'),
                bedrock.toolInput(7, '"UTC"}'),
                bedrock.toolInput(3, '"Oslo"}'),
                bedrock.blockStop(3),
                bedrock.blockStop(7),
                bedrock.messageStop('tool_use'),
                bedrock.metadata(),
            ];
            const { summary } = await replayStream(gw, frames, { body: { tools: [WEATHER] } });
            assert.deepEqual(summary.tools.map((t) => [t.id, t.arguments]),
                [['tooluse_a', '{"city":"Oslo"}'], ['tooluse_b', '{"tz":"UTC"}']]);
        });

        it('server-side tool use and tool results produce no chunks', async () => {
            const frames = [
                bedrock.messageStart(),
                bedrock.toolStart(0, 'tooluse_server', 'nova_code_interpreter', { type: 'server_tool_use' }),
                bedrock.toolInput(0, '{"snippet":"1+1"}'),
                bedrock.blockStop(0),
                bedrock.toolResultStart(1, 'tooluse_server'),
                bedrock.toolResult(1, [{ json: { stdOut: '2' } }]),
                bedrock.blockStop(1),
                bedrock.text(2, 'It is 2.'),
                bedrock.blockStop(2),
                bedrock.toolStart(3, 'tooluse_client', 'final_result', { type: 'tool_use' }),
                bedrock.toolInput(3, '{"result":2}'),
                bedrock.blockStop(3),
                bedrock.messageStop('tool_use'),
                bedrock.metadata(),
            ];
            const { summary } = await replayStream(gw, frames);
            assert.deepEqual(summary.toolOrder, [0]);
            assert.equal(summary.tools[0].id, 'tooluse_client');
        });

        it('reasoning text becomes reasoning_content; signatures and redacted content thinking_blocks', async () => {
            const frames = [
                bedrock.messageStart(),
                bedrock.reasoning(0, { text: 'The user greets; ' }),
                bedrock.reasoning(0, { text: 'answer kindly.' }),
                bedrock.reasoning(0, { signature: 'EqQBCkgIARABGAIiQHsig==' }),
                bedrock.blockStop(0),
                bedrock.reasoning(1, { redactedContent: 'UkVEQUNURUQ=' }),
                bedrock.blockStop(1),
                bedrock.text(2, 'Hello!'),
                bedrock.blockStop(2),
                bedrock.messageStop('end_turn'),
                bedrock.metadata(),
            ];
            const { summary, chunks } = await replayStream(gw, frames);
            assert.equal(summary.reasoning, 'The user greets; answer kindly.');
            assert.equal(summary.content, 'Hello!');
            const blocks = chunks.flatMap((c) => (c.choices[0] && c.choices[0].delta.thinking_blocks) || []);
            assert.deepEqual(blocks, [
                { type: 'thinking', thinking: '', signature: 'EqQBCkgIARABGAIiQHsig==' },
                { type: 'redacted_thinking', data: 'UkVEQUNURUQ=' },
            ]);
            const sigAt = chunks.findIndex((c) => c.choices[0] && c.choices[0].delta.thinking_blocks);
            const textAt = chunks.findIndex((c) => c.choices[0] && c.choices[0].delta.content === 'Hello!');
            assert.ok(sigAt > 0 && sigAt < textAt, 'the signature comes in order, before the answer text');
        });

        for (const [stopReason, finishReason] of Object.entries(FINISH_REASONS)) {
            it(`stopReason ${stopReason} -> finish_reason ${finishReason}`, async () => {
                const { summary } = await replayStream(gw, textStream(['x'], { stopReason }));
                assert.equal(summary.finishReason, finishReason);
            });
        }

        it('a guardrail intervention ends with content_filter', async () => {
            const frames = textStream(['Sorry, I cannot help with that.'], { stopReason: 'guardrail_intervened' });
            frames[frames.length - 1].payload.trace = { guardrail: { actionReason: 'Guardrail blocked.' } };
            const { summary } = await replayStream(gw, frames);
            assert.equal(summary.finishReason, 'content_filter');
        });
    });

    describe('usage', () => {
        const usage = {
            inputTokens: 21, outputTokens: 8, totalTokens: 1036, cacheReadInputTokens: 1000, cacheWriteInputTokens: 7,
        };

        it('include_usage: usage null on every chunk, then one usage chunk with choices []', async () => {
            const { chunks, summary } = await replayStream(gw, textStream(['Hi', '!'], { usage }), {
                includeUsage: true,
            });
            assert.deepEqual(summary.usage, {
                prompt_tokens: 1028, completion_tokens: 8, total_tokens: 1036,
                prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 7 },
            });
            assert.deepEqual(chunks[chunks.length - 1].choices, [], 'the usage chunk is the last one');
        });

        it('include_usage without cache tokens: cached_tokens 0', async () => {
            const small = { inputTokens: 3, outputTokens: 2, totalTokens: 5 };
            const { summary } = await replayStream(gw, textStream(['Hi'], { usage: small }), { includeUsage: true });
            assert.deepEqual(summary.usage, {
                prompt_tokens: 3, completion_tokens: 2, total_tokens: 5,
                prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
            });
        });

        it('without include_usage: no usage chunk and no "usage" member', async () => {
            const { res } = await replayStream(gw, textStream(['Hi'], { usage }));
            assert.doesNotMatch(res.text, /"usage"/);
        });

        it('include_usage: false is the same as absent', async () => {
            const { res } = await replayStream(gw, textStream(['Hi'], { usage }), {
                body: { stream_options: { include_usage: false } },
            });
            assert.doesNotMatch(res.text, /"usage"/);
        });
    });
});

describe('streams and upstream connections', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            http: (fake) => `upstream bedrock_keepalive { server 127.0.0.1:${fake.port}; keepalive 4; }`,
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url }),
                bedrockLocation('/ka/v1/', { pass: 'http://bedrock_keepalive' }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('complete streams reuse one keepalive connection to Bedrock', async () => {
        const before = gw.fake.connections;
        for (let i = 0; i < 5; i++) {
            await replayStream(gw, textStream([`stream ${i}`]), {
                prefix: '/ka/v1/', answer: { split: 'random', seed: i },
            });
        }
        assert.equal(gw.fake.connections - before, 1, 'connections opened to Bedrock');
    });

    it('a close-delimited event stream (no chunked framing) is read to its end', async () => {
        await replayStream(gw, textStream(['no ', 'chunked ', 'framing']), {
            answer: { framing: 'close', split: 'byte' },
        });
    });

    it('a close-delimited event stream ending before messageStop: server_error', async () => {
        const frames = textStream(['cut ', 'short']);
        await replayStream(gw, frames.slice(0, 3), { answer: { framing: 'close' } });
    });
});

describe('guardrails on streams (bedrock_guardrail ... stream=)', () => {
    let gw;
    const guardrail = (spec) => `bedrock_guardrail ${spec};`;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                bedrockLocation('/async/v1/', { pass: fake.url, extra: guardrail('gr-async 1 stream=async') }),
                bedrockLocation('/sync/v1/', { pass: fake.url, extra: guardrail('gr-sync DRAFT stream=sync') }),
                bedrockLocation('/plain/v1/', { pass: fake.url, extra: guardrail('gr-plain 2') }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    const cases = [
        { prefix: '/async/v1/', id: 'gr-async', version: '1', mode: 'async' },
        { prefix: '/sync/v1/', id: 'gr-sync', version: 'DRAFT', mode: 'sync' },
        { prefix: '/plain/v1/', id: 'gr-plain', version: '2', mode: undefined },
    ];
    for (const { prefix, id, version, mode } of cases) {
        it(`${prefix}: streamProcessingMode ${mode || 'absent'} on streams, absent on Converse`, async () => {
            await replayStream(gw, textStream(['ok']), { prefix });
            const config = gw.fake.last.json.guardrailConfig;
            assert.equal(config.guardrailIdentifier, id);
            assert.equal(config.guardrailVersion, version);
            assert.equal(config.streamProcessingMode, mode);

            gw.fake.respond = () => converseAnswer();
            const res = await gw.chat({ model: 'gpt-4o', messages: USER_HI }, { prefix });
            assert.equal(res.status, 200, res.text);
            assert.equal(gw.fake.last.op, 'converse');
            assert.equal(gw.fake.last.json.guardrailConfig.guardrailIdentifier, id);
            assert.ok(!('streamProcessingMode' in gw.fake.last.json.guardrailConfig),
                'Converse has no streamProcessingMode');
        });
    }
});
