'use strict';

// Streams that fail midway, shared by the raw-HTTP and the SDK tests, and
// the gateway locations they need.

const {
    bedrock, describeFrame, encodeFrame, corruptPayload, forgedPrelude,
} = require('./eventstream');
const { bedrockLocation } = require('./gateway');
const { STREAM_ERRORS, SERVER_ERROR } = require('./stream-expect');

// What was already sent when things go wrong: a role chunk and two deltas.
const LEAD = Object.freeze([bedrock.messageStart(), bedrock.text(0, 'Partial '), bedrock.text(0, 'answer')]);
const LEAD_TEXT = 'Partial answer';
// What follows the failure, and must never reach the client.
const REST = Object.freeze([
    bedrock.text(0, ' never sent'), bedrock.blockStop(0), bedrock.messageStop(), bedrock.metadata(),
]);

// Where bedrock_read_timeout is 1 s.
const SLOW_PREFIX = '/slow/v1/';

/** server{} text: /v1/ and SLOW_PREFIX in front of the fake. */
function streamLocations(fake) {
    return [
        bedrockLocation('/v1/', { pass: fake.url }),
        bedrockLocation(SLOW_PREFIX, { pass: fake.url, extra: 'bedrock_read_timeout 1s;' }),
    ].join('\n');
}

const textFrame = (text) => encodeFrame(bedrock.text(0, text));

// Bytes no decoder may accept; the stream stays open after them.
const BROKEN_BYTES = [
    { name: 'a frame whose message CRC is wrong', bytes: () => corruptPayload(textFrame(' corrupted')) },
    {
        name: 'a frame whose prelude CRC is wrong',
        bytes: () => {
            const frame = Buffer.from(textFrame(' corrupted'));
            frame[9] ^= 0x40;
            return frame;
        },
    },
    { name: 'a prelude declaring 200 MB (over the frame cap)', bytes: () => forgedPrelude(200 * 1024 * 1024) },
    { name: 'a prelude declaring less than the 16-byte minimum', bytes: () => forgedPrelude(15) },
    {
        name: 'headers longer than their frame',
        bytes: () => Buffer.concat([forgedPrelude(64, 60), Buffer.alloc(52, 0x41)]),
    },
];

/**
 * Mid-stream failures: { name, frames, answer (eventStreamAnswer options),
 * expectFrames + failure (when frames hold raw bytes), prefix,
 * unterminated, splits (the split modes worth trying), want (error type and
 * code) }. The fake stalls after an exception or bad bytes, so the module
 * must end the answer on its own.
 */
const MID_STREAM_FAILURES = [
    ...Object.entries(STREAM_ERRORS).map(([exception, want]) => ({
        name: exception,
        frames: [...LEAD, bedrock.exception(exception), ...REST],
        answer: { stall: true },
        want,
    })),
    {
        name: 'an unknown exception type',
        frames: [...LEAD, bedrock.exception('brandNewException'), ...REST],
        answer: { stall: true },
        want: SERVER_ERROR,
    },
    {
        name: 'an unmodeled :message-type error frame',
        frames: [...LEAD, bedrock.error('InternalFailure', 'An internal error occurred'), ...REST],
        answer: { stall: true },
        want: SERVER_ERROR,
    },
    ...BROKEN_BYTES.map(({ name, bytes }) => ({
        name,
        frames: [...LEAD, bytes(), ...REST],
        answer: { stall: true },
        expectFrames: LEAD.map(describeFrame),
        failure: SERVER_ERROR,
        want: SERVER_ERROR,
    })),
    {
        name: 'the upstream closing at a frame boundary before messageStop',
        frames: [...LEAD, ...REST],
        answer: { truncateAfter: LEAD.length },
        want: SERVER_ERROR,
    },
    {
        name: 'the upstream closing inside a frame',
        frames: [...LEAD, textFrame(' cut in the middle').subarray(0, 30)],
        answer: { truncateAfter: LEAD.length + 1 },
        expectFrames: LEAD.map(describeFrame),
        failure: SERVER_ERROR,
        want: SERVER_ERROR,
    },
    {
        name: 'bedrock_read_timeout expiring mid-stream',
        frames: [...LEAD],
        answer: { stall: true },
        prefix: SLOW_PREFIX,
        unterminated: true,
        splits: ['whole'],
        want: SERVER_ERROR,
    },
].map((c) => ({ splits: ['whole', 'byte'], ...c }));

module.exports = {
    LEAD, LEAD_TEXT, REST, SLOW_PREFIX, streamLocations, MID_STREAM_FAILURES,
};
