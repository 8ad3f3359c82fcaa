'use strict';

// Bedrock's own REST API through the gateway (bedrock_native on), driven by
// the official @aws-sdk/client-bedrock-runtime signing with dummy keys: the
// gateway drops the client's signature, re-signs with its own credentials
// (the fake checks them with AWS's signer), enforces the map and the
// guardrail, and passes answers and event streams back byte for byte.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const {
    BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand,
    InvokeModelWithResponseStreamCommand, CountTokensCommand,
} = require('@aws-sdk/client-bedrock-runtime');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const { awsError, converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock, encodeFrame } = require('./lib/eventstream');
const { startGateway, HAIKU_ID, NOVA_ID } = require('./lib/gateway');
const { sleep } = require('./lib/http');

const DUMMY = { accessKeyId: 'AKIDDUMMYCLIENT', secretAccessKey: 'dummy-client-secret-do-not-forward' };
const APP_ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';

function rawPost(url, body) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
            res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
    });
}

function chunk(event) {
    return { event: 'chunk', payload: { bytes: Buffer.from(JSON.stringify(event)).toString('base64') } };
}

function location(prefix, fake, extra = '') {
    return [
        `location ${prefix} {`,
        `    bedrock_pass ${fake.url};`,
        '    bedrock_region us-east-1;',
        `    bedrock_model_map haiku ${HAIKU_ID};`,
        `    bedrock_model_map fast ${NOVA_ID};`,
        `    bedrock_model_map app ${APP_ARN} claude;`,
        extra,
        '}',
    ].join('\n');
}

