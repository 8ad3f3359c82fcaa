'use strict';

// Every recorded ConverseStream body in ../shared/vectors, replayed through
// nginx whole, a byte at a time and in random pieces: the client must get
// the same server-sent events each time, matching the recording.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { loadStreamRecordings } = require('./lib/fake-bedrock');
const { startGateway } = require('./lib/gateway');
const { replayStream, normaliseStreamBody } = require('./lib/stream-expect');

const SPLITS = [
    { split: 'whole' },
    { split: 'byte' },
    { split: 'random', seed: 11 },
    { split: 'random', seed: 22, maxPiece: 7 },
    { split: 'random', seed: 33, maxPiece: 300 },
];

describe('recorded ConverseStream answers', () => {
    const recordings = loadStreamRecordings();
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('recordings are available', { skip: recordings.length === 0 && 'no ../shared/vectors' }, () => {
        assert.ok(recordings.length > 0);
        assert.ok(recordings.some((r) => r.name.startsWith('SYNTHETIC-')), 'the exception recording');
    });

    for (const rec of recordings) {
        it(`${rec.name}: same events whole, byte by byte and in random pieces`, async () => {
            const bodies = [];
            for (const answer of SPLITS) {
                const label = `${rec.name} ${JSON.stringify(answer)}`;
                const { chunks, res } = await replayStream(gw, [rec.bin], {
                    answer, expectFrames: rec.frames, label,
                });
                bodies.push({ label, body: normaliseStreamBody(res.text, chunks) });
            }
            for (const { label, body } of bodies.slice(1)) {
                assert.equal(body, bodies[0].body, `${label} differs from ${bodies[0].label}`);
            }
        });

        it(`${rec.name}: with stream_options.include_usage`, async () => {
            await replayStream(gw, [rec.bin], {
                answer: { split: 'random', seed: 5 }, expectFrames: rec.frames, includeUsage: true, label: rec.name,
            });
        });
    }
});
