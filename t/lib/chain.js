'use strict';

// A test bench for the credential provider chain: fake credential sources
// (lib/aws-sources.js), a private directory for token and shared config
// files, the fake Bedrock accepting whatever the sources hand out, and
// nginx in front (error_log at debug). stop() fails the test when any
// secret handed out shows up in error.log or in a response.
//
//   await withChain({ imds: {}, sts: {...} }, async (bench) => {
//       await bench.start({ env: { ...bench.imdsEnv() } });
//       const res = await bench.ask();
//       bench.assertServedBy(res, 'imds');
//   });

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const {
    Keyring, ROLE_ARN, mintCredentials, mintToken, startImds, startContainer, startSts,
    renderIni, profileKeys, writeReadable,
} = require('./aws-sources');
const { startGateway, ISOLATION_ENV, HAIKU_ID } = require('./gateway');
const { assertOpenAIError, assertUpstreamCall, assertNoSecrets } = require('./expect');
const { until, sleep } = require('./http');

const ASK = Object.freeze({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
const SESSION_NAME = 'ngx-gateway';
const WARN_OR_ERROR = /\[(warn|error)\]/;
const STARTERS = { imds: startImds, container: startContainer, sts: startSts };

class ChainBench {
    constructor() {
        this.keyring = new Keyring();
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bedrock-chain-'));
        // the worker runs as nobody: it must reach the files in here
        fs.chmodSync(this.dir, 0o755);
        this.sources = {};
        this.responses = [];
        this.gw = null;
    }

    /** Starts the fake sources named in `specs` ({ imds: options, ... }). */
    async startSources(specs) {
        for (const [name, options] of Object.entries(specs || {})) {
            this.sources[name] = await STARTERS[name]({ keyring: this.keyring, ...options });
        }
    }

    get imds() { return this.sources.imds; }
    get container() { return this.sources.container; }
    get sts() { return this.sources.sts; }
    get fake() { return this.gw.fake; }
    get nginx() { return this.gw.nginx; }

    /** Writes a file (mode 0644) in the bench directory; returns its path. */
    write(name, content) {
        const file = path.join(this.dir, name);
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
        return writeReadable(file, content);
    }

    /** Static credentials registered under `label` (long-term unless sessionToken). */
    staticKeys(label, { sessionToken = false } = {}) {
        const creds = mintCredentials({ temporary: sessionToken });
        return this.keyring.add(creds, label);
    }

    /** A Bedrock API key registered under `label`. */
    bearerKey(label) {
        return this.keyring.addBearer(`ABSK${mintToken('ngxTestBearer')}`, label);
    }

    // --- environment fragments: spread them into start({ env })

    envKeys(label = 'env', options) {
        const creds = this.staticKeys(label, options);
        const env = { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
        if (creds.sessionToken) {
            env.AWS_SESSION_TOKEN = creds.sessionToken;
        }
        return env;
    }

    envBearer(label = 'env-bearer') {
        return { AWS_BEARER_TOKEN_BEDROCK: this.bearerKey(label) };
    }

    imdsEnv() {
        return { AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: this.imds.url };
    }

    /**
     * Container endpoint env; the token (the one the fake requires) comes
     * from a token file when tokenFile (the env variable then carries a
     * different, stale value, which the file must win over), else from
     * AWS_CONTAINER_AUTHORIZATION_TOKEN.
     */
    containerEnv({ tokenFile = false } = {}) {
        const env = {
            AWS_CONTAINER_CREDENTIALS_FULL_URI: this.container.url + this.container.path,
        };
        const token = this.container.authToken;
        if (tokenFile) {
            env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = this.write('container-token', token);
            env.AWS_CONTAINER_AUTHORIZATION_TOKEN = this.keyring.addSecret(mintToken('staleContainerToken'));
        } else if (token) {
            env.AWS_CONTAINER_AUTHORIZATION_TOKEN = token;
        }
        return env;
    }

    /**
     * Writes a new web identity token (no trailing newline, like the files
     * Kubernetes projects) into `file`, relative to the bench dir.
     */
    writeWebIdentityToken(file = 'web-identity-token') {
        const token = this.keyring.addSecret(`eyJhbGciOiJSUzI1NiJ9.${mintToken('ngxTestOidc')}.sig`);
        this.webIdentityToken = token;
        return { token, file: this.write(file, token) };
    }

    /** Writes a new container authorization token file and makes the fake require it. */
    rotateContainerToken() {
        const token = mintToken('containerAuth');
        this.container.rotateAuthToken(token);
        this.write('container-token', token);
        return token;
    }

    /** AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ session name), STS at the fake. */
    webIdentityEnv({ sessionName } = {}) {
        const { file } = this.writeWebIdentityToken();
        const env = {
            AWS_WEB_IDENTITY_TOKEN_FILE: file,
            AWS_ROLE_ARN: this.sts.roleArn,
            ...this.stsEndpointEnv(),
        };
        if (sessionName) {
            env.AWS_ROLE_SESSION_NAME = sessionName;
        }
        return env;
    }

    stsEndpointEnv() {
        return { AWS_ENDPOINT_URL_STS: this.sts.url };
    }

    /**
     * Writes shared credentials / config files ({ section: keys }) and
     * returns the env pointing at them (AWS_SHARED_CREDENTIALS_FILE,
     * AWS_CONFIG_FILE) plus their paths in `paths`.
     */
    sharedFiles({ credentials, config }, prefix = '') {
        const paths = {};
        const env = {};
        if (credentials) {
            paths.credentials = this.write(`${prefix}credentials`, renderIni(credentials));
            env.AWS_SHARED_CREDENTIALS_FILE = paths.credentials;
        }
        if (config) {
            paths.config = this.write(`${prefix}config`, renderIni(config));
            env.AWS_CONFIG_FILE = paths.config;
        }
        return { env, paths };
    }

    /** Section keys for static credentials registered under `label`. */
    profile(label, options) {
        return profileKeys(this.staticKeys(label, options));
    }

    /** The complete environment of nginx (and of the botocore reference). */
    fullEnv(env = {}) {
        return { ...ISOLATION_ENV, AWS_REGION: 'us-east-1', ...env };
    }

    /**
     * Starts the fake Bedrock and nginx. options: env (on top of the
     * isolation defaults and AWS_REGION=us-east-1), http (http{}-level text).
     */
    async start({ env = {}, http = '' } = {}) {
        this.gw = await startGateway({
            fake: { credentials: this.keyring.lookup, bearerToken: this.keyring.acceptsBearer },
            credentials: null,
            env: this.fullEnv(env),
            http,
            errorLogLevel: 'debug',
        });
        const call = this.gw.call;
        this.gw.call = async (...args) => {
            const res = await call(...args);
            this.responses.push(res.text);
            return res;
        };
        return this.gw;
    }

    ask(options) {
        return this.gw.chat(ASK, options);
    }

    /** The label ("imds#2", "env"...) of what signed Bedrock request `rec`. */
    labelOf(rec = this.fake.last) {
        return this.keyring.labelOf(rec);
    }

    /**
     * A 200 whose Bedrock call was signed with (or carried) what `want`
     * names: a keyring label ("sts#2", "env") or a source name ("sts").
     * Returns the Bedrock request.
     */
    assertServedBy(res, want) {
        assert.equal(res.status, 200, res.text);
        const rec = this.fake.last;
        assert.ok(rec.authOk, `the fake Bedrock refused nginx's request: ${rec.authError}`);
        const label = this.labelOf(rec);
        const got = want.includes('#') ? label : String(label).split('#')[0];
        assert.equal(got, want, `Bedrock call made with the credentials of ${label}, want ${want}`);
        const auth = rec.headers.authorization;
        if (auth.startsWith('Bearer ')) {
            assertUpstreamCall(rec, { modelId: HAIKU_ID, bearerToken: auth.slice(7) });
        } else {
            const keyId = /Credential=([^/]+)\//.exec(auth)[1];
            assertUpstreamCall(rec, { modelId: HAIKU_ID, credentials: this.keyring.credentialsFor(keyId) });
        }
        return rec;
    }

    /** The documented answer without credentials; Bedrock not called. */
    assertUnavailable(res, bedrockCallsBefore = 0) {
        assertOpenAIError(res, 503, {
            type: 'server_error', code: 'credentials_unavailable', message: /credential/i,
        });
        assert.equal(this.fake.requests.length, bedrockCallsBefore, 'Bedrock must not be called');
    }

    /** error.log lines at warn or error level (optionally matching `re`). */
    problems(re) {
        return this.nginx.errorLog().split('\n')
            .filter((line) => WARN_OR_ERROR.test(line) && (!re || re.test(line)));
    }

    assertLogged(re, what) {
        assert.ok(this.problems(re).length > 0,
            `no warn/error line in error.log matching ${re} (${what}):\n${this.problems().join('\n')}`);
    }

    /**
     * Asks until a Bedrock call is signed with `label` ("sts#2"): the
     * fake source counts a fetch once it has sent the answer, which nginx
     * may still be reading (slowly so under scripts/eagain.sh). Every
     * answer on the way must be a 200 signed with valid credentials.
     */
    async untilServedBy(label, timeoutMs = 10000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const res = await this.ask();
            assert.equal(res.status, 200, res.text);
            assert.ok(this.fake.last.authOk, this.fake.last.authError);
            const seen = this.labelOf();
            if (seen === label) {
                return;
            }
            if (Date.now() > deadline) {
                throw new Error(`no Bedrock call signed with ${label} in ${timeoutMs} ms (last: ${seen})`);
            }
            await sleep(50);
        }
    }

    /** Asks until the answer is a 200 (after a source was repaired). */
    async askUntilServed(timeoutMs = 30000) {
        let last;
        await until(async () => {
            last = await this.ask({ timeoutMs: 15000 });
            if (last.status !== 200) {
                await sleep(200);
            }
            return last.status === 200;
        }, `a 200 once the source works again (last: ${last && last.status} ${last && last.text})`, timeoutMs);
        return last;
    }

    /**
     * Stops nginx, the fakes and removes the directory; fails when error.log
     * had alerts or crashes, or when a secret leaked into error.log or a
     * response.
     */
    async stop() {
        const errors = [];
        if (this.gw) {
            try {
                await this.gw.stop();
            } catch (err) {
                errors.push(err);
            }
        }
        for (const source of Object.values(this.sources)) {
            await source.close();
        }
        if (this.gw && this.gw.nginx) {
            try {
                const log = this.gw.nginx.errorLog();
                assert.match(log, /\[debug\]/, 'error.log is at debug level, for the secret scan');
                assertNoSecrets([log], this.keyring.secrets(), 'error.log');
                assertNoSecrets(this.responses, this.keyring.secrets(), 'a response');
            } catch (err) {
                errors.push(err);
            }
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
        if (errors.length > 0) {
            throw errors[0];
        }
    }
}

/**
 * The three fetched sources, for table-driven tests:
 *   sources(options): the fakes to start (options go to the source's fake)
 *   env(bench): the env that makes nginx use it
 *   logged(bench): what an error-log line about it mentions
 *   checkWire(bench): what every exchange with the fake must have looked like
 *   rotate(bench) / checkRotated(bench): change the token it is fetched with
 *                 and check the next fetch used the new one
 */
const SOURCE_KINDS = {
    imds: {
        sources: (options) => ({ imds: options }),
        env: (b) => b.imdsEnv(),
        logged: (b) => new RegExp(`IMDS|metadata|meta-data|api/token|:${b.imds.port}\\b`, 'i'),
        checkWire(b) {
            for (const rec of b.imds.requests) {
                assert.notEqual(rec.outcome, 'unauthorized', `${rec.method} ${rec.path} without a valid IMDS token`);
                assert.notEqual(rec.outcome, 'refused', `${rec.method} ${rec.path}: no valid TTL header`);
            }
            const put = b.imds.requests.find((r) => r.method === 'PUT');
            assert.equal(put.ttl, '21600');
        },
        rotate() {},
        checkRotated(b) {
            this.checkWire(b);
        },
    },
    container: {
        sources: (options) => ({ container: { authToken: mintToken('containerAuth'), ...options } }),
        env: (b) => b.containerEnv({ tokenFile: true }),
        logged: (b) => new RegExp(`container|AWS_CONTAINER|:${b.container.port}\\b`, 'i'),
        checkWire(b) {
            for (const rec of b.container.requests) {
                assert.notEqual(rec.outcome, 'unauthorized',
                    `container endpoint called with Authorization ${String(rec.authorization).slice(0, 16)}..., ` +
                    'not the token file\'s content');
                assert.equal(rec.method, 'GET');
            }
        },
        rotate(b) {
            b.rotateContainerToken();
        },
        checkRotated(b) {
            this.checkWire(b);
            const served = b.container.requests.filter((r) => r.outcome === 'ok');
            assert.equal(served[served.length - 1].authorization, b.container.authToken);
        },
    },
    sts: {
        sources: (options) => ({ sts: options }),
        env: (b) => b.webIdentityEnv({ sessionName: SESSION_NAME }),
        logged: (b) => new RegExp(`\\bSTS\\b|web.identity|AssumeRoleWithWebIdentity|:${b.sts.port}\\b`, 'i'),
        checkWire(b) {
            for (const rec of b.sts.requests) {
                assert.equal(rec.method, 'POST');
                assert.equal(rec.path, '/');
                assert.notEqual(rec.outcome, 'refused', `STS refused the exchange: ${rec.body.slice(0, 80)}`);
                assert.match(rec.headers['content-type'], /^application\/x-www-form-urlencoded\b/);
                assert.equal(rec.headers.authorization, undefined, 'AssumeRoleWithWebIdentity is not signed');
                assert.equal(rec.headers['x-amz-security-token'], undefined);
                const p = rec.params;
                assert.equal(p.get('Action'), 'AssumeRoleWithWebIdentity');
                assert.equal(p.get('Version'), '2011-06-15');
                assert.equal(p.get('RoleArn'), b.sts.roleArn);
                assert.equal(p.get('RoleSessionName'), SESSION_NAME);
            }
            assert.equal(b.sts.last.params.get('WebIdentityToken'), b.webIdentityToken);
        },
        rotate(b) {
            b.writeWebIdentityToken();
        },
        checkRotated(b) {
            this.checkWire(b);
            const tokens = b.sts.webIdentityTokens;
            assert.notEqual(tokens[0], tokens[tokens.length - 1], 'the token file was read again');
        },
    },
};

/** A bench with the given fake sources started. */
async function startBench(sources = {}) {
    const bench = new ChainBench();
    try {
        await bench.startSources(sources);
    } catch (err) {
        await bench.stop();
        throw err;
    }
    return bench;
}

/** Runs body(bench) and always stops the bench (its checks included). */
async function withChain(sources, body) {
    const bench = await startBench(sources);
    let failure = null;
    try {
        await body(bench);
    } catch (err) {
        failure = err;
    }
    try {
        await bench.stop();
    } catch (err) {
        failure = failure || err;
    }
    if (failure) {
        throw failure;
    }
}

module.exports = { ASK, ROLE_ARN, SESSION_NAME, SOURCE_KINDS, ChainBench, startBench, withChain };
