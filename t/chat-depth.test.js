'use strict';

// Chat Completions at full depth: structured output (response_format
// json_schema, strict tools), reasoning_effort and the signed reasoning
// round trip (thinking_blocks), prompt caching (cache_control and the
// bedrock_cache_point directive), service tiers and bedrock_latency, and
// file parts as Converse documents. Each is checked on what the fake
// Bedrock received (signature checked by AWS's signer) and on what the
// clients (the openai SDK, Vercel AI SDK, LangChain) made of the answer.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { z } = require('zod');
const { zodResponseFormat } = require('openai/helpers/zod');

const { converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock } = require('./lib/eventstream');
const { startGateway, CLIENT_API_KEY, HAIKU_ID, NOVA_ID } = require('./lib/gateway');

const SONNET_ID = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const GPT_OSS_ID = 'openai.gpt-oss-120b-1:0';
const LLAMA_ID = 'meta.llama3-70b-instruct-v1:0';
const PDF = Buffer.from('%PDF-1.4\n%fake document\n').toString('base64');
const USER = [{ role: 'user', content: 'Hi' }];

function location(fake, prefix, extra = '') {
    return [
        `location ${prefix} {`,
        `    bedrock_pass ${fake.url};`,
        '    bedrock_region us-east-1;',
        `    bedrock_model_map claude ${SONNET_ID};`,
        `    bedrock_model_map haiku ${HAIKU_ID};`,
        `    bedrock_model_map nova ${NOVA_ID};`,
        `    bedrock_model_map gpt-oss ${GPT_OSS_ID};`,
        `    bedrock_model_map llama ${LLAMA_ID};`,
        extra,
        '}',
    ].join('\n');
}

function assertInvalid(res, param) {
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.equal(res.json.error.param, param, res.text);
}

// The content blocks of the Converse message `i` the fake received.
function sentBlocks(gw, i) {
    return gw.fake.requests[0].json.messages[i].content;
}

