'use strict';

// Fake AWS credential sources for the provider-chain tests: EC2 instance
// metadata (IMDSv2), the container credentials endpoint (ECS / EKS Pod
// Identity) and STS AssumeRoleWithWebIdentity, as PROTOCOL.md section 5.3
// describes them. Each one hands out fresh temporary credentials on every
// fetch (registered in a Keyring the fake Bedrock accepts), counts fetches
// and can be switched into a failure mode:
//
//   'down'     the port is closed (connection refused)
//   '500'      HTTP 500
//   'garbage'  200 with a body that is not JSON / XML
//   'wrong'    200, well-formed, but not usable credentials
//   'denied'   the source's own refusal (IMDS: no role, container: 403,
//              STS: AccessDenied)
//   'slow'     no answer for slowMs (default 10 s), then the normal one
//   'reset'    the connection is dropped without an answer
//
// failAt picks the step that fails (IMDS: 'token' | 'role' | 'credentials';
// the others only have 'credentials').

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');

const FAILURE_MODES = ['down', '500', 'garbage', 'wrong', 'denied', 'slow', 'reset'];
const DEFAULT_LIFETIME_MS = 6 * 3600 * 1000;
// "Expiration = now + 5 min + 3 s": refreshed about 3 s after the fetch.
const REFRESH_WINDOW_MS = 5 * 60 * 1000;
const SOON_MS = REFRESH_WINDOW_MS + 3000;
const GARBAGE = Buffer.concat([Buffer.from('<html>\r\n\0'), crypto.randomBytes(24), Buffer.from('{"Acc')]);

const IMDS_TOKEN_PATH = '/latest/api/token';
const IMDS_ROLES_PATH = '/latest/meta-data/iam/security-credentials/';
const IMDS_MAX_TTL = 21600;
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/ngx-bedrock-test-role';

function randomString(length, alphabet) {
    const bytes = crypto.randomBytes(length);
    let out = '';
    for (let i = 0; i < length; i++) {
        out += alphabet[bytes[i] % alphabet.length];
    }
    return out;
}

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Made-up credentials shaped like real ones (AKIA: long-term, ASIA: temporary). */
function mintCredentials({ temporary = true } = {}) {
    const creds = {
        accessKeyId: (temporary ? 'ASIA' : 'AKIA') + randomString(16, UPPER_ALNUM),
        secretAccessKey: randomString(40, BASE64),
    };
    if (temporary) {
        creds.sessionToken = `IQoJb3JpZ2luX2VjE${randomString(300, BASE64)}==`;
    }
    return creds;
}

/** A random opaque token with a recognisable prefix. */
function mintToken(prefix) {
    return `${prefix}${randomString(48, BASE64.slice(0, 62))}`;
}

/** 2026-11-21T23:59:59Z (what AWS sends: no fraction). */
function isoSeconds(ms) {
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Everything the tests hand out: temporary and static credentials (by
 * access key id), bearer keys, and other secrets (tokens). lookup and
 * acceptsBearer plug into startFake({ credentials, bearerToken }).
 */
class Keyring {
    constructor() {
        this.byKeyId = new Map();
        this.bearers = new Map();
        this.revoked = new Set();
        this.tokens = new Set();
        this.lookup = (accessKeyId) => this.credentialsFor(accessKeyId);
        this.acceptsBearer = (token) => this.bearers.has(token) && !this.revoked.has(token);
    }

    add(creds, label) {
        this.byKeyId.set(creds.accessKeyId, { creds: { ...creds }, label });
        return creds;
    }

    addBearer(token, label) {
        this.bearers.set(token, label);
        return token;
    }

    /** A secret that is not a credential (IMDS token, web identity token...). */
    addSecret(value) {
        this.tokens.add(value);
        return value;
    }

    /** Makes Bedrock refuse these credentials (or this bearer key) from now on. */
    revoke(credsOrToken) {
        this.revoked.add(typeof credsOrToken === 'string' ? credsOrToken : credsOrToken.accessKeyId);
    }

    credentialsFor(accessKeyId) {
        const entry = this.byKeyId.get(accessKeyId);
        return entry && !this.revoked.has(accessKeyId) ? entry.creds : null;
    }

    /** The label of the credentials or bearer key a Bedrock request used. */
    labelOf(rec) {
        const auth = String(rec.headers.authorization || '');
        if (auth.startsWith('Bearer ')) {
            return this.bearers.get(auth.slice(7)) || null;
        }
        const m = /Credential=([^/]+)\//.exec(auth);
        const entry = m && this.byKeyId.get(m[1]);
        return entry ? entry.label : null;
    }

    /** Every secret value: secret keys, session tokens, bearer keys, tokens. */
    secrets() {
        const out = [...this.bearers.keys(), ...this.tokens];
        for (const { creds } of this.byKeyId.values()) {
            out.push(creds.secretAccessKey);
            if (creds.sessionToken) {
                out.push(creds.sessionToken);
            }
        }
        return out;
    }
}

function listen(server, port) {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
            server.removeListener('error', reject);
            resolve(server.address().port);
        });
    });
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const parts = [];
        req.on('data', (c) => parts.push(c));
        req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
        req.on('error', reject);
    });
}

