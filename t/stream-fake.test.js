'use strict';

// Self-check of the fake's event streams (encoder, splitter, ConverseStream
// answers); needs neither nginx nor the module.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { EventStreamCodec } = require('@smithy/eventstream-codec');
const { toUtf8, fromUtf8 } = require('@smithy/util-utf8');

const {
    startFake, eventStreamAnswer, loadStreamRecordings, callFake,
} = require('./lib/fake-bedrock');
const {
    crc32, describeFrame, encodeFrame, splitFrames, decodeFrames, forgedPrelude, corruptPayload,
    seededRandom, splitBytes, bedrock, textStream,
} = require('./lib/eventstream');
const { HAIKU_ID } = require('./lib/gateway');
const { wirePath } = require('./lib/expect');
const { sleep } = require('./lib/http');

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const STREAM_PATH = wirePath(HAIKU_ID, 'converse-stream');
const BODY = { messages: [{ role: 'user', content: [{ text: 'Hello' }] }] };

const EVERY_KIND = [
    bedrock.messageStart(),
    bedrock.text(0, 'Grüße, "world" \\ \n'),
    bedrock.toolStart(1, 'tooluse_1', 'get_weather'),
    bedrock.toolInput(1, '{"city":'),
    bedrock.reasoning(2, { text: 'thinking' }),
    bedrock.reasoning(2, { signature: 'c2ln' }),
    bedrock.blockStop(0),
    bedrock.messageStop('tool_use'),
    bedrock.metadata({ inputTokens: 1, outputTokens: 2, totalTokens: 3, cacheReadInputTokens: 4 }),
    bedrock.exception('throttlingException', 'slow down'),
    bedrock.exception('modelStreamErrorException', 'boom', { originalStatusCode: 500, originalMessage: 'x' }),
    bedrock.error('InternalFailure', 'something broke'),
];

describe('event-stream encoding', () => {
    it('matches the Bedrock-shaped vector of PROTOCOL.md 3.2 byte for byte', () => {
        const frame = {
            event: 'contentBlockDelta',
            payload: { contentBlockIndex: 0, delta: { text: 'Hi' }, p: 'abcd' },
        };
        assert.equal(encodeFrame(frame).toString('hex'),
            '0000009f00000057c37babff0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a63' +
            '6f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070005' +
            '6576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869' +
            '227d2c2270223a2261626364227df2ace5ff');
    });

    it('every kind of frame decodes back with EventStreamCodec', () => {
        const bytes = Buffer.concat(EVERY_KIND.map(encodeFrame));
        const decoded = decodeFrames(bytes);
        assert.equal(decoded.length, EVERY_KIND.length);
        decoded.forEach((got, i) => {
            const want = describeFrame(EVERY_KIND[i]);
            assert.deepEqual(got.headers, want.headers, `frame ${i} headers`);
            assert.deepEqual(got.payload, want.payload, `frame ${i} payload`);
            for (const header of Object.values(codec.decode(got.bytes).headers)) {
                assert.equal(header.type, 'string', `frame ${i}: every header is a string`);
            }
        });
        assert.deepEqual(decoded[11].headers, {
            ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'something broke',
        });
    });

    it('crc32 agrees with the codec and the aws-sdk-go vector', () => {
        const frame = encodeFrame(bedrock.text(0, 'x'));
        assert.equal(crc32(frame.subarray(0, 8)), frame.readUInt32BE(8));
        assert.equal(crc32(frame.subarray(0, frame.length - 4)), frame.readUInt32BE(frame.length - 4));
        assert.equal(forgedPrelude(0x1e).toString('hex'), '0000001e00000000baf2f68a');
    });

    it('forges a 200 MB prelude with a correct CRC', () => {
        const prelude = forgedPrelude(200 * 1024 * 1024);
        assert.equal(prelude.length, 12);
        assert.equal(prelude.readUInt32BE(0), 200 * 1024 * 1024);
        assert.equal(prelude.readUInt32BE(8), crc32(prelude.subarray(0, 8)));
    });

    it('a corrupted payload fails the message CRC, not the prelude CRC', () => {
        const good = encodeFrame(bedrock.text(0, 'Hello there'));
        const bad = corruptPayload(good);
        assert.equal(bad.length, good.length);
        assert.deepEqual(bad.subarray(0, 12), good.subarray(0, 12));
        assert.notDeepEqual(bad, good);
        assert.throws(() => codec.decode(bad), /checksum/);
        assert.doesNotThrow(() => codec.decode(good));
    });
});

