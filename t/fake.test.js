'use strict';

// Self-check of the fake Bedrock server; needs neither nginx nor the module.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');

const {
    VECTORS_DIR, TEST_CREDENTIALS, TEST_SESSION_TOKEN, TEST_BEARER_TOKEN,
    startFake, verifyRequest, converseAnswer, awsError, loadConverseVectors,
} = require('./lib/fake-bedrock');
const { mintCerts } = require('./lib/certs');
const { request } = require('./lib/http');

const { HAIKU_ID, PROFILE_ARN } = require('./lib/gateway');

const HAIKU_PATH = '/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/converse';
const ARN_PATH = '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse';
const BODY = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }] });

// Signs like an AWS SDK client would, then sends it to the fake.
async function signedCall(fake, {
    wirePath = HAIKU_PATH,
    body = BODY,
    sendBody = body,
    credentials = TEST_CREDENTIALS,
    signingDate = new Date(),
    signerOptions = {},
    signContentType = true,
    unsignedHeaders = {},
    tamper = (headers) => headers,
    ca,
} = {}) {
    const url = new URL(fake.url);
    const signer = new SignatureV4({
        service: 'bedrock', region: fake.region, credentials, sha256: Sha256,
        uriEscapePath: true, applyChecksum: false, ...signerOptions,
    });
    const signed = await signer.sign({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: wirePath,
        query: {},
        headers: signContentType ? { host: url.host, 'content-type': 'application/json' }
                                 : { host: url.host },
        body,
    }, { signingDate });
    return request({
        url: fake.url + wirePath,
        method: 'POST',
        headers: tamper({ ...signed.headers, ...unsignedHeaders }),
        body: sendBody,
        ca,
    });
}

function assertAwsError(res, status, errorType) {
    assert.equal(res.status, status, res.text);
    assert.ok(res.headers['x-amzn-errortype'].startsWith(`${errorType}:`), res.headers['x-amzn-errortype']);
    assert.match(res.headers['x-amzn-requestid'], /^[0-9a-f-]{36}$/);
    assert.equal(typeof res.json.message, 'string');
}

const flipLastHex = (s) => s.slice(0, -1) + (s.endsWith('0') ? '1' : '0');

const certs = mintCerts();
after(() => certs.cleanup());

for (const transport of ['http', 'https']) {
    describe(`fake Bedrock over ${transport}`, () => {
        let fake;
        const ca = transport === 'https' ? certs.ca : undefined;
        const call = (opts = {}) => signedCall(fake, { ca, ...opts });

        before(async () => {
            fake = await startFake({ tls: ca ? { key: certs.key, cert: certs.cert } : undefined });
        });
        after(() => fake.close());
        beforeEach(() => fake.reset());

        it('accepts a correctly signed Converse request', async () => {
            const res = await call();
            assert.equal(res.status, 200, res.text);
            assert.equal(res.headers['content-type'], 'application/json');
            assert.match(res.headers['x-amzn-requestid'], /^[0-9a-f-]{36}$/);
            assert.equal(res.json.output.message.content[0].text, 'Hello from fake Bedrock');
            assert.deepEqual(res.json.usage, { inputTokens: 10, outputTokens: 5, totalTokens: 15 });

            assert.equal(fake.requests.length, 1);
            const rec = fake.last;
            assert.equal(rec.authOk, true);
            assert.equal(rec.scheme, 'sigv4');
            assert.equal(rec.op, 'converse');
            assert.equal(rec.modelId, HAIKU_ID);
            assert.equal(rec.path, HAIKU_PATH);
            assert.deepEqual(rec.json, JSON.parse(BODY));
            assert.equal(rec.requestId, res.headers['x-amzn-requestid']);
        });

        it('accepts an ARN model id with %2F in the path', async () => {
            const res = await call({ wirePath: ARN_PATH });
            assert.equal(res.status, 200, res.text);
            assert.equal(fake.last.modelId, PROFILE_ARN);
            assert.equal(fake.last.path, ARN_PATH);
        });

        it('rejects a tampered signature', async () => {
            const res = await call({
                tamper: (h) => ({ ...h, authorization: flipLastHex(h.authorization) }),
            });
            assertAwsError(res, 403, 'InvalidSignatureException');
            assert.match(res.json.message, /^The request signature we calculated does not match/);
            assert.equal(fake.last.authOk, false);
        });

        it('rejects a signature made with the wrong secret', async () => {
            const res = await call({
                credentials: { ...TEST_CREDENTIALS, secretAccessKey: 'not-the-right-secret' },
            });
            assertAwsError(res, 403, 'InvalidSignatureException');
            assert.equal(fake.last.authOk, false);
        });

        it('rejects a tampered body', async () => {
            const res = await call({ sendBody: BODY.replace('Hello', 'Hellp') });
            assertAwsError(res, 403, 'InvalidSignatureException');
        });

        it('rejects a path signed single-encoded', async () => {
            const res = await call({ signerOptions: { uriEscapePath: false } });
            assertAwsError(res, 403, 'InvalidSignatureException');
        });

        it('rejects a request without Authorization', async () => {
            const res = await request({ url: fake.url + HAIKU_PATH, method: 'POST', body: BODY, ca });
            assertAwsError(res, 403, 'MissingAuthenticationTokenException');
            assert.equal(fake.last.authOk, false);
        });

        it('rejects an unknown access key id', async () => {
            const res = await call({ credentials: { ...TEST_CREDENTIALS, accessKeyId: 'AKIDOTHER' } });
            assertAwsError(res, 403, 'UnrecognizedClientException');
        });

        it('rejects a stale x-amz-date', async () => {
            const res = await call({ signingDate: new Date(Date.now() - 10 * 60 * 1000) });
            assertAwsError(res, 403, 'InvalidSignatureException');
            assert.match(res.json.message, /Signature expired/);
        });

        it('requires content-type to be signed', async () => {
            const res = await call({
                signContentType: false,
                unsignedHeaders: { 'content-type': 'application/json' },
            });
            assertAwsError(res, 403, 'InvalidSignatureException');
            assert.match(res.json.message, /content-type/);
        });

        it('checks a signed x-amz-content-sha256 against the body', async () => {
            const signerOptions = { applyChecksum: true };
            const ok = await call({ signerOptions });
            assert.equal(ok.status, 200, ok.text);
            assert.ok(fake.last.headers['x-amz-content-sha256']);
            const bad = await call({ signerOptions, sendBody: BODY.replace('Hello', 'Hellp') });
            assertAwsError(bad, 403, 'InvalidSignatureException');
        });
    });
}