const text = (status, body, headers = {}) => ({ status, headers: { 'Content-Type': 'text/plain', ...headers }, body });
const json = (status, value) => ({
    status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value, null, 2),
});
const xml = (status, body) => ({ status, headers: { 'Content-Type': 'text/xml' }, body });

/**
 * The common part of the three fakes: an HTTP server on 127.0.0.1 that can
 * go down and come back on the same port, counters, the failure switch and
 * the issuing of credentials.
 *
 * options (all fakes):
 *   keyring       where issued credentials and tokens are registered
 *   credentials   fixed credentials, or a function (n) -> credentials for
 *                 the n-th fetch (default: fresh temporary ones each time)
 *   expiresIn     ms from the fetch to Expiration, or a function (n) -> ms
 *                 (default 6 h)
 *   delayMs       delay before every answer (a fetch "in flight")
 *   failure       initial failure mode (see FAILURE_MODES), failAt, slowMs
 */
class FakeSource {
    constructor(name, options, route) {
        this.name = name;
        this.keyring = options.keyring || new Keyring();
        this.options = options;
        this.route = route;
        this.credentials = options.credentials;
        this.expiresIn = options.expiresIn === undefined ? DEFAULT_LIFETIME_MS : options.expiresIn;
        this.delayMs = options.delayMs || 0;
        this.failure = options.failure || null;
        this.failAt = options.failAt || 'credentials';
        this.slowMs = options.slowMs || 10000;
        this.requests = [];
        this.issued = [];
        this.failures = 0;
        this.timers = new Set();
        this.server = http.createServer((req, res) => {
            this.handle(req, res).catch((err) => res.destroy(err));
        });
        this.server.keepAliveTimeout = 1000;
        this.listening = false;
        this.port = 0;
        this.url = '';
    }

    /** Successful credential documents served so far. */
    get fetches() {
        return this.issued.length;
    }

    /** Requests for the credentials step (served, failed or refused). */
    get attempts() {
        return this.requests.filter((r) => r.step === 'credentials').length;
    }

    get last() {
        return this.requests[this.requests.length - 1];
    }

    async start() {
        this.port = await listen(this.server, 0);
        this.url = `http://127.0.0.1:${this.port}`;
        this.listening = true;
        if (this.failure === 'down') {
            await this.stopListening();
        }
        return this;
    }

    stopListening() {
        this.listening = false;
        return new Promise((resolve) => {
            this.server.close(() => resolve());
            this.server.closeAllConnections();
        });
    }