describe('the AWS SDK through bedrock_native', () => {
    let gw;
    let client;

    before(async () => {
        gw = await startGateway({
            http: "log_format native '$bedrock_model_id|$bedrock_input_tokens|$bedrock_output_tokens';",
            server: (fake) => [
                'access_log %%DIR%%/native.log native;',
                location('/bedrock/', fake, 'bedrock_native on;'),
                location('/guarded/', fake, 'bedrock_native on; bedrock_guardrail gr-native 3;'),
                location('/off/', fake),
            ].join('\n'),
        });
        client = (prefix = '/bedrock') => new BedrockRuntimeClient({
            region: 'us-east-1',
            endpoint: `${gw.url}${prefix}`,
            credentials: DUMMY,
            requestHandler: new NodeHttpHandler(),
            maxAttempts: 1,
        });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    function assertResigned(req) {
        const headers = JSON.stringify(req.headers);
        assert.ok(!headers.includes(DUMMY.accessKeyId), 'the client key reached Bedrock');
        assert.match(req.headers.authorization, new RegExp(`Credential=${gw.fake.credentials.accessKeyId}/`));
        assert.equal(req.headers['amz-sdk-invocation-id'], undefined);
        assert.equal(req.headers['x-amz-content-sha256'], undefined);
    }

    it('ConverseCommand by alias: the body unchanged, the answer as Bedrock sent it', async () => {
        gw.fake.respond = () => converseAnswer({ text: 'native hello',
            usage: { inputTokens: 13, outputTokens: 4, totalTokens: 17 } });

        const res = await client().send(new ConverseCommand({
            modelId: 'fast',
            messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
            inferenceConfig: { maxTokens: 20 },
        }));

        assert.equal(res.output.message.content[0].text, 'native hello');
        assert.equal(res.usage.inputTokens, 13);
        assert.ok(res.$metadata.requestId);

        const req = gw.fake.requests[0];
        assert.equal(req.modelId, NOVA_ID);
        assert.equal(req.op, 'converse');
        assert.deepEqual(req.json, { messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
            inferenceConfig: { maxTokens: 20 } });
        assertResigned(req);
        assert.ok(!gw.nginx.errorLog().includes(DUMMY.secretAccessKey));

        await sleep(50);
        assert.match(gw.nginx.accessLog('native.log'), new RegExp(`${NOVA_ID.replace(/\./g, '\\.')}\\|13\\|4`));
    });

    it('the full id, raw ":" and an ARN with "%2F" are accepted; bytes go on as sent', async () => {
        gw.fake.respond = () => converseAnswer();
        const body = '{"messages":[{"role":"user","content":[{"text":"raw  spacing"}]}]}';

        for (const id of [encodeURIComponent(HAIKU_ID), HAIKU_ID, encodeURIComponent(APP_ARN)]) {
            gw.fake.reset();
            const res = await gw.call('POST', `/bedrock/model/${id}/converse`,
                { body, headers: { 'content-type': 'application/json', authorization: 'AWS4-HMAC-SHA256 Credential=AKIDDUMMYCLIENT/x' } });
            assert.equal(res.status, 200, `${id}: ${res.text}`);
            const req = gw.fake.requests[0];
            assert.equal(req.modelId, decodeURIComponent(id));
            assert.equal(req.body.toString(), body);
            assertResigned(req);
        }
    });

    it('a model outside the map is AccessDeniedException, and Bedrock is not called', async () => {
        await assert.rejects(client().send(new ConverseCommand({
            modelId: 'anthropic.claude-opus-4-20250514-v1:0',
            messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
        })), (err) => {
            assert.equal(err.name, 'AccessDeniedException');
            assert.equal(err.$metadata.httpStatusCode, 403);
            return true;
        });
        await assert.rejects(client().send(new InvokeModelCommand({ modelId: 'meta.llama3-8b-instruct-v1:0', body: '{}' })),
            (err) => err.name === 'AccessDeniedException');
        assert.equal(gw.fake.requests.length, 0);
    });

    it('ConverseStreamCommand: the event stream is passed through', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(), bedrock.text(0, 'Stre'), bedrock.text(0, 'amed'), bedrock.blockStop(0),
            bedrock.messageStop('end_turn'), bedrock.metadata({ inputTokens: 8, outputTokens: 2, totalTokens: 10 }),
        ], { split: 'random', seed: 11 });

        const res = await client().send(new ConverseStreamCommand({
            modelId: 'fast', messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
        }));
        let text = '';
        let usage = null;
        for await (const ev of res.stream) {
            if (ev.contentBlockDelta) {
                text += ev.contentBlockDelta.delta.text;
            }
            if (ev.metadata) {
                usage = ev.metadata.usage;
            }
        }
        assert.equal(text, 'Streamed');
        assert.equal(usage.outputTokens, 2);
        assert.equal(gw.fake.requests[0].op, 'converse-stream');
        assertResigned(gw.fake.requests[0]);

        await sleep(50);
        assert.match(gw.nginx.accessLog('native.log'), /\|8\|2/);
    });

    it('the stream bytes reach the client exactly as Bedrock wrote them', async () => {
        const frames = [bedrock.messageStart(), bedrock.text(0, 'exact'), bedrock.messageStop('end_turn'),
            bedrock.metadata()];
        gw.fake.respond = () => eventStreamAnswer(frames, { split: 'byte' });
        const res = await rawPost(`${gw.url}/bedrock/model/fast/converse-stream`, '{"messages":[]}');
        assert.equal(res.status, 200);
        assert.match(res.headers['content-type'], /vnd\.amazon\.eventstream/);
        assert.ok(res.body.equals(Buffer.concat(frames.map(encodeFrame))), 'the bytes differ');
    });

    it('InvokeModelCommand and InvokeModelWithResponseStreamCommand for Claude', async () => {
        const message = { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'inv' }],
            stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 1 } };
        gw.fake.respond = () => ({ status: 200, body: message,
            headers: { 'X-Amzn-Bedrock-Input-Token-Count': '5', 'X-Amzn-Bedrock-Output-Token-Count': '1' } });
        const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 10,
            messages: [{ role: 'user', content: 'Hi' }] });

        const res = await client().send(new InvokeModelCommand({ modelId: 'haiku', body, contentType: 'application/json' }));
        assert.deepEqual(JSON.parse(Buffer.from(res.body).toString()), message);
        assert.equal(gw.fake.requests[0].body.toString(), body);
        assert.equal(gw.fake.requests[0].op, 'invoke');
        assertResigned(gw.fake.requests[0]);

        gw.fake.reset();
        gw.fake.respond = () => eventStreamAnswer([
            chunk({ type: 'message_start', message: { ...message, content: [] } }),
            chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'chunked' } }),
            chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 5, outputTokenCount: 3 } }),
        ]);
        const stream = await client().send(new InvokeModelWithResponseStreamCommand({ modelId: 'haiku', body }));
        const events = [];
        for await (const ev of stream.body) {
            events.push(JSON.parse(Buffer.from(ev.chunk.bytes).toString()));
        }
        assert.deepEqual(events.map((e) => e.type), ['message_start', 'content_block_delta', 'message_stop']);
        assert.equal(events[1].delta.text, 'chunked');
        assert.equal(gw.fake.requests[0].op, 'invoke-with-response-stream');
    });

    it('CountTokensCommand goes to count-tokens unchanged', async () => {
        gw.fake.respond = () => ({ status: 200, body: { inputTokens: 21 } });
        const res = await client().send(new CountTokensCommand({
            modelId: 'haiku',
            input: { converse: { messages: [{ role: 'user', content: [{ text: 'count' }] }] } },
        }));
        assert.equal(res.inputTokens, 21);
        assert.equal(gw.fake.requests[0].op, 'count-tokens');
        assert.deepEqual(gw.fake.requests[0].json,
            { input: { converse: { messages: [{ role: 'user', content: [{ text: 'count' }] }] } } });
    });

    it('Bedrock errors keep their status and name', async () => {
        gw.fake.respond = () => awsError(429, 'ThrottlingException', 'Too many requests');
        await assert.rejects(client().send(new ConverseCommand({
            modelId: 'fast', messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
        })), (err) => err.name === 'ThrottlingException' && err.$metadata.httpStatusCode === 429);

        gw.fake.respond = () => awsError(400, 'ValidationException', 'The model returned the following errors: bad');
        await assert.rejects(client().send(new ConverseCommand({
            modelId: 'fast', messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
        })), (err) => err.name === 'ValidationException' && /following errors: bad/.test(err.message));
    });

    it('the guardrail is enforced: guardrailConfig replaced, InvokeModel headers set', async () => {
        gw.fake.respond = () => converseAnswer();
        await client('/guarded').send(new ConverseCommand({
            modelId: 'fast', messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
            guardrailConfig: { guardrailIdentifier: 'client-own', guardrailVersion: 'DRAFT' },
        }));
        assert.deepEqual(gw.fake.requests[0].json.guardrailConfig,
            { guardrailIdentifier: 'gr-native', guardrailVersion: '3' });

        gw.fake.reset();
        gw.fake.respond = () => ({ status: 200, body: { id: 'm', type: 'message', content: [] } });
        await client('/guarded').send(new InvokeModelCommand({ modelId: 'haiku', body: '{"max_tokens":1}' }));
        assert.equal(gw.fake.requests[0].headers['x-amzn-bedrock-guardrailidentifier'], 'gr-native');
        assert.equal(gw.fake.requests[0].headers['x-amzn-bedrock-guardrailversion'], '3');
    });

    it('without bedrock_native the paths are unknown', async () => {
        const res = await gw.call('POST', `/off/model/fast/converse`, { body: '{}' });
        assert.equal(res.status, 404);
        assert.equal(res.json.error.code, 'unknown_url');
        assert.equal(gw.fake.requests.length, 0);
    });
});
