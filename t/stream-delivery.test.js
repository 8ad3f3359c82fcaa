'use strict';

// How streams are delivered: chunk by chunk as Bedrock sends them (checked
// in lockstep, not by timing), clients that leave midway, very long
// streams, and the log variables of a stream.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock, describeFrame, textStream } = require('./lib/eventstream');
const { startGateway, bedrockLocation, HAIKU_ID } = require('./lib/gateway');
const { sleep, until } = require('./lib/http');
const { streamChat } = require('./lib/sse');
const {
    expectedStream, assertStream, replayStream, USER_HI,
} = require('./lib/stream-expect');

// How long a chunk nginx received may take to reach the client before we
// call it buffered. Generous: the test proves order, not speed.
const DELIVERY_MS = 3000;
const BAD_LOG_LINE = /\[(alert|crit|emerg)\]/;

const ask = (extra = {}) => ({ model: 'gpt-4o', messages: USER_HI, ...extra });

function deferred() {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    return { promise, resolve };
}

describe('stream delivery', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('the first content chunk reaches the client before Bedrock sends the rest', async () => {
        const frames = textStream(['First', ' second', ' third']);
        const gate = deferred();
        gw.fake.respond = () => eventStreamAnswer(frames, {
            // frames 0 and 1 (messageStart, "First") go out; the rest waits
            gate: (i) => (i >= 2 ? gate.promise : undefined),
        });
        const s = streamChat(gw, ask());
        let outcome;
        try {
            outcome = await Promise.race([
                s.firstContent().then(() => ({ delivered: true, framesSent: gw.fake.last.framesSent })),
                sleep(DELIVERY_MS).then(() => ({ delivered: false })),
            ]);
        } finally {
            gate.resolve();
        }
        const res = await s.done;
        assert.ok(outcome.delivered, 'nginx buffers: the client did not get the "First" chunk within ' +
            `${DELIVERY_MS} ms although Bedrock had sent it and was waiting for the client to see it`);
        assert.equal(outcome.framesSent, 2, 'Bedrock had sent only messageStart and the first delta');
        assertStream(res, expectedStream(frames.map(describeFrame)));
    });

    it('every event reaches the client before Bedrock sends the next one (lockstep)', async () => {
        const frames = [
            bedrock.messageStart(),
            bedrock.reasoning(0, { text: 'Thinking.' }),
            bedrock.blockStop(0),
            bedrock.text(1, 'Calling a tool.'),
            bedrock.blockStop(1),
            bedrock.toolStart(2, 'tooluse_1', 'get_weather'),
            bedrock.toolInput(2, '{"city":'),
            bedrock.toolInput(2, '"Oslo"}'),
            bedrock.blockStop(2),
            bedrock.messageStop('tool_use'),
            bedrock.metadata(),
        ];
        const described = frames.map(describeFrame);
        const lastGated = frames.findIndex((f) => f.event === 'messageStop');
        const stuck = [];
        let s;
        gw.fake.respond = () => eventStreamAnswer(frames, {
            gate: async (i) => {
                if (i === 0 || i > lastGated || stuck.length > 0) {
                    return;
                }
                // what frames 0..i-1 produce must be at the client first
                const want = expectedStream(described.slice(0, i)).chunks.length;
                try {
                    await until(() => s.eventCount >= want, `${want} events`, DELIVERY_MS);
                } catch {
                    stuck.push(`before frame ${i} (${frames[i].event}) the client had ` +
                        `${s.eventCount} of ${want} events`);
                }
            },
        });
        s = streamChat(gw, ask(), { timeoutMs: 30000 });
        const res = await s.done;
        assert.deepEqual(stuck, [], 'nginx held back chunks until Bedrock sent more');
        assertStream(res, expectedStream(described));
    });

    it('a client leaving mid-stream closes the stalled Bedrock connection', async () => {
        gw.fake.respond = () => eventStreamAnswer(textStream(['Never', ' finished']).slice(0, 2), { stall: true });
        const s = streamChat(gw, ask());
        await s.firstContent();
        const rec = gw.fake.last;
        s.destroy();
        await until(() => rec.closedEarly, 'nginx to close the Bedrock connection after the client left');
        assert.equal(rec.phase, 'stalled');
        assert.doesNotMatch(gw.nginx.errorLog(), BAD_LOG_LINE);
        await replayStream(gw, textStream(['Still', ' working']));
    });

    it('a client leaving while Bedrock is still sending closes that connection', async () => {
        const pieces = Array.from({ length: 400 }, (_, i) => `word${i} `);
        const frames = textStream(pieces);
        gw.fake.respond = () => eventStreamAnswer(frames, { delayMs: 10 });
        const s = streamChat(gw, ask());
        await s.firstContent();
        const rec = gw.fake.last;
        s.destroy();
        await until(() => rec.closedEarly, 'nginx to close the Bedrock connection after the client left');
        assert.equal(rec.phase, 'sending');
        assert.ok(rec.framesSent < frames.length, `the fake had sent ${rec.framesSent} of ${frames.length} frames`);
        assert.doesNotMatch(gw.nginx.errorLog(), BAD_LOG_LINE);
        await replayStream(gw, textStream(['Still', ' working']));
    });

    it('delivers a stream of 20,000 text deltas completely', async () => {
        const pieces = Array.from({ length: 20000 }, (_, i) => `t${i.toString(36)} `);
        const { summary, chunks } = await replayStream(gw, textStream(pieces), {
            answer: { split: 'random', seed: 4, maxPiece: 8192 },
            includeUsage: true,
            timeoutMs: 60000,
        });
        assert.equal(summary.content, pieces.join(''));
        assert.equal(chunks.length, 20000 + 3);
    });
});

