'use strict';

// One TLS context per set of bedrock_ssl_* settings, not per location:
// hundreds of locations (one per model allowlist) cost about what the same
// number of proxy_pass locations cost, and locations whose trust settings
// differ still verify each with its own.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { mintCerts } = require('./lib/certs');
const { startGateway, bedrockLocation } = require('./lib/gateway');
const { assertOpenAIError } = require('./lib/expect');
const { masterMemory } = require('./lib/many-locations');

const ASK = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi over TLS' }] };
const LOCATIONS = 200;

describe('200 bedrock locations over HTTPS', () => {
    let certs;

    before(() => {
        certs = mintCerts();
    });
    after(() => certs && certs.cleanup());

    it('take at most twice the memory of 200 proxy_pass locations', async () => {
        // the module's default, the system CA store, against proxy_pass
        // with its CA file set once for the server
        const options = { url: 'https://127.0.0.1:9', caFile: certs.caFile };
        const bedrock = await masterMemory('bedrock', LOCATIONS, options);
        const proxy = await masterMemory('proxy-ca', LOCATIONS, options);
        assert.ok(bedrock.rssKb <= 2 * proxy.rssKb,
            `nginx master: ${bedrock.rssKb} kB with bedrock_pass, ${proxy.rssKb} kB with proxy_pass`);
    });
});

describe('locations sharing TLS settings, and not', () => {
    let certs;
    let gw;
    const trusted = () => `bedrock_ssl_name localhost; bedrock_ssl_trusted_certificate ${certs.caFile};`;

    before(async () => {
        certs = mintCerts();
        gw = await startGateway({
            fake: { tls: { key: certs.key, cert: certs.cert } },
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url, extra: trusted() }),
                bedrockLocation('/same/v1/', { pass: fake.url, extra: trusted() }),
                bedrockLocation('/unverified/v1/', {
                    pass: fake.url, extra: 'bedrock_ssl_name localhost; bedrock_ssl_verify off;',
                }),
                bedrockLocation('/rsa-only/v1/', {
                    pass: fake.url,
                    extra: `${trusted()} bedrock_ssl_protocols TLSv1.2; bedrock_ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;`,
                }),
                bedrockLocation('/system/v1/', { pass: fake.url, extra: 'bedrock_ssl_name localhost;' }),
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
    beforeEach(() => gw.fake.reset());

    it('serves every location with the same settings', async () => {
        for (const prefix of ['/v1/', '/same/v1/', '/v1/', '/same/v1/']) {
            const res = await gw.chat(ASK, { prefix });
            assert.equal(res.status, 200, `${prefix}: ${res.text}`);
        }
        assert.equal(gw.fake.requests.length, 4);
    });

    it('keeps bedrock_ssl_verify off to its own location', async () => {
        const res = await gw.chat(ASK, { prefix: '/unverified/v1/' });
        assert.equal(res.status, 200, res.text);
        const refused = await gw.chat(ASK, { prefix: '/system/v1/' });
        assertOpenAIError(refused, 502, { type: 'server_error' });
        assert.equal(gw.fake.requests.length, 1, 'no request over an unverified connection');
    });

    it('keeps protocols and ciphers to their own location', async () => {
        // the fake's certificate has an EC key: no RSA cipher suite fits
        const refused = await gw.chat(ASK, { prefix: '/rsa-only/v1/' });
        assertOpenAIError(refused, 502, { type: 'server_error' });
        const res = await gw.chat(ASK, { prefix: '/same/v1/' });
        assert.equal(res.status, 200, res.text);
        assert.equal(gw.fake.requests.length, 1);
    });
});
