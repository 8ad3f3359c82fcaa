'use strict';

// The fetched credential sources (EC2 IMDSv2, container endpoint, STS web
// identity), each against its fake: the fetch at worker start, the
// signature Bedrock checks, the refresh 5 minutes before Expiration, and
// one fetch for many requests. Error and refresh-failure cases are in
// credentials-failures.test.js, the chain order in credentials-chain.test.js.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const { SOON_MS, DEFAULT_LIFETIME_MS } = require('./lib/aws-sources');
const { SOURCE_KINDS, withChain } = require('./lib/chain');
const { until, sleep } = require('./lib/http');

// First credentials due for refresh ~3 s after the fetch, the next ones not.
const SOON_THEN_LATE = (n) => (n === 1 ? SOON_MS : DEFAULT_LIFETIME_MS);

for (const [kind, S] of Object.entries(SOURCE_KINDS)) {
    describe(`${kind} credentials`, () => {
        it('are fetched when the worker starts and sign the Bedrock call', () => withChain(S.sources({}), async (b) => {
            await b.start({ env: S.env(b) });
            const src = b.sources[kind];
            await until(() => src.fetches >= 1, `a fetch from ${kind} at worker start, before any request`, 5000);
            b.assertServedBy(await b.ask(), `${kind}#1`);
            b.assertServedBy(await b.ask(), `${kind}#1`);
            assert.equal(src.fetches, 1, 'fetched once, then cached');
            S.checkWire(b);
        }));

        it('are refreshed 5 minutes before Expiration, re-reading token files', () => withChain(
            S.sources({ expiresIn: SOON_THEN_LATE }),
            async (b) => {
                await b.start({ env: S.env(b) });
                const src = b.sources[kind];
                await until(() => src.fetches >= 1, 'the first fetch', 5000);
                b.assertServedBy(await b.ask(), `${kind}#1`);
                S.rotate(b);

                await until(() => src.fetches >= 2,
                    `a refresh (attempts so far: ${src.requests.map((r) => r.outcome).join(', ')})`, 10000);
                const gap = src.issued[1].at - src.issued[0].at;
                assert.ok(gap >= 1500 && gap <= 8000, `refreshed ${gap} ms after the first fetch, want about 3 s`);
                S.checkRotated(b);

                await b.untilServedBy(`${kind}#2`);
                b.keyring.revoke(src.issued[0].creds);
                b.assertServedBy(await b.ask(), `${kind}#2`);
                await sleep(1500);
                assert.equal(src.fetches, 2, 'no further fetch while the new credentials are far from expiry');

                // the debug trail of both fetches, in order
                const trail = b.nginx.errorLog().split('\n')
                    .map((l) => /\[debug\] .*?(bedrock credentials: [a-z ]+)/.exec(l)).filter(Boolean)
                    .map((m) => m[1].trim());
                const at = (prefix, from = 0) => trail.findIndex((l, i) => i >= from && l.startsWith(prefix));
                const first = at('bedrock credentials: fetching from');
                const timer = at('bedrock credentials: refresh timer', first);
                assert.ok(first >= 0 && timer > first, trail.join('\n'));
                assert.ok(at('bedrock credentials: step', first) > first, trail.join('\n'));
                assert.ok(at('bedrock credentials: fetching from', timer) > timer, trail.join('\n'));
            },
        ));

        it('a graceful stop during a fetch closes it, without waiting for it', () => withChain(
            S.sources({ delayMs: 5000 }),
            async (b) => {
                await b.start({ env: S.env(b) });
                const src = b.sources[kind];
                await until(() => src.requests.length >= 1, 'the fetch to reach the source', 5000);
                const t0 = performance.now();
                // stop() fails on an [alert] such as "open socket ... left"
                await b.nginx.stop();
                assert.ok(performance.now() - t0 < 4000, `the stop took ${performance.now() - t0} ms`);
            },
        ));

        it('10 requests arriving at start wait for one fetch', () => withChain(
            S.sources({ delayMs: 300 }),
            async (b) => {
                await b.start({ env: S.env(b) });
                const src = b.sources[kind];
                const responses = await Promise.all(Array.from({ length: 10 }, () => b.ask()));
                for (const res of responses) {
                    assert.equal(res.status, 200, res.text);
                }
                assert.equal(b.fake.requests.length, 10);
                for (const rec of b.fake.requests) {
                    assert.ok(rec.authOk, rec.authError);
                    assert.equal(b.labelOf(rec), `${kind}#1`);
                }
                assert.equal(src.attempts, 1, 'one credentials fetch');
                assert.equal(src.fetches, 1);
                if (kind === 'imds') {
                    assert.equal(src.tokenRequests, 1, 'one IMDS token');
                }
                S.checkWire(b);
            },
        ));
    });
}