describe('splitter', () => {
    const bytes = Buffer.concat(textStream(['one', 'two', 'three']).map(encodeFrame));

    for (const split of ['whole', 'byte', 'random']) {
        it(`${split}: the pieces reassemble to the same bytes`, () => {
            for (const seed of [1, 2, 3]) {
                const pieces = splitBytes(bytes, split, { random: seededRandom(seed), maxPiece: 17 });
                assert.deepEqual(Buffer.concat(pieces), bytes);
                assert.ok(pieces.every((p) => p.length >= 1 && p.length <= (split === 'whole' ? bytes.length : 17)));
                if (split === 'byte') {
                    assert.equal(pieces.length, bytes.length);
                }
            }
        });
    }

    it('random splits are reproducible by seed and differ between seeds', () => {
        const sizes = (seed) => splitBytes(bytes, 'random', { random: seededRandom(seed) }).map((p) => p.length);
        assert.deepEqual(sizes(7), sizes(7));
        assert.notDeepEqual(sizes(7), sizes(8));
    });

    it('splitFrames cuts concatenated frames apart', () => {
        const frames = textStream(['a', 'b']).map(encodeFrame);
        assert.deepEqual(splitFrames(Buffer.concat(frames)), frames);
        assert.throws(() => splitFrames(Buffer.concat(frames).subarray(0, 30)), /trailing bytes/);
    });
});

describe('recorded ConverseStream bodies', () => {
    const recordings = loadStreamRecordings();

    it('are available', { skip: recordings.length === 0 && 'no ../shared/vectors' }, () => {
        assert.ok(recordings.length > 0);
    });

    for (const rec of recordings) {
        it(`${rec.name}: the codec decodes the .bin to the .decoded.jsonl`, () => {
            const decoded = decodeFrames(rec.bin);
            assert.equal(decoded.length, rec.frames.length);
            decoded.forEach((got, i) => {
                assert.deepEqual(got.headers, rec.frames[i].headers, `frame ${i}`);
                assert.deepEqual(got.payload, rec.frames[i].payload, `frame ${i}`);
            });
        });
    }
});