describe('fake Bedrock with temporary credentials', () => {
    let fake;
    const creds = { ...TEST_CREDENTIALS, sessionToken: TEST_SESSION_TOKEN };
    before(async () => {
        fake = await startFake({ credentials: creds });
    });
    after(() => fake.close());

    it('accepts a request signed with the session token', async () => {
        const res = await signedCall(fake, { credentials: creds });
        assert.equal(res.status, 200, res.text);
        assert.equal(fake.last.headers['x-amz-security-token'], TEST_SESSION_TOKEN);
        assert.match(fake.last.headers.authorization, /SignedHeaders=[^,]*x-amz-security-token/);
    });

    it('rejects a request without the session token', async () => {
        const res = await signedCall(fake);
        assertAwsError(res, 403, 'UnrecognizedClientException');
    });

    it('rejects a different session token', async () => {
        const res = await signedCall(fake, { credentials: { ...creds, sessionToken: 'other' } });
        assertAwsError(res, 403, 'UnrecognizedClientException');
    });

    it('rejects an unsigned session token', async () => {
        const res = await signedCall(fake, {
            unsignedHeaders: { 'x-amz-security-token': TEST_SESSION_TOKEN },
        });
        assertAwsError(res, 403, 'UnrecognizedClientException');
    });
});

describe('fake Bedrock answers', () => {
    let fake;
    before(async () => {
        fake = await startFake({ bearerToken: TEST_BEARER_TOKEN });
    });
    after(() => fake.close());
    beforeEach(() => fake.reset());

    const bearerCall = (token) => request({
        url: fake.url + HAIKU_PATH, method: 'POST', body: BODY,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });

    it('accepts the configured bearer token', async () => {
        const res = await bearerCall(TEST_BEARER_TOKEN);
        assert.equal(res.status, 200, res.text);
        assert.equal(fake.last.scheme, 'bearer');
        assert.equal(fake.last.authOk, true);
    });

    it('rejects another bearer token', async () => {
        const res = await bearerCall('bedrock-api-key-wrong');
        assertAwsError(res, 403, 'UnrecognizedClientException');
    });

    it('uses Content-Length by default and chunked on request', async () => {
        fake.respond = () => converseAnswer({ text: 'x'.repeat(3000) });
        const plain = await signedCall(fake);
        assert.equal(plain.headers['content-length'], String(Buffer.byteLength(plain.text)));
        assert.equal(plain.headers['transfer-encoding'], undefined);

        fake.respond = () => converseAnswer({ text: 'y'.repeat(3000), chunked: true });
        const chunked = await signedCall(fake);
        assert.equal(chunked.headers['transfer-encoding'], 'chunked');
        assert.equal(chunked.headers['content-length'], undefined);
        assert.equal(chunked.json.output.message.content[0].text, 'y'.repeat(3000));
    });

    it('passes status and headers from the responder, async too', async () => {
        fake.respond = async (req) => {
            assert.equal(req.op, 'converse');
            return awsError(429, 'ThrottlingException', 'Too many requests',
                { 'x-amzn-RequestId': '11111111-2222-4333-8444-555555555555' });
        };
        const res = await signedCall(fake);
        assertAwsError(res, 429, 'ThrottlingException');
        assert.equal(res.headers['x-amzn-requestid'], '11111111-2222-4333-8444-555555555555');
        assert.equal(res.json.message, 'Too many requests');
    });

    it('counts TCP connections (keep-alive reuses one)', async () => {
        const before = fake.connections;
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            for (let i = 0; i < 3; i++) {
                const res = await request({
                    url: fake.url + HAIKU_PATH, method: 'POST', body: BODY, agent,
                    headers: { authorization: `Bearer ${TEST_BEARER_TOKEN}`, 'content-type': 'application/json' },
                });
                assert.equal(res.status, 200);
            }
        } finally {
            agent.destroy();
        }
        assert.equal(fake.connections - before, 1);
    });
});

