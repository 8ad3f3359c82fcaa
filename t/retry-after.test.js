'use strict';

// Retry-After on the answers a client should retry: every 429 (Bedrock's
// throttling mapped to rate_limit_error, and nginx's own, e.g. limit_req)
// and the 503 credentials_unavailable. The value is Bedrock's own
// Retry-After when it sends one, else 1 (second).
//
// Why it matters: LangChain JS (@langchain/core AsyncCaller) gives up at once
// on a 429 without Retry-After (RateLimitCapacityError, "headerless_429"); it
// retries one whose Retry-After is at most 60 s, waiting at least that long.
// The openai SDK retries a 429 either way.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { ChatOpenAI } = require('@langchain/openai');

const { awsError, converseAnswer } = require('./lib/fake-bedrock');
const { startGateway, bedrockLocation, CLIENT_API_KEY } = require('./lib/gateway');
const { assertOpenAIError } = require('./lib/expect');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] };
const THROTTLED = 'Too many requests, please wait before trying again.';
const throttle = (headers) => awsError(429, 'ThrottlingException', THROTTLED, headers);

// The other Bedrock errors the module maps to 429.
const OTHER_429_ERRORS = ['ServiceQuotaExceededException', 'ModelNotReadyException'];

describe('Retry-After on Bedrock throttling', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(async () => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('LangChain ChatOpenAI retries a throttled call and gets the second answer', async () => {
        gw.fake.respond = () => (gw.fake.requests.length === 1
            ? throttle()
            : converseAnswer({ text: 'answered after the retry' }));
        const model = new ChatOpenAI({
            model: 'gpt-4o',
            apiKey: CLIENT_API_KEY,
            configuration: { baseURL: `${gw.url}/v1` },
            maxRetries: 2,
            timeout: 10000,
        });
        const reply = await model.invoke('hi');
        assert.equal(reply.content, 'answered after the retry');
        assert.equal(gw.fake.requests.length, 2, 'one throttled call, one retry');
    });

    it('a throttled call: 429 rate_limit_error with Retry-After: 1', async () => {
        gw.fake.respond = () => throttle();
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
        assert.equal(res.headers['retry-after'], '1');
        assert.equal(gw.fake.requests.length, 1);
    });

    for (const type of OTHER_429_ERRORS) {
        it(`Bedrock ${type}: 429 with Retry-After: 1`, async () => {
            gw.fake.respond = () => awsError(429, type, `${type} raised by the fake`);
            const res = await gw.chat(ASK);
            assertOpenAIError(res, 429, { type: 'rate_limit_error' });
            assert.equal(res.headers['retry-after'], '1');
        });
    }

    it('a throttled streaming call: 429 before any event, with Retry-After: 1', async () => {
        gw.fake.respond = () => throttle();
        const res = await gw.chat({ ...ASK, stream: true });
        assertOpenAIError(res, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
        assert.equal(res.headers['retry-after'], '1');
    });

    it('Bedrock ServiceUnavailableException: 503 with Retry-After: 1', async () => {
        gw.fake.respond = () => awsError(503, 'ServiceUnavailableException', 'Service is unavailable.');
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 503, { type: 'server_error' });
        assert.equal(res.headers['retry-after'], '1');
    });

    it('no Retry-After on an answer, nor on a 400', async () => {
        const ok = await gw.chat(ASK);
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.headers['retry-after'], undefined);
        gw.fake.respond = () => awsError(400, 'ValidationException', 'Malformed input request.');
        const bad = await gw.chat(ASK);
        assertOpenAIError(bad, 400, { type: 'invalid_request_error' });
        assert.equal(bad.headers['retry-after'], undefined);
    });

    it('Bedrock\'s own Retry-After is passed on', async () => {
        gw.fake.respond = () => throttle({ 'Retry-After': '7' });
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
        assert.equal(res.headers['retry-after'], '7');
    });
});

describe('Retry-After on nginx\'s own 429 (limit_req)', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            http: 'limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;',
            server: (fake) => bedrockLocation('/v1/', {
                pass: fake.url,
                extra: 'limit_req zone=one; limit_req_status 429;',
            }),
        });
    });
    after(async () => gw && gw.stop());

    it('the call over the rate: 429 rate_limit_error with Retry-After: 1', async () => {
        const first = await gw.chat(ASK);
        assert.equal(first.status, 200, first.text);
        assert.equal(first.headers['retry-after'], undefined, 'no Retry-After on a success');

        const second = await gw.chat(ASK);
        assertOpenAIError(second, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });
        assert.equal(second.headers['retry-after'], '1');
        assert.equal(gw.fake.requests.length, 1, 'the limited call never reached Bedrock');
    });
});

describe('Retry-After on 503 credentials_unavailable', () => {
    let gw;

    before(async () => {
        gw = await startGateway({ credentials: null });
    });
    after(async () => gw && gw.stop());

    it('no credentials: 503 credentials_unavailable with Retry-After: 1', async () => {
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 503, { type: 'server_error', code: 'credentials_unavailable' });
        assert.equal(res.headers['retry-after'], '1');
        assert.equal(gw.fake.requests.length, 0);
    });
});
