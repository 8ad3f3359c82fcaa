'use strict';

// Real Responses API clients through the gateway, against the fake
// Bedrock: the Vercel AI SDK (ai + @ai-sdk/openai, whose default provider
// call speaks /responses) and Codex CLI (codex exec with a custom provider
// whose base_url is the gateway). Each test checks what the client got and
// what Bedrock was asked.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock, textStream } = require('./lib/eventstream');
const { startGateway, CLIENT_API_KEY, NOVA_ID } = require('./lib/gateway');

const CODEX = path.join(__dirname, 'node_modules', '.bin', 'codex');

describe('Responses API clients', () => {
    let gw;
    let ai;
    let openaiProvider;

    before(async () => {
        gw = await startGateway({
            server: (fake) => `location /v1/ { bedrock_pass ${fake.url}; bedrock_region us-east-1; ` +
                `bedrock_model_map nova ${NOVA_ID}; }`,
        });
        ai = await import('ai');
        const { createOpenAI } = await import('@ai-sdk/openai');
        openaiProvider = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_API_KEY });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('Vercel AI SDK generateText with the default provider call', async () => {
        gw.fake.respond = () => converseAnswer({ text: 'Hello from Nova.' });

        const result = await ai.generateText({ model: openaiProvider('nova'), system: 'Be brief.', prompt: 'Hi' });

        assert.equal(result.text, 'Hello from Nova.');
        assert.equal(result.finishReason, 'stop');
        assert.equal(result.usage.outputTokens, 5);
        assert.equal(gw.fake.requests.length, 1);
        assert.equal(gw.fake.requests[0].op, 'converse');
        // the id is a Responses one: the provider called /responses
        assert.match(result.response.id, /^resp_/);
        assert.deepEqual(gw.fake.requests[0].json.messages, [{ role: 'user', content: [{ text: 'Hi' }] }]);
        assert.deepEqual(gw.fake.requests[0].json.system, [{ text: 'Be brief.' }]);
    });

    it('Vercel AI SDK streamText, and tools over two steps', async () => {
        gw.fake.respond = () => eventStreamAnswer(textStream(['Str', 'eam', 'ed.']), { split: 'random', seed: 4 });
        const streamed = ai.streamText({ model: openaiProvider('nova'), prompt: 'Hi' });
        let text = '';
        for await (const piece of streamed.textStream) {
            text += piece;
        }
        assert.equal(text, 'Streamed.');
        assert.equal(await streamed.finishReason, 'stop');
        assert.equal(gw.fake.requests[0].op, 'converse-stream');

        gw.fake.reset();
        let calls = 0;
        gw.fake.respond = () => (++calls === 1
            ? converseAnswer({
                content: [{ toolUse: { toolUseId: 'tooluse_v', name: 'weather', input: { city: 'Lima' } } }],
                stopReason: 'tool_use',
            })
            : converseAnswer({ text: 'It is 19 degrees in Lima.' }));

        const seen = [];
        const result = await ai.generateText({
            model: openaiProvider('nova'),
            prompt: 'Weather in Lima?',
            tools: {
                weather: ai.tool({
                    description: 'The weather in a city',
                    inputSchema: ai.jsonSchema({ type: 'object', properties: { city: { type: 'string' } },
                        required: ['city'], additionalProperties: false }),
                    execute: async ({ city }) => { seen.push(city); return { city, celsius: 19 }; },
                }),
            },
            stopWhen: ai.stepCountIs(3),
        });

        assert.deepEqual(seen, ['Lima']);
        assert.equal(result.text, 'It is 19 degrees in Lima.');
        assert.equal(gw.fake.requests.length, 2);
        const first = gw.fake.requests[0].json;
        assert.equal(first.toolConfig.tools[0].toolSpec.name, 'weather');
        const second = gw.fake.requests[1].json.messages;
        assert.deepEqual(second[1], { role: 'assistant',
            content: [{ toolUse: { toolUseId: 'tooluse_v', name: 'weather', input: { city: 'Lima' } } }] });
        assert.equal(second[2].role, 'user');
        assert.equal(second[2].content[0].toolResult.toolUseId, 'tooluse_v');
        assert.deepEqual(JSON.parse(second[2].content[0].toolResult.content[0].text), { city: 'Lima', celsius: 19 });
    });

    it('Codex CLI: codex exec runs a tool call the model asked for and finishes the turn', async () => {
        const marker = `marker-${process.pid}-${Date.now()}`;
        let calls = 0;
        gw.fake.respond = () => (++calls === 1
            ? eventStreamAnswer([
                bedrock.messageStart(),
                bedrock.toolStart(0, 'tooluse_codex', 'exec_command'),
                bedrock.toolInput(0, JSON.stringify({ cmd: `echo ${marker}` })),
                bedrock.blockStop(0),
                bedrock.messageStop('tool_use'),
                bedrock.metadata(),
            ])
            : eventStreamAnswer(textStream(['All ', 'done.'])));

        // Codex offers a hosted web_search tool and a "namespace" of
        // sub-agent tools unless told not to: Bedrock has neither
        const home = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-home-'));
        const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-work-'));
        fs.writeFileSync(path.join(home, 'config.toml'), [
            'model = "nova"',
            'model_provider = "gateway"',
            'web_search = "disabled"',
            '[model_providers.gateway]',
            'name = "nginx bedrock gateway"',
            `base_url = "${gw.url}/v1"`,
            'env_key = "GATEWAY_API_KEY"',
            'wire_api = "responses"',
            '[features]',
            'multi_agent = false',
            '',
        ].join('\n'));

        const { code, stdout, stderr } = await new Promise((resolve, reject) => {
            const child = spawn(CODEX, ['exec', '--skip-git-repo-check', '--sandbox', 'danger-full-access',
                'Say hello, using a shell command'], {
                cwd: work,
                env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, GATEWAY_API_KEY: CLIENT_API_KEY },
                stdio: ['ignore', 'pipe', 'pipe'],
            });
            let out = '';
            let err = '';
            const timer = setTimeout(() => child.kill('SIGKILL'), 90000);
            child.stdout.on('data', (d) => { out += d; });
            child.stderr.on('data', (d) => { err += d; });
            child.on('error', reject);
            child.on('close', (c) => { clearTimeout(timer); resolve({ code: c, stdout: out, stderr: err }); });
        });
        fs.rmSync(home, { recursive: true, force: true });
        fs.rmSync(work, { recursive: true, force: true });

        assert.equal(code, 0, stderr);
        assert.match(stdout, /All done\./);
        assert.equal(gw.fake.requests.length, 2, stderr);

        const [first, second] = gw.fake.requests;
        assert.equal(first.op, 'converse-stream');
        assert.equal(first.modelId, NOVA_ID);
        assert.ok(first.json.system.length > 0, 'Codex instructions reach Converse system');
        assert.ok(first.json.toolConfig.tools.some((t) => t.toolSpec.name === 'exec_command'));

        // the second turn carries the call and the command's real output
        const turns = second.json.messages;
        const call = turns.find((m) => m.role === 'assistant').content.find((b) => b.toolUse);
        assert.deepEqual(call.toolUse, { toolUseId: 'tooluse_codex', name: 'exec_command', input: { cmd: `echo ${marker}` } });
        const result = turns.at(-1).content.find((b) => b.toolResult);
        assert.equal(result.toolResult.toolUseId, 'tooluse_codex');
        assert.match(result.toolResult.content[0].text, new RegExp(marker));
    });
});
