'use strict';

// Every refusal is an OpenAI error body; Bedrock errors are mapped; secrets
// (the client's key, the AWS secret and session token) never leak.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');

const { TEST_CREDENTIALS, TEST_SESSION_TOKEN, awsError } = require('./lib/fake-bedrock');
const { startGateway, bedrockLocation, CLIENT_API_KEY } = require('./lib/gateway');
const { assertOpenAIError, assertNoSecrets, BEDROCK_ERRORS } = require('./lib/expect');

const CREDENTIALS = { ...TEST_CREDENTIALS, sessionToken: TEST_SESSION_TOKEN };
const AWS_SECRETS = [CREDENTIALS.secretAccessKey, CREDENTIALS.sessionToken];
const MESSAGES = [{ role: 'user', content: 'Hi' }];

// Images that Bedrock would refuse or misread: strict base64 of the
// declared type only.
const PNG_BYTES = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const BAD_IMAGES = [
    ['an image that is not base64', 'data:image/png;base64,@@@@'],
    ['an image that is empty', 'data:image/png;base64,'],
    ['an image with missing padding', `data:image/png;base64,${PNG_BYTES.toString('base64').replace(/=+$/, '')}`],
    ['an image in base64url', 'data:image/jpeg;base64,_9j_4AAQSkZJRgABAQ'],
    ['an image with a line break', `data:image/png;base64,${PNG_BYTES.toString('base64').replace(/^(.{8})/, '$1\n')}`],
    ['base64 text that is not a PNG', `data:image/png;base64,${Buffer.from('not an image at all').toString('base64')}`],
    ['a PNG declared as JPEG', `data:image/jpeg;base64,${PNG_BYTES.toString('base64')}`],
    ['a PNG declared as WebP', `data:image/webp;base64,${PNG_BYTES.toString('base64')}`],
];

// Client mistakes nginx must refuse with 400 before calling Bedrock.
const BAD_REQUESTS = [
    { name: 'invalid JSON', body: '{"model": "gpt-4o", "messages": [' },
    { name: 'a JSON array body', body: '[1, 2, 3]' },
    { name: 'a JSON string body', body: '"hello"' },
    { name: 'missing model', body: { messages: MESSAGES }, param: 'model' },
    { name: 'non-string model', body: { model: 42, messages: MESSAGES }, param: 'model' },
    { name: 'missing messages', body: { model: 'gpt-4o' }, param: 'messages' },
    { name: 'empty messages', body: { model: 'gpt-4o', messages: [] }, param: 'messages' },
    { name: 'messages as a string', body: { model: 'gpt-4o', messages: 'Hi' }, param: 'messages' },
    { name: 'temperature as a string', body: { model: 'gpt-4o', messages: MESSAGES, temperature: 'hot' }, param: 'temperature' },
    { name: 'negative max_tokens', body: { model: 'gpt-4o', messages: MESSAGES, max_tokens: -5 }, param: 'max_tokens' },
    { name: 'n: 2', body: { model: 'gpt-4o', messages: MESSAGES, n: 2 }, param: 'n' },
    {
        name: 'an https image_url',
        body: {
            model: 'gpt-4o',
            messages: [{
                role: 'user',
                content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }],
            }],
        },
        param: /^messages/,
    },
    ...BAD_IMAGES.map(([name, url]) => ({
        name,
        body: {
            model: 'gpt-4o',
            messages: [{
                role: 'user',
                content: [
                    { type: 'text', text: 'What is this?' },
                    { type: 'image_url', image_url: { url } },
                ],
            }],
        },
        param: 'messages[0].content[1].image_url.url',
    })),
];