    /** Switches the failure mode (null: healthy); 'down' closes the port. */
    async setFailure(mode, { failAt } = {}) {
        if (mode !== null && !FAILURE_MODES.includes(mode)) {
            throw new Error(`unknown failure mode ${mode}`);
        }
        this.failure = mode;
        if (failAt) {
            this.failAt = failAt;
        }
        if (mode === 'down' && this.listening) {
            await this.stopListening();
        } else if (mode !== 'down' && !this.listening) {
            await listen(this.server, this.port);
            this.listening = true;
        }
    }

    async close() {
        for (const timer of this.timers) {
            clearTimeout(timer);
        }
        if (this.listening) {
            await this.stopListening();
        }
    }

    sleep(ms) {
        return new Promise((resolve) => {
            const timer = setTimeout(() => {
                this.timers.delete(timer);
                resolve();
            }, ms);
            this.timers.add(timer);
        });
    }

    /** The credentials of the next fetch, registered in the keyring. */
    issue() {
        const n = this.issued.length + 1;
        let creds = typeof this.credentials === 'function' ? this.credentials(n) : this.credentials;
        creds = creds || mintCredentials();
        const lifetime = typeof this.expiresIn === 'function' ? this.expiresIn(n) : this.expiresIn;
        const at = Date.now();
        const entry = { creds, at, expiration: isoSeconds(at + lifetime), label: `${this.name}#${n}` };
        this.issued.push(entry);
        this.keyring.add(creds, entry.label);
        return entry;
    }

    /**
     * Runs `step` of a request: the failure answer when this step is the
     * one failing, else ok() (which may issue credentials).
     */
    async step(rec, step, ok, failureAnswers) {
        rec.step = step;
        if (this.failure && this.failAt === step) {
            this.failures += 1;
            rec.outcome = `failure:${this.failure}`;
            if (this.failure === 'slow') {
                await this.sleep(this.slowMs);
                // the client gave up: nothing was served
                return rec.clientGone ? { reset: true } : ok();
            }
            if (this.failure === 'reset') {
                return { reset: true };
            }
            if (this.failure === 'garbage') {
                return { status: 200, headers: { 'Content-Type': failureAnswers.contentType }, body: GARBAGE };
            }
            return failureAnswers[this.failure]();
        }
        rec.outcome = 'ok';
        return ok();
    }

    async handle(req, res) {
        const rec = {
            method: req.method,
            path: req.url,
            headers: req.headers,
            body: await readBody(req),
            at: Date.now(),
            step: null,
            outcome: null,
            clientGone: false,
        };
        this.requests.push(rec);
        res.on('close', () => {
            rec.clientGone = !res.writableFinished;
        });
        if (this.delayMs > 0) {
            await this.sleep(this.delayMs);
        }
        const answer = await this.route(rec);
        if (answer.reset || res.destroyed) {
            res.destroy();
            return;
        }
        const body = Buffer.from(answer.body || '');
        res.writeHead(answer.status, { ...answer.headers, 'Content-Length': body.length });
        res.end(body);
    }
}

// ---------------------------------------------------------------- IMDSv2

/**
 * Fake EC2 instance metadata service, IMDSv2 only (like an instance with
 * HttpTokens=required). options: role (default 'ngx-bedrock-test-role'),
 * tokenTtlMs (how long a session token stays valid here; default its TTL).
 * State: tokens (issued IMDS session tokens), tokenRequests.
 */
