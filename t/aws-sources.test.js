'use strict';

// Self-check of the fake credential sources (lib/aws-sources.js), of the
// fake Bedrock's credential sets, and of both against botocore, the AWS SDK
// for Python, as the reference client. Needs neither nginx nor the module.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const {
    Keyring, ROLE_ARN, IMDS_TOKEN_PATH, IMDS_ROLES_PATH, SOON_MS,
    startImds, startContainer, startSts, mintCredentials, renderIni, profileKeys,
} = require('./lib/aws-sources');
const { startFake, signBedrockCall } = require('./lib/fake-bedrock');
const { request } = require('./lib/http');
const { startBench } = require('./lib/chain');
const { botocorePython, resolveWithBotocore } = require('./lib/botocore');
const { wirePath } = require('./lib/expect');
const { HAIKU_ID } = require('./lib/gateway');

const TTL = { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' };
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function expiresInMs(expiration) {
    assert.match(expiration, ISO_SECONDS);
    return Date.parse(expiration) - Date.now();
}

// PUT token, GET role, GET credentials, as an SDK does.
async function imdsFetch(imds, { ttl = TTL } = {}) {
    const put = await request({ url: imds.url + IMDS_TOKEN_PATH, method: 'PUT', headers: ttl });
    if (put.status !== 200) {
        return { step: 'token', res: put };
    }
    const headers = { 'X-aws-ec2-metadata-token': put.text };
    const role = await request({ url: imds.url + IMDS_ROLES_PATH, headers });
    if (role.status !== 200) {
        return { step: 'role', res: role };
    }
    const res = await request({ url: imds.url + IMDS_ROLES_PATH + role.text, headers });
    return { step: 'credentials', res, token: put.text };
}

function stsCall(sts, fields, headers = { 'Content-Type': 'application/x-www-form-urlencoded' }) {
    const form = new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: sts.roleArn,
        RoleSessionName: 'ngx-test',
        WebIdentityToken: 'eyJ.token.sig',
        ...fields,
    });
    for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) {
            form.delete(key);
        }
    }
    return request({ url: `${sts.url}/`, method: 'POST', headers, body: form.toString() });
}

// The members of <Credentials> in an STS answer.
function stsCredentials(text) {
    const block = /<Credentials>([\s\S]*?)<\/Credentials>/.exec(text);
    if (!block) {
        return null;
    }
    const out = {};
    for (const [, name, value] of block[1].matchAll(/<(\w+)>([^<]*)<\/\1>/g)) {
        out[name] = value;
    }
    return out;
}

// What each fake answers in each failure mode, seen by a client.
const FAILURE_EXPECTATIONS = {
    500: (res) => assert.equal(res.status, 500),
    garbage: (res, parse) => {
        assert.equal(res.status, 200);
        assert.equal(parse(res.text), null, 'garbage must not parse');
    },
    wrong: (res, parse) => {
        assert.equal(res.status, 200);
        const creds = parse(res.text);
        assert.ok(creds, 'wrong content still parses');
        assert.ok(!creds.SecretAccessKey, 'but holds no usable credentials');
    },
    denied: (res) => assert.ok([403, 404].includes(res.status), String(res.status)),
};

const parseJson = (t) => {
    try {
        return JSON.parse(t);
    } catch {
        return null;
    }
};
const parseStsXml = (t) => (/^<AssumeRoleWithWebIdentityResponse[\s>]/.test(t) ? stsCredentials(t) || {} : null);

// Each fake, with a client doing one complete fetch and the document parser.
const FAKES = [
    {
        name: 'IMDS',
        start: (o) => startImds(o),
        fetch: async (f) => (await imdsFetch(f)).res,
        parse: parseJson,
    },
    {
        name: 'container',
        start: (o) => startContainer({ authToken: 'container-token-1', ...o }),
        fetch: (f) => request({ url: f.url + f.path, headers: { Authorization: 'container-token-1' } }),
        parse: parseJson,
    },
    {
        name: 'STS',
        start: (o) => startSts(o),
        fetch: (f) => stsCall(f, {}),
        parse: parseStsXml,
    },
];

