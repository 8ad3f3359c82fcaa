'use strict';

// POST /v1/responses through the gateway, driven by the official openai
// SDK (client.responses.*): the request translated to Converse (checked on
// what the fake Bedrock received), the answer as a response object, the
// stream as Responses events, and errors in OpenAI's shape. Stateless:
// previous_response_id is refused and stored responses are not found.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai').default;

const { awsError, converseAnswer, eventStreamAnswer, loadStreamRecordings } = require('./lib/fake-bedrock');
const { bedrock, textStream } = require('./lib/eventstream');
const { startGateway, CLIENT_API_KEY, HAIKU_ID, NOVA_ID } = require('./lib/gateway');

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PDF = Buffer.from('%PDF-1.4\n%fake\n').toString('base64');

// The SSE events of a raw /responses stream: [{ event, data }].
function parseEvents(text) {
    return text.split('\n\n').filter((b) => b.trim() !== '').map((block) => {
        const lines = block.split('\n');
        assert.equal(lines.length, 2, `one event line and one data line: ${block}`);
        assert.ok(lines[0].startsWith('event: '), block);
        assert.ok(lines[1].startsWith('data: '), block);
        const event = lines[0].slice(7);
        const data = JSON.parse(lines[1].slice(6));
        assert.equal(data.type, event, 'the data names the event');
        return data;
    });
}