describe('verifyRequest against independent vectors', () => {
    // PROTOCOL.md 5.1 (botocore-computed).
    const vectorBody = '{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":64}}';
    const vectorReq = (signature, extraSigned = '', extraHeaders = {}) => ({
        method: 'POST',
        path: '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
        body: Buffer.from(vectorBody),
        headers: {
            host: 'bedrock-runtime.us-east-1.amazonaws.com',
            'content-type': 'application/json',
            'x-amz-date': '20240115T120000Z',
            ...extraHeaders,
            authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/us-east-1/bedrock/aws4_request, ' +
                `SignedHeaders=content-type;host;x-amz-date${extraSigned}, Signature=${signature}`,
        },
    });
    const vectorPolicy = (sessionToken) => ({
        credentials: {
            accessKeyId: 'AKIDEXAMPLE',
            secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
            sessionToken,
        },
        region: 'us-east-1',
        now: Date.UTC(2024, 0, 15, 12, 0, 0),
    });

    it('accepts the PROTOCOL.md Converse vector', async () => {
        const sig = 'dead0a3386d247e8e5e9b8e51f72264adf0621eee1f9b0cb684840379f813ebb';
        assert.deepEqual(await verifyRequest(vectorReq(sig), vectorPolicy()), { ok: true, scheme: 'sigv4' });
        const bad = await verifyRequest(vectorReq(flipLastHex(sig)), vectorPolicy());
        assert.equal(bad.ok, false);
        assert.equal(bad.errorType, 'InvalidSignatureException');
    });

    it('accepts the PROTOCOL.md session-token vector', async () => {
        const sig = 'e103ce2b53d75ec587885480b9736b3e45b0674294d3cc02498da382dd504cbf';
        const req = vectorReq(sig, ';x-amz-security-token', { 'x-amz-security-token': 'EXAMPLESESSIONTOKEN' });
        assert.deepEqual(await verifyRequest(req, vectorPolicy('EXAMPLESESSIONTOKEN')), { ok: true, scheme: 'sigv4' });
    });

    const suite = path.join(VECTORS_DIR, 'sigv4', 'aws-c-auth', 'v4');
    const cases = ['get-vanilla', 'get-vanilla-query', 'get-vanilla-with-session-token',
        'get-vanilla-query-unreserved', 'post-vanilla', 'post-vanilla-query',
        'post-header-key-sort', 'post-header-value-case', 'post-x-www-form-urlencoded'];

    // "METHOD target HTTP/1.1\nName:value\n...\n\nbody" -> request object
    function parseSignedRequest(text) {
        const [head, ...rest] = text.split('\n\n');
        const [start, ...lines] = head.split('\n');
        const [method, target] = start.split(' ');
        const headers = {};
        for (const line of lines) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1);
        }
        return { method, path: target, headers, body: Buffer.from(rest.join('\n\n')) };
    }

    for (const name of cases) {
        const dir = path.join(suite, name);
        it(`aws-c-auth v4/${name}`, { skip: !fs.existsSync(dir) && 'vectors absent' }, async () => {
            const ctx = JSON.parse(fs.readFileSync(path.join(dir, 'context.json'), 'utf8'));
            const req = parseSignedRequest(fs.readFileSync(path.join(dir, 'header-signed-request.txt'), 'utf8'));
            const policy = {
                credentials: {
                    accessKeyId: ctx.credentials.access_key_id,
                    secretAccessKey: ctx.credentials.secret_access_key,
                    sessionToken: ctx.credentials.token,
                },
                region: ctx.region,
                service: ctx.service,
                now: Date.parse(ctx.timestamp),
                requiredSignedHeaders: ['host', 'x-amz-date'],
            };
            assert.deepEqual(await verifyRequest(req, policy), { ok: true, scheme: 'sigv4' });
            req.headers.authorization = flipLastHex(req.headers.authorization);
            assert.equal((await verifyRequest(req, policy)).ok, false);
        });
    }
});

describe('loadConverseVectors', () => {
    const vectors = loadConverseVectors();
    it('loads the recorded Converse exchanges', { skip: vectors.length === 0 && 'vectors absent' }, () => {
        for (const v of vectors) {
            assert.equal(typeof v.name, 'string');
            assert.ok(v.response && typeof v.response === 'object', v.name);
            if (v.status === 200) {
                assert.ok(Array.isArray(v.response.output.message.content), v.name);
                assert.equal(typeof v.response.stopReason, 'string', v.name);
            } else {
                assert.equal(v.status, 400);
                assert.equal(typeof v.response.message, 'string', v.name);
            }
        }
        assert.ok(vectors.some((v) => v.status === 400));
        assert.ok(vectors.some((v) => v.status === 200));
    });
});
