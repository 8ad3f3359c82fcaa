'use strict';

// A fake Amazon Bedrock Runtime endpoint. It records every request,
// authenticates it (bearer API key or SigV4, the latter checked with AWS's
// own signer) and answers with whatever the test's `respond` function returns:
// a JSON answer (converseAnswer, awsError) or an event stream for
// converse-stream (eventStreamAnswer).

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');
const { encodeFrame, splitBytes, seededRandom } = require('./eventstream');

const VECTORS_DIR = path.resolve(__dirname, '../../../shared/vectors');

// Made-up credentials: never real ones.
const TEST_CREDENTIALS = Object.freeze({
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'ngxBedrockTestOnly/Secret+Key0123456789abcdEFGH',
});
const TEST_SESSION_TOKEN = 'ngxBedrockTestOnlySessionToken//AQoDYXdzEJr+example==';
const TEST_BEARER_TOKEN = 'bedrock-api-key-ngxTestOnlyBearerToken0123456789';

const ERROR_TYPE_SUFFIX = ':http://internal.amazon.com/coral/com.amazon.coral.service/';
const SIGNATURE_MISMATCH =
    'The request signature we calculated does not match the signature you ' +
    'provided. Check your AWS Secret Access Key and signing method. Consult ' +
    'the service documentation for details.';
const INVALID_TOKEN = 'The security token included in the request is invalid.';
const DEFAULT_REQUIRED_SIGNED = ['host', 'x-amz-date', 'content-type'];
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

function sha256Hex(data) {
    return crypto.createHash('sha256').update(data).digest('hex');
}

function awsError(status, type, message, headers = {}) {
    return {
        status,
        headers: { 'x-amzn-ErrorType': type + ERROR_TYPE_SUFFIX, ...headers },
        body: { message },
    };
}

function converseAnswer({
    text = 'Hello from fake Bedrock',
    content,
    stopReason = 'end_turn',
    usage = { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
    headers,
    chunked,
} = {}) {
    return {
        status: 200,
        headers,
        chunked,
        body: {
            output: { message: { role: 'assistant', content: content || [{ text }] } },
            stopReason,
            usage,
            metrics: { latencyMs: 42 },
        },
    };
}

/**
 * A ConverseStream answer: HTTP 200, application/vnd.amazon.eventstream,
 * chunked. frames: Buffers (sent as they are, e.g. a recorded .bin or pieces
 * of one) or frame objects for encodeFrame(). options:
 *   split: 'whole' | 'byte' | 'random' (pieces of 1..maxPiece bytes drawn
 *          with `seed`, so a failure reproduces)
 *   delayMs: pause after every write
 *   gate(i, record): awaited before frame i
 *   truncateAfter: n: destroy the connection after n frames
 *   stall: true: after the frames, keep the connection open without ending
 *   framing: 'chunked' (default) | 'close' (no length: the body ends when
 *            the connection closes, "Connection: close")
 *   headers: extra response headers
 * Without gate or delayMs all frames are concatenated before splitting (so
 * pieces straddle frames); with either, each frame is split on its own.
 */
function eventStreamAnswer(frames, options = {}) {
    const { headers, ...stream } = options;
    return {
        status: 200,
        headers: { 'Content-Type': 'application/vnd.amazon.eventstream', ...headers },
        eventStream: { ...stream, frames: frames.map(encodeFrame) },
    };
}

function defaultResponder() {
    return converseAnswer();
}

// "20240115T120000Z" -> Date, or null when malformed.
function parseAmzDate(value) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value || '');
    if (!m) {
        return null;
    }
    const [, y, mo, d, h, mi, s] = m.map(Number);
    return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

// Splits "/p?a=1&b" into the path and a decoded query object, the shape the
// signer expects (repeated keys become arrays).
function splitTarget(target) {
    const q = target.indexOf('?');
    const query = {};
    if (q === -1) {
        return { path: target, query };
    }
    for (const pair of target.slice(q + 1).split('&')) {
        if (pair === '') {
            continue;
        }
        const eq = pair.indexOf('=');
        const key = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
        const value = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1));
        if (key in query) {
            query[key] = [].concat(query[key], value);
        } else {
            query[key] = value;
        }
    }
    return { path: target.slice(0, q), query };
}