// What a stream of events must always be: created first, numbers 0..n-1.
function assertSequence(events) {
    assert.equal(events[0].type, 'response.created');
    assert.equal(events[1].type, 'response.in_progress');
    events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of ${e.type}`));
}

describe('the openai SDK through /v1/responses', () => {
    let gw;
    let client;

    before(async () => {
        gw = await startGateway({
            server: (fake) => [
                'location /v1/ {',
                `    bedrock_pass ${fake.url};`,
                '    bedrock_region us-east-1;',
                `    bedrock_model_map nova ${NOVA_ID};`,
                `    bedrock_model_map claude ${HAIKU_ID};`,
                '}',
            ].join('\n'),
        });
        client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_API_KEY, maxRetries: 0, timeout: 10000 });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    it('responses.create: text in, a response object out, output_text works', async () => {
        gw.fake.respond = () => converseAnswer({
            content: [{ text: 'Hello ' }, { text: 'there.' }],
            usage: { inputTokens: 20, outputTokens: 4, totalTokens: 30, cacheReadInputTokens: 6 },
        });

        const res = await client.responses.create({
            model: 'nova',
            instructions: 'Be brief.',
            input: 'Hi',
            max_output_tokens: 64,
            temperature: 1.5,
            top_p: 0.9,
            store: false,
            metadata: { team: 'a' },
            truncation: 'auto',
            parallel_tool_calls: true,
            service_tier: 'auto',
        });

        assert.equal(res.object, 'response');
        assert.match(res.id, /^resp_[0-9a-f]{24}$/);
        assert.equal(res.model, 'nova');
        assert.equal(res.status, 'completed');
        assert.ok(Math.abs(res.created_at - Date.now() / 1000) < 60);
        assert.equal(res.output.length, 1);
        assert.equal(res.output[0].type, 'message');
        assert.match(res.output[0].id, /^msg_/);
        assert.deepEqual(res.output[0].content,
            [{ type: 'output_text', text: 'Hello there.', annotations: [], logprobs: [] }]);
        assert.equal(res.output_text, 'Hello there.');
        assert.deepEqual(res.usage, {
            input_tokens: 26, input_tokens_details: { cached_tokens: 6 },
            output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 30,
        });

        const req = gw.fake.requests[0];
        assert.equal(req.modelId, NOVA_ID);
        assert.equal(req.op, 'converse');
        assert.deepEqual(req.json.system, [{ text: 'Be brief.' }]);
        assert.deepEqual(req.json.messages, [{ role: 'user', content: [{ text: 'Hi' }] }]);
        // OpenAI's temperature range is 0..2, Bedrock's 0..1
        assert.deepEqual(req.json.inferenceConfig, { maxTokens: 64, temperature: 1, topP: 0.9 });
        assert.equal(req.json.toolConfig, undefined);
    });

    it('input items: roles, parts, images, PDFs, calls and their outputs', async () => {
        gw.fake.respond = () => converseAnswer({ text: 'ok' });

        await client.responses.create({
            model: 'nova',
            input: [
                { role: 'developer', content: 'Use metric units.' },
                { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'No jokes.' }] },
                {
                    role: 'user', content: [
                        { type: 'input_text', text: 'What is in these?' },
                        { type: 'input_image', image_url: `data:image/png;base64,${PNG}`, detail: 'auto' },
                        { type: 'input_file', filename: 'q3 report.pdf', file_data: `data:application/pdf;base64,${PDF}` },
                    ],
                },
                { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check.', annotations: [] }] },
                { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}', id: 'fc_1' },
                { type: 'function_call_output', call_id: 'call_1', output: '{"temp":21}' },
                { type: 'function_call', call_id: 'call_2', name: 'get_time', arguments: '' },
                { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'noon' }] },
            ],
        });

        const req = gw.fake.requests[0].json;
        assert.deepEqual(req.system, [{ text: 'Use metric units.' }, { text: 'No jokes.' }]);
        assert.deepEqual(req.messages, [
            {
                role: 'user', content: [
                    { text: 'What is in these?' },
                    { image: { format: 'png', source: { bytes: PNG } } },
                    { document: { format: 'pdf', name: 'q3 report-pdf', source: { bytes: PDF } } },
                ],
            },
            {
                role: 'assistant', content: [
                    { text: 'Let me check.' },
                    { toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Oslo' } } },
                ],
            },
            { role: 'user', content: [{ toolResult: { toolUseId: 'call_1', content: [{ text: '{"temp":21}' }] } }] },
            { role: 'assistant', content: [{ toolUse: { toolUseId: 'call_2', name: 'get_time', input: {} } }] },
            { role: 'user', content: [{ toolResult: { toolUseId: 'call_2', content: [{ text: 'noon' }] } }] },
        ]);
        // a history of calls needs a toolConfig naming their tools
        assert.deepEqual(req.toolConfig.tools.map((t) => t.toolSpec.name), ['get_time', 'get_weather']);
    });

    it('tools: flat function tools, every tool_choice, calls come back as function_call items', async () => {
        const tools = [
            { type: 'function', name: 'get_weather', description: 'Weather', strict: true,
                parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
            { type: 'function', name: 'get_time', parameters: null, strict: false },
        ];
        gw.fake.respond = () => converseAnswer({
            content: [
                { text: 'Checking.' },
                { toolUse: { toolUseId: 'tooluse_a', name: 'get_weather', input: { city: 'Paris' } } },
                { toolUse: { toolUseId: 'tooluse_b', name: 'get_time', input: {} } },
            ],
            stopReason: 'tool_use',
        });

        const res = await client.responses.create({ model: 'nova', input: 'Weather?', tools, tool_choice: 'required' });
        assert.equal(res.status, 'completed');
        assert.deepEqual(res.output.map((o) => o.type), ['message', 'function_call', 'function_call']);
        assert.equal(res.output[1].call_id, 'tooluse_a');
        assert.equal(res.output[1].name, 'get_weather');
        assert.deepEqual(JSON.parse(res.output[1].arguments), { city: 'Paris' });
        assert.equal(res.output[1].status, 'completed');
        assert.match(res.output[1].id, /^fc_/);
        assert.equal(res.output[2].arguments, '{}');

        const tc = gw.fake.requests[0].json.toolConfig;
        assert.deepEqual(tc.tools[0], { toolSpec: { name: 'get_weather', description: 'Weather', strict: true,
            inputSchema: { json: tools[0].parameters } } });
        assert.deepEqual(tc.tools[1], { toolSpec: { name: 'get_time',
            inputSchema: { json: { type: 'object', properties: {} } } } });
        assert.deepEqual(tc.toolChoice, { any: {} });

        const choices = [
            ['auto', { auto: {} }],
            [{ type: 'function', name: 'get_time' }, { tool: { name: 'get_time' } }],
            [{ type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'get_time' }] }, { any: {} }],
        ];
        for (const [choice, want] of choices) {
            gw.fake.reset();
            await client.responses.create({ model: 'nova', input: 'x', tools, tool_choice: choice });
            const got = gw.fake.requests[0].json.toolConfig;
            assert.deepEqual(got.toolChoice, want, JSON.stringify(choice));
            if (choice.type === 'allowed_tools') {
                assert.deepEqual(got.tools.map((t) => t.toolSpec.name), ['get_time']);
            }
        }

        gw.fake.reset();
        await client.responses.create({ model: 'nova', input: 'x', tools, tool_choice: 'none' });
        assert.equal(gw.fake.requests[0].json.toolConfig, undefined);
    });

    it('the round trip of a function call: the output of one turn is the input of the next', async () => {
        const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object' }, strict: false }];
        gw.fake.respond = () => converseAnswer({
            content: [
                { reasoningContent: { reasoningText: { text: 'I should look it up.', signature: 'c2lnLTE=' } } },
                { toolUse: { toolUseId: 'tooluse_r', name: 'get_weather', input: { city: 'Rome' } } },
            ],
            stopReason: 'tool_use',
        });
        const first = await client.responses.create({ model: 'claude', input: 'Weather in Rome?', tools });
        assert.deepEqual(first.output.map((o) => o.type), ['reasoning', 'function_call']);
        assert.deepEqual(first.output[0].summary, [{ type: 'summary_text', text: 'I should look it up.' }]);
        assert.equal(first.output[0].encrypted_content, 'c2lnLTE=');

        gw.fake.reset();
        gw.fake.respond = () => converseAnswer({ text: 'It is sunny.' });
        const input = [
            { role: 'user', content: 'Weather in Rome?' },
            ...first.output,
            { type: 'function_call_output', call_id: first.output[1].call_id, output: 'sunny' },
        ];
        const second = await client.responses.create({ model: 'claude', input, tools, store: false });
        assert.equal(second.output_text, 'It is sunny.');

        assert.deepEqual(gw.fake.requests[0].json.messages, [
            { role: 'user', content: [{ text: 'Weather in Rome?' }] },
            {
                role: 'assistant', content: [
                    { reasoningContent: { reasoningText: { text: 'I should look it up.', signature: 'c2lnLTE=' } } },
                    { toolUse: { toolUseId: 'tooluse_r', name: 'get_weather', input: { city: 'Rome' } } },
                ],
            },
            { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_r', content: [{ text: 'sunny' }] } }] },
        ]);
    });

    it('redacted reasoning rides in encrypted_content and comes back as it was', async () => {
        gw.fake.respond = () => converseAnswer({
            content: [{ reasoningContent: { redactedContent: 'b3BhcXVl' } }, { text: 'Done.' }],
        });
        const first = await client.responses.create({ model: 'claude', input: 'Hi' });
        assert.equal(first.output[0].type, 'reasoning');
        assert.deepEqual(first.output[0].summary, []);
        assert.equal(first.output[0].encrypted_content, 'redacted:b3BhcXVl');

        gw.fake.reset();
        gw.fake.respond = () => converseAnswer({ text: 'ok' });
        await client.responses.create({ model: 'claude', input: [{ role: 'user', content: 'Hi' }, ...first.output,
            { role: 'user', content: 'Again' }] });
        assert.deepEqual(gw.fake.requests[0].json.messages[1].content,
            [{ reasoningContent: { redactedContent: 'b3BhcXVl' } }, { text: 'Done.' }]);

        // without encrypted_content there is nothing Bedrock could check
        gw.fake.reset();
        await client.responses.create({ model: 'claude', input: [{ role: 'user', content: 'Hi' },
            { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'x' }] },
            { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Again' }] });
        assert.deepEqual(gw.fake.requests[0].json.messages[1].content, [{ text: 'Hello' }]);
    });

    it('text.format json_schema becomes outputConfig.textFormat, the schema as a string', async () => {
        const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'],
            additionalProperties: false };
        gw.fake.respond = () => converseAnswer({ text: '{"answer":"42"}' });

        const res = await client.responses.create({
            model: 'nova', input: 'Answer?',
            text: { format: { type: 'json_schema', name: 'answer', description: 'The answer', schema, strict: true } },
        });
        assert.deepEqual(JSON.parse(res.output_text), { answer: '42' });

        const oc = gw.fake.requests[0].json.outputConfig;
        assert.equal(oc.textFormat.type, 'json_schema');
        assert.equal(oc.textFormat.structure.jsonSchema.name, 'answer');
        assert.equal(oc.textFormat.structure.jsonSchema.description, 'The answer');
        assert.equal(typeof oc.textFormat.structure.jsonSchema.schema, 'string');
        assert.deepEqual(JSON.parse(oc.textFormat.structure.jsonSchema.schema), schema);

        gw.fake.reset();
        await client.responses.create({ model: 'nova', input: 'x', text: { format: { type: 'json_object' } } });
        assert.equal(gw.fake.requests[0].json.outputConfig, undefined);
    });

    it('reasoning.effort in each family\'s terms', async () => {
        gw.fake.respond = () => converseAnswer({ text: 'ok' });

        await client.responses.create({ model: 'claude', input: 'x', max_output_tokens: 1000, temperature: 0.3,
            reasoning: { effort: 'medium', summary: 'auto' } });
        let req = gw.fake.requests[0].json;
        assert.deepEqual(req.additionalModelRequestFields, { thinking: { type: 'enabled', budget_tokens: 8192 } });
        // the answer's room on top of the budget; no temperature with thinking
        assert.deepEqual(req.inferenceConfig, { maxTokens: 9192 });

        gw.fake.reset();
        await client.responses.create({ model: 'nova', input: 'x', temperature: 0.3, reasoning: { effort: 'low' } });
        req = gw.fake.requests[0].json;
        assert.deepEqual(req.additionalModelRequestFields,
            { reasoningConfig: { type: 'enabled', maxReasoningEffort: 'low' } });
        assert.deepEqual(req.inferenceConfig, { temperature: 0.3 });

        gw.fake.reset();
        await client.responses.create({ model: 'claude', input: 'x', reasoning: { effort: 'none' } });
        assert.equal(gw.fake.requests[0].json.additionalModelRequestFields, undefined);

        await assert.rejects(client.responses.create({ model: 'nova', input: 'x', reasoning: { effort: 'huge' } }),
            (e) => e instanceof OpenAI.BadRequestError && e.param === 'reasoning.effort');
    });

    it('max tokens and content filters make an incomplete response', async () => {
        for (const [stopReason, reason] of [['max_tokens', 'max_output_tokens'],
            ['guardrail_intervened', 'content_filter'], ['content_filtered', 'content_filter']]) {
            gw.fake.respond = () => converseAnswer({ text: 'cut', stopReason });
            const res = await client.responses.create({ model: 'nova', input: 'x' });
            assert.equal(res.status, 'incomplete', stopReason);
            assert.deepEqual(res.incomplete_details, { reason });
        }
    });

    it('stateless: previous_response_id and conversation are refused, stored responses not found', async () => {
        await assert.rejects(client.responses.create({ model: 'nova', input: 'x', previous_response_id: 'resp_1' }),
            (e) => e instanceof OpenAI.BadRequestError && e.param === 'previous_response_id'
                && /stores no responses/.test(e.message));
        await assert.rejects(client.responses.create({ model: 'nova', input: 'x', conversation: 'conv_1' }),
            (e) => e instanceof OpenAI.BadRequestError && e.param === 'conversation');
        await assert.rejects(client.responses.retrieve('resp_123'), (e) => e instanceof OpenAI.NotFoundError);
        await assert.rejects(client.responses.delete('resp_123'), (e) => e instanceof OpenAI.NotFoundError);
        const res = await gw.call('GET', '/v1/responses/resp_123');
        assert.equal(res.status, 404);
        assert.equal(typeof res.json.error.message, 'string');
        assert.equal(gw.fake.requests.length, 0);
    });

    it('bad requests are 400s naming the parameter, without a Bedrock call', async () => {
        const cases = [
            [{ model: 'nova', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', /web_search/],
            [{ model: 'nova', input: 'x', tools: [{ type: 'function', name: 'f', parameters: null, strict: false }],
                tool_choice: { type: 'function', name: 'g' } }, 'tool_choice', /'g'/],
            [{ model: 'nova', input: 'x', tool_choice: 'required' }, 'tool_choice', /requires tools/],
            [{ model: 'nova', input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0]', /item_reference/],
            [{ model: 'nova', input: [{ type: 'local_shell_call', id: 'x' }] }, 'input[0].type', /local_shell_call/],
            [{ model: 'nova', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] },
                'input[0].content[0]', /data: URL/],
            [{ model: 'nova', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] },
                'input[0].content[0]', /inline data/],
            [{ model: 'nova', input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{nope' }] },
                'input[0].arguments', /not valid JSON/],
            [{ model: 'nova', input: [] }, 'input', /at least one/],
            [{ model: 'nova', input: 'x', temperature: 3 }, 'temperature', /between 0 and 2/],
            [{ model: 'nova', input: 'x', max_output_tokens: 0 }, 'max_output_tokens', /positive/],
            [{ model: 'nova', input: 'x', text: { format: { type: 'json_schema', name: 'n' } } }, 'text.format', /schema/],
            [{ model: 'nova', input: 'x', top_logprobs: 3 }, 'top_logprobs', /logprobs/],
        ];
        for (const [body, param, message] of cases) {
            await assert.rejects(client.responses.create(body), (e) => {
                assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e}`);
                assert.equal(e.param, param);
                assert.match(e.message, message);
                assert.equal(e.type, 'invalid_request_error');
                return true;
            });
        }
        assert.equal(gw.fake.requests.length, 0);
    });

    it('a model outside the map and Bedrock errors take OpenAI\'s shapes and SDK classes', async () => {
        await assert.rejects(client.responses.create({ model: 'gpt-4o', input: 'x' }),
            (e) => e instanceof OpenAI.NotFoundError);
        assert.equal(gw.fake.requests.length, 0);

        gw.fake.respond = () => awsError(429, 'ThrottlingException', 'Too many requests');
        await assert.rejects(client.responses.create({ model: 'nova', input: 'x' }),
            (e) => e instanceof OpenAI.RateLimitError);
    });

    it('responses.stream: text and tool-call arguments, the final response complete', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(),
            bedrock.text(0, 'Let me '),
            bedrock.text(0, 'check.'),
            bedrock.blockStop(0),
            bedrock.toolStart(1, 'tooluse_s', 'get_weather'),
            bedrock.toolInput(1, '{"city"'),
            bedrock.toolInput(1, ':"Oslo"}'),
            bedrock.blockStop(1),
            bedrock.messageStop('tool_use'),
            bedrock.metadata({ inputTokens: 11, outputTokens: 5, totalTokens: 16 }),
        ], { split: 'random', seed: 5 });

        const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object' }, strict: false }];
        const stream = client.responses.stream({ model: 'nova', input: 'Weather?', tools });
        const deltas = [];
        const argDeltas = [];
        stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
        stream.on('response.function_call_arguments.delta', (e) => argDeltas.push(e.delta));
        const final = await stream.finalResponse();

        assert.deepEqual(deltas, ['Let me ', 'check.']);
        assert.deepEqual(argDeltas, ['{"city"', ':"Oslo"}']);
        assert.equal(final.status, 'completed');
        assert.equal(final.output_text, 'Let me check.');
        assert.deepEqual(final.output.map((o) => o.type), ['message', 'function_call']);
        assert.equal(final.output[1].call_id, 'tooluse_s');
        assert.equal(final.output[1].arguments, '{"city":"Oslo"}');
        assert.equal(final.usage.output_tokens, 5);
        assert.equal(gw.fake.requests[0].op, 'converse-stream');
    });

    it('the raw stream: the event order of the Responses API, each item done in full', async () => {
        gw.fake.respond = () => eventStreamAnswer([
            bedrock.messageStart(),
            bedrock.reasoning(0, { text: 'Think' }),
            bedrock.reasoning(0, { text: 'ing.' }),
            bedrock.reasoning(0, { signature: 'sig-z' }),
            bedrock.blockStop(0),
            bedrock.text(1, 'Hi'),
            bedrock.blockStop(1),
            bedrock.toolStart(2, 'tooluse_t', 'f'),
            bedrock.blockStop(2),
            bedrock.messageStop('tool_use'),
            bedrock.metadata(),
        ]);
        const res = await gw.call('POST', '/v1/responses', { body: { model: 'claude', input: 'x', stream: true } });
        assert.equal(res.status, 200);
        assert.match(res.headers['content-type'], /^text\/event-stream/);
        assert.ok(!res.text.includes('[DONE]'));

        const events = parseEvents(res.text);
        assertSequence(events);
        assert.deepEqual(events.map((e) => e.type), [
            'response.created', 'response.in_progress',
            'response.output_item.added', 'response.reasoning_summary_part.added',
            'response.reasoning_summary_text.delta', 'response.reasoning_summary_text.delta',
            'response.reasoning_summary_text.done', 'response.reasoning_summary_part.done',
            'response.output_item.done',
            'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
            'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
            'response.output_item.added', 'response.function_call_arguments.done', 'response.output_item.done',
            'response.completed',
        ]);
        assert.equal(events[0].response.status, 'in_progress');
        assert.deepEqual(events[0].response.output, []);

        const done = events.filter((e) => e.type === 'response.output_item.done');
        assert.deepEqual(done.map((e) => e.output_index), [0, 1, 2]);
        assert.deepEqual(done[0].item.summary, [{ type: 'summary_text', text: 'Thinking.' }]);
        assert.equal(done[0].item.encrypted_content, 'sig-z');
        assert.equal(done[1].item.content[0].text, 'Hi');
        assert.equal(done[1].item.status, 'completed');
        assert.deepEqual({ ...done[2].item, id: undefined },
            { id: undefined, type: 'function_call', status: 'completed', arguments: '{}', call_id: 'tooluse_t', name: 'f' });

        const delta = events.find((e) => e.type === 'response.output_text.delta');
        assert.deepEqual({ ...delta, item_id: undefined, sequence_number: undefined }, {
            type: 'response.output_text.delta', item_id: undefined, sequence_number: undefined,
            output_index: 1, content_index: 0, delta: 'Hi', logprobs: [],
        });
        assert.equal(delta.item_id, done[1].item.id);

        const completed = events.at(-1).response;
        assert.equal(completed.status, 'completed');
        assert.deepEqual(completed.output, done.map((e) => e.item));
        assert.equal(completed.id, events[0].response.id);
        assert.equal(completed.usage.total_tokens, 19);
    });

    it('a stream stopped by max tokens ends with response.incomplete', async () => {
        gw.fake.respond = () => eventStreamAnswer(textStream(['cut'], { stopReason: 'max_tokens' }));
        const res = await gw.call('POST', '/v1/responses', { body: { model: 'nova', input: 'x', stream: true } });
        const events = parseEvents(res.text);
        assertSequence(events);
        assert.equal(events.at(-1).type, 'response.incomplete');
        assert.deepEqual(events.at(-1).response.incomplete_details, { reason: 'max_output_tokens' });
    });

    for (const [name, frames, code] of [
        ['an exception frame', [bedrock.messageStart(), bedrock.text(0, 'Hal'),
            bedrock.exception('throttlingException', 'slow down')], 'rate_limit_exceeded'],
        ['a stream cut before messageStop', [bedrock.messageStart(), bedrock.text(0, 'Hal')], 'server_error'],
    ]) {
        it(`${name} ends the stream with response.failed, never response.completed`, async () => {
            gw.fake.respond = () => eventStreamAnswer(frames);
            const res = await gw.call('POST', '/v1/responses', { body: { model: 'nova', input: 'x', stream: true } });
            const events = parseEvents(res.text);
            assertSequence(events);
            assert.ok(!events.some((e) => e.type === 'response.completed'));
            const last = events.at(-1);
            assert.equal(last.type, 'response.failed');
            assert.equal(last.response.status, 'failed');
            assert.equal(last.response.error.code, code);
            assert.equal(typeof last.response.error.message, 'string');

            // the SDK's final response is the failed one, with its error
            const final = await client.responses.stream({ model: 'nova', input: 'x' }).finalResponse();
            assert.equal(final.status, 'failed');
            assert.equal(final.error.code, code);
        });
    }
});

