'use strict';

// bedrock_token_limit_zone and bedrock_token_limit: tokens per window per
// key, refused in each dialect's shape before Bedrock is called.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { textStream } = require('./lib/eventstream');
const { startGateway, bedrockLocation } = require('./lib/gateway');
const { sleep } = require('./lib/http');
const { startNginx } = require('./lib/nginx');

const USAGE = { inputTokens: 60, outputTokens: 50, totalTokens: 110 };

describe('token limits', () => {
    let gw;
    before(async () => {
        gw = await startGateway({
            http: [
                'bedrock_token_limit_zone zone=teams:1m key=$http_x_team rate=100/m;',
                // per second, so that a window ends within the test
                'bedrock_token_limit_zone zone=fast:1m key=$http_x_team rate=100/s;',
            ].join('\n'),
            server: (fake) => [
                bedrockLocation('/v1/', { pass: fake.url,
                    extra: 'bedrock_token_limit teams; bedrock_native on;' }),
                bedrockLocation('/fast/', { pass: fake.url, extra: 'bedrock_token_limit fast;' }),
            ].join('\n'),
        });
        gw.fake.respond = (rec) => (rec.path.endsWith('-stream')
            ? eventStreamAnswer(textStream(['a', 'b'], { usage: USAGE }))
            : converseAnswer({ text: 'ok', usage: USAGE }));
    });
    after(() => gw && gw.stop());

    const chat = (team, extra = {}, prefix = '/v1/') => gw.chat({ model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }], ...extra }, { prefix, headers: team ? { 'x-team': team } : {} });

    it('refuses a key over its rate with 429 and Retry-After, and does not call Bedrock', async () => {
        let res = await chat('red');
        assert.equal(res.status, 200, res.text);

        const calls = gw.fake.requests.length;
        res = await chat('red');
        assert.equal(res.status, 429, res.text);
        assert.equal(res.json.error.code, 'rate_limit_exceeded');
        assert.equal(res.json.error.type, 'rate_limit_error');
        const retry = Number(res.headers['retry-after']);
        assert.ok(retry >= 55 && retry <= 60, `Retry-After ${retry}`);
        assert.equal(gw.fake.requests.length, calls, 'Bedrock was called');

        // another key is served meanwhile, and no key is never limited
        assert.equal((await chat('blue')).status, 200);
        for (let i = 0; i < 3; i++) {
            assert.equal((await chat(null)).status, 200);
        }

        // the log names the zone, never the key
        const [line] = gw.nginx.errorLog().split('\n')
            .filter((l) => /\[warn\].*the key used its tokens in bedrock_token_limit_zone "teams"/.test(l));
        assert.ok(line, 'no log line for the refusal');
        assert.doesNotMatch(line, /red/, 'the key reached the log');
    });

    it('frees the key when its window has elapsed', async () => {
        assert.equal((await chat('green', {}, '/fast/')).status, 200);
        const res = await chat('green', {}, '/fast/');
        assert.equal(res.status, 429);
        assert.equal(res.headers['retry-after'], '1');
        await sleep(1100);
        assert.equal((await chat('green', {}, '/fast/')).status, 200);
    });

    it('charges a stream from its usage event', async () => {
        const res = await chat('stream', { stream: true });
        assert.equal(res.status, 200);
        assert.match(res.text, /data: \[DONE\]/);
        assert.equal((await chat('stream')).status, 429);
    });

    it('refuses in Anthropic and AWS shapes on those paths', async () => {
        assert.equal((await chat('shapes')).status, 200);

        const messages = await gw.call('POST', '/v1/messages', {
            headers: { 'x-team': 'shapes', 'anthropic-version': '2023-06-01' },
            body: { model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] },
        });
        assert.equal(messages.status, 429, messages.text);
        assert.equal(messages.json.type, 'error');
        assert.equal(messages.json.error.type, 'rate_limit_error');
        assert.ok(Number(messages.headers['retry-after']) >= 1);

        const native = await gw.call('POST', '/v1/model/gpt-4o/converse', {
            headers: { 'x-team': 'shapes' },
            body: { messages: [{ role: 'user', content: [{ text: 'Hi' }] }] },
        });
        assert.equal(native.status, 429, native.text);
        assert.equal(native.headers['x-amzn-errortype'], 'ThrottlingException');
        assert.equal(typeof native.json.message, 'string');
    });
});

// With every socket call failing half the time and moving one byte
// (scripts/eagain.sh), a call takes about 130 ms and 10,000 of them
// outlast the test timeout; 400 still fill the zone (about 190 keys) twice.
const KEYS = process.env.NGINX_LD_PRELOAD ? 400 : 10000;

describe('token limit zones', () => {
    it(`serve ${KEYS} distinct keys within their size, forgetting the oldest`, async () => {
        const gw = await startGateway({
            http: 'bedrock_token_limit_zone zone=small:32k key=$http_x_team rate=100/m;',
            server: (fake) => bedrockLocation('/v1/', { pass: fake.url, extra: 'bedrock_token_limit small;' }),
        });
        try {
            gw.fake.respond = () => converseAnswer({ text: 'ok', usage: USAGE });
            const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] };
            const statuses = new Map();
            let next = 0;
            const worker = async () => {
                while (next < KEYS) {
                    const team = `team-${next++}`;
                    const res = await gw.chat(body, { headers: { 'x-team': team } });
                    statuses.set(res.status, (statuses.get(res.status) || 0) + 1);
                }
            };
            await Promise.all(Array.from({ length: 20 }, worker));
            assert.deepEqual([...statuses], [[200, KEYS]]);

            // the zone still limits: the last key charged is remembered
            const res = await gw.chat(body, { headers: { 'x-team': `team-${KEYS - 1}` } });
            assert.equal(res.status, 429);
            // and the first, forgotten when the zone filled, is served
            assert.equal((await gw.chat(body, { headers: { 'x-team': 'team-0' } })).status, 200);
            assert.doesNotMatch(gw.nginx.errorLog(), /\[(alert|crit|emerg)\]|too small/);
        } finally {
            await gw.stop();
        }
    });

    it('refuses bad directives', async () => {
        const conf = (zone) => ({ http: `${zone}\nserver { listen 127.0.0.1:%%PORT%%; }` });
        await assert.rejects(startNginx(conf('bedrock_token_limit_zone zone=a:1m key=$x rate=10;')),
            /invalid parameter "rate=10"/);
        await assert.rejects(startNginx(conf('bedrock_token_limit_zone zone=a:1m rate=10/m;')),
            /needs zone=, key= and rate=/);
        await assert.rejects(startNginx(conf('bedrock_token_limit_zone zone=a:1k key=$x rate=10/m;')),
            /is too small/);
        await assert.rejects(startNginx({ http: 'server { listen 127.0.0.1:%%PORT%%; bedrock_token_limit nope; }' }),
            /zero size shared memory zone "nope"/);
    });
});
