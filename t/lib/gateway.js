'use strict';

// nginx + module + fake Bedrock wired together, plus the config snippets
// the module tests share.

const { OpenAI } = require('openai');
const { startFake, TEST_CREDENTIALS } = require('./fake-bedrock');
const { startNginx } = require('./nginx');
const { request } = require('./http');

const HAIKU_ID = 'us.anthropic.claude-3-haiku-20240307-v1:0';
const PROFILE_ARN =
    'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0';
const NOVA_ID = 'amazon.nova-micro-v1:0';

// Client-facing alias -> Bedrock model id.
const MODELS = Object.freeze({
    'gpt-4o': HAIKU_ID,
    profile: PROFILE_ARN,
    fast: NOVA_ID,
});

// The key clients send to nginx; it must never reach Bedrock or the logs.
const CLIENT_API_KEY = 'sk-client-secret';

const CREDENTIAL_VARS = [
    'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_BEARER_TOKEN_BEDROCK',
];
// The rest of the provider chain: web identity (STS), shared files,
// container and EC2 instance metadata; HOME for the default ~/.aws paths.
const CHAIN_VARS = [
    'AWS_REGION', 'AWS_DEFAULT_REGION',
    'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME', 'AWS_ENDPOINT_URL_STS',
    'AWS_PROFILE', 'HOME',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
    'AWS_EC2_METADATA_SERVICE_ENDPOINT',
];
// Keep the module away from ~/.aws files and instance metadata (a test
// that wants one of them overrides these; a value of undefined unsets).
const ISOLATION_ENV = Object.freeze({
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
});
const ENV_DIRECTIVES = [...CREDENTIAL_VARS, ...Object.keys(ISOLATION_ENV), ...CHAIN_VARS]
    .map((name) => `env ${name};`).join('\n');

/** Environment carrying static credentials (with the isolation vars). */
function credentialsEnv(credentials, bearerToken) {
    const env = { ...ISOLATION_ENV };
    if (credentials) {
        env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
        env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
        if (credentials.sessionToken) {
            env.AWS_SESSION_TOKEN = credentials.sessionToken;
        }
    }
    if (bearerToken) {
        env.AWS_BEARER_TOKEN_BEDROCK = bearerToken;
    }
    return env;
}

function modelMapDirectives(models = MODELS) {
    return Object.entries(models).map(([alias, id]) => `bedrock_model_map ${alias} ${id};`).join('\n');
}

/** A `location` block serving the OpenAI API under `prefix`. */
function bedrockLocation(prefix, { pass, region = 'us-east-1', models = MODELS, extra = '' }) {
    return [
        `location ${prefix} {`,
        `    bedrock_pass ${pass};`,
        region ? `    bedrock_region ${region};` : '',
        modelMapDirectives(models),
        extra,
        '}',
    ].join('\n');
}

/**
 * Starts a fake Bedrock and an nginx in front of it.
 * options:
 *   fake: options for startFake()
 *   credentials: what nginx gets in its env (default: the fake's; null: none)
 *   bearerToken: AWS_BEARER_TOKEN_BEDROCK for nginx
 *   server(fake): text inside server{} after the listen line
 *                 (default: one /v1/ location mapping MODELS)
 *   http: extra text for http{} (or a function of the fake returning it)
 *   env: extra env for nginx; errorLogLevel
 *   workerProcesses: nginx's (default 1); listen: parameters of the listen
 *                 line, e.g. 'reuseport'
 *   main: main-level text (default: the env directives)
 */
async function startGateway(options = {}) {
    const fake = await startFake(options.fake);
    const gw = { fake, nginx: null };
    gw.stop = async () => {
        try {
            if (gw.nginx) {
                await gw.nginx.stop();
            }
        } finally {
            await fake.close();
        }
    };

    const credentials = options.credentials === undefined ? fake.credentials : options.credentials;
    const server = options.server || ((f) => bedrockLocation('/v1/', { pass: f.url }));
    const http = typeof options.http === 'function' ? options.http(fake) : options.http || '';
    try {
        gw.nginx = await startNginx({
            main: options.main === undefined ? ENV_DIRECTIVES : options.main,
            http: [
                http,
                'server {',
                `    listen 127.0.0.1:%%PORT%%${options.listen ? ` ${options.listen}` : ''};`,
                server(fake),
                '}',
            ].join('\n'),
            env: { ...credentialsEnv(credentials, options.bearerToken), ...options.env },
            errorLogLevel: options.errorLogLevel,
            workerProcesses: options.workerProcesses,
        });
    } catch (err) {
        await fake.close();
        throw err;
    }

    gw.url = gw.nginx.url;
    gw.call = (method, path, { body, headers, ...rest } = {}) => request({
        url: gw.url + path,
        method,
        body,
        headers: { authorization: `Bearer ${CLIENT_API_KEY}`, ...headers },
        ...rest,
    });
    gw.chat = (body, { prefix = '/v1/', ...rest } = {}) =>
        gw.call('POST', `${prefix}chat/completions`, { body, ...rest });
    gw.openai = (clientOptions = {}) => new OpenAI({
        baseURL: `${gw.url}/v1`,
        apiKey: CLIENT_API_KEY,
        maxRetries: 0,
        timeout: 10000,
        ...clientOptions,
    });
    return gw;
}

module.exports = {
    HAIKU_ID, PROFILE_ARN, NOVA_ID, MODELS, CLIENT_API_KEY, ENV_DIRECTIVES, ISOLATION_ENV,
    CREDENTIAL_VARS, CHAIN_VARS,
    TEST_CREDENTIALS,
    credentialsEnv, modelMapDirectives, bedrockLocation, startGateway,
};
