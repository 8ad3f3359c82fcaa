'use strict';

// HTTPS to Bedrock: the upstream certificate is verified (against a CA minted
// here, or the system store, which does not know it).

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { mintCerts } = require('./lib/certs');
const { startFake } = require('./lib/fake-bedrock');
const { startGateway, bedrockLocation, HAIKU_ID, TEST_CREDENTIALS } = require('./lib/gateway');
const { assertOpenAIError, assertUpstreamCall } = require('./lib/expect');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi over TLS' }] };

describe('TLS to Bedrock', () => {
    let certs;
    let gw;
    // nginx caches TLS sessions per upstream peer: each refusing location
    // gets its own fake here (the shared case has its own suite below).
    const refusing = {};

    before(async () => {
        certs = mintCerts();
        const tls = { key: certs.key, cert: certs.cert };
        refusing.systemCa = await startFake({ tls });
        refusing.wrongName = await startFake({ tls });
        const trusted = `bedrock_ssl_trusted_certificate ${certs.caFile};`;
        gw = await startGateway({
            fake: { tls },
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url, extra: `bedrock_ssl_name localhost; ${trusted}` }),
                bedrockLocation('/system-ca/v1/', {
                    pass: refusing.systemCa.url, extra: 'bedrock_ssl_name localhost;',
                }),
                bedrockLocation('/wrong-name/v1/', {
                    pass: refusing.wrongName.url, extra: `bedrock_ssl_name other.example; ${trusted}`,
                }),
            ].join('\n'),
        });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            await Promise.all(Object.values(refusing).map((f) => f.close()));
            certs && certs.cleanup();
        }
    });
    beforeEach(() => gw.fake.reset());

    it('talks to an HTTPS Bedrock it trusts', async () => {
        assert.ok(gw.fake.url.startsWith('https://'));
        const res = await gw.chat(ASK);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.choices[0].message.content, 'Hello from fake Bedrock');
        assert.equal(gw.fake.requests.length, 1);
        assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS });
    });

    it('refuses a certificate the system CA store does not trust', async () => {
        const res = await gw.chat(ASK, { prefix: '/system-ca/v1/' });
        assertOpenAIError(res, 502, { type: 'server_error' });
        assert.equal(refusing.systemCa.requests.length, 0, 'no request over an unverified connection');
        assert.match(gw.nginx.errorLog(), /certificate verify/);
    });

    it('refuses a certificate for another name', async () => {
        const res = await gw.chat(ASK, { prefix: '/wrong-name/v1/' });
        assertOpenAIError(res, 502, { type: 'server_error' });
        assert.equal(refusing.wrongName.requests.length, 0);
        assert.match(gw.nginx.errorLog(), /does not match "other\.example"/);
    });
});

describe('TLS sessions are not shared across trust settings', () => {
    let certs;
    let gw;

    before(async () => {
        certs = mintCerts();
        gw = await startGateway({
            fake: { tls: { key: certs.key, cert: certs.cert } },
            server: (fake) => [
                bedrockLocation('/v1/', {
                    pass: fake.url,
                    extra: `bedrock_ssl_name localhost; bedrock_ssl_trusted_certificate ${certs.caFile};`,
                }),
                bedrockLocation('/same-host/v1/', { pass: fake.url, extra: 'bedrock_ssl_name localhost;' }),
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

    it('never resumes a session verified by a location that trusts more', async () => {
        const ok = await gw.chat(ASK);
        assert.equal(ok.status, 200, ok.text);
        const res = await gw.chat(ASK, { prefix: '/same-host/v1/' });
        assertOpenAIError(res, 502, { type: 'server_error' });
        assert.equal(gw.fake.requests.length, 1, 'no request over an unverified connection');
        assert.match(gw.nginx.errorLog(), /certificate verify/);
    });
});
