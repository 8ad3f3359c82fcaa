'use strict';

// Claude Code itself (@anthropic-ai/claude-code, run offline in print mode)
// through the gateway, in both of its modes: the Anthropic API
// (ANTHROPIC_BASE_URL) and Bedrock's (CLAUDE_CODE_USE_BEDROCK with
// ANTHROPIC_BEDROCK_BASE_URL and CLAUDE_CODE_SKIP_BEDROCK_AUTH).

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { eventStreamAnswer } = require('./lib/fake-bedrock');
const { startGateway } = require('./lib/gateway');

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const CLAUDE = path.join(__dirname, 'node_modules', '.bin', 'claude');

function chunk(event) {
    return { event: 'chunk', payload: { bytes: Buffer.from(JSON.stringify(event)).toString('base64') } };
}

// Whatever Claude Code asks, Bedrock answers with one text.
function respond(text) {
    return (req) => {
        if (req.op === 'count-tokens') {
            return { status: 200, body: { inputTokens: 5 } };
        }
        const message = {
            id: 'msg_cc', type: 'message', role: 'assistant', model: 'claude', content: [],
            stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 },
        };
        if (req.op === 'invoke') {
            return { status: 200, body: { ...message, content: [{ type: 'text', text }], stop_reason: 'end_turn' } };
        }
        return eventStreamAnswer([
            chunk({ type: 'message_start', message }),
            chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
            chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
            chunk({ type: 'content_block_stop', index: 0 }),
            chunk({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }),
            chunk({ type: 'message_stop' }),
        ]);
    };
}

function runClaude(env) {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-code-home-'));
    return new Promise((resolve) => {
        const child = execFile(CLAUDE, ['-p', 'Say hello', '--max-turns', '1'], {
            env: {
                PATH: process.env.PATH,
                HOME: home,
                DISABLE_TELEMETRY: '1',
                DISABLE_AUTOUPDATER: '1',
                CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
                ...env,
            },
            timeout: 120000,
        }, (err, stdout, stderr) => {
            fs.rmSync(home, { recursive: true, force: true });
            resolve({ code: err ? err.code : 0, stdout, stderr });
        });
        child.stdin.end();
    });
}

describe('Claude Code through the gateway', { skip: !fs.existsSync(CLAUDE) && 'no claude binary' }, () => {
    let gw;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                'location / {',
                `    bedrock_pass ${fake.url};`,
                '    bedrock_region us-east-1;',
                '    bedrock_native on;',
                '    client_body_buffer_size 1m;',
                `    bedrock_model_map gateway-model ${SONNET};`,
                '}',
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('ANTHROPIC_BASE_URL: /v1/messages becomes InvokeModelWithResponseStream', async () => {
        gw.fake.respond = respond('Hello through Messages');
        const res = await runClaude({
            ANTHROPIC_BASE_URL: gw.url,
            ANTHROPIC_API_KEY: 'sk-ant-client-key',
            ANTHROPIC_MODEL: 'gateway-model',
            ANTHROPIC_SMALL_FAST_MODEL: 'gateway-model',
        });
        assert.equal(res.code, 0, res.stdout + res.stderr);
        assert.match(res.stdout, /Hello through Messages/);

        const calls = gw.fake.requests.filter((r) => r.op === 'invoke-with-response-stream');
        assert.ok(calls.length >= 1, gw.fake.requests.map((r) => r.path).join(', '));
        assert.equal(calls[0].modelId, SONNET);
        assert.equal(calls[0].json.anthropic_version, 'bedrock-2023-05-31');
        assert.ok(!JSON.stringify(calls[0].headers).includes('sk-ant-client-key'));
        // Claude Code's own betas are not Bedrock's: none reaches it
        for (const beta of calls[0].json.anthropic_beta || []) {
            assert.doesNotMatch(beta, /^claude-code-/);
        }
    });

    it('CLAUDE_CODE_USE_BEDROCK: its Bedrock calls are re-signed', async () => {
        gw.fake.respond = respond('Hello through Bedrock');
        const res = await runClaude({
            CLAUDE_CODE_USE_BEDROCK: '1',
            CLAUDE_CODE_SKIP_BEDROCK_AUTH: '1',
            ANTHROPIC_BEDROCK_BASE_URL: gw.url,
            AWS_REGION: 'us-east-1',
            ANTHROPIC_MODEL: SONNET,
            ANTHROPIC_SMALL_FAST_MODEL: SONNET,
        });
        assert.equal(res.code, 0, res.stdout + res.stderr);
        assert.match(res.stdout, /Hello through Bedrock/);

        const calls = gw.fake.requests.filter((r) => r.op === 'invoke-with-response-stream');
        assert.ok(calls.length >= 1, gw.fake.requests.map((r) => r.path).join(', '));
        assert.equal(calls[0].modelId, SONNET);
        assert.match(calls[0].headers.authorization, new RegExp(`Credential=${gw.fake.credentials.accessKeyId}/`));
    });
});
