'use strict';

// Where nginx gets Bedrock credentials from: the worker environment, via
// `env` directives (see ENV_DIRECTIVES in lib/gateway.js).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { TEST_BEARER_TOKEN } = require('./lib/fake-bedrock');
const { startGateway, HAIKU_ID } = require('./lib/gateway');
const { assertOpenAIError, assertUpstreamCall, assertNoSecrets } = require('./lib/expect');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] };

describe('AWS_BEARER_TOKEN_BEDROCK', () => {
    let gw;
    before(async () => {
        gw = await startGateway({
            fake: { bearerToken: TEST_BEARER_TOKEN },
            credentials: null,
            bearerToken: TEST_BEARER_TOKEN,
        });
    });
    after(() => gw && gw.stop());

    it('sends the Bedrock API key as a bearer token instead of signing', async () => {
        const res = await gw.chat(ASK);
        assert.equal(res.status, 200, res.text);
        assert.equal(gw.fake.requests.length, 1);
        assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, bearerToken: TEST_BEARER_TOKEN });
        assert.equal(gw.fake.last.scheme, 'bearer');
        assertNoSecrets([res.text, gw.nginx.errorLog()], [TEST_BEARER_TOKEN], 'response or error.log');
    });
});

describe('no credentials at all', () => {
    let gw;
    before(async () => {
        gw = await startGateway({ credentials: null });
    });
    after(() => gw && gw.stop());

    it('answers a 5xx error about credentials without calling Bedrock', async () => {
        const res = await gw.chat(ASK);
        assertOpenAIError(res, [500, 503], { type: 'server_error', message: /credential/i });
        assert.equal(gw.fake.requests.length, 0);
    });
});