async function startImds(options = {}) {
    const role = options.role || 'ngx-bedrock-test-role';
    const tokens = new Map();
    const fake = new FakeSource('imds', options, route);
    fake.role = role;
    fake.tokens = tokens;

    const failures = {
        token: {
            contentType: 'text/plain',
            500: () => text(500, 'Internal Server Error'),
            wrong: () => text(400, 'Bad Request'),
            denied: () => text(403, 'Forbidden'),
        },
        role: {
            contentType: 'text/plain',
            500: () => text(500, 'Internal Server Error'),
            wrong: () => text(200, ''),
            // an instance without an instance profile
            denied: () => text(404, 'Not Found'),
        },
        credentials: {
            contentType: 'text/plain',
            500: () => text(500, 'Internal Server Error'),
            // what IMDS says when it cannot assume the instance's role
            wrong: () => json(200, {
                Code: 'AssumeRoleUnauthorizedAccess',
                Message: 'EC2 cannot assume the role ngx-bedrock-test-role.',
                LastUpdated: isoSeconds(Date.now()),
            }),
            denied: () => text(404, 'Not Found'),
        },
    };

    function tokenValid(value) {
        const expires = tokens.get(value);
        return expires !== undefined && Date.now() < expires;
    }

    async function route(rec) {
        const h = rec.headers;
        if (rec.path === IMDS_TOKEN_PATH) {
            if (rec.method !== 'PUT') {
                return text(405, 'Method Not Allowed');
            }
            rec.ttl = h['x-aws-ec2-metadata-token-ttl-seconds'];
            const ttl = Number(rec.ttl);
            if (!/^\d+$/.test(rec.ttl || '') || ttl < 1 || ttl > IMDS_MAX_TTL || h['x-forwarded-for']) {
                rec.step = 'token';
                rec.outcome = 'refused';
                return text(400, 'Bad Request');
            }
            return fake.step(rec, 'token', () => {
                const token = fake.keyring.addSecret(mintToken('AQAEAImdsToken'));
                tokens.set(token, Date.now() + (options.tokenTtlMs || ttl * 1000));
                return text(200, token, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
            }, failures.token);
        }
        if (!rec.path.startsWith(IMDS_ROLES_PATH)) {
            return text(404, 'Not Found');
        }
        const step = rec.path === IMDS_ROLES_PATH ? 'role' : 'credentials';
        if (rec.method !== 'GET') {
            return text(405, 'Method Not Allowed');
        }
        rec.token = h['x-aws-ec2-metadata-token'];
        if (!tokenValid(rec.token)) {
            rec.step = step;
            rec.outcome = 'unauthorized';
            return text(401, 'Unauthorized');
        }
        if (step === 'role') {
            return fake.step(rec, 'role', () => text(200, role), failures.role);
        }
        if (rec.path !== IMDS_ROLES_PATH + role) {
            rec.step = step;
            rec.outcome = 'no such role';
            return text(404, 'Not Found');
        }
        return fake.step(rec, 'credentials', () => {
            const { creds, at, expiration } = fake.issue();
            return json(200, {
                Code: 'Success',
                LastUpdated: isoSeconds(at),
                Type: 'AWS-HMAC',
                AccessKeyId: creds.accessKeyId,
                SecretAccessKey: creds.secretAccessKey,
                Token: creds.sessionToken,
                Expiration: expiration,
            });
        }, failures.credentials);
    }

    Object.defineProperty(fake, 'tokenRequests', {
        get: () => fake.requests.filter((r) => r.path === IMDS_TOKEN_PATH).length,
    });
    return fake.start();
}

// ---------------------------------------------------------------- container

/**
 * Fake container credentials endpoint (ECS task role / EKS Pod Identity
 * agent). options: path (default '/v2/credentials/ngx-test'), authToken
 * (the Authorization value it requires; null: none; tests may change
 * fake.authToken to rotate it). Records what Authorization each request
 * carried in rec.authorization.
 */
async function startContainer(options = {}) {
    const fake = new FakeSource('container', options, route);
    fake.path = options.path || '/v2/credentials/ngx-test';
    fake.authToken = options.authToken === undefined ? null : options.authToken;
    if (fake.authToken) {
        fake.keyring.addSecret(fake.authToken);
    }

    const failures = {
        contentType: 'application/json',
        500: () => json(500, { code: 'InternalError', message: 'internal error' }),
        // parses, but lacks the secret key
        wrong: () => json(200, { AccessKeyId: mintCredentials().accessKeyId, Expiration: isoSeconds(Date.now()) }),
        denied: () => json(403, { code: 'AccessDeniedException', message: 'not allowed' }),
    };

    async function route(rec) {
        rec.authorization = rec.headers.authorization;
        if (rec.path !== fake.path) {
            return json(404, { code: 'NotFound', message: 'no such path' });
        }
        if (rec.method !== 'GET') {
            return json(405, { code: 'MethodNotAllowed', message: rec.method });
        }
        if (fake.authToken !== null && rec.authorization !== fake.authToken) {
            rec.step = 'credentials';
            rec.outcome = 'unauthorized';
            return json(401, { code: 'InvalidToken', message: 'Authorization header is missing or invalid' });
        }
        return fake.step(rec, 'credentials', () => {
            const { creds, expiration } = fake.issue();
            return json(200, {
                RoleArn: 'arn:aws:iam::123456789012:role/ngx-bedrock-test-task-role',
                AccessKeyId: creds.accessKeyId,
                SecretAccessKey: creds.secretAccessKey,
                Token: creds.sessionToken,
                Expiration: expiration,
            });
        }, failures);
    }

    /** Changes the token the endpoint requires (a rotated token file). */
    fake.rotateAuthToken = (token) => {
        fake.authToken = fake.keyring.addSecret(token);
    };
    return fake.start();
}

// ---------------------------------------------------------------- STS

function stsError(status, code, message, type = 'Sender') {
    return xml(status, [
        `<ErrorResponse xmlns="${STS_NS}">`,
        '  <Error>',
        `    <Type>${type}</Type>`,
        `    <Code>${code}</Code>`,
        `    <Message>${message}</Message>`,
        '  </Error>',
        `  <RequestId>${crypto.randomUUID()}</RequestId>`,
        '</ErrorResponse>',
        '',
    ].join('\n'));
}

function escapeXml(value) {
    return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Credentials members in the order of AWS's own documentation example
// (SessionToken first), so a parser cannot rely on the order.
function stsSuccess(params, { creds, expiration }) {
    const session = params.get('RoleSessionName');
    const roleName = params.get('RoleArn').split('/').pop();
    return xml(200, [
        `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NS}">`,
        '  <AssumeRoleWithWebIdentityResult>',
        '    <Audience>sts.amazonaws.com</Audience>',
        '    <AssumedRoleUser>',
        `      <AssumedRoleId>AROA${randomString(17, UPPER_ALNUM)}:${escapeXml(session)}</AssumedRoleId>`,
        `      <Arn>arn:aws:sts::123456789012:assumed-role/${escapeXml(roleName)}/${escapeXml(session)}</Arn>`,
        '    </AssumedRoleUser>',
        '    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider>',
        '    <Credentials>',
        `      <SessionToken>${escapeXml(creds.sessionToken)}</SessionToken>`,
        `      <SecretAccessKey>${escapeXml(creds.secretAccessKey)}</SecretAccessKey>`,
        `      <Expiration>${expiration}</Expiration>`,
        `      <AccessKeyId>${escapeXml(creds.accessKeyId)}</AccessKeyId>`,
        '    </Credentials>',
        '    <SubjectFromWebIdentityToken>system:serviceaccount:default:ngx-gateway</SubjectFromWebIdentityToken>',
        '  </AssumeRoleWithWebIdentityResult>',
        '  <ResponseMetadata>',
        `    <RequestId>${crypto.randomUUID()}</RequestId>`,
        '  </ResponseMetadata>',
        '</AssumeRoleWithWebIdentityResponse>',
        '',
    ].join('\n'));
}

/**
 * Fake STS answering AssumeRoleWithWebIdentity (unsigned, form-encoded
 * POST /). options: roleArn (the only role it knows; default
 * ROLE_ARN), acceptToken (a token or function (token) -> bool; default any
 * non-empty token). Records the parsed form in rec.params and every web
 * identity token it got in fake.webIdentityTokens.
 */
async function startSts(options = {}) {
    const fake = new FakeSource('sts', options, route);
    fake.roleArn = options.roleArn || ROLE_ARN;
    fake.acceptToken = options.acceptToken || null;
    fake.webIdentityTokens = [];

    const failures = {
        contentType: 'text/xml',
        500: () => stsError(500, 'InternalFailure', 'An internal error occurred.', 'Receiver'),
        // an AssumeRoleWithWebIdentityResult without Credentials
        wrong: () => xml(200, [
            `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NS}">`,
            '  <AssumeRoleWithWebIdentityResult>',
            '    <Audience>sts.amazonaws.com</Audience>',
            '  </AssumeRoleWithWebIdentityResult>',
            '</AssumeRoleWithWebIdentityResponse>',
        ].join('\n')),
        denied: () => stsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'),
    };

    function tokenAccepted(token) {
        if (typeof fake.acceptToken === 'function') {
            return fake.acceptToken(token);
        }
        return fake.acceptToken === null || token === fake.acceptToken;
    }

    async function route(rec) {
        if (rec.path !== '/') {
            return stsError(404, 'NotFound', 'Not Found');
        }
        if (rec.method !== 'POST') {
            return stsError(405, 'MethodNotAllowed', 'Use POST');
        }
        rec.step = 'credentials';
        rec.outcome = 'refused';
        if (!/^application\/x-www-form-urlencoded\b/i.test(rec.headers['content-type'] || '')) {
            return stsError(400, 'InvalidParameterValue', 'Content-Type must be application/x-www-form-urlencoded');
        }
        const params = new URLSearchParams(rec.body);
        rec.params = params;
        const token = params.get('WebIdentityToken');
        if (token !== null) {
            fake.webIdentityTokens.push(token);
        }
        if (params.get('Action') !== 'AssumeRoleWithWebIdentity') {
            return stsError(400, 'InvalidAction', `Could not find operation ${params.get('Action')} for version NO_VERSION_SPECIFIED`);
        }
        if (params.get('Version') !== '2011-06-15') {
            return stsError(400, 'InvalidAction', `Could not find operation AssumeRoleWithWebIdentity for version ${params.get('Version')}`);
        }
        for (const name of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
            if (!params.get(name)) {
                return stsError(400, 'MissingParameter', `The request must contain the parameter ${name}`);
            }
        }
        if (!ROLE_SESSION_NAME.test(params.get('RoleSessionName'))) {
            return stsError(400, 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint");
        }
        if (params.get('RoleArn') !== fake.roleArn) {
            return stsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
        }
        if (!tokenAccepted(token)) {
            return stsError(400, 'InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider');
        }
        return fake.step(rec, 'credentials', () => stsSuccess(params, fake.issue()), failures);
    }

    return fake.start();
}

// ---------------------------------------------------------------- files

/**
 * Shared config/credentials file text: { sectionName: { key: value } }.
 * A leading comment and blank lines, as people write them.
 */
function renderIni(sections) {
    const lines = ['# written by the ngx_http_bedrock_module tests', ''];
    for (const [name, values] of Object.entries(sections)) {
        lines.push(`[${name}]`);
        for (const [key, value] of Object.entries(values)) {
            lines.push(`${key} = ${value}`);
        }
        lines.push('');
    }
    return lines.join('\n');
}

/** Profile keys for static credentials. */
function profileKeys(creds) {
    const out = {
        aws_access_key_id: creds.accessKeyId,
        aws_secret_access_key: creds.secretAccessKey,
    };
    if (creds.sessionToken) {
        out.aws_session_token = creds.sessionToken;
    }
    return out;
}

/** Writes a file the unprivileged nginx worker can read. */
function writeReadable(file, content) {
    fs.writeFileSync(file, content);
    fs.chmodSync(file, 0o644);
    return file;
}

module.exports = {
    FAILURE_MODES,
    REFRESH_WINDOW_MS,
    SOON_MS,
    DEFAULT_LIFETIME_MS,
    ROLE_ARN,
    IMDS_TOKEN_PATH,
    IMDS_ROLES_PATH,
    Keyring,
    mintCredentials,
    mintToken,
    isoSeconds,
    startImds,
    startContainer,
    startSts,
    renderIni,
    profileKeys,
    writeReadable,
};
