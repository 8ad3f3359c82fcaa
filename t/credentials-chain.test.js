'use strict';

// The order of the credential provider chain: explicit configuration
// (bedrock_credentials), environment, web identity, shared files,
// container, EC2 instance metadata. Each row sets up two or more sources
// and names the one that must sign the Bedrock call (a keyring label, see
// lib/chain.js). Rows marked `botocore` are also resolved by botocore (the
// AWS SDK for Python) in the same environment, which must pick the same
// source: the table is the SDK's order, not our own idea of it.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { ROLE_ARN, renderIni } = require('./lib/aws-sources');
const { startBench, withChain } = require('./lib/chain');
const { botocorePython, resolveWithBotocore } = require('./lib/botocore');
const { nginxTest } = require('./lib/nginx');
const { ENV_DIRECTIVES, bedrockLocation } = require('./lib/gateway');

// Static keys in the credentials / config file, registered under the labels
// 'credentials-file' and 'config-file'.
const credentialsFile = (b, profile = 'default', options) =>
    b.sharedFiles({ credentials: { [profile]: b.profile('credentials-file', options) } }).env;

// want: the label of what must sign (null: 503 credentials_unavailable);
// logged: what the error log must mention then.
const ORDER = [
    {
        name: 'bedrock_credentials profile= file= beats the environment',
        want: 'explicit',
        setup: (b) => {
            const { paths } = b.sharedFiles({ credentials: { named: b.profile('explicit') } }, 'explicit-');
            return { env: b.envKeys(), http: `bedrock_credentials profile=named file=${paths.credentials};` };
        },
    },
    {
        name: 'bedrock_credentials config= profile= reads [profile NAME], session token included',
        want: 'explicit',
        setup: (b) => {
            const config = { 'profile cfg': b.profile('explicit', { sessionToken: true }) };
            const { paths } = b.sharedFiles({ config }, 'explicit-');
            return {
                env: { ...b.envKeys(), ...b.envBearer() },
                http: `bedrock_credentials profile=cfg config=${paths.config};`,
            };
        },
    },
    {
        name: 'bedrock_credentials file= alone: its [default], not AWS_SHARED_CREDENTIALS_FILE\'s',
        want: 'explicit',
        setup: (b) => {
            const { paths } = b.sharedFiles({ credentials: { default: b.profile('explicit') } }, 'explicit-');
            return { env: credentialsFile(b), http: `bedrock_credentials file=${paths.credentials};` };
        },
    },
    {
        name: 'bedrock_credentials api_key_file= beats every variable',
        want: 'explicit-key',
        setup: (b) => {
            const file = b.write('bedrock-api-key', `${b.bearerKey('explicit-key')}\n`);
            return { env: { ...b.envKeys(), ...b.envBearer() }, http: `bedrock_credentials api_key_file=${file};` };
        },
    },
    {
        name: 'bedrock_credentials api_key_file= content is trimmed of whitespace on both sides',
        want: 'explicit-key',
        setup: (b) => {
            const file = b.write('bedrock-api-key', ` \t${b.bearerKey('explicit-key')} \r\n\n`);
            return { http: `bedrock_credentials api_key_file=${file};` };
        },
    },
    {
        name: 'a profile named by bedrock_credentials that does not exist: no fallback to the environment',
        want: null,
        logged: /nosuchprofile/,
        setup: (b) => {
            const { paths } = b.sharedFiles({ credentials: { default: b.profile('credentials-file') } }, 'explicit-');
            return { env: b.envKeys(), http: `bedrock_credentials profile=nosuchprofile file=${paths.credentials};` };
        },
    },
    {
        name: 'AWS_BEARER_TOKEN_BEDROCK beats the environment keys',
        want: 'env-bearer',
        setup: (b) => ({ env: { ...b.envKeys(), ...b.envBearer() } }),
    },
    {
        name: 'environment keys beat web identity',
        sources: { sts: {} },
        want: 'env',
        botocore: true,
        setup: (b) => ({ env: { ...b.webIdentityEnv(), ...b.envKeys('env', { sessionToken: true }) } }),
    },
    {
        name: 'web identity beats the shared files',
        sources: { sts: {} },
        want: 'sts',
        botocore: true,
        setup: (b) => ({ env: { ...b.webIdentityEnv(), ...credentialsFile(b) } }),
    },
    {
        name: 'the credentials file beats the config file for the same profile',
        want: 'credentials-file',
        botocore: true,
        setup: (b) => ({
            env: b.sharedFiles({
                credentials: { default: b.profile('credentials-file') },
                config: { default: b.profile('config-file') },
            }).env,
        }),
    },
    {
        name: 'AWS_PROFILE picks [profile NAME] of the config file',
        want: 'config-file',
        botocore: true,
        setup: (b) => ({
            env: {
                ...b.sharedFiles({
                    credentials: { default: b.profile('other') },
                    config: { default: b.profile('other'), 'profile dev': b.profile('config-file', { sessionToken: true }) },
                }).env,
                AWS_PROFILE: 'dev',
            },
        }),
    },
    {
        name: 'AWS_PROFILE picks [NAME] of the credentials file',
        want: 'credentials-file',
        botocore: true,
        setup: (b) => ({
            env: {
                ...b.sharedFiles({
                    credentials: { default: b.profile('other'), dev: b.profile('credentials-file') },
                }).env,
                AWS_PROFILE: 'dev',
            },
        }),
    },
    {
        name: 'the default files are $HOME/.aws/credentials and $HOME/.aws/config',
        want: 'home',
        botocore: true,
        setup: (b) => {
            b.write('home/.aws/credentials', renderIni({ default: b.profile('home') }));
            b.write('home/.aws/config', renderIni({ default: { region: 'us-east-1' } }));
            return {
                env: { HOME: path.join(b.dir, 'home'), AWS_SHARED_CREDENTIALS_FILE: undefined, AWS_CONFIG_FILE: undefined },
            };
        },
    },
    {
        name: 'a role_arn + web_identity_token_file profile is exchanged at STS',
        sources: { sts: {} },
        want: 'sts',
        botocore: true,
        setup: (b) => {
            const { file } = b.writeWebIdentityToken('profile-token');
            const config = {
                'profile irsa': { role_arn: ROLE_ARN, web_identity_token_file: file, role_session_name: 'from-profile' },
            };
            return { env: { ...b.sharedFiles({ config }).env, ...b.stsEndpointEnv(), AWS_PROFILE: 'irsa' } };
        },
        check: (b) => {
            assert.equal(b.sts.last.params.get('RoleSessionName'), 'from-profile');
            assert.equal(b.sts.last.params.get('WebIdentityToken'), b.webIdentityToken);
        },
    },
    {
        name: 'the shared files beat the container endpoint',
        sources: { container: {} },
        want: 'credentials-file',
        botocore: true,
        setup: (b) => ({ env: { ...b.containerEnv(), ...credentialsFile(b) } }),
    },
    {
        name: 'the container endpoint beats IMDS',
        sources: { container: { authToken: 'ngx-test-container-token-0123456789' }, imds: {} },
        want: 'container',
        botocore: true,
        setup: (b) => ({ env: { ...b.containerEnv(), ...b.imdsEnv() } }),
    },
    {
        name: 'IMDS comes last',
        sources: { imds: {} },
        want: 'imds',
        botocore: true,
        setup: (b) => ({ env: b.imdsEnv() }),
    },
    {
        name: 'AWS_EC2_METADATA_DISABLED=true turns IMDS off',
        sources: { imds: {} },
        want: null,
        botocore: true,
        setup: (b) => ({ env: { ...b.imdsEnv(), AWS_EC2_METADATA_DISABLED: 'true' } }),
    },
    {
        name: 'a credential_process profile is not supported, and says so',
        want: null,
        logged: /credential_process/,
        setup: (b) => ({
            env: { ...b.sharedFiles({ config: { 'profile proc': { credential_process: '/bin/false' } } }).env, AWS_PROFILE: 'proc' },
        }),
    },
    {
        name: 'a source_profile assume-role profile is not supported, and says so',
        want: null,
        logged: /source_profile/,
        setup: (b) => ({
            env: {
                ...b.sharedFiles({
                    config: {
                        'profile base': b.profile('base'),
                        'profile chained': { role_arn: ROLE_ARN, source_profile: 'base' },
                    },
                }).env,
                AWS_PROFILE: 'chained',
            },
        }),
    },
    {
        name: 'an SSO profile is not supported, and says so',
        want: null,
        logged: /sso/i,
        setup: (b) => ({
            env: {
                ...b.sharedFiles({
                    config: {
                        'profile sso': { sso_session: 'corp', sso_account_id: '123456789012', sso_role_name: 'Dev' },
                        'sso-session corp': { sso_start_url: 'https://example.awsapps.com/start', sso_region: 'us-east-1' },
                    },
                }).env,
                AWS_PROFILE: 'sso',
            },
        }),
    },
];