describe('fake ConverseStream answers', () => {
    let fake;
    const frames = textStream(['Hel', 'lo ', 'world']);
    const wire = Buffer.concat(frames.map(encodeFrame));
    const call = (opts = {}) => callFake(fake, { path: STREAM_PATH, body: BODY, ...opts });

    before(async () => {
        fake = await startFake();
    });
    after(() => fake.close());
    beforeEach(() => fake.reset());

    const modes = [
        { split: 'whole' }, { split: 'byte' },
        { split: 'random', seed: 1 }, { split: 'random', seed: 2 }, { split: 'random', seed: 3 },
    ];
    for (const mode of modes) {
        it(`sends the frames ${JSON.stringify(mode)} as a chunked event stream`, async () => {
            fake.respond = () => eventStreamAnswer(frames, mode);
            const res = await call();
            assert.equal(res.status, 200);
            assert.equal(res.headers['content-type'], 'application/vnd.amazon.eventstream');
            assert.equal(res.headers['transfer-encoding'], 'chunked');
            assert.equal(res.headers['content-length'], undefined);
            assert.match(res.headers['x-amzn-requestid'], /^[0-9a-f-]{36}$/);
            assert.ok(res.complete);
            assert.deepEqual(res.body, wire);

            const rec = fake.last;
            assert.ok(rec.authOk, rec.authError);
            assert.equal(rec.op, 'converse-stream');
            assert.equal(rec.phase, 'done');
            assert.equal(rec.framesSent, frames.length);
            assert.equal(rec.closedEarly, false);
            assert.equal(rec.requestId, res.headers['x-amzn-requestid']);
        });
    }

    it('passes raw Buffers through: a recording, or pieces of one', async () => {
        fake.respond = () => eventStreamAnswer([wire.subarray(0, 50), wire.subarray(50)], { split: 'random' });
        assert.deepEqual((await call()).body, wire);
    });

    it("framing 'close': no chunked framing, the body ends with the connection", async () => {
        fake.respond = () => eventStreamAnswer(frames, { framing: 'close', split: 'random' });
        const res = await call();
        assert.equal(res.headers['transfer-encoding'], undefined);
        assert.equal(res.headers['content-length'], undefined);
        assert.equal(res.headers.connection, 'close');
        assert.ok(res.complete);
        assert.deepEqual(res.body, wire);
        assert.equal(fake.last.phase, 'done');
    });

    it('truncateAfter: closes the connection after n frames', async () => {
        fake.respond = () => eventStreamAnswer(frames, { truncateAfter: 2, split: 'byte' });
        const res = await call();
        assert.equal(res.complete, false, 'no chunked terminator');
        assert.deepEqual(res.body, Buffer.concat(frames.slice(0, 2).map(encodeFrame)));
        assert.equal(fake.last.phase, 'truncated');
        assert.equal(fake.last.closedEarly, false, 'closed by the fake, not by the client');
    });

    it('stall: keeps the connection open; a client that leaves is recorded', async () => {
        fake.respond = () => eventStreamAnswer(frames.slice(0, 2), { stall: true });
        const expected = Buffer.concat(frames.slice(0, 2).map(encodeFrame));
        let received = 0;
        let stalled = false;
        const res = await call({
            onData: (chunk, response) => {
                received += chunk.length;
                if (received === expected.length) {
                    // nothing more may come, and the answer must not end
                    setTimeout(() => {
                        stalled = true;
                        response.destroy();
                    }, 300);
                }
            },
        });
        assert.ok(stalled, 'the answer stayed open for 300 ms');
        assert.equal(res.complete, false);
        assert.deepEqual(res.body, expected);
        const rec = fake.last;
        for (let i = 0; i < 50 && !rec.closedEarly; i++) {
            await sleep(20);
        }
        assert.equal(rec.phase, 'stalled');
        assert.equal(rec.closedEarly, true);
    });

    it('gate: frame i goes out only after gate(i) resolves, in lockstep with the client', async () => {
        const sizes = frames.map((f) => encodeFrame(f).length);
        let received = 0;
        const calls = [];
        const arrived = (n) => sizes.slice(0, n).reduce((a, b) => a + b, 0);
        fake.respond = () => eventStreamAnswer(frames, {
            gate: async (i) => {
                calls.push(i);
                // the client has every earlier frame, and nothing of frame i
                for (let t = 0; t < 100 && received < arrived(i); t++) {
                    await sleep(10);
                }
                assert.equal(received, arrived(i), `bytes the client had before frame ${i}`);
            },
        });
        const res = await call({ onData: (chunk) => { received += chunk.length; } });
        assert.deepEqual(calls, frames.map((_, i) => i));
        assert.deepEqual(res.body, wire);
        assert.equal(fake.last.phase, 'done');
    });

    it('delayMs: paces frame writes', async () => {
        fake.respond = () => eventStreamAnswer(frames, { delayMs: 30 });
        const started = performance.now();
        const res = await call();
        assert.deepEqual(res.body, wire);
        assert.ok(performance.now() - started >= 30 * (frames.length - 1), 'took at least the delays');
    });
});
