'use strict';

// A Bedrock that misbehaves at the TCP level: it reads nginx's request and
// then plays a script of raw writes, pauses, resets and closes. For fault
// injection only; the well-behaved fake (fake-bedrock.js) checks signatures.

const net = require('node:net');
const { EventStreamCodec } = require('@smithy/eventstream-codec');
const { toUtf8, fromUtf8 } = require('@smithy/util-utf8');
const { crc32 } = require('./eventstream');

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One Bedrock event frame, encoded with AWS's own codec. */
function frame(eventType, payload) {
    return Buffer.from(codec.encode({
        headers: {
            ':event-type': { type: 'string', value: eventType },
            ':content-type': { type: 'string', value: 'application/json' },
            ':message-type': { type: 'string', value: 'event' },
        },
        body: fromUtf8(JSON.stringify(payload)),
    }));
}

const asBytes = (data) => (Buffer.isBuffer(data) ? data : Buffer.from(data));

/**
 * A frame built byte by byte, for what AWS's codec would refuse to encode
 * or would re-encode: headers { name: string | Buffer } are all of type
 * string (7) with their bytes as given (newlines, invalid UTF-8...); body a
 * string or Buffer sent as it is (JSON text written by hand), or an object
 * (JSON.stringify). Both CRCs are correct.
 */
function rawFrame(headers, body = '') {
    const parts = [];
    for (const [name, value] of Object.entries(headers)) {
        const n = Buffer.from(name);
        const v = asBytes(value);
        const h = Buffer.alloc(n.length + 4);
        h[0] = n.length;
        n.copy(h, 1);
        h[n.length + 1] = 7;
        h.writeUInt16BE(v.length, n.length + 2);
        parts.push(h, v);
    }
    const headerBytes = Buffer.concat(parts);
    const payload = typeof body === 'object' && !Buffer.isBuffer(body) ? Buffer.from(JSON.stringify(body))
                                                                       : asBytes(body);
    const prelude = Buffer.alloc(12);
    prelude.writeUInt32BE(12 + headerBytes.length + payload.length + 4, 0);
    prelude.writeUInt32BE(headerBytes.length, 4);
    prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
    const message = Buffer.concat([prelude, headerBytes, payload]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(message), 0);
    return Buffer.concat([message, crc]);
}

/** An event frame whose JSON payload is given as text (or bytes) as it is. */
function eventFrame(eventType, body) {
    return rawFrame({
        ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event',
    }, body);
}

/** An exception frame; `type` (the :exception-type header) may hold any bytes. */
function exceptionFrame(type, body = { message: 'raised by the raw upstream' }) {
    return rawFrame({
        ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception',
    }, body);
}

function head(status, headers = {}) {
    const lines = [`HTTP/1.1 ${status} X`, 'x-amzn-RequestId: raw-upstream-request'];
    for (const [name, value] of Object.entries(headers)) {
        lines.push(`${name}: ${value}`);
    }
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

function chunk(data) {
    const buf = Buffer.from(data);
    return Buffer.concat([Buffer.from(`${buf.length.toString(16)}\r\n`), buf, Buffer.from('\r\n')]);
}

/**
 * startRawUpstream() -> { port, url, connections, requests, closedByPeer,
 * play(script), close() }. A script is an async function (sock, request)
 * that writes to the socket; the default answers nothing.
 */
async function startRawUpstream() {
    const up = {
        port: 0,
        url: '',
        connections: 0,
        requests: 0,
        closedByPeer: 0,
        script: async () => {},
        play(script) {
            this.script = script;
        },
    };
    const sockets = new Set();

    const server = net.createServer((sock) => {
        up.connections += 1;
        sockets.add(sock);
        let received = Buffer.alloc(0);
        let started = false;

        sock.on('close', () => sockets.delete(sock));
        sock.on('end', () => {
            up.closedByPeer += 1;
        });
        sock.on('error', () => {});
        sock.on('data', (data) => {
            received = Buffer.concat([received, data]);
            const end = received.indexOf('\r\n\r\n');
            if (started || end === -1) {
                return;
            }
            const length = Number((/content-length:\s*(\d+)/i.exec(received.subarray(0, end)) || [])[1] || 0);
            if (received.length < end + 4 + length) {
                return;
            }
            started = true;
            up.requests += 1;
            Promise.resolve(up.script(sock, received.toString('utf8'))).catch(() => sock.destroy());
        });
    });

    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    up.port = server.address().port;
    up.url = `http://127.0.0.1:${up.port}`;
    up.close = () => new Promise((resolve) => {
        for (const sock of sockets) {
            sock.destroy();
        }
        server.close(() => resolve());
    });
    return up;
}

module.exports = {
    startRawUpstream, frame, rawFrame, eventFrame, exceptionFrame, head, chunk, sleep,
};