// Every fake but the winner's must have seen no request at all.
function assertOthersUntouched(b, want) {
    const winner = want && want.split('#')[0];
    for (const [name, src] of Object.entries(b.sources)) {
        if (name !== winner) {
            assert.equal(src.requests.length, 0, `${name} must not be consulted when ${want || 'nothing'} applies`);
        }
    }
}

describe('credential chain order, nginx', () => {
    for (const row of ORDER) {
        it(row.name, () => withChain(row.sources, async (b) => {
            await b.start(row.setup(b));
            const res = await b.ask();
            if (row.want) {
                b.assertServedBy(res, row.want);
            } else {
                b.assertUnavailable(res);
                if (row.logged) {
                    b.assertLogged(row.logged, 'the reason there are no credentials');
                }
            }
            assertOthersUntouched(b, row.want);
            if (row.check) {
                row.check(b);
            }
        }));
    }
});

describe('credential chain order, botocore agrees', async () => {
    const skip = !(await botocorePython()) && 'python3 with botocore is not installed';
    for (const row of ORDER.filter((r) => r.botocore)) {
        it(row.name, { skip }, async () => {
            const b = await startBench(row.sources);
            try {
                const got = await resolveWithBotocore(b.fullEnv(row.setup(b).env));
                assert.ok(!got.error, JSON.stringify(got));
                const entry = got.accessKeyId && b.keyring.byKeyId.get(got.accessKeyId);
                const label = entry ? entry.label.split('#')[0] : null;
                assert.equal(label, row.want, `botocore used ${got.method}`);
                assertOthersUntouched(b, row.want);
            } finally {
                await b.stop();
            }
        });
    }
});

