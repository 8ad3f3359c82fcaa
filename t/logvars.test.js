'use strict';

// $bedrock_* variables in access logs.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { textStream } = require('./lib/eventstream');
const { startGateway, bedrockLocation, HAIKU_ID, NOVA_ID } = require('./lib/gateway');
const { sleep } = require('./lib/http');

const VARIABLES = [
    'bedrock_model', 'bedrock_model_id', 'bedrock_input_tokens', 'bedrock_output_tokens',
    'bedrock_cache_read_tokens', 'bedrock_cache_write_tokens', 'bedrock_stop_reason',
    'bedrock_request_id',
];
const LOG_FORMAT = `log_format bedrock '${VARIABLES.map((v) => `$${v}`).join('|')}';`;

// The access log is written after the response went out: poll for it.
async function waitForLines(read, count) {
    for (let i = 0; i < 100; i++) {
        const lines = read().split('\n').filter(Boolean);
        if (lines.length >= count) {
            return lines;
        }
        await sleep(20);
    }
    throw new Error(`access log has fewer than ${count} lines:\n${read()}`);
}

describe('log variables', () => {
    let gw;
    before(async () => {
        gw = await startGateway({
            http: LOG_FORMAT,
            server: (fake) => [
                'access_log %%DIR%%/bedrock.log bedrock;',
                bedrockLocation('/v1/', { pass: fake.url }),
            ].join('\n'),
        });
    });
    after(() => gw && gw.stop());

    it('logs model, id, token counts, stop reason and the Bedrock request id', async () => {
        const requestId = '0f6c3b8e-2d5a-4c1e-9b7f-3a2e1d0c9b8a';
        gw.fake.respond = () => converseAnswer({
            stopReason: 'max_tokens',
            usage: {
                inputTokens: 21,
                outputTokens: 8,
                totalTokens: 36,
                cacheReadInputTokens: 4,
                cacheWriteInputTokens: 3,
            },
            headers: { 'x-amzn-RequestId': requestId },
        });
        const res = await gw.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
        assert.equal(res.status, 200, res.text);

        const [line] = await waitForLines(() => gw.nginx.accessLog('bedrock.log'), 1);
        assert.equal(line, ['gpt-4o', HAIKU_ID, '21', '8', '4', '3', 'max_tokens', requestId].join('|'));
    });

    it('logs the same for Anthropic Messages: a Claude stream and a Converse answer', async () => {
        const chunk = (event) => ({ event: 'chunk',
            payload: { bytes: Buffer.from(JSON.stringify(event)).toString('base64') } });
        const before = gw.nginx.accessLog('bedrock.log').split('\n').filter(Boolean).length;

        gw.fake.respond = () => eventStreamAnswer([
            chunk({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', content: [],
                usage: { input_tokens: 6, output_tokens: 1, cache_read_input_tokens: 2 } } }),
            chunk({ type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 9 } }),
            chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 7, outputTokenCount: 10 } }),
        ], { headers: { 'x-amzn-RequestId': 'req-claude-stream' } });
        let res = await gw.call('POST', '/v1/messages', { body: { model: 'gpt-4o', max_tokens: 10, stream: true,
            messages: [{ role: 'user', content: 'Hi' }] } });
        assert.equal(res.status, 200, res.text);

        gw.fake.respond = () => converseAnswer({ stopReason: 'end_turn',
            usage: { inputTokens: 31, outputTokens: 5, totalTokens: 36 }, headers: { 'x-amzn-RequestId': 'req-nova' } });
        res = await gw.call('POST', '/v1/messages', { body: { model: 'fast', max_tokens: 10,
            messages: [{ role: 'user', content: 'Hi' }] } });
        assert.equal(res.status, 200, res.text);

        const lines = (await waitForLines(() => gw.nginx.accessLog('bedrock.log'), before + 2)).slice(before);
        assert.equal(lines[0], ['gpt-4o', HAIKU_ID, '7', '10', '2', '0', 'max_tokens', 'req-claude-stream'].join('|'));
        assert.equal(lines[1], ['fast', NOVA_ID, '31', '5', '0', '0', 'end_turn', 'req-nova'].join('|'));
    });

    it('leaves a debug trail: the response states, each event, the end', async () => {
        const mark = gw.nginx.errorLog().length;
        gw.fake.respond = () => converseAnswer({ stopReason: 'end_turn',
            usage: { inputTokens: 3, outputTokens: 2, totalTokens: 5 } });
        assert.equal((await gw.chat({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] })).status, 200);
        gw.fake.respond = () => eventStreamAnswer(textStream(['a', 'b'],
            { stopReason: 'max_tokens', usage: { inputTokens: 7, outputTokens: 2, totalTokens: 9 } }));
        const res = await gw.chat({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
        assert.match(res.text, /data: \[DONE\]/);
        await sleep(50);

        const trail = gw.nginx.errorLog().slice(mark).split('\n')
            .filter((l) => / \[debug\] .* bedrock /.test(l)).map((l) => l.replace(/^.*?\*\d+ /, ''));
        const expect = [
            /^bedrock model "fast" is "/,
            /^bedrock request: POST \/model\/.*\/converse, \d+ bytes of JSON/,
            /^bedrock response state: headers, status 200/,
            /^bedrock response state: body, buffered, length \d+/,
            /^bedrock answer translated: rc 0, \d+ bytes in, \d+ out, stop reason "end_turn"/,
            /^bedrock response state: body, an event stream/,
            /^bedrock stream start: converse-stream/,
            /^bedrock stream message: event "messageStart"/,
            /^bedrock stream message: event "contentBlockDelta"/,
            /^bedrock stream message: event "messageStop"/,
            /^bedrock stream message: event "metadata"/,
            /^bedrock stream finish: clean/,
            /^bedrock stream end: stop reason "max_tokens", tokens 7 in, 2 out/,
        ];
        let at = 0;
        for (const re of expect) {
            const found = trail.findIndex((l, i) => i >= at && re.test(l));
            assert.ok(found >= 0, `no ${re} after line ${at} of the trail:\n${trail.join('\n')}`);
            at = found + 1;
        }
    });
});
