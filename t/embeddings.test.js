'use strict';

// POST /v1/embeddings over Bedrock's InvokeModel: Amazon Titan Text
// Embeddings v2 and Nova (one text per call, the calls of one request made
// concurrently, a window of 8), Cohere Embed v3 and v4 (96 texts per call).
// Driven by the official openai SDK (which asks for base64 and decodes
// little-endian float32) and LangChain's OpenAIEmbeddings; the fake Bedrock
// checks every call's SigV4 signature and answers in each family's shape.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { awsError } = require('./lib/fake-bedrock');
const { startGateway, CLIENT_API_KEY, HAIKU_ID } = require('./lib/gateway');

const TITAN_ID = 'amazon.titan-embed-text-v2:0';
const COHERE_ID = 'cohere.embed-english-v3';
const COHERE4_ID = 'cohere.embed-v4:0';
const NOVA_ID = 'amazon.nova-2-multimodal-embeddings-v1:0';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A vector for a text, as Bedrock would write it: numbers with many digits.
function vectorOf(text, dims) {
    let h = 0;
    for (const c of text) {
        h = (h * 31 + c.codePointAt(0)) % 100003;
    }
    return Array.from({ length: dims }, (_, i) => Number((((h + i * 7919) % 20000) / 10000 - 1).toFixed(8)));
}

const words = (text) => text.split(/\s+/).filter(Boolean).length;

// Answers every family's InvokeModel body; counts the calls in flight.
function embeddingResponder(fake, { delay = () => 0, fail } = {}) {
    fake.inflight = 0;
    fake.maxInflight = 0;
    return async (record) => {
        fake.inflight += 1;
        fake.maxInflight = Math.max(fake.maxInflight, fake.inflight);
        try {
            await sleep(delay(record));
            if (fail) {
                const answer = fail(record);
                if (answer) {
                    return answer;
                }
            }
            const body = record.json;
            if (record.modelId.startsWith('amazon.titan')) {
                const embedding = vectorOf(body.inputText, body.dimensions || 1024);
                return { status: 200, body: { embedding, inputTextTokenCount: words(body.inputText), embeddingsByType: { float: embedding } } };
            }
            if (record.modelId.startsWith('cohere.')) {
                const dims = body.output_dimension || 1024;
                return {
                    status: 200,
                    headers: { 'x-amzn-bedrock-input-token-count': String(body.texts.map(words).reduce((a, b) => a + b, 0)) },
                    body: {
                        id: 'emb-1', texts: body.texts, response_type: 'embeddings_by_type',
                        embeddings: { float: body.texts.map((t) => vectorOf(t, dims)) },
                    },
                };
            }
            const p = body.singleEmbeddingParams;
            return {
                status: 200,
                body: { embeddings: [{ embeddingType: 'TEXT', embedding: vectorOf(p.text.value, p.embeddingDimension) }] },
            };
        } finally {
            fake.inflight -= 1;
        }
    };
}

function assertClose(got, want) {
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
        assert.equal(got[i], Math.fround(want[i]), `element ${i}`);
    }
}