describe('recorded ConverseStream answers through /v1/responses', () => {
    const recordings = loadStreamRecordings();
    let gw;

    before(async () => {
        if (recordings.length === 0) {
            return;
        }
        gw = await startGateway({
            server: (fake) => `location /v1/ { bedrock_pass ${fake.url}; bedrock_region us-east-1; ` +
                `bedrock_model_map nova ${NOVA_ID}; }`,
        });
    });
    after(() => gw && gw.stop());

    async function replay(rec, split, seed) {
        gw.fake.respond = () => eventStreamAnswer([rec.bin], { split, seed, maxPiece: 23 });
        const res = await gw.call('POST', '/v1/responses', { body: { model: 'nova', input: 'Hi', stream: true } });
        assert.equal(res.status, 200);
        // the ids and the time differ from call to call, nothing else may
        return res.text.replace(/(resp|msg|fc|rs)_[0-9a-f]{24}/g, '$1_X').replace(/"created_at":\d+/g, '"created_at":0');
    }

    it('has recordings to replay', { skip: recordings.length === 0 && 'no ../shared/vectors' }, () => {
        assert.ok(recordings.length > 0);
    });

    for (const rec of recordings) {
        const events = rec.frames.filter((f) => f.headers[':message-type'] === 'event');
        const failed = rec.frames.some((f) => f.headers[':message-type'] !== 'event');
        const text = events.filter((f) => f.headers[':event-type'] === 'contentBlockDelta' && f.payload.delta.text)
            .map((f) => f.payload.delta.text).join('');
        const calls = events.filter((f) => f.headers[':event-type'] === 'contentBlockStart' &&
            f.payload.start.toolUse && f.payload.start.toolUse.type !== 'server_tool_use')
            .map((f) => f.payload.start.toolUse.toolUseId);

        it(`${rec.name}: whole and at random split points, the same events`, async () => {
            const whole = await replay(rec, 'whole', 1);
            for (const seed of [1, 2, 3]) {
                assert.equal(await replay(rec, 'random', seed), whole, `seed ${seed}`);
            }

            const got = parseEvents(whole);
            assertSequence(got);
            const last = got.at(-1);
            if (failed) {
                assert.equal(last.type, 'response.failed');
                return;
            }
            assert.match(last.type, /^response\.(completed|incomplete)$/);
            const output = last.response.output;
            assert.equal(output.filter((o) => o.type === 'message').map((o) => o.content[0].text).join(''), text);
            assert.deepEqual(output.filter((o) => o.type === 'function_call').map((o) => o.call_id), calls);
        });
    }
});
