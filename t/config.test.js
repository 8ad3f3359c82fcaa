'use strict';

// Directive validation (nginx -t) and inheritance between nested locations:
// region, model maps, passthrough and guardrails.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { converseAnswer } = require('./lib/fake-bedrock');
const { nginxTest } = require('./lib/nginx');
const {
    startGateway, bedrockLocation, modelMapDirectives, ENV_DIRECTIVES,
    HAIKU_ID, NOVA_ID, MODELS, TEST_CREDENTIALS,
} = require('./lib/gateway');
const { assertOpenAIError, assertUpstreamCall, assertTranslated, wirePath } = require('./lib/expect');

const GUARDRAIL = { guardrailIdentifier: 'gr-abc123', guardrailVersion: '1' };
const MESSAGES = [{ role: 'user', content: 'Hi' }];

// nginx -t on one server with the given location text.
function testConfig(location, env = {}) {
    return nginxTest({
        main: ENV_DIRECTIVES,
        http: `server {\n    listen 127.0.0.1:%%PORT%%;\n${location}\n}`,
        env,
    });
}

describe('nginx -t', () => {
    const PASS = 'http://127.0.0.1:9';
    const withoutRegion = bedrockLocation('/v1/', { pass: PASS, region: null });

    it('accepts a complete location', async () => {
        const { code, stderr } = await testConfig(bedrockLocation('/v1/', { pass: PASS }));
        assert.equal(code, 0, stderr);
    });

    it('fails without any region, naming bedrock_region', async () => {
        const { code, stderr } = await testConfig(withoutRegion);
        assert.notEqual(code, 0, stderr);
        assert.match(stderr, /bedrock_region/);
    });

    it('takes the region from AWS_REGION', async () => {
        const { code, stderr } = await testConfig(withoutRegion, { AWS_REGION: 'us-west-2' });
        assert.equal(code, 0, stderr);
    });

    it('takes the region from AWS_DEFAULT_REGION', async () => {
        const { code, stderr } = await testConfig(withoutRegion, { AWS_DEFAULT_REGION: 'eu-west-1' });
        assert.equal(code, 0, stderr);
    });

    for (const args of ['gpt-4o', `other ${HAIKU_ID} extra`, `other ${HAIKU_ID} claude more`]) {
        it(`rejects bedrock_model_map ${args}`, async () => {
            const location = bedrockLocation('/v1/', { pass: PASS, extra: `bedrock_model_map ${args};` });
            const { code, stderr } = await testConfig(location);
            assert.notEqual(code, 0, stderr);
            assert.match(stderr, /bedrock_model_map/);
        });
    }

    for (const [args, ok, pattern] of [
        ['system tools messages', true],
        ['off', true],
        ['tools off', false, /bedrock_cache_point off" takes no other value/],
        ['everything', false, /invalid value "everything"/],
    ]) {
        it(`${ok ? 'accepts' : 'rejects'} bedrock_cache_point ${args}`, async () => {
            const location = bedrockLocation('/v1/', { pass: PASS, extra: `bedrock_cache_point ${args};` });
            const { code, stderr } = await testConfig(location);
            if (ok) {
                assert.equal(code, 0, stderr);
            } else {
                assert.notEqual(code, 0, stderr);
                assert.match(stderr, pattern);
            }
        });
    }

    for (const [args, ok] of [['optimized', true], ['standard', true], ['fast', false]]) {
        it(`${ok ? 'accepts' : 'rejects'} bedrock_latency ${args}`, async () => {
            const location = bedrockLocation('/v1/', { pass: PASS, extra: `bedrock_latency ${args};` });
            const { code, stderr } = await testConfig(location);
            assert.equal(code === 0, ok, stderr);
        });
    }

    it('takes the claude mark after an ARN', async () => {
        const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc';
        const location = bedrockLocation('/v1/', { pass: PASS, extra: `bedrock_model_map app ${arn} claude;` });
        const { code, stderr } = await testConfig(location);
        assert.equal(code, 0, stderr);
    });
});

describe('inherited configuration', () => {
    let gw;
    const call = (prefix, model = 'gpt-4o') => gw.chat({ model, messages: MESSAGES }, { prefix });
    const upstream = (modelId) => ({ modelId, credentials: TEST_CREDENTIALS });

    before(async () => {
        // The outer location holds the shared settings; each inner one adds
        // bedrock_pass (which, like proxy_pass, is not inherited) and overrides.
        const inner = (fake, name, extra = '') =>
            `    location /cfg/${name}/v1/ { bedrock_pass ${fake.url}; ${extra} }`;
        gw = await startGateway({
            server: (fake) => [
                'location /cfg/ {',
                '    bedrock_region us-east-1;',
                modelMapDirectives({ 'gpt-4o': MODELS['gpt-4o'] }),
                '    bedrock_guardrail gr-abc123 1;',
                inner(fake, 'base'),
                inner(fake, 'inner', `bedrock_model_map fast ${NOVA_ID};`),
                inner(fake, 'pass', 'bedrock_model_passthrough on;'),
                inner(fake, 'trace', 'bedrock_guardrail gr-abc123 1 trace=enabled;'),
                inner(fake, 'noguard', 'bedrock_guardrail off;'),
                '}',
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('inherits the model map and the guardrail', async () => {
        const res = await call('/cfg/base/v1/');
        assert.equal(res.status, 200, res.text);
        assertUpstreamCall(gw.fake.last, upstream(HAIKU_ID));
        assert.deepEqual(gw.fake.last.json.guardrailConfig, GUARDRAIL);
    });

    it('replaces the outer model map with an inner one', async () => {
        const refused = await call('/cfg/inner/v1/', 'gpt-4o');
        assertOpenAIError(refused, 404, { code: 'model_not_found' });
        assert.equal(gw.fake.requests.length, 0);

        const res = await call('/cfg/inner/v1/', 'fast');
        assert.equal(res.status, 200, res.text);
        assertUpstreamCall(gw.fake.last, upstream(NOVA_ID));
        assert.deepEqual(gw.fake.last.json.guardrailConfig, GUARDRAIL);

        const list = await gw.call('GET', '/cfg/inner/v1/models');
        assert.equal(list.status, 200, list.text);
        assert.deepEqual(list.json.data.map((m) => m.id), ['fast']);
    });

    it('passes an unmapped model id through with bedrock_model_passthrough on', async () => {
        const id = 'amazon.titan-text-express-v1:0:8k';
        const res = await call('/cfg/pass/v1/', id);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.model, id);
        assertUpstreamCall(gw.fake.last, upstream(id));
        assert.equal(gw.fake.last.path, wirePath(id));

        gw.fake.reset();
        const mapped = await call('/cfg/pass/v1/', 'gpt-4o');
        assert.equal(mapped.status, 200, mapped.text);
        assertUpstreamCall(gw.fake.last, upstream(HAIKU_ID));
    });

    it('refuses unmapped ids without passthrough', async () => {
        const res = await call('/cfg/base/v1/', 'amazon.titan-text-express-v1:0:8k');
        assertOpenAIError(res, 404, { code: 'model_not_found' });
        assert.equal(gw.fake.requests.length, 0);
    });

    it('sends the guardrail trace setting', async () => {
        const res = await call('/cfg/trace/v1/');
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(gw.fake.last.json.guardrailConfig, { ...GUARDRAIL, trace: 'enabled' });
    });

    it('drops the inherited guardrail with bedrock_guardrail off', async () => {
        const res = await call('/cfg/noguard/v1/');
        assert.equal(res.status, 200, res.text);
        assertUpstreamCall(gw.fake.last, upstream(HAIKU_ID));
        assert.ok(!('guardrailConfig' in gw.fake.last.json), 'no guardrailConfig');
    });

    it('reports a guardrail intervention as content_filter', async () => {
        const answer = converseAnswer({ stopReason: 'guardrail_intervened', text: 'Sorry, I cannot help with that.' });
        gw.fake.respond = () => answer;
        const res = await call('/cfg/base/v1/');
        assert.equal(res.status, 200, res.text);
        const choice = assertTranslated(res.json, answer.body, { model: 'gpt-4o' });
        assert.equal(choice.finish_reason, 'content_filter');
    });
});

// limit_except inside a bedrock location: the methods its block admits are
// still served by the gateway (its inner location has no handler of its own).
describe('limit_except', () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                bedrockLocation('/v1/', {
                    pass: fake.url,
                    extra: 'limit_except GET { allow 127.0.0.1; deny all; }',
                }),
                bedrockLocation('/closed/v1/', {
                    pass: fake.url,
                    extra: 'limit_except GET { deny all; }',
                }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('serves a POST from an allowed address', async () => {
        const res = await gw.chat({ model: 'gpt-4o', messages: MESSAGES });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.object, 'chat.completion');
        assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS });
    });

    it('refuses a DELETE from an allowed address with 405 in OpenAI shape', async () => {
        const res = await gw.call('DELETE', '/v1/chat/completions');
        assertOpenAIError(res, 405, { type: 'invalid_request_error', code: 'method_not_allowed' });
        assert.equal(res.headers.allow, 'POST');
        assert.equal(gw.fake.requests.length, 0);
    });

    it('still serves GET outside the limit_except block', async () => {
        const res = await gw.call('GET', '/v1/models');
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json.data.map((m) => m.id).sort(), Object.keys(MODELS).sort());
    });

    it('refuses a denied POST with 403 in OpenAI shape', async () => {
        const res = await gw.chat({ model: 'gpt-4o', messages: MESSAGES }, { prefix: '/closed/v1/' });
        assertOpenAIError(res, 403, { type: 'permission_error', code: 'access_denied' });
        assert.equal(gw.fake.requests.length, 0);
    });
});