describe('bedrock_credentials syntax', () => {
    const test = (http) => nginxTest({
        main: ENV_DIRECTIVES,
        http: `${http}\nserver {\n    listen 127.0.0.1:%%PORT%%;\n${bedrockLocation('/v1/', { pass: 'http://127.0.0.1:9' })}\n}`,
    });

    it('accepts both forms at http level', async () => {
        for (const line of ['bedrock_credentials profile=p file=/tmp/c config=/tmp/f;',
            'bedrock_credentials api_key_file=/dev/null;']) {
            const { code, stderr } = await test(line);
            assert.equal(code, 0, `${line}\n${stderr}`);
        }
    });

    it('rejects an unknown parameter', async () => {
        const { code, stderr } = await test('bedrock_credentials token=abc;');
        assert.notEqual(code, 0, stderr);
        assert.match(stderr, /bedrock_credentials|"token=abc"/);
    });

    it('takes api_key_file= alone', async () => {
        const { code, stderr } = await test('bedrock_credentials api_key_file=/dev/null profile=p;');
        assert.notEqual(code, 0, stderr);
        assert.match(stderr, /bedrock_credentials/);
    });

    it('is not allowed in a server block', async () => {
        const { code, stderr } = await nginxTest({
            main: ENV_DIRECTIVES,
            http: `server {\n    listen 127.0.0.1:%%PORT%%;\n    bedrock_credentials profile=p;\n}`,
        });
        assert.notEqual(code, 0, stderr);
        assert.match(stderr, /bedrock_credentials/);
    });
});