function parseSigV4Authorization(value) {
    const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/
        .exec(value);
    if (!m) {
        return null;
    }
    const scope = m[1].split('/');
    if (scope.length !== 5) {
        return null;
    }
    const [accessKeyId, date, region, service, terminator] = scope;
    return {
        accessKeyId, date, region, service, terminator,
        signedHeaders: m[2].split(';'),
        signature: m[3],
    };
}

// What AWS would show as "The Canonical String for this request should have
// been ..." in its error message (diagnostics only; verification uses the
// AWS signer).
function describeCanonical(signer, req, target, signedHeaders) {
    return [
        req.method,
        signer.getCanonicalPath({ path: target.path }),
        Object.keys(target.query).sort().map((k) => `${k}=${target.query[k]}`).join('&'),
        ...signedHeaders.map((n) => `${n}:${String(req.headers[n]).trim().replace(/\s+/g, ' ')}`),
        '',
        signedHeaders.join(';'),
        req.headers['x-amz-content-sha256'] || sha256Hex(req.body),
    ].join('\n');
}

function reject(errorType, message) {
    return { ok: false, errorType, message };
}

/**
 * The credentials a policy accepts for an access key id. `credentials` is
 * one { accessKeyId, secretAccessKey, sessionToken } object, an array of
 * them, or a function (accessKeyId) -> such an object or null (so a test can
 * add keys after a refresh and revoke old ones). Null when none matches.
 */
function pickCredentials(credentials, accessKeyId) {
    let found;
    if (typeof credentials === 'function') {
        found = credentials(accessKeyId);
    } else if (Array.isArray(credentials)) {
        found = credentials.find((c) => c && c.accessKeyId === accessKeyId);
    } else {
        found = credentials;
    }
    return found && found.accessKeyId === accessKeyId ? found : null;
}

/** bearerToken: a string, an array of them, or a function (token) -> bool. */
function bearerAccepted(bearerToken, token) {
    if (typeof bearerToken === 'function') {
        return Boolean(bearerToken(token));
    }
    if (Array.isArray(bearerToken)) {
        return bearerToken.includes(token);
    }
    return Boolean(bearerToken) && token === bearerToken;
}

/**
 * Authenticates one request the way Bedrock would.
 * req: { method, path (raw wire target), headers (lower-case names), body: Buffer }
 * policy: { credentials, bearerToken, region, service, now, requiredSignedHeaders }
 * (credentials and bearerToken may also be sets: see pickCredentials and
 * bearerAccepted)
 * Resolves to { ok: true, scheme } or { ok: false, errorType, message }.
 */
