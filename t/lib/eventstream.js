'use strict';

// application/vnd.amazon.eventstream for the fake ConverseStream: frames
// encoded and decoded with AWS's own codec, Bedrock event builders, the
// malformed bytes a decoder must refuse, and a seeded splitter that cuts a
// byte stream into reproducible pieces.

const { EventStreamCodec } = require('@smithy/eventstream-codec');
const { toUtf8, fromUtf8 } = require('@smithy/util-utf8');

const codec = new EventStreamCodec(toUtf8, fromUtf8);

const PRELUDE_LEN = 12;
const OVERHEAD = 16;

// CRC-32/ISO-HDLC (zlib's crc32), used only to forge preludes; the codec
// computes the CRCs of every frame it encodes.
const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) {
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        }
        table[n] = c >>> 0;
    }
    return table;
})();

function crc32(bytes) {
    let crc = 0xffffffff;
    for (const b of bytes) {
        crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    }
    return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The headers Bedrock sends with a frame, in its order, as name -> string.
 * frame: {event, payload} | {exception, payload} | {error: {code, message}}
 */
function frameHeaders(frame) {
    if (frame.event) {
        return {
            ':event-type': frame.event,
            ':content-type': 'application/json',
            ':message-type': 'event',
        };
    }
    if (frame.exception) {
        return {
            ':exception-type': frame.exception,
            ':content-type': 'application/json',
            ':message-type': 'exception',
        };
    }
    if (frame.error) {
        return {
            ':message-type': 'error',
            ':error-code': frame.error.code,
            ':error-message': frame.error.message,
        };
    }
    throw new Error(`not a frame: ${JSON.stringify(frame)}`);
}

/** A frame as the *.decoded.jsonl files show it: { headers, payload }. */
function describeFrame(frame) {
    return { headers: frameHeaders(frame), payload: frame.error ? null : frame.payload };
}

/** Encodes a frame object with EventStreamCodec; Buffers pass through. */
function encodeFrame(frame) {
    if (Buffer.isBuffer(frame)) {
        return frame;
    }
    const headers = {};
    for (const [name, value] of Object.entries(frameHeaders(frame))) {
        headers[name] = { type: 'string', value };
    }
    const body = frame.error ? new Uint8Array(0) : fromUtf8(JSON.stringify(frame.payload));
    const bytes = codec.encode({ headers, body });
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Cuts back-to-back frames apart by their declared lengths (no checks). */
function splitFrames(buf) {
    const frames = [];
    let at = 0;
    while (at + PRELUDE_LEN <= buf.length) {
        const total = buf.readUInt32BE(at);
        if (total < OVERHEAD || at + total > buf.length) {
            break;
        }
        frames.push(buf.subarray(at, at + total));
        at += total;
    }
    if (at !== buf.length) {
        throw new Error(`${buf.length - at} trailing bytes after ${frames.length} frames`);
    }
    return frames;
}

/** Decodes frames with EventStreamCodec (throws on any CRC error). */
function decodeFrames(buf) {
    return splitFrames(buf).map((bytes) => {
        const msg = codec.decode(bytes);
        const headers = {};
        for (const [name, header] of Object.entries(msg.headers)) {
            headers[name] = header.value;
        }
        const text = toUtf8(msg.body);
        return { headers, payload: text === '' ? null : JSON.parse(text), bytes };
    });
}

/** A 12-byte prelude declaring `total` bytes, with a correct prelude CRC. */
function forgedPrelude(total, headersLength = 0) {
    const out = Buffer.alloc(PRELUDE_LEN);
    out.writeUInt32BE(total, 0);
    out.writeUInt32BE(headersLength, 4);
    out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
    return out;
}

/** A copy of an encoded frame with one payload byte changed (message CRC now wrong). */
function corruptPayload(frameBytes) {
    const out = Buffer.from(frameBytes);
    const headersLength = out.readUInt32BE(4);
    const at = PRELUDE_LEN + headersLength + 1;
    if (at >= out.length - 4) {
        throw new Error('frame has no payload to corrupt');
    }
    out[at] ^= 0x01;
    return out;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
function seededRandom(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/**
 * Cuts `buf` into the pieces the fake writes one by one:
 * 'whole' -> [buf]; 'byte' -> one byte each; 'random' -> 1..maxPiece bytes
 * each, sizes drawn from `random` (a seededRandom()).
 */
function splitBytes(buf, split = 'whole', { random = seededRandom(1), maxPiece = 40 } = {}) {
    if (buf.length === 0) {
        return [];
    }
    if (split === 'whole') {
        return [buf];
    }
    if (split !== 'byte' && split !== 'random') {
        throw new Error(`unknown split mode ${split}`);
    }
    const pieces = [];
    for (let at = 0; at < buf.length;) {
        const size = split === 'byte' ? 1 : 1 + Math.floor(random() * maxPiece);
        pieces.push(buf.subarray(at, at + size));
        at += size;
    }
    return pieces;
}

// Bedrock ConverseStream events as frame objects; `p` is Bedrock's padding.
const bedrock = {
    messageStart: () => ({ event: 'messageStart', payload: { role: 'assistant', p: 'abcdef' } }),
    text: (block, text) =>
        ({ event: 'contentBlockDelta', payload: { contentBlockIndex: block, delta: { text }, p: 'abc' } }),
    toolStart: (block, toolUseId, name, extra = {}) => ({
        event: 'contentBlockStart',
        payload: { contentBlockIndex: block, start: { toolUse: { toolUseId, name, ...extra } }, p: 'ab' },
    }),
    toolInput: (block, input) =>
        ({ event: 'contentBlockDelta', payload: { contentBlockIndex: block, delta: { toolUse: { input } } } }),
    toolResultStart: (block, toolUseId) => ({
        event: 'contentBlockStart',
        payload: { contentBlockIndex: block, start: { toolResult: { toolUseId, status: 'success' } } },
    }),
    toolResult: (block, result) =>
        ({ event: 'contentBlockDelta', payload: { contentBlockIndex: block, delta: { toolResult: result } } }),
    reasoning: (block, reasoningContent) =>
        ({ event: 'contentBlockDelta', payload: { contentBlockIndex: block, delta: { reasoningContent } } }),
    blockStop: (block) => ({ event: 'contentBlockStop', payload: { contentBlockIndex: block, p: 'abcd' } }),
    messageStop: (stopReason = 'end_turn') => ({ event: 'messageStop', payload: { stopReason, p: 'a' } }),
    metadata: (usage = { inputTokens: 12, outputTokens: 7, totalTokens: 19 }) =>
        ({ event: 'metadata', payload: { usage, metrics: { latencyMs: 42 }, p: 'abcdefg' } }),
    exception: (exception, message = `${exception} raised by the fake`, extra = {}) =>
        ({ exception, payload: { message, ...extra } }),
    error: (code, message) => ({ error: { code, message } }),
};

/** A complete text answer: messageStart, one delta per piece, stop, metadata. */
function textStream(pieces, { stopReason = 'end_turn', usage } = {}) {
    return [
        bedrock.messageStart(),
        ...pieces.map((t) => bedrock.text(0, t)),
        bedrock.blockStop(0),
        bedrock.messageStop(stopReason),
        bedrock.metadata(usage),
    ];
}

module.exports = {
    PRELUDE_LEN,
    crc32,
    frameHeaders,
    describeFrame,
    encodeFrame,
    splitFrames,
    decodeFrames,
    forgedPrelude,
    corruptPayload,
    seededRandom,
    splitBytes,
    bedrock,
    textStream,
};
