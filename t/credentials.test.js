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

describe('credentials the worker cannot use', () => {
    let gw;
    const longSecret = 'S'.repeat(300);
    before(async () => {
        gw = await startGateway({
            credentials: null,
            env: { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: longSecret },
        });
    });
    after(() => gw && gw.stop());

    it('an oversized secret key is refused at start, with a warning that does not quote it', async () => {
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 503, { code: 'credentials_unavailable' });
        assert.equal(gw.fake.requests.length, 0);
        assert.match(gw.nginx.errorLog(), /AWS_SECRET_ACCESS_KEY is longer than 256 bytes/);
        assertNoSecrets([gw.nginx.errorLog(), res.text], [longSecret], 'error.log or response');
    });
});

describe('workers see only the variables named by "env"', () => {
    let gw;
    before(async () => {
        // the credentials are in nginx's environment, but no "env" line
        // passes them to the workers
        gw = await startGateway({ main: '' });
    });
    after(() => gw && gw.stop());

    it('without env directives there are no credentials', async () => {
        const res = await gw.chat(ASK);
        assertOpenAIError(res, 503, { code: 'credentials_unavailable' });
        assert.equal(gw.fake.requests.length, 0);
    });
});

describe('a reload picks up changed credentials files', () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');

    const first = { accessKeyId: 'AKIDRELOADONE', secretAccessKey: 'reloadSecretOne/0123456789' };
    const second = { accessKeyId: 'AKIDRELOADTWO', secretAccessKey: 'reloadSecretTwo/0123456789' };
    let dir;
    let file;
    let gw;

    const write = (c) => fs.writeFileSync(file,
        `[default]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n`,
        { mode: 0o644 });

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bedrock-reload-'));
        fs.chmodSync(dir, 0o755);
        file = path.join(dir, 'credentials');
        write(first);
        gw = await startGateway({
            fake: { credentials: [first, second] },
            credentials: null,
            env: { AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: path.join(dir, 'none') },
        });
    });
    after(async () => {
        try {
            await (gw && gw.stop());
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it('signs with the file\'s keys, and with the new ones after nginx -s reload', async () => {
        let res = await gw.chat(ASK, { headers: { connection: 'close' } });
        assert.equal(res.status, 200, res.text);
        assert.match(gw.fake.last.headers.authorization, /Credential=AKIDRELOADONE\//);

        write(second);
        await gw.nginx.reload();

        // new connections, until one reaches a new worker (an old one may
        // still accept for a moment while it shuts down)
        const deadline = Date.now() + 5000;
        do {
            res = await gw.chat(ASK, { headers: { connection: 'close' } });
            assert.equal(res.status, 200, res.text);
        } while (/AKIDRELOADONE/.test(gw.fake.last.headers.authorization) && Date.now() < deadline);
        assert.match(gw.fake.last.headers.authorization, /Credential=AKIDRELOADTWO\//);
    });
});