async function verifyRequest(req, policy) {
    const {
        bearerToken,
        region = 'us-east-1',
        service = 'bedrock',
        now = Date.now(),
        requiredSignedHeaders = DEFAULT_REQUIRED_SIGNED,
    } = policy;
    const h = req.headers;
    const authorization = h.authorization;

    if (authorization === undefined) {
        return reject('MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    if (/^Bearer /i.test(authorization)) {
        if (authorization.startsWith('Bearer ') && bearerAccepted(bearerToken, authorization.slice(7))) {
            return { ok: true, scheme: 'bearer' };
        }
        return reject('UnrecognizedClientException', INVALID_TOKEN);
    }

    const auth = parseSigV4Authorization(authorization);
    if (!auth) {
        return reject('IncompleteSignatureException',
            `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${authorization.split(' ')[0]}`);
    }
    const credentials = pickCredentials(policy.credentials, auth.accessKeyId);
    if (!credentials) {
        return reject('UnrecognizedClientException', INVALID_TOKEN);
    }
    if (auth.region !== region || auth.service !== service || auth.terminator !== 'aws4_request') {
        return reject('InvalidSignatureException',
            `Credential should be scoped to a valid region and to service '${service}'.`);
    }

    const signingDate = parseAmzDate(h['x-amz-date']);
    if (!signingDate) {
        return reject('IncompleteSignatureException', 'Missing or malformed X-Amz-Date header.');
    }
    if (Math.abs(signingDate.getTime() - now) > MAX_CLOCK_SKEW_MS) {
        return reject('InvalidSignatureException',
            `Signature expired: ${h['x-amz-date']} is not within 5 minutes of the server time.`);
    }
    if (auth.date !== h['x-amz-date'].slice(0, 8)) {
        return reject('InvalidSignatureException', 'Credential date does not match X-Amz-Date.');
    }

    const signed = auth.signedHeaders;
    const sortedUnique = [...new Set(signed)].sort();
    if (signed.join(';') !== sortedUnique.join(';') || signed.some((n) => n !== n.toLowerCase())) {
        return reject('InvalidSignatureException', 'SignedHeaders must be lower-case and sorted.');
    }
    for (const name of requiredSignedHeaders) {
        if (!signed.includes(name)) {
            return reject('InvalidSignatureException', `'${name}' must be a signed header.`);
        }
    }
    for (const name of signed) {
        if (h[name] === undefined) {
            return reject('InvalidSignatureException', `Signed header '${name}' is missing.`);
        }
    }

    const token = h['x-amz-security-token'];
    if (credentials.sessionToken) {
        if (token !== credentials.sessionToken || !signed.includes('x-amz-security-token')) {
            return reject('UnrecognizedClientException', INVALID_TOKEN);
        }
    } else if (token !== undefined) {
        return reject('UnrecognizedClientException', INVALID_TOKEN);
    }

    const contentSha = h['x-amz-content-sha256'];
    if (contentSha !== undefined &&
        (contentSha !== sha256Hex(req.body) || !signed.includes('x-amz-content-sha256'))) {
        return reject('InvalidSignatureException',
            'The provided x-amz-content-sha256 header does not match what was computed.');
    }

    const signer = new SignatureV4({
        service,
        region,
        credentials,
        sha256: Sha256,
        uriEscapePath: true,
        applyChecksum: false,
    });
    const target = splitTarget(req.path);
    const headers = {};
    for (const name of signed) {
        headers[name] = h[name];
    }
    const host = String(h.host || '');
    const portMatch = /:(\d+)$/.exec(host);
    const signedReq = await signer.sign({
        method: req.method,
        protocol: policy.protocol || 'https:',
        hostname: portMatch ? host.slice(0, portMatch.index) : host,
        port: portMatch ? Number(portMatch[1]) : undefined,
        path: target.path,
        query: target.query,
        headers,
        body: req.body,
    }, { signingDate, signableHeaders: new Set(signed) });

    if (signedReq.headers.authorization !== authorization) {
        const canonical = describeCanonical(signer, req, target, signed);
        return reject('InvalidSignatureException',
            `${SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'${canonical}'\n`);
    }
    return { ok: true, scheme: 'sigv4' };
}

// "/model/<encoded id>/<op>" -> { modelId, op }
function parseModelPath(target) {
    const m = /^\/model\/([^/?]+)\/([^/?]+)$/.exec(target.split('?')[0]);
    if (!m) {
        return { modelId: null, op: null };
    }
    let modelId;
    try {
        modelId = decodeURIComponent(m[1]);
    } catch {
        modelId = m[1];
    }
    return { modelId, op: m[2] };
}

function normaliseHeaders(headers) {
    const out = new Map();
    for (const [name, value] of Object.entries(headers || {})) {
        if (value !== undefined && value !== null) {
            out.set(name.toLowerCase(), [name, String(value)]);
        }
    }
    return out;
}

function splitInThree(buf) {
    const step = Math.max(1, Math.ceil(buf.length / 3));
    const parts = [];
    for (let i = 0; i < buf.length; i += step) {
        parts.push(buf.subarray(i, i + step));
    }
    return parts;
}

const nextTick = () => new Promise((resolve) => setImmediate(resolve));

// Resolves once the piece is handed to the kernel, false if the client is gone.
function writePiece(res, piece) {
    return new Promise((resolve) => {
        res.write(piece, (err) => resolve(!err));
    });
}

// Writes an eventStreamAnswer body; record.phase tells how far it got.
async function writeEventStream(res, record, spec) {
    const {
        frames, split = 'whole', seed = 1, maxPiece, delayMs = 0, gate, truncateAfter, stall = false,
        framing = 'chunked',
    } = spec;
    const count = truncateAfter === undefined ? frames.length : Math.min(truncateAfter, frames.length);
    const perFrame = Boolean(gate) || delayMs > 0;
    const segments = perFrame ? frames.slice(0, count) : [Buffer.concat(frames.slice(0, count))];
    const random = seededRandom(seed);

    if (framing === 'close') {
        res.useChunkedEncodingByDefault = false;
        res.setHeader('Connection', 'close');
    }
    record.phase = 'sending';
    res.flushHeaders();
    for (let i = 0; i < segments.length; i++) {
        if (gate) {
            await gate(i, record);
        }
        // frames written, or being written
        record.framesSent = perFrame ? i + 1 : count;
        for (const piece of splitBytes(segments[i], split, { random, maxPiece })) {
            if (record.closedEarly || !(await writePiece(res, piece))) {
                return;
            }
            await (delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)) : nextTick());
        }
    }
    if (truncateAfter !== undefined) {
        record.phase = 'truncated';
        res.socket.destroy();
    } else if (stall) {
        record.phase = 'stalled';
    } else {
        record.phase = 'done';
        res.end();
    }
}