describe('POST /v1/embeddings', () => {
    let gw;
    let client;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                'location /v1/ {',
                `    bedrock_pass ${fake.url};`,
                '    bedrock_region us-east-1;',
                `    bedrock_model_map titan ${TITAN_ID};`,
                `    bedrock_model_map cohere ${COHERE_ID};`,
                `    bedrock_model_map cohere4 ${COHERE4_ID};`,
                `    bedrock_model_map nova-embed ${NOVA_ID};`,
                `    bedrock_model_map claude ${HAIKU_ID};`,
                '}',
            ].join('\n'),
        });
        client = gw.openai();
    });
    after(() => gw && gw.stop());
    beforeEach(() => {
        gw.fake.reset();
        gw.fake.respond = embeddingResponder(gw.fake);
    });

    it('openai SDK: one text to Titan, base64 decoded to the vector Bedrock sent', async () => {
        const res = await client.embeddings.create({ model: 'titan', input: 'hello there world' });
        assert.equal(res.object, 'list');
        assert.equal(res.model, 'titan');
        assert.equal(res.data.length, 1);
        assert.equal(res.data[0].object, 'embedding');
        assert.equal(res.data[0].index, 0);
        assertClose(res.data[0].embedding, vectorOf('hello there world', 1024));
        assert.deepEqual(res.usage, { prompt_tokens: 3, total_tokens: 3 });

        assert.equal(gw.fake.requests.length, 1);
        const call = gw.fake.requests[0];
        assert.ok(call.authOk);
        assert.equal(call.modelId, TITAN_ID);
        assert.equal(call.op, 'invoke');
        assert.deepEqual(call.json, { inputText: 'hello there world' });
    });

    it('many texts: one call each, at most 8 at a time, answered in input order', async () => {
        gw.fake.respond = embeddingResponder(gw.fake, { delay: () => Math.floor(Math.random() * 25) });
        const input = Array.from({ length: 30 }, (_, i) => `text number ${i}`);
        const res = await client.embeddings.create({ model: 'titan', input, dimensions: 256 });
        assert.equal(res.data.length, 30);
        res.data.forEach((d, i) => {
            assert.equal(d.index, i);
            assertClose(d.embedding, vectorOf(input[i], 256));
        });
        assert.equal(res.usage.prompt_tokens, 90);
        assert.equal(gw.fake.requests.length, 30);
        assert.ok(gw.fake.requests.every((r) => r.json.dimensions === 256));
        assert.ok(gw.fake.maxInflight > 1, `concurrent: ${gw.fake.maxInflight}`);
        assert.ok(gw.fake.maxInflight <= 8, `windowed: ${gw.fake.maxInflight}`);
    });

    it('encoding_format float: the numbers as Bedrock wrote them', async () => {
        const res = await gw.call('POST', '/v1/embeddings', {
            body: { model: 'titan', input: ['a b', 'c'], encoding_format: 'float', normalize: false },
        });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json.data.map((d) => d.embedding), [vectorOf('a b', 1024), vectorOf('c', 1024)]);
        assert.equal(gw.fake.requests[0].json.normalize, false);
    });

    it('Cohere v3: 96 texts a call, input_type search_document, float types', async () => {
        const input = Array.from({ length: 100 }, (_, i) => `doc ${i}`);
        const res = await client.embeddings.create({ model: 'cohere', input });
        assert.equal(res.data.length, 100);
        res.data.forEach((d, i) => assertClose(d.embedding, vectorOf(input[i], 1024)));
        const calls = gw.fake.requests.map((r) => r.json);
        assert.deepEqual(calls.map((c) => c.texts.length).sort((a, b) => b - a), [96, 4]);
        assert.ok(calls.every((c) => c.input_type === 'search_document'));
        assert.ok(calls.every((c) => JSON.stringify(c.embedding_types) === '["float"]'));
        assert.equal(res.usage.prompt_tokens, 200, 'from the token count header');
    });

    it('Cohere v4: dimensions become output_dimension; input_type passes', async () => {
        const res = await gw.call('POST', '/v1/embeddings', {
            body: { model: 'cohere4', input: 'q', dimensions: 512, input_type: 'search_query', encoding_format: 'float' },
        });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.data[0].embedding.length, 512);
        assert.equal(gw.fake.requests[0].json.output_dimension, 512);
        assert.equal(gw.fake.requests[0].json.input_type, 'search_query');
    });

    it('Nova multimodal embeddings: its single-embedding body', async () => {
        const res = await client.embeddings.create({ model: 'nova-embed', input: 'hi', dimensions: 384 });
        assertClose(res.data[0].embedding, vectorOf('hi', 384));
        assert.deepEqual(gw.fake.requests[0].json, {
            schemaVersion: 'nova-multimodal-embed-v1',
            taskType: 'SINGLE_EMBEDDING',
            singleEmbeddingParams: {
                embeddingPurpose: 'GENERIC_INDEX', embeddingDimension: 384,
                text: { truncationMode: 'END', value: 'hi' },
            },
        });
    });

    for (const [name, body, status, param] of [
        ['token arrays', { model: 'titan', input: [1, 2, 3] }, 400, 'input'],
        ['arrays of token arrays', { model: 'titan', input: [[1, 2]] }, 400, 'input'],
        ['an empty string', { model: 'titan', input: '' }, 400, 'input'],
        ['no input', { model: 'titan' }, 400, 'input'],
        ['a chat model', { model: 'claude', input: 'x' }, 400, 'model'],
        ['dimensions Titan lacks', { model: 'titan', input: 'x', dimensions: 300 }, 400, 'dimensions'],
        ['dimensions on Cohere v3', { model: 'cohere', input: 'x', dimensions: 256 }, 400, 'dimensions'],
        ['an unknown encoding_format', { model: 'titan', input: 'x', encoding_format: 'hex' }, 400, 'encoding_format'],
        ['a model outside the map', { model: 'text-embedding-3-small', input: 'x' }, 404, 'model'],
    ]) {
        it(`refuses ${name}: ${status} naming ${param}, without calling Bedrock`, async () => {
            const res = await gw.call('POST', '/v1/embeddings', { body });
            assert.equal(res.status, status, res.text);
            assert.equal(res.json.error.param, param);
            assert.equal(gw.fake.requests.length, 0);
        });
    }

    it('one throttled call fails the request with Bedrock\'s 429, no partial list', async () => {
        gw.fake.respond = embeddingResponder(gw.fake, {
            delay: () => 5,
            fail: (r) => (r.json.inputText === 't3' ? awsError(429, 'ThrottlingException', 'Too many requests.') : null),
        });
        const res = await gw.call('POST', '/v1/embeddings', {
            body: { model: 'titan', input: Array.from({ length: 12 }, (_, i) => `t${i}`) },
        });
        assert.equal(res.status, 429, res.text);
        assert.equal(res.json.error.code, 'rate_limit_exceeded');
        assert.ok(res.headers['retry-after']);
        assert.equal(res.json.data, undefined);

        const sdk = await client.embeddings.create({ model: 'titan', input: 't3' }).catch((e) => e);
        assert.ok(sdk instanceof OpenAIError(), String(sdk));
        assert.equal(sdk.status, 429);
    });

    it('2048 inputs, OpenAI\'s most, are served; 2049 are a 400', async () => {
        // each text's vector is its own number, to keep the bytes few
        const input = Array.from({ length: 2048 }, (_, i) => `${i}`);
        gw.fake.respond = (record) => ({
            status: 200,
            body: { response_type: 'embeddings_by_type', embeddings: { float: record.json.texts.map((t) => [Number(t)]) } },
        });
        const res = await gw.call('POST', '/v1/embeddings', {
            body: { model: 'cohere4', input, encoding_format: 'float' },
            timeoutMs: 60000,
        });
        assert.equal(res.status, 200, res.text.slice(0, 300));
        assert.equal(res.json.data.length, 2048);
        res.json.data.forEach((d, i) => {
            assert.equal(d.index, i);
            assert.deepEqual(d.embedding, [i]);
        });
        assert.equal(gw.fake.requests.length, 22, '2048 texts in calls of 96');

        gw.fake.reset();
        const over = await gw.call('POST', '/v1/embeddings', { body: { model: 'titan', input: [...input, 'x'] } });
        assert.equal(over.status, 400);
        assert.equal(over.json.error.param, 'input');
        assert.equal(gw.fake.requests.length, 0);
    });

    it('an answer that is not an embedding is a 502', async () => {
        gw.fake.respond = () => ({ status: 200, body: { nothing: true } });
        const res = await gw.call('POST', '/v1/embeddings', { body: { model: 'titan', input: ['a', 'b'] } });
        assert.equal(res.status, 502, res.text);
        assert.equal(res.json.error.type, 'server_error');
    });

    it('a client that leaves mid-way: the calls in flight end cleanly, the next request is served', async () => {
        gw.fake.respond = embeddingResponder(gw.fake, { delay: () => 300 });
        const http = require('node:http');
        const req = http.request(`${gw.url}/v1/embeddings`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_API_KEY}` },
        });
        let answered = false;
        req.on('error', () => {});
        req.on('response', () => {
            answered = true;
        });
        req.end(JSON.stringify({ model: 'titan', input: Array.from({ length: 20 }, (_, i) => `x${i}`) }));

        // leave once Bedrock has the first calls, before any is answered
        for (let i = 0; i < 500 && gw.fake.requests.length === 0; i++) {
            await sleep(10);
        }
        req.destroy();
        const started = gw.fake.requests.length;
        assert.ok(started >= 1 && started <= 8, `${started} calls started`);
        await sleep(600);
        assert.equal(answered, false);
        assert.ok(gw.fake.requests.length <= 8, 'no call started after the client left');

        gw.fake.respond = embeddingResponder(gw.fake);
        const res = await client.embeddings.create({ model: 'titan', input: ['after'] });
        assertClose(res.data[0].embedding, vectorOf('after', 1024));
    });

    it('LangChain OpenAIEmbeddings: embedDocuments and embedQuery', async () => {
        const { OpenAIEmbeddings } = await import('@langchain/openai');
        const embeddings = new OpenAIEmbeddings({
            model: 'titan', apiKey: CLIENT_API_KEY, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0,
        });
        const docs = ['alpha beta', 'gamma', 'delta epsilon zeta'];
        const vectors = await embeddings.embedDocuments(docs);
        assert.equal(vectors.length, 3);
        vectors.forEach((v, i) => assertClose(v, vectorOf(docs[i], 1024)));
        const query = await embeddings.embedQuery('what is alpha');
        assertClose(query, vectorOf('what is alpha', 1024));
    });
});

function OpenAIError() {
    return require('openai').APIError;
}
