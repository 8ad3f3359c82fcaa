'use strict';

// When a credential source fails: at worker start (requests get the
// documented 503, the error log says why, and requests work again soon
// after the source is repaired) and at refresh (the still-valid credentials
// keep being used, the failure is logged once, a retry picks up new ones).
// nginx.stop() in the bench fails the test on alerts or crashes, and on
// secrets in error.log or responses.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const { SOON_MS, DEFAULT_LIFETIME_MS } = require('./lib/aws-sources');
const { SOURCE_KINDS, ROLE_ARN, withChain } = require('./lib/chain');
const { until, sleep } = require('./lib/http');

const START_FAILURES = ['down', '500', 'garbage', 'wrong', 'slow'];
// A fetch gives up after its timeout (2 s per exchange): well within this.
const MAX_WAIT_MS = 8000;
// Retries back off 1, 2, 4... s: a repaired source is used within this.
const RECOVERY_MS = 45000;
const SOON_THEN_LATE = (n) => (n === 1 ? SOON_MS : DEFAULT_LIFETIME_MS);

describe('a source failing at worker start', () => {
    for (const [kind, S] of Object.entries(SOURCE_KINDS)) {
        for (const mode of START_FAILURES) {
            it(`${kind} ${mode}: 503 credentials_unavailable, logged, then served once repaired`, () => withChain(
                S.sources({ failure: mode }),
                async (b) => {
                    await b.start({ env: S.env(b) });
                    const src = b.sources[kind];
                    const t0 = performance.now();
                    const res = await b.ask({ timeoutMs: 20000 });
                    const waited = performance.now() - t0;
                    b.assertUnavailable(res);
                    assert.ok(waited < MAX_WAIT_MS, `the request waited ${waited} ms`);
                    if (mode !== 'down') {
                        assert.ok(src.failures >= 1, `the ${kind} fake was not asked`);
                    }
                    assert.equal(src.fetches, 0);
                    b.assertLogged(S.logged(b), `${kind} ${mode}`);

                    await src.setFailure(null);
                    b.assertServedBy(await b.askUntilServed(RECOVERY_MS), kind);
                    S.checkWire(b);
                },
            ));
        }
    }
});

// One mode per row, spread over the sources.
const REFRESH_FAILURES = [
    { kind: 'imds', mode: '500', loggedOnce: true },
    { kind: 'container', mode: 'down' },
    { kind: 'sts', mode: 'garbage' },
    { kind: 'imds', mode: 'slow' },
    { kind: 'container', mode: 'wrong' },
    { kind: 'sts', mode: 'denied' },
];

describe('a refresh that fails', () => {
    for (const { kind, mode, loggedOnce } of REFRESH_FAILURES) {
        const S = SOURCE_KINDS[kind];
        it(`${kind} ${mode}: the old credentials serve until a retry succeeds`, () => withChain(
            S.sources({ expiresIn: SOON_THEN_LATE }),
            async (b) => {
                await b.start({ env: S.env(b) });
                const src = b.sources[kind];
                await until(() => src.fetches >= 1, 'the first fetch', 5000);
                b.assertServedBy(await b.ask(), `${kind}#1`);
                await src.setFailure(mode);

                // the refresh is due about 3 s after the first fetch
                if (mode === 'down') {
                    await sleep(Math.max(0, src.issued[0].at + 4500 - Date.now()));
                } else {
                    await until(() => src.failures >= 1, 'a refresh attempt', 10000);
                }
                const t0 = performance.now();
                b.assertServedBy(await b.ask(), `${kind}#1`);
                assert.ok(performance.now() - t0 < 1000, 'a refresh in progress does not hold requests');
                await until(() => b.problems(S.logged(b)).length > 0, 'the failed refresh in error.log', 15000);

                if (loggedOnce) {
                    await until(() => src.failures >= 3, 'two retries', 20000);
                    b.assertServedBy(await b.ask(), `${kind}#1`);
                    const lines = b.problems(S.logged(b));
                    assert.ok(lines.length < src.failures,
                        `${src.failures} failed attempts, logged ${lines.length} times:\n${lines.join('\n')}`);
                }

                await src.setFailure(null);
                await until(() => src.fetches >= 2, 'a successful retry', RECOVERY_MS);
                await b.untilServedBy(`${kind}#2`);
                b.keyring.revoke(src.issued[0].creds);
                b.assertServedBy(await b.ask(), `${kind}#2`);
                S.checkWire(b);
            },
        ));
    }
});

describe('sources that cannot be used', () => {
    const CASES = [
        {
            name: 'a container FULL_URI on a host that is neither loopback nor an agent address',
            env: () => ({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://192.0.2.1:8080/v2/credentials/x' }),
            logged: [/container/i, /not allowed|must be https|loopback|192\.0\.2\.1/i],
        },
        {
            name: 'a web identity token file that does not exist',
            sources: { sts: {} },
            env: (b) => ({
                AWS_WEB_IDENTITY_TOKEN_FILE: '/nonexistent/web-identity-token', AWS_ROLE_ARN: ROLE_ARN, ...b.stsEndpointEnv(),
            }),
            logged: [/web.identity/i, /token file|\/nonexistent\/web-identity-token/i],
            untouched: 'sts',
        },
        {
            name: 'a container token file that does not exist',
            sources: { container: { authToken: 'ngx-test-container-token-0123456789' } },
            env: (b) => ({
                ...b.containerEnv(),
                AWS_CONTAINER_AUTHORIZATION_TOKEN: undefined,
                AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/nonexistent/container-token',
            }),
            logged: [/container/i, /token file|\/nonexistent\/container-token/i],
        },
        {
            name: 'nothing at all: the error log says where the chain looked',
            env: () => ({}),
            logged: [/AWS_ACCESS_KEY_ID|environment/i, /\/nonexistent\/aws-credentials|credentials file/i,
                /IMDS|metadata/i],
        },
    ];

    for (const c of CASES) {
        it(c.name, () => withChain(c.sources, async (b) => {
            await b.start({ env: c.env(b) });
            b.assertUnavailable(await b.ask());
            for (const re of [].concat(c.logged)) {
                b.assertLogged(re, c.name);
            }
            if (c.untouched) {
                assert.equal(b.sources[c.untouched].requests.length, 0);
            }
        }));
    }
});
