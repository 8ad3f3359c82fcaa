'use strict';

// The README's "Try it" against what `scripts/gateway.sh --fake` runs: the
// standalone fake (t/fake-bedrock-server.js, started as the script starts
// it) behind nginx with the module. A plain call and a streamed one
// ("stream": true) must both answer with the fake's echo.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const OpenAI = require('openai');

const { ENV_DIRECTIVES, credentialsEnv, bedrockLocation } = require('./lib/gateway');
const { startNginx } = require('./lib/nginx');
const { DONE, parseSse, openStream } = require('./lib/sse');

const SERVER = path.join(__dirname, 'fake-bedrock-server.js');
// gateway.sh's mapping of the README's model
const MODEL_ID = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const API_KEY = 'sk-anything';
const QUESTION = 'Name three rivers.';
// what the fake answers, streamed or not
const ECHO = `Fake Bedrock (${MODEL_ID}) heard: ${QUESTION}`;
const ECHO_WORDS = ECHO.split(/\s+/).length;

// Starts `node t/fake-bedrock-server.js 0` and reads the shell assignments
// it prints (FAKE_BEDROCK_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
function startServer() {
    const child = spawn(process.execPath, [SERVER, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const vars = new Promise((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`${SERVER} printed no credentials in 5 s: ${out}${err}`)),
            5000);
        child.stderr.on('data', (c) => { err += c; });
        child.stdout.on('data', (c) => {
            out += c;
            if (/^AWS_SECRET_ACCESS_KEY=.*\n/m.test(out)) {
                clearTimeout(timer);
                resolve(Object.fromEntries(out.split('\n').filter(Boolean).map((line) => {
                    const eq = line.indexOf('=');
                    return [line.slice(0, eq), line.slice(eq + 1)];
                })));
            }
        });
        exited.then((code) => {
            clearTimeout(timer);
            reject(new Error(`${SERVER} exited (${code}): ${out}${err}`));
        });
    });
    return { child, exited, vars };
}

const contentOf = (chunk) => (chunk.choices[0] && chunk.choices[0].delta.content) || '';

describe('try it: scripts/gateway.sh --fake', () => {
    let server;
    let nginx;
    let client;
    let env;

    before(async () => {
        server = startServer();
        env = await server.vars;
        assert.match(env.FAKE_BEDROCK_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
        nginx = await startNginx({
            main: ENV_DIRECTIVES,
            http: [
                'server {',
                '    listen 127.0.0.1:%%PORT%%;',
                bedrockLocation('/v1/', { pass: env.FAKE_BEDROCK_URL, models: { 'gpt-4o': MODEL_ID } }),
                '}',
            ].join('\n'),
            env: credentialsEnv({ accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }),
        });
        client = new OpenAI({ baseURL: `${nginx.url}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 10000 });
    });

    after(async () => {
        try {
            if (nginx) {
                await nginx.stop();
            }
        } finally {
            if (server && server.child.exitCode === null && server.child.signalCode === null) {
                server.child.kill('SIGTERM');
                await server.exited;
            }
        }
    });

    it('a chat completion (openai SDK) answers with the echo', async () => {
        const completion = await client.chat.completions.create({
            model: 'gpt-4o',
            messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: QUESTION }],
            max_tokens: 200,
        });
        assert.equal(completion.choices[0].message.content, ECHO);
        assert.equal(completion.choices[0].finish_reason, 'stop');
        assert.equal(completion.usage.completion_tokens, ECHO_WORDS);
    });

    it('stream: true (openai SDK) streams the same echo word by word, with usage', async () => {
        const stream = await client.chat.completions.create({
            model: 'gpt-4o',
            messages: [{ role: 'user', content: QUESTION }],
            stream: true,
            stream_options: { include_usage: true },
        });
        const chunks = [];
        for await (const chunk of stream) {
            chunks.push(chunk);
        }
        const deltas = chunks.map(contentOf).filter(Boolean);
        assert.ok(deltas.length > 1, `more than one content delta: ${JSON.stringify(deltas)}`);
        assert.equal(deltas.join(''), ECHO);
        assert.deepEqual(chunks.map((c) => c.choices[0] && c.choices[0].finish_reason).filter(Boolean), ['stop']);
        const last = chunks[chunks.length - 1];
        assert.deepEqual(last.choices, [], 'the usage chunk comes last');
        assert.equal(last.usage.prompt_tokens, ECHO_WORDS);
        assert.equal(last.usage.completion_tokens, ECHO_WORDS);
        assert.equal(last.usage.total_tokens, 2 * ECHO_WORDS);
    });

    it('stream: true over raw HTTP is an event stream ending with data: [DONE], spread over time', async () => {
        const stream = openStream(`${nginx.url}/v1/chat/completions`, {
            model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: QUESTION }],
        }, { headers: { authorization: `Bearer ${API_KEY}` } });
        await stream.firstContent();
        const firstAt = performance.now();
        const res = await stream.done;
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers['content-type'], /^text\/event-stream/);
        assert.ok(res.complete, 'the chunked body is terminated');
        const { events, error } = parseSse(res.text);
        assert.equal(error, null);
        assert.equal(events[events.length - 1], DONE);
        const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
        const deltas = chunks.map(contentOf).filter(Boolean);
        assert.ok(deltas.length > 1, `more than one content delta: ${JSON.stringify(deltas)}`);
        assert.equal(deltas.join(''), ECHO);
        assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'stop');
        assert.doesNotMatch(res.text, /"usage"/, 'no usage chunk without include_usage');
        // the fake pauses between words: the rest comes well after the first
        assert.ok(performance.now() - firstAt >= 100, `the words arrived over ${performance.now() - firstAt} ms`);
    });

    const curl = spawnSync('curl', ['--version']).status === 0;
    it('the README\'s curl -N with "stream": true prints the deltas and data: [DONE]', { skip: !curl && 'no curl' },
        async () => {
            const body = JSON.stringify({
                model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: QUESTION }],
            });
            const run = spawn('curl', ['-sSN', `${nginx.url}/v1/chat/completions`,
                '-H', 'Content-Type: application/json', '-H', `Authorization: Bearer ${API_KEY}`, '-d', body]);
            let out = '';
            run.stdout.on('data', (c) => { out += c; });
            run.stderr.on('data', (c) => { out += c; });
            const code = await new Promise((resolve) => run.once('exit', resolve));
            assert.equal(code, 0, out);
            const { events, error } = parseSse(out);
            assert.equal(error, null);
            assert.equal(events[events.length - 1], DONE);
            assert.equal(events.slice(0, -1).map((e) => contentOf(JSON.parse(e))).join(''), ECHO);
        });
});