describe('chat completions at full depth', () => {
    let gw;
    let client;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                location(fake, '/v1/'),
                location(fake, '/cached/v1/', '    bedrock_cache_point system tools messages;'),
                location(fake, '/fast/v1/', '    bedrock_latency optimized;'),
            ].join('\n'),
        });
        client = gw.openai();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    describe('structured output', () => {
        const Weather = z.object({ city: z.string(), celsius: z.number() });

        it('chat.completions.parse: json_schema becomes outputConfig.textFormat, the answer parses', async () => {
            gw.fake.respond = () => converseAnswer({ text: '{"city":"Paris","celsius":21}' });
            const completion = await client.chat.completions.parse({
                model: 'claude',
                messages: [{ role: 'user', content: 'Weather in Paris?' }],
                response_format: zodResponseFormat(Weather, 'weather'),
            });
            assert.deepEqual(completion.choices[0].message.parsed, { city: 'Paris', celsius: 21 });

            const sent = gw.fake.requests[0].json;
            const format = sent.outputConfig.textFormat;
            assert.equal(format.type, 'json_schema');
            assert.equal(format.structure.jsonSchema.name, 'weather');
            assert.equal(typeof format.structure.jsonSchema.schema, 'string', 'the schema is a JSON string');
            const schema = JSON.parse(format.structure.jsonSchema.schema);
            assert.deepEqual(schema.required, ['city', 'celsius']);
            assert.equal(schema.properties.city.type, 'string');
        });

        it('a description goes along; text and json_object send nothing', async () => {
            await gw.chat({
                model: 'claude', messages: USER,
                response_format: { type: 'json_schema', json_schema: { name: 'a', description: 'An answer.', schema: { type: 'object' } } },
            });
            assert.equal(gw.fake.requests[0].json.outputConfig.textFormat.structure.jsonSchema.description, 'An answer.');

            for (const type of ['text', 'json_object']) {
                gw.fake.reset();
                const res = await gw.chat({ model: 'claude', messages: USER, response_format: { type } });
                assert.equal(res.status, 200, res.text);
                assert.equal(gw.fake.requests[0].json.outputConfig, undefined);
            }
        });

        for (const [name, format, param] of [
            ['an unknown type', { type: 'xml' }, 'response_format.type'],
            ['json_schema without its object', { type: 'json_schema' }, 'response_format.json_schema'],
            ['json_schema without a name', { type: 'json_schema', json_schema: { schema: {} } }, 'response_format.json_schema.name'],
            ['json_schema without a schema', { type: 'json_schema', json_schema: { name: 'a' } }, 'response_format.json_schema.schema'],
            ['a schema that is not an object', { type: 'json_schema', json_schema: { name: 'a', schema: '{}' } }, 'response_format.json_schema.schema'],
            ['not an object', 'json', 'response_format'],
        ]) {
            it(`refuses ${name} with a 400 naming ${param}, without calling Bedrock`, async () => {
                const res = await gw.chat({ model: 'claude', messages: USER, response_format: format });
                assertInvalid(res, param);
                assert.equal(gw.fake.requests.length, 0);
            });
        }

        it('a Bedrock refusal of the schema passes through as its 400', async () => {
            gw.fake.respond = () => ({
                status: 400,
                headers: { 'x-amzn-errortype': 'ValidationException' },
                body: { message: 'This model does not support structured output.' },
            });
            const res = await gw.chat({
                model: 'llama', messages: USER,
                response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object' } } },
            });
            assert.equal(res.status, 400, res.text);
            assert.match(res.json.error.message, /structured output/);
        });

        it('strict function tools get toolSpec.strict; the others do not', async () => {
            const fn = (name, strict) => ({
                type: 'function',
                function: { name, parameters: { type: 'object', properties: {} }, ...(strict === undefined ? {} : { strict }) },
            });
            await gw.chat({ model: 'claude', messages: USER, tools: [fn('a', true), fn('b', false), fn('c')] });
            const specs = gw.fake.requests[0].json.toolConfig.tools.map((t) => t.toolSpec);
            assert.deepEqual(specs.map((s) => s.strict), [true, undefined, undefined]);

            gw.fake.reset();
            const res = await gw.chat({ model: 'claude', messages: USER, tools: [fn('a', 'yes')] });
            assertInvalid(res, 'tools[0].function');
        });

        it('Vercel AI SDK: generateObject on the chat model sends json_schema and reads the object', async () => {
            const { createOpenAI } = await import('@ai-sdk/openai');
            const ai = await import('ai');
            const provider = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_API_KEY });
            gw.fake.respond = () => converseAnswer({ text: '{"city":"Oslo","celsius":-3}' });
            const { output } = await ai.generateText({
                model: provider.chat('claude'),
                prompt: 'Weather in Oslo?',
                output: ai.Output.object({ schema: Weather }),
            });
            assert.deepEqual(output, { city: 'Oslo', celsius: -3 });
            const format = gw.fake.requests[0].json.outputConfig.textFormat;
            assert.equal(format.type, 'json_schema');
            assert.deepEqual(JSON.parse(format.structure.jsonSchema.schema).required, ['city', 'celsius']);
        });

        it('LangChain: withStructuredOutput (jsonSchema) sends json_schema and parses the answer', async () => {
            const { ChatOpenAI } = await import('@langchain/openai');
            const model = new ChatOpenAI({
                model: 'claude', apiKey: CLIENT_API_KEY, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0,
            });
            gw.fake.respond = () => converseAnswer({ text: '{"city":"Rome","celsius":30}' });
            const structured = model.withStructuredOutput(Weather, { name: 'weather', method: 'jsonSchema' });
            const answer = await structured.invoke('Weather in Rome?');
            assert.deepEqual(answer, { city: 'Rome', celsius: 30 });
            const format = gw.fake.requests[0].json.outputConfig.textFormat;
            assert.equal(format.structure.jsonSchema.name, 'weather');
        });
    });

    describe('reasoning', () => {
        it('Claude: reasoning_effort becomes a thinking budget, maxTokens raised, temperature dropped', async () => {
            const res = await gw.chat({
                model: 'claude', messages: USER, reasoning_effort: 'medium', max_tokens: 1000, temperature: 0.5, top_p: 0.9,
            });
            assert.equal(res.status, 200, res.text);
            const sent = gw.fake.requests[0].json;
            assert.deepEqual(sent.additionalModelRequestFields, { thinking: { type: 'enabled', budget_tokens: 8192 } });
            assert.equal(sent.inferenceConfig.maxTokens, 9192);
            assert.equal(sent.inferenceConfig.temperature, undefined);
            assert.equal(sent.inferenceConfig.topP, undefined);
        });

        for (const [effort, budget] of [['minimal', 1024], ['low', 2048], ['high', 16384]]) {
            it(`Claude: ${effort} is a budget of ${budget}, on top of 4096 when max_tokens is unset`, async () => {
                await gw.chat({ model: 'claude', messages: USER, reasoning_effort: effort });
                const sent = gw.fake.requests[0].json;
                assert.equal(sent.additionalModelRequestFields.thinking.budget_tokens, budget);
                assert.equal(sent.inferenceConfig.maxTokens, 4096 + budget);
            });
        }

        it('Nova: reasoningConfig; gpt-oss: reasoning_effort; Llama: nothing; none: nothing', async () => {
            await gw.chat({ model: 'nova', messages: USER, reasoning_effort: 'low' });
            assert.deepEqual(gw.fake.requests[0].json.additionalModelRequestFields,
                { reasoningConfig: { type: 'enabled', maxReasoningEffort: 'low' } });

            gw.fake.reset();
            await gw.chat({ model: 'gpt-oss', messages: USER, reasoning_effort: 'high' });
            assert.deepEqual(gw.fake.requests[0].json.additionalModelRequestFields, { reasoning_effort: 'high' });

            gw.fake.reset();
            await gw.chat({ model: 'llama', messages: USER, reasoning_effort: 'high' });
            assert.equal(gw.fake.requests[0].json.additionalModelRequestFields, undefined);

            gw.fake.reset();
            await gw.chat({ model: 'claude', messages: USER, reasoning_effort: 'none', temperature: 0.2 });
            assert.equal(gw.fake.requests[0].json.additionalModelRequestFields, undefined);
            assert.equal(gw.fake.requests[0].json.inferenceConfig.temperature, 0.2);
        });

        it('an unknown effort is a 400 naming reasoning_effort', async () => {
            assertInvalid(await gw.chat({ model: 'claude', messages: USER, reasoning_effort: 'huge' }), 'reasoning_effort');
            assertInvalid(await gw.chat({ model: 'claude', messages: USER, reasoning_effort: 3 }), 'reasoning_effort');
            assert.equal(gw.fake.requests.length, 0);
        });

        it('round trip: thinking_blocks carry the signed reasoning back, before the tool call', async () => {
            gw.fake.respond = () => converseAnswer({
                stopReason: 'tool_use',
                content: [
                    { reasoningContent: { reasoningText: { text: 'I need the weather.', signature: 'sig-abc' } } },
                    { reasoningContent: { redactedContent: 'cmVkYWN0ZWQ=' } },
                    { toolUse: { toolUseId: 'tooluse_1', name: 'weather', input: { city: 'Paris' } } },
                ],
            });
            const tools = [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }];
            const first = await client.chat.completions.create({
                model: 'claude', messages: [{ role: 'user', content: 'Weather?' }], tools, reasoning_effort: 'low',
            });
            const message = first.choices[0].message;
            assert.equal(message.reasoning_content, 'I need the weather.');
            assert.deepEqual(message.thinking_blocks, [
                { type: 'thinking', thinking: 'I need the weather.', signature: 'sig-abc' },
                { type: 'redacted_thinking', data: 'cmVkYWN0ZWQ=' },
            ]);

            // the client puts the assistant message back as it came
            gw.fake.reset();
            gw.fake.respond = () => converseAnswer({ text: 'It is sunny.' });
            const second = await client.chat.completions.create({
                model: 'claude', tools, reasoning_effort: 'low',
                messages: [
                    { role: 'user', content: 'Weather?' },
                    message,
                    { role: 'tool', tool_call_id: 'tooluse_1', content: 'sunny' },
                ],
            });
            assert.equal(second.choices[0].message.content, 'It is sunny.');
            assert.deepEqual(sentBlocks(gw, 1), [
                { reasoningContent: { reasoningText: { text: 'I need the weather.', signature: 'sig-abc' } } },
                { reasoningContent: { redactedContent: 'cmVkYWN0ZWQ=' } },
                { toolUse: { toolUseId: 'tooluse_1', name: 'weather', input: { city: 'Paris' } } },
            ]);
        });

        it('reasoning without a signature is not sent back; bad thinking_blocks are a 400', async () => {
            await gw.chat({
                model: 'claude',
                messages: [
                    { role: 'user', content: 'Hi' },
                    { role: 'assistant', content: 'Hello', thinking_blocks: [{ type: 'thinking', thinking: 'unsigned' }] },
                    { role: 'user', content: 'Again' },
                ],
            });
            assert.deepEqual(sentBlocks(gw, 1), [{ text: 'Hello' }]);

            gw.fake.reset();
            const bad = await gw.chat({
                model: 'claude',
                messages: [
                    { role: 'user', content: 'Hi' },
                    { role: 'assistant', content: 'Hello', thinking_blocks: [{ type: 'musing' }] },
                    { role: 'user', content: 'Again' },
                ],
            });
            assertInvalid(bad, 'messages[1].thinking_blocks[0].type');
        });

        it('streams: reasoning_content deltas, then the signature in a thinking_blocks delta', async () => {
            gw.fake.respond = () => eventStreamAnswer([
                bedrock.messageStart(),
                bedrock.reasoning(0, { text: 'Think ' }),
                bedrock.reasoning(0, { text: 'twice.' }),
                bedrock.reasoning(0, { signature: 'sig-stream' }),
                bedrock.blockStop(0),
                bedrock.text(1, 'Done.'),
                bedrock.blockStop(1),
                bedrock.messageStop('end_turn'),
                bedrock.metadata(),
            ]);
            const stream = await client.chat.completions.create({
                model: 'claude', messages: USER, reasoning_effort: 'low', stream: true,
            });
            let reasoning = '';
            let content = '';
            const blocks = [];
            for await (const chunk of stream) {
                const delta = chunk.choices[0] ? chunk.choices[0].delta : {};
                reasoning += delta.reasoning_content || '';
                content += delta.content || '';
                blocks.push(...(delta.thinking_blocks || []));
            }
            assert.equal(reasoning, 'Think twice.');
            assert.equal(content, 'Done.');
            assert.deepEqual(blocks, [{ type: 'thinking', thinking: '', signature: 'sig-stream' }]);
        });
    });

    describe('prompt caching', () => {
        it('cache_control on a part, a message and a tool becomes a cachePoint after each', async () => {
            const res = await gw.chat({
                model: 'claude',
                messages: [
                    { role: 'system', content: [{ type: 'text', text: 'Long rules.', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
                    { role: 'user', content: [
                        { type: 'text', text: 'Big document.', cache_control: { type: 'ephemeral' } },
                        { type: 'text', text: 'Question?' },
                    ] },
                    { role: 'assistant', content: 'Answer.', cache_control: { type: 'ephemeral' } },
                    { role: 'user', content: 'More?' },
                ],
                tools: [{
                    type: 'function', function: { name: 'f', parameters: { type: 'object' } },
                    cache_control: { type: 'ephemeral', ttl: '1h' },
                }],
            });
            assert.equal(res.status, 200, res.text);
            const sent = gw.fake.requests[0].json;
            assert.deepEqual(sent.system, [{ text: 'Long rules.' }, { cachePoint: { type: 'default', ttl: '1h' } }]);
            assert.deepEqual(sent.messages[0].content, [
                { text: 'Big document.' }, { cachePoint: { type: 'default' } }, { text: 'Question?' },
            ]);
            assert.deepEqual(sent.messages[1].content, [{ text: 'Answer.' }, { cachePoint: { type: 'default' } }]);
            assert.deepEqual(sent.toolConfig.tools[1], { cachePoint: { type: 'default', ttl: '1h' } });
        });

        it('a cache_control that is not ephemeral, or a ttl Bedrock lacks, is a 400', async () => {
            assertInvalid(await gw.chat({
                model: 'claude', messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: { type: 'forever' } }] }],
            }), 'messages[0].content[0].cache_control');
            assertInvalid(await gw.chat({
                model: 'claude', messages: [{ role: 'user', content: 'x', cache_control: { type: 'ephemeral', ttl: '2d' } }],
            }), 'messages[0].cache_control');
            assert.equal(gw.fake.requests.length, 0);
        });

        it('bedrock_cache_point system tools messages: a point after each', async () => {
            const res = await gw.chat({
                model: 'claude',
                messages: [{ role: 'system', content: 'Rules.' }, { role: 'user', content: 'Hi' }],
                tools: [{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'g' } }],
            }, { prefix: '/cached/v1/' });
            assert.equal(res.status, 200, res.text);
            const sent = gw.fake.requests[0].json;
            assert.deepEqual(sent.system, [{ text: 'Rules.' }, { cachePoint: { type: 'default' } }]);
            assert.deepEqual(sent.toolConfig.tools.map((t) => Object.keys(t)[0]), ['toolSpec', 'toolSpec', 'cachePoint']);
            assert.deepEqual(sent.messages[0].content, [{ text: 'Hi' }, { cachePoint: { type: 'default' } }]);
        });

        it('bedrock_cache_point adds none past Bedrock\'s 4, nor twice in one place', async () => {
            const cc = { type: 'ephemeral' };
            const res = await gw.chat({
                model: 'claude',
                messages: [
                    { role: 'system', content: [{ type: 'text', text: 'Rules.', cache_control: cc }] },
                    { role: 'user', content: [
                        { type: 'text', text: 'a', cache_control: cc },
                        { type: 'text', text: 'b', cache_control: cc },
                        { type: 'text', text: 'c', cache_control: cc },
                    ] },
                ],
                tools: [{ type: 'function', function: { name: 'f' } }],
            }, { prefix: '/cached/v1/' });
            assert.equal(res.status, 200, res.text);
            const sent = gw.fake.requests[0].json;
            const points = JSON.stringify(sent).match(/"cachePoint"/g).length;
            assert.equal(points, 4, 'the client\'s 4 and no more');
            assert.equal(sent.toolConfig.tools.length, 1, 'no point after the tools');
        });

        it('a point the directive adds takes 1h when a later one of the client\'s has it', async () => {
            await gw.chat({
                model: 'claude',
                messages: [
                    { role: 'system', content: 'Rules.' },
                    { role: 'user', content: [{ type: 'text', text: 'Doc.', cache_control: { type: 'ephemeral', ttl: '1h' } }, { type: 'text', text: 'Q?' }] },
                ],
                tools: [{ type: 'function', function: { name: 'f' } }],
            }, { prefix: '/cached/v1/' });
            const sent = gw.fake.requests[0].json;
            assert.deepEqual(sent.toolConfig.tools[1], { cachePoint: { type: 'default', ttl: '1h' } });
            assert.deepEqual(sent.system[1], { cachePoint: { type: 'default', ttl: '1h' } });
            assert.deepEqual(sent.messages[0].content.at(-1), { cachePoint: { type: 'default' } });
        });

        it('cache reads and writes appear in usage', async () => {
            gw.fake.respond = () => converseAnswer({
                usage: { inputTokens: 5, outputTokens: 2, totalTokens: 1507, cacheReadInputTokens: 1000, cacheWriteInputTokens: 500 },
            });
            const completion = await client.chat.completions.create({ model: 'claude', messages: USER });
            assert.equal(completion.usage.prompt_tokens, 1505);
            assert.deepEqual(completion.usage.prompt_tokens_details, { cached_tokens: 1000, cache_write_tokens: 500 });
        });
    });

    describe('service tiers and latency', () => {
        for (const tier of ['priority', 'default', 'flex']) {
            it(`service_tier ${tier} becomes serviceTier`, async () => {
                await gw.chat({ model: 'claude', messages: USER, service_tier: tier });
                assert.deepEqual(gw.fake.requests[0].json.serviceTier, { type: tier });
            });
        }

        it('service_tier auto is left out; an unknown one is a 400', async () => {
            await gw.chat({ model: 'claude', messages: USER, service_tier: 'auto' });
            assert.equal(gw.fake.requests[0].json.serviceTier, undefined);
            assertInvalid(await gw.chat({ model: 'claude', messages: USER, service_tier: 'scale' }), 'service_tier');
        });

        it('bedrock_latency optimized sends performanceConfig; other locations do not', async () => {
            await gw.chat({ model: 'claude', messages: USER }, { prefix: '/fast/v1/' });
            assert.deepEqual(gw.fake.requests[0].json.performanceConfig, { latency: 'optimized' });
            gw.fake.reset();
            await gw.chat({ model: 'claude', messages: USER });
            assert.equal(gw.fake.requests[0].json.performanceConfig, undefined);
        });
    });

    describe('documents', () => {
        const filePart = (filename, mime, data) => ({ type: 'file', file: { filename, file_data: `data:${mime};base64,${data}` } });

        it('a PDF file part becomes a document, its name made one Bedrock takes', async () => {
            const completion = await client.chat.completions.create({
                model: 'claude',
                messages: [{ role: 'user', content: [
                    { type: 'text', text: 'Summarise.' },
                    filePart('q3_report.pdf', 'application/pdf', PDF),
                ] }],
            });
            assert.equal(completion.choices[0].message.content, 'Hello from fake Bedrock');
            const doc = sentBlocks(gw, 0)[1].document;
            assert.equal(doc.format, 'pdf');
            assert.equal(doc.name, 'q3-report-pdf');
            assert.match(doc.name, /^[A-Za-z0-9\-()[\] ]{1,200}$/);
            assert.equal(doc.source.bytes, PDF);
        });

        it('CSV, Markdown and plain text too; no filename: "document"', async () => {
            const csv = Buffer.from('a,b\n1,2\n').toString('base64');
            await gw.chat({ model: 'claude', messages: [{ role: 'user', content: [
                filePart('data.csv', 'text/csv', csv),
                filePart('notes.md', 'text/markdown', csv),
                { type: 'file', file: { file_data: `data:text/plain;base64,${csv}` } },
            ] }] });
            const docs = sentBlocks(gw, 0).map((b) => b.document);
            assert.deepEqual(docs.map((d) => d.format), ['csv', 'md', 'txt']);
            assert.deepEqual(docs.map((d) => d.name), ['data-csv', 'notes-md', 'document']);
        });

        for (const [name, part, param] of [
            ['a file_id', { type: 'file', file: { file_id: 'file-abc' } }, 'messages[0].content[0].file.file_id'],
            ['no file_data', { type: 'file', file: {} }, 'messages[0].content[0].file.file_data'],
            ['a URL', { type: 'file', file: { file_data: 'https://example.com/a.pdf' } }, 'messages[0].content[0].file.file_data'],
            ['an unknown type', filePart('a.zip', 'application/zip', PDF), 'messages[0].content[0].file.file_data'],
            ['bytes that are not a PDF', filePart('a.pdf', 'application/pdf', Buffer.from('hello').toString('base64')), 'messages[0].content[0].file.file_data'],
            ['bad base64', filePart('a.pdf', 'application/pdf', '%%%%'), 'messages[0].content[0].file.file_data'],
        ]) {
            it(`refuses ${name} with a 400 naming the part`, async () => {
                assertInvalid(await gw.chat({ model: 'claude', messages: [{ role: 'user', content: [part] }] }), param);
                assert.equal(gw.fake.requests.length, 0);
            });
        }
    });
});