describe('fake IMDSv2', () => {
    let imds;
    before(async () => {
        imds = await startImds({ expiresIn: (n) => (n === 1 ? SOON_MS : 3600 * 1000) });
    });
    after(() => imds.close());

    it('hands out a session token only to a PUT with a valid TTL header', async () => {
        const url = imds.url + IMDS_TOKEN_PATH;
        assert.equal((await request({ url, method: 'PUT' })).status, 400);
        for (const ttl of ['0', '21601', 'abc']) {
            const res = await request({ url, method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } });
            assert.equal(res.status, 400, ttl);
        }
        assert.equal((await request({ url, headers: TTL })).status, 405);
        const res = await request({ url, method: 'PUT', headers: TTL });
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
        assert.ok(imds.tokens.has(res.text));
        assert.ok(imds.keyring.secrets().includes(res.text), 'IMDS tokens count as secrets');
    });

    it('answers the metadata GETs only with a valid token', async () => {
        const url = imds.url + IMDS_ROLES_PATH;
        assert.equal((await request({ url })).status, 401);
        assert.equal((await request({ url, headers: { 'X-aws-ec2-metadata-token': 'AQAEAwrong' } })).status, 401);
        const { res, token } = await imdsFetch(imds);
        assert.equal(res.status, 200);
        const role = await request({ url, headers: { 'X-aws-ec2-metadata-token': token } });
        assert.equal(role.text, imds.role);
        assert.equal((await request({ url: url + imds.role })).status, 401);
        const other = await request({ url: `${url}other-role`, headers: { 'X-aws-ec2-metadata-token': token } });
        assert.equal(other.status, 404);
    });

    it('hands out fresh credentials on every fetch, with the configured Expiration', async () => {
        const before = imds.fetches;
        const first = parseJson((await imdsFetch(imds)).res.text);
        const second = parseJson((await imdsFetch(imds)).res.text);
        assert.equal(imds.fetches, before + 2);
        for (const doc of [first, second]) {
            assert.equal(doc.Code, 'Success');
            assert.equal(doc.Type, 'AWS-HMAC');
            assert.match(doc.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
            assert.equal(doc.SecretAccessKey.length, 40);
            assert.ok(doc.Token.length > 100);
            assert.match(doc.LastUpdated, ISO_SECONDS);
        }
        assert.notEqual(first.AccessKeyId, second.AccessKeyId);
        const { creds } = imds.issued[imds.fetches - 1];
        assert.deepEqual(imds.keyring.credentialsFor(second.AccessKeyId), creds);
        assert.equal(imds.keyring.labelOf({ headers: { authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/x` } }),
            `imds#${imds.fetches}`);
    });

    it('sets Expiration to now + expiresIn(n)', async () => {
        const fresh = await startImds({ expiresIn: (n) => (n === 1 ? SOON_MS : 3600 * 1000) });
        try {
            const soon = expiresInMs(parseJson((await imdsFetch(fresh)).res.text).Expiration);
            assert.ok(soon > SOON_MS - 2000 && soon <= SOON_MS, String(soon));
            const later = expiresInMs(parseJson((await imdsFetch(fresh)).res.text).Expiration);
            assert.ok(later > 3590 * 1000 && later <= 3600 * 1000, String(later));
        } finally {
            await fresh.close();
        }
    });

    for (const step of ['token', 'role']) {
        it(`fails at the ${step} step when told to`, async () => {
            const fake = await startImds({ failure: '500', failAt: step });
            try {
                const got = await imdsFetch(fake);
                assert.equal(got.step, step);
                assert.equal(got.res.status, 500);
                assert.equal(fake.fetches, 0);
            } finally {
                await fake.close();
            }
        });
    }
});

describe('fake container endpoint', () => {
    let container;
    before(async () => {
        container = await startContainer({ authToken: 'token-A' });
    });
    after(() => container.close());

    it('requires the Authorization token, and follows a rotation', async () => {
        const url = container.url + container.path;
        assert.equal((await request({ url })).status, 401);
        assert.equal((await request({ url, headers: { Authorization: 'token-B' } })).status, 401);
        const ok = await request({ url, headers: { Authorization: 'token-A' } });
        assert.equal(ok.status, 200, ok.text);
        assert.deepEqual(Object.keys(ok.json).sort(),
            ['AccessKeyId', 'Expiration', 'RoleArn', 'SecretAccessKey', 'Token']);
        assert.equal(ok.json.AccessKeyId, container.issued[0].creds.accessKeyId);
        container.rotateAuthToken('token-B');
        assert.equal((await request({ url, headers: { Authorization: 'token-A' } })).status, 401);
        assert.equal((await request({ url, headers: { Authorization: 'token-B' } })).status, 200);
        assert.deepEqual(container.requests.map((r) => r.authorization),
            [undefined, 'token-B', 'token-A', 'token-A', 'token-B']);
        assert.equal(container.fetches, 2);
        assert.ok(container.keyring.secrets().includes('token-B'));
    });

    it('serves only its path, only to GET', async () => {
        const headers = { Authorization: container.authToken };
        assert.equal((await request({ url: `${container.url}/other`, headers })).status, 404);
        assert.equal((await request({ url: container.url + container.path, method: 'POST', headers })).status, 405);
    });
});

describe('fake STS AssumeRoleWithWebIdentity', () => {
    let sts;
    before(async () => {
        sts = await startSts();
    });
    after(() => sts.close());

    it('exchanges a web identity token for temporary credentials', async () => {
        const res = await stsCall(sts, { WebIdentityToken: 'eyJ.first.sig' });
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers['content-type'], /^text\/xml/);
        assert.match(res.text, /<AssumeRoleWithWebIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
        assert.match(res.text, /<AssumedRoleUser>[\s\S]*assumed-role\/ngx-bedrock-test-role\/ngx-test/);
        const creds = stsCredentials(res.text);
        const { creds: issued, expiration } = sts.issued[0];
        assert.deepEqual(creds, {
            SessionToken: issued.sessionToken,
            SecretAccessKey: issued.secretAccessKey,
            Expiration: expiration,
            AccessKeyId: issued.accessKeyId,
        });
        assert.deepEqual(sts.webIdentityTokens, ['eyJ.first.sig']);
        assert.equal(sts.last.params.get('RoleSessionName'), 'ngx-test');
    });

    it('also takes "; charset=utf-8" in the Content-Type, as botocore sends it', async () => {
        const res = await stsCall(sts, {}, { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' });
        assert.equal(res.status, 200, res.text);
    });

    const REFUSALS = [
        { name: 'another Action', fields: { Action: 'AssumeRole' }, status: 400, code: 'InvalidAction' },
        { name: 'another Version', fields: { Version: '2012-01-01' }, status: 400, code: 'InvalidAction' },
        { name: 'no RoleArn', fields: { RoleArn: undefined }, status: 400, code: 'MissingParameter' },
        { name: 'an unknown RoleArn', fields: { RoleArn: `${ROLE_ARN}x` }, status: 403, code: 'AccessDenied' },
        { name: 'no token', fields: { WebIdentityToken: undefined }, status: 400, code: 'MissingParameter' },
        { name: 'a bad session name', fields: { RoleSessionName: 'has space' }, status: 400, code: 'ValidationError' },
    ];
    for (const { name, fields, status, code } of REFUSALS) {
        it(`refuses ${name}`, async () => {
            const before = sts.fetches;
            const res = await stsCall(sts, fields);
            assert.equal(res.status, status, res.text);
            assert.match(res.text, new RegExp(`<ErrorResponse [^>]*>[\\s\\S]*<Code>${code}</Code>`));
            assert.equal(sts.fetches, before);
        });
    }

    it('refuses a JSON body', async () => {
        const res = await stsCall(sts, {}, { 'Content-Type': 'application/json' });
        assert.equal(res.status, 400);
    });

    it('checks the token when told which one to accept', async () => {
        sts.acceptToken = 'eyJ.good.sig';
        try {
            assert.equal((await stsCall(sts, { WebIdentityToken: 'eyJ.bad.sig' })).status, 400);
            assert.equal((await stsCall(sts, { WebIdentityToken: 'eyJ.good.sig' })).status, 200);
        } finally {
            sts.acceptToken = null;
        }
    });
});

describe('failure modes of every fake', () => {
    for (const fake of FAKES) {
        for (const mode of Object.keys(FAILURE_EXPECTATIONS)) {
            it(`${fake.name} ${mode}, then healthy again`, async () => {
                const src = await fake.start({ failure: mode });
                try {
                    FAILURE_EXPECTATIONS[mode](await fake.fetch(src), fake.parse);
                    assert.equal(src.fetches, 0);
                    assert.equal(src.failures, 1);
                    await src.setFailure(null);
                    const ok = await fake.fetch(src);
                    assert.equal(ok.status, 200, ok.text);
                    assert.equal(fake.parse(ok.text).SecretAccessKey, src.issued[0].creds.secretAccessKey);
                } finally {
                    await src.close();
                }
            });
        }

        it(`${fake.name} down: refused connections, then the same port again`, async () => {
            const src = await fake.start({ failure: 'down' });
            try {
                await assert.rejects(fake.fetch(src), /ECONNREFUSED/);
                await src.setFailure(null);
                assert.equal((await fake.fetch(src)).status, 200);
                await src.setFailure('down');
                await assert.rejects(fake.fetch(src), /ECONNREFUSED/);
            } finally {
                await src.close();
            }
        });

        it(`${fake.name} reset and slow`, async () => {
            const src = await fake.start({ failure: 'reset' });
            try {
                await assert.rejects(fake.fetch(src), /socket hang up|ECONNRESET/);
                src.slowMs = 400;
                await src.setFailure('slow');
                const t0 = performance.now();
                const res = await fake.fetch(src);
                assert.ok(performance.now() - t0 >= 390, 'slow answers late');
                assert.equal(res.status, 200);
                assert.equal(src.fetches, 1);
            } finally {
                await src.close();
            }
        });

        it(`${fake.name} delayMs holds a healthy answer`, async () => {
            const src = await fake.start({ delayMs: 300 });
            try {
                const t0 = performance.now();
                assert.equal((await fake.fetch(src)).status, 200);
                assert.ok(performance.now() - t0 >= 290);
            } finally {
                await src.close();
            }
        });
    }

    it('a slow answer nobody waits for any more issues nothing', async () => {
        const src = await startContainer({ failure: 'slow', slowMs: 300 });
        try {
            await assert.rejects(request({ url: src.url + src.path, timeoutMs: 100 }), /no answer/);
            await new Promise((resolve) => setTimeout(resolve, 400));
            assert.equal(src.fetches, 0);
        } finally {
            await src.close();
        }
    });
});

describe('fake Bedrock with sets of credentials', () => {
    let fake;
    const keyring = new Keyring();
    const a = keyring.add(mintCredentials(), 'a');
    const b = keyring.add(mintCredentials(), 'b');
    const bearer = keyring.addBearer('ABSKngxTestBearerKey', 'bearer');
    const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hi' }] }] });
    const call = async (credentials) => {
        const headers = await signBedrockCall(fake, { path: wirePath(HAIKU_ID), body, credentials });
        return request({ url: fake.url + wirePath(HAIKU_ID), method: 'POST', headers, body });
    };
    before(async () => {
        fake = await startFake({ credentials: keyring.lookup, bearerToken: keyring.acceptsBearer });
    });
    after(() => fake.close());

    it('accepts any key of the set, with its session token', async () => {
        assert.equal((await call(a)).status, 200);
        assert.equal((await call(b)).status, 200);
        assert.equal(keyring.labelOf(fake.last), 'b');
        assert.equal((await call({ ...b, sessionToken: a.sessionToken })).status, 403);
        assert.equal((await call(mintCredentials())).status, 403);
    });

    it('refuses a revoked key', async () => {
        keyring.revoke(a);
        const res = await call(a);
        assert.equal(res.status, 403);
        assert.match(fake.last.authError, /UnrecognizedClientException/);
        assert.equal((await call(b)).status, 200);
    });

    it('takes arrays and bearer sets as well', async () => {
        fake.credentials = [b];
        assert.equal((await call(b)).status, 200);
        fake.credentials = keyring.lookup;
        const url = fake.url + wirePath(HAIKU_ID);
        const send = (token) => request({
            url, method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        assert.equal((await send(bearer)).status, 200);
        assert.equal((await send('ABSKother')).status, 403);
        fake.bearerToken = [bearer];
        assert.equal((await send(bearer)).status, 200);
        fake.bearerToken = keyring.acceptsBearer;
    });
});

describe('shared file rendering', () => {
    it('writes sections and keys as the SDKs read them', () => {
        const creds = { accessKeyId: 'AKIAX', secretAccessKey: 's/+', sessionToken: 't' };
        assert.equal(renderIni({ default: profileKeys(creds), 'profile x': { region: 'us-east-1' } }), [
            '# written by the ngx_http_bedrock_module tests', '',
            '[default]', 'aws_access_key_id = AKIAX', 'aws_secret_access_key = s/+', 'aws_session_token = t', '',
            '[profile x]', 'region = us-east-1', '',
        ].join('\n'));
    });
});

describe('botocore reads the fakes', async () => {
    const python = await botocorePython();
    const skip = !python && 'python3 with botocore is not installed';

    // Each case: the fakes, the env built by the bench, what botocore must say.
    const CASES = [
        {
            name: 'IMDSv2',
            sources: { imds: {} },
            env: (b) => b.imdsEnv(),
            method: 'iam-role',
            check: (b) => {
                const put = b.imds.requests.find((r) => r.path === IMDS_TOKEN_PATH);
                assert.equal(put.ttl, '21600');
                assert.ok(b.imds.requests.filter((r) => r.method === 'GET').every((r) => r.outcome === 'ok'));
            },
        },
        {
            name: 'container endpoint, token file winning over the variable',
            sources: { container: { authToken: 'Bearer-ish token 1' } },
            env: (b) => b.containerEnv({ tokenFile: true }),
            method: 'container-role',
            check: (b) => assert.equal(b.container.last.authorization, 'Bearer-ish token 1'),
        },
        {
            name: 'web identity from the environment',
            sources: { sts: {} },
            env: (b) => b.webIdentityEnv({ sessionName: 'botocore-check' }),
            method: 'assume-role-with-web-identity',
            check: (b) => {
                const { params, headers } = b.sts.last;
                assert.equal(params.get('RoleSessionName'), 'botocore-check');
                assert.equal(params.get('RoleArn'), ROLE_ARN);
                assert.equal(headers.authorization, undefined, 'AssumeRoleWithWebIdentity is unsigned');
            },
        },
        {
            name: 'web identity from a config-file profile',
            sources: { sts: {} },
            env: (b) => {
                const { file } = b.writeWebIdentityToken();
                const config = { 'profile wi': { role_arn: ROLE_ARN, web_identity_token_file: file } };
                return { ...b.sharedFiles({ config }).env, ...b.stsEndpointEnv(), AWS_PROFILE: 'wi' };
            },
            method: 'assume-role-with-web-identity',
        },
    ];

    for (const c of CASES) {
        it(c.name, { skip }, async () => {
            const bench = await startBench(c.sources);
            try {
                const got = await resolveWithBotocore(bench.fullEnv(c.env(bench)));
                assert.equal(got.method, c.method, JSON.stringify(got));
                const [source] = Object.values(bench.sources);
                assert.equal(source.fetches, 1);
                const { creds } = source.issued[0];
                assert.equal(got.accessKeyId, creds.accessKeyId);
                assert.equal(got.sessionToken, creds.sessionToken);
                if (c.check) {
                    c.check(bench);
                }
            } finally {
                await bench.stop();
            }
        });
    }

    it('and gives up on the failure modes', { skip }, async () => {
        const bench = await startBench({ imds: { failure: 'wrong' } });
        try {
            const got = await resolveWithBotocore(bench.fullEnv(bench.imdsEnv()));
            assert.equal(got.method, null, JSON.stringify(got));
        } finally {
            await bench.stop();
        }
    });
});