describe('errors (error_log at debug level)', () => {
    let gw;
    const bodies = [];        // every response body nginx sent
    const upstreamCalls = [];  // every request the fake saw

    const track = async (promise) => {
        const res = await promise;
        bodies.push(res.text);
        return res;
    };
    const chat = (body, opts) => track(gw.chat(body, opts));

    before(async () => {
        gw = await startGateway({
            fake: { credentials: CREDENTIALS },
            errorLogLevel: 'debug',
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url }),
                bedrockLocation('/small/v1/', { pass: fake.url, extra: 'client_max_body_size 1k;' }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => {
        upstreamCalls.push(...gw.fake.requests);
        gw.fake.reset();
    });

    for (const { name, body, param } of BAD_REQUESTS) {
        it(`refuses ${name} with 400`, async () => {
            const res = await chat(body, { headers: { 'content-type': 'application/json' } });
            assertOpenAIError(res, 400, { type: 'invalid_request_error', ...(param && { param }) });
            assert.equal(gw.fake.requests.length, 0, 'nothing sent to Bedrock');
        });
    }

    it('refuses an unmapped model with 404 model_not_found', async () => {
        const res = await chat({ model: 'gpt-unknown', messages: MESSAGES });
        assertOpenAIError(res, 404, { code: 'model_not_found' });
        assert.equal(gw.fake.requests.length, 0, 'nothing sent to Bedrock');
    });

    it('refuses an unknown route with 404 unknown_url', async () => {
        const res = await track(gw.call('POST', '/v1/nope', { body: { model: 'gpt-4o', messages: MESSAGES } }));
        assertOpenAIError(res, 404, { code: 'unknown_url' });
    });

    it('refuses GET on chat/completions with 405 and Allow: POST', async () => {
        const res = await track(gw.call('GET', '/v1/chat/completions'));
        assertOpenAIError(res, 405, { code: 'method_not_allowed' });
        assert.equal(res.headers.allow, 'POST');
    });

    it('refuses a body over client_max_body_size with a JSON 413', async () => {
        const prompt = 'x'.repeat(4096);
        const res = await chat({ model: 'gpt-4o', messages: [{ role: 'user', content: prompt }] },
            { prefix: '/small/v1/' });
        assertOpenAIError(res, 413);
        assert.equal(gw.fake.requests.length, 0);
    });

    for (const { status, type, want, sdk } of BEDROCK_ERRORS) {
        const message = `${type} raised by the fake (${status})`;

        it(`maps Bedrock ${status} ${type}`, async () => {
            gw.fake.respond = () => awsError(status, type, message);
            const res = await chat({ model: 'gpt-4o', messages: MESSAGES });
            const err = assertOpenAIError(res, status, want);
            if (status === 400) {
                assert.ok(err.message.includes(message), `Bedrock's message kept: ${err.message}`);
            }
            assert.equal(gw.fake.requests.length, 1);
        });

        it(`raises ${sdk.name} in the openai SDK for Bedrock ${status}`, async () => {
            gw.fake.respond = () => awsError(status, type, message);
            await assert.rejects(
                gw.openai().chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
                (err) => err instanceof sdk && err.status === status,
            );
        });
    }

    it('lets the SDK retry a throttled call (maxRetries: 2 -> 3 calls)', async () => {
        gw.fake.respond = () => awsError(429, 'ThrottlingException', 'Too many requests');
        await assert.rejects(
            gw.openai({ maxRetries: 2 }).chat.completions.create({ model: 'gpt-4o', messages: MESSAGES }),
            OpenAI.RateLimitError,
        );
        assert.equal(gw.fake.requests.length, 3);
    });

    it('raises NotFoundError in the SDK for an unmapped model', async () => {
        await assert.rejects(
            gw.openai().chat.completions.create({ model: 'gpt-unknown', messages: MESSAGES }),
            OpenAI.NotFoundError,
        );
    });

    it('never forwards the client key and never leaks AWS secrets', async () => {
        upstreamCalls.push(...gw.fake.requests);
        assert.ok(upstreamCalls.length > 0);
        for (const rec of upstreamCalls) {
            assert.ok(rec.headers.authorization.startsWith('AWS4-HMAC-SHA256 '), rec.headers.authorization);
            assertNoSecrets(JSON.stringify(rec.headers), [CLIENT_API_KEY], 'request to Bedrock');
        }
        assertNoSecrets(bodies, AWS_SECRETS, 'a response body');
        assertNoSecrets(gw.nginx.errorLog(), AWS_SECRETS, 'the debug error.log');
    });
});

describe('errors from a wrong AWS secret', () => {
    const WRONG_SECRET = 'wrongSecretKeyForNgxBedrockTests/0123456789+abc';
    let gw;

    before(async () => {
        // info: at debug level nginx itself logs the client's request
        // headers, its API key included
        gw = await startGateway({
            credentials: { ...TEST_CREDENTIALS, secretAccessKey: WRONG_SECRET },
            errorLogLevel: 'info',
        });
    });
    after(() => gw && gw.stop());

    it('answers 502 server_error without echoing the AWS diagnostics', async () => {
        const res = await gw.chat({ model: 'gpt-4o', messages: MESSAGES });
        assertOpenAIError(res, 502, { type: 'server_error' });

        assert.equal(gw.fake.requests.length, 1);
        const rec = gw.fake.last;
        assert.equal(rec.authOk, false);
        assert.match(rec.authError, /^InvalidSignatureException/);
        const canonical = rec.authError.split("should have been\n'")[1].split("'")[0];
        assertNoSecrets(res.text, [WRONG_SECRET, TEST_CREDENTIALS.secretAccessKey, canonical,
            'Canonical String', '%253A'], 'the 502 body');
    });

    it('logs the signature failure, but no secrets, at info level', async () => {
        const log = gw.nginx.errorLog();
        assert.match(log, /signature/i);
        // AWS's text quotes the canonical request (and a session token with
        // it): unlike other Bedrock errors, it is not logged either
        assertNoSecrets(log, [WRONG_SECRET, CLIENT_API_KEY, 'Canonical String', 'x-amz-security-token:'],
            'error.log');
    });
});