// Writes a responder's answer. Default framing is Content-Length; with
// `chunked: true` the body goes out in several writes without it; an
// eventStreamAnswer is always chunked.
async function writeAnswer(res, answer, record) {
    const { status = 200, headers, body = '', chunked = false, eventStream } = answer || {};
    let payload;
    if (Buffer.isBuffer(body)) {
        payload = body;
    } else {
        payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    }

    const merged = normaliseHeaders({
        'Content-Type': 'application/json',
        'x-amzn-RequestId': crypto.randomUUID(),
    });
    for (const [key, entry] of normaliseHeaders(headers)) {
        merged.set(key, entry);
    }
    if (!chunked && !eventStream) {
        merged.set('content-length', ['Content-Length', String(payload.length)]);
    }
    for (const [name, value] of merged.values()) {
        res.setHeader(name, value);
    }
    res.statusCode = status;
    record.requestId = merged.get('x-amzn-requestid')[1];

    if (eventStream) {
        await writeEventStream(res, record, eventStream);
    } else if (!chunked) {
        res.end(payload);
    } else {
        for (const part of splitInThree(payload)) {
            res.write(part);
            await new Promise((resolve) => setTimeout(resolve, 5));
        }
        res.end();
    }
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', reject);
    });
}

function parseJson(text) {
    try {
        return JSON.parse(text);
    } catch {
        return null;
    }
}

/**
 * Starts the fake. Options: { tls: {key, cert}, region, credentials (null:
 * bearer only), bearerToken, requiredSignedHeaders }. credentials and
 * bearerToken may also be sets (an array, or a function: see
 * pickCredentials, bearerAccepted); the fake reads fake.credentials and
 * fake.bearerToken on every request, so a test may replace them.
 */
async function startFake(options = {}) {
    const {
        tls,
        port = 0,
        region = 'us-east-1',
        credentials = TEST_CREDENTIALS,
        bearerToken,
        requiredSignedHeaders,
    } = options;

    const fake = {
        port: 0,
        url: '',
        region,
        credentials,
        bearerToken,
        requests: [],
        connections: 0,
        respond: defaultResponder,
        get last() {
            return this.requests[this.requests.length - 1];
        },
        reset() {
            this.requests.length = 0;
            this.respond = defaultResponder;
        },
    };

    async function handle(req, res) {
        const raw = await readBody(req);
        const body = raw.toString('utf8');
        const record = {
            method: req.method,
            path: req.url,
            headers: req.headers,
            body,
            rawBody: raw,
            json: parseJson(body),
            ...parseModelPath(req.url),
            authOk: false,
            authError: null,
            scheme: null,
            requestId: null,
            // event streams: 'sending' | 'stalled' | 'truncated' | 'done'
            phase: null,
            framesSent: 0,
            // the client (nginx) closed the connection before the answer ended
            closedEarly: false,
            closedAt: null,
        };
        fake.requests.push(record);
        res.on('close', () => {
            record.closedAt = Date.now();
            if (!res.writableFinished && record.phase !== 'truncated') {
                record.closedEarly = true;
            }
        });

        const verdict = await verifyRequest(
            { method: req.method, path: req.url, headers: req.headers, body: raw },
            { credentials: fake.credentials, bearerToken: fake.bearerToken, region, requiredSignedHeaders,
              protocol: tls ? 'https:' : 'http:' });
        let answer;
        if (verdict.ok) {
            record.authOk = true;
            record.scheme = verdict.scheme;
            try {
                answer = await fake.respond(record);
            } catch (err) {
                answer = awsError(500, 'InternalServerException', `fake responder failed: ${err.message}`);
            }
        } else {
            record.authError = `${verdict.errorType}: ${verdict.message}`;
            answer = awsError(403, verdict.errorType, verdict.message);
        }
        await writeAnswer(res, answer, record);
    }

    const onRequest = (req, res) => {
        handle(req, res).catch((err) => {
            res.destroy(err);
        });
    };
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, onRequest)
                       : http.createServer(onRequest);
    server.keepAliveTimeout = 30000;
    server.on('connection', () => {
        fake.connections += 1;
    });

    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
    });
    fake.port = server.address().port;
    fake.url = `${tls ? 'https' : 'http'}://127.0.0.1:${fake.port}`;
    fake.close = () => new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
    });
    return fake;
}

