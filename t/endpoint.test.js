'use strict';

// Where requests go: names resolved at run time by nginx's resolver, the
// default AWS endpoint served by an upstream{} block of that name, and the
// OpenAI-shaped errors for what nginx itself refuses or cannot reach.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');

const { mintCerts } = require('./lib/certs');
const { startDns } = require('./lib/dns');
const { converseAnswer } = require('./lib/fake-bedrock');
const { freePort, nginxTest } = require('./lib/nginx');
const {
    startGateway, bedrockLocation, modelMapDirectives, HAIKU_ID, TEST_CREDENTIALS,
} = require('./lib/gateway');
const { assertOpenAIError, assertUpstreamCall } = require('./lib/expect');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Where do you live?' }] };
const AWS_HOST = 'bedrock-runtime.us-east-1.amazonaws.com';
const FAKE_HOST = 'bedrock-fake.test';

describe('endpoint resolved at run time by nginx\'s resolver', () => {
    let dns;
    let gw;

    before(async () => {
        dns = await startDns([FAKE_HOST]);
        gw = await startGateway({
            server: (fake) => bedrockLocation('/v1/', {
                pass: `http://${FAKE_HOST}:${fake.port}`,
                extra: `resolver 127.0.0.1:${dns.port} ipv6=off valid=1s;`,
            }),
        });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            await (dns && dns.close());
        }
    });

    it('asks the resolver and signs the name it sends', async () => {
        const res = await gw.chat(ASK);
        assert.equal(res.status, 200, res.text);
        assert.ok(dns.queries.includes(FAKE_HOST), `DNS queries: ${dns.queries}`);
        assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS });
        assert.equal(gw.fake.last.headers.host, `${FAKE_HOST}:${gw.fake.port}`);
    });

    it('without a resolver, an unknown name fails at load time', async () => {
        const port = await freePort();
        const result = await nginxTest(`server { listen 127.0.0.1:${port}; ${bedrockLocation('/v1/', {
            pass: `http://${FAKE_HOST}:${port}`,
        })} }`);
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, /host not found/);
    });
});

describe('default endpoint through an upstream{} block named after it', () => {
    let certs;
    let gw;

    before(async () => {
        certs = mintCerts({ names: [AWS_HOST] });
        gw = await startGateway({
            fake: { tls: { key: certs.key, cert: certs.cert } },
            http: (fake) => `upstream ${AWS_HOST} { server 127.0.0.1:${fake.port}; keepalive 2; }`,
            server: () => [
                'location /v1/ {',
                '    bedrock_pass;',
                '    bedrock_region us-east-1;',
                `    bedrock_ssl_trusted_certificate ${certs.caFile};`,
                modelMapDirectives(),
                '}',
            ].join('\n'),
        });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            certs && certs.cleanup();
        }
    });

    it('sends, signs and verifies the AWS host name, over one connection', async () => {
        for (let i = 0; i < 3; i++) {
            const res = await gw.chat(ASK);
            assert.equal(res.status, 200, res.text);
            assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS });
            assert.equal(gw.fake.last.headers.host, AWS_HOST);
        }
        assert.equal(gw.fake.connections, 1);
    });
});

describe('errors nginx produces in a bedrock location are OpenAI-shaped', () => {
    let gw;
    let closedPort;

    before(async () => {
        closedPort = await freePort();
        gw = await startGateway({
            http: 'limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m; limit_req_status 429;',
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url, extra: 'bedrock_read_timeout 500ms;' }),
                bedrockLocation('/down/v1/', { pass: `http://127.0.0.1:${closedPort}` }),
                bedrockLocation('/keyed/v1/', {
                    pass: fake.url,
                    extra: 'if ($http_authorization != "Bearer sk-good") { return 401; }',
                }),
                bedrockLocation('/limited/v1/', { pass: fake.url, extra: 'limit_req zone=one;' }),
            ].join('\n'),
        });
    });
    after(async () => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('Bedrock unreachable: 502', async () => {
        const res = await gw.chat(ASK, { prefix: '/down/v1/' });
        assertOpenAIError(res, 502, { type: 'server_error', code: 'upstream_error' });
        assert.match(gw.nginx.errorLog(), /connect\(\) failed/);
    });

    it('Bedrock too slow: 504 after bedrock_read_timeout', async () => {
        gw.fake.respond = () => new Promise((resolve) => {
            setTimeout(() => resolve(converseAnswer()), 1500);
        });
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 504, { type: 'server_error', code: 'upstream_timeout' });
        assert.match(gw.nginx.errorLog(), /upstream timed out/);
    });

    it('a 401 from the configuration: the SDK raises AuthenticationError', async () => {
        const res = await gw.chat(ASK, { prefix: '/keyed/v1/' });
        assertOpenAIError(res, 401, { code: 'invalid_api_key' });
        assert.equal(gw.fake.requests.length, 0);

        const client = (apiKey) => new OpenAI({
            baseURL: `${gw.url}/keyed/v1`, apiKey, maxRetries: 0, timeout: 10000,
        });
        await assert.rejects(client('sk-bad').chat.completions.create(ASK), OpenAI.AuthenticationError);
        const ok = await client('sk-good').chat.completions.create(ASK);
        assert.equal(ok.choices[0].message.content, 'Hello from fake Bedrock');
    });

    it('limit_req: 429, and the SDK raises RateLimitError', async () => {
        const first = await gw.chat(ASK, { prefix: '/limited/v1/' });
        assert.equal(first.status, 200, first.text);
        const second = await gw.chat(ASK, { prefix: '/limited/v1/' });
        assertOpenAIError(second, 429, { type: 'rate_limit_error', code: 'rate_limit_exceeded' });

        const client = new OpenAI({
            baseURL: `${gw.url}/limited/v1`, apiKey: 'sk-x', maxRetries: 0, timeout: 10000,
        });
        await assert.rejects(client.chat.completions.create(ASK), OpenAI.RateLimitError);
        assert.equal(gw.fake.requests.length, 1);
    });
});