describe('log variables of a stream', () => {
    const VARIABLES = [
        'bedrock_model', 'bedrock_model_id', 'bedrock_input_tokens', 'bedrock_output_tokens',
        'bedrock_cache_read_tokens', 'bedrock_cache_write_tokens', 'bedrock_stop_reason',
        'bedrock_request_id', 'bedrock_ttft',
    ];
    const REQUEST_ID = '5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d';
    const DELAY_MS = 300;
    let gw;

    before(async () => {
        gw = await startGateway({
            http: `log_format bedrock_stream '${VARIABLES.map((v) => `$${v}`).join('|')}';`,
            server: (fake) => [
                'access_log %%DIR%%/stream.log bedrock_stream;',
                bedrockLocation('/v1/', { pass: fake.url }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    const logLines = () => gw.nginx.accessLog('stream.log').split('\n').filter(Boolean);

    // The first content, tool call or reasoning comes DELAY_MS after messageStart.
    const FIRSTS = [
        { name: 'text', frames: [bedrock.text(0, 'Hello')], stopReason: 'end_turn' },
        {
            name: 'a tool call',
            frames: [bedrock.toolStart(0, 'tooluse_1', 'get_weather'), bedrock.toolInput(0, '{}')],
            stopReason: 'tool_use',
        },
        { name: 'reasoning', frames: [bedrock.reasoning(0, { text: 'Hmm.' })], stopReason: 'max_tokens' },
    ];

    for (const { name, frames, stopReason } of FIRSTS) {
        it(`logs tokens, stop reason, request id and $bedrock_ttft (first: ${name})`, async () => {
            const before = logLines().length;
            const usage = {
                inputTokens: 21, outputTokens: 8, totalTokens: 36, cacheReadInputTokens: 4, cacheWriteInputTokens: 3,
            };
            const all = [
                bedrock.messageStart(), ...frames, bedrock.blockStop(0),
                bedrock.messageStop(stopReason), bedrock.metadata(usage),
            ];
            gw.fake.respond = () => eventStreamAnswer(all, {
                headers: { 'x-amzn-RequestId': REQUEST_ID },
                gate: (i) => (i === 1 ? sleep(DELAY_MS) : undefined),
            });
            const res = await streamChat(gw, ask()).done;
            assertStream(res, expectedStream(all.map(describeFrame)));

            const lines = await until(() => (logLines().length > before ? logLines() : null), 'the access log line');
            const fields = lines[lines.length - 1].split('|');
            assert.deepEqual(fields.slice(0, -1),
                ['gpt-4o', HAIKU_ID, '21', '8', '4', '3', stopReason, REQUEST_ID]);
            const ttft = fields[fields.length - 1];
            assert.match(ttft, /^\d+$/, '$bedrock_ttft is an integer number of milliseconds');
            assert.ok(Number(ttft) >= DELAY_MS, `ttft ${ttft} ms, but the first ${name} came ${DELAY_MS} ms in`);
            assert.ok(Number(ttft) <= res.elapsedMs,
                `ttft ${ttft} ms is longer than the whole request (${res.elapsedMs} ms)`);
        });
    }
});