function readJsonIfExists(file) {
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
}

/** Recorded Converse exchanges from ../shared/vectors ([] when absent). */
function loadConverseVectors() {
    const dir = path.join(VECTORS_DIR, 'bedrock', 'converse');
    if (!fs.existsSync(dir)) {
        return [];
    }
    return fs.readdirSync(dir)
        .filter((f) => f.endsWith('.response.json'))
        .sort()
        .map((f) => {
            const name = f.slice(0, -'.response.json'.length);
            return {
                name,
                request: readJsonIfExists(path.join(dir, `${name}.request.json`)),
                status: /error-400/.test(name) ? 400 : 200,
                response: readJsonIfExists(path.join(dir, f)),
            };
        });
}

/**
 * Recorded ConverseStream bodies ([] when absent): { name, bin (the raw
 * bytes), frames ([{headers, payload}] from *.decoded.jsonl), request }.
 */
function loadStreamRecordings() {
    const dir = path.join(VECTORS_DIR, 'bedrock', 'converse-stream');
    if (!fs.existsSync(dir)) {
        return [];
    }
    return fs.readdirSync(dir)
        .filter((f) => f.endsWith('.bin'))
        .sort()
        .map((f) => {
            const name = f.slice(0, -'.bin'.length);
            const file = (suffix) => path.join(dir, name + suffix);
            const lines = fs.readFileSync(file('.decoded.jsonl'), 'utf8').split('\n').filter(Boolean);
            return {
                name,
                bin: fs.readFileSync(file('.bin')),
                frames: lines.map((line) => JSON.parse(line)),
                request: readJsonIfExists(file('.request.json')),
            };
        });
}

/**
 * Headers for calling the fake directly, signed as an AWS SDK would:
 * signBedrockCall(fake, { path, body }) -> headers (host, x-amz-date,
 * content-type, authorization...).
 */
async function signBedrockCall(fake, { path: wirePath, body, credentials = fake.credentials }) {
    const url = new URL(fake.url);
    const signer = new SignatureV4({
        service: 'bedrock', region: fake.region, credentials, sha256: Sha256,
        uriEscapePath: true, applyChecksum: false,
    });
    const signed = await signer.sign({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: wirePath,
        query: {},
        headers: { host: url.host, 'content-type': 'application/json' },
        body,
    });
    return signed.headers;
}

/**
 * Calls the fake directly, signed as an AWS SDK would, reading the answer as
 * it arrives: callFake(fake, { path, body, onData(chunk, res), agent,
 * timeoutMs }) -> { status, headers, body (Buffer), complete }.
 */
async function callFake(fake, { path: wirePath, body, onData = () => {}, agent, timeoutMs = 10000 }) {
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const headers = await signBedrockCall(fake, { path: wirePath, body: payload.toString('utf8') });
    const lib = fake.url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
        const req = lib.request(`${fake.url}${wirePath}`, {
            method: 'POST', headers: { ...headers, 'content-length': payload.length }, agent, timeout: timeoutMs,
        }, (res) => {
            const parts = [];
            res.on('data', (chunk) => {
                parts.push(chunk);
                onData(chunk, res);
            });
            res.on('error', () => {});
            res.on('close', () => resolve({
                status: res.statusCode, headers: res.headers, body: Buffer.concat(parts), complete: res.complete,
            }));
        });
        req.on('timeout', () => req.destroy(new Error(`${wirePath}: no answer in ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
    });
}

module.exports = {
    VECTORS_DIR,
    TEST_CREDENTIALS,
    TEST_SESSION_TOKEN,
    TEST_BEARER_TOKEN,
    startFake,
    verifyRequest,
    pickCredentials,
    bearerAccepted,
    converseAnswer,
    eventStreamAnswer,
    awsError,
    loadConverseVectors,
    loadStreamRecordings,
    signBedrockCall,
    callFake,
    sha256Hex,
};
