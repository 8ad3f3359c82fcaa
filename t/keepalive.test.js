'use strict';

// Upstream keepalive: sequential calls through an upstream{} block with
// `keepalive` reuse one connection, whether Bedrock frames its answer with
// Content-Length or chunked.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startFake, converseAnswer } = require('./lib/fake-bedrock');
const { startGateway, bedrockLocation, HAIKU_ID, TEST_CREDENTIALS } = require('./lib/gateway');
const { assertUpstreamCall } = require('./lib/expect');

const CALLS = 20;

const upstreamBlock = (name, fake) =>
    `upstream ${name} { server 127.0.0.1:${fake.port}; keepalive 4; }`;

describe('upstream keepalive', () => {
    let gw;
    let chunkedFake;

    before(async () => {
        chunkedFake = await startFake();
        chunkedFake.respond = (req) =>
            converseAnswer({ text: `chunked answer ${req.json.messages[0].content[0].text}`, chunked: true });
        gw = await startGateway({
            http: (fake) => [upstreamBlock('bedrock_fake', fake), upstreamBlock('bedrock_chunked', chunkedFake)].join('\n'),
            server: () => [
                bedrockLocation('/v1/', { pass: 'http://bedrock_fake' }),
                bedrockLocation('/chunked/v1/', { pass: 'http://bedrock_chunked' }),
            ].join('\n'),
        });
        gw.fake.respond = (req) =>
            converseAnswer({ text: `sized answer ${req.json.messages[0].content[0].text}` });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            await (chunkedFake && chunkedFake.close());
        }
    });

    const cases = [
        { name: 'Content-Length answers', prefix: '/v1/', fake: () => gw.fake, label: 'sized' },
        { name: 'chunked answers', prefix: '/chunked/v1/', fake: () => chunkedFake, label: 'chunked' },
    ];

    for (const { name, prefix, fake, label } of cases) {
        it(`reuses one connection for ${CALLS} calls with ${name}`, async () => {
            for (let i = 0; i < CALLS; i++) {
                const res = await gw.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: `#${i}` }] },
                    { prefix });
                assert.equal(res.status, 200, `call ${i}: ${res.text}`);
                assert.equal(res.json.choices[0].message.content, `${label} answer #${i}`);
            }
            assert.equal(fake().requests.length, CALLS);
            for (const rec of fake().requests) {
                assertUpstreamCall(rec, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS });
            }
            assert.equal(fake().connections, 1, 'connections opened to Bedrock');
        });
    }
});
