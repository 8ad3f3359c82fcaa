'use strict';

// POST /v1/chat/completions: the OpenAI request becomes a signed Converse
// call, and the Converse answer becomes a chat.completion.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');

const { TEST_CREDENTIALS, TEST_SESSION_TOKEN } = require('./lib/fake-bedrock');
const { startGateway, HAIKU_ID, PROFILE_ARN, NOVA_ID } = require('./lib/gateway');
const {
    assertChatCompletion, assertJsonResponse, assertUpstreamCall,
} = require('./lib/expect');

const USER_HI = [{ role: 'user', content: 'Hi' }];
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const JPEG_B64 = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQ==';
const WEATHER_PARAMS = {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
};
const TOOLS = [
    { type: 'function', function: { name: 'get_weather', description: 'Get the weather', parameters: WEATHER_PARAMS } },
    { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];
const TOOL_SPECS = [
    { toolSpec: { name: 'get_weather', description: 'Get the weather', inputSchema: { json: WEATHER_PARAMS } } },
    { toolSpec: { name: 'get_time', inputSchema: { json: { type: 'object', properties: {} } } } },
];

const toolCall = (id, name, args) => ({ id, type: 'function', function: { name, arguments: JSON.stringify(args) } });

// OpenAI request fields -> expected members of the Converse body, addressed
// by dotted path. Each case is sent with model gpt-4o.
const TRANSLATIONS = [
    {
        name: 'user string becomes a text block',
        request: { messages: USER_HI },
        expect: { messages: [{ role: 'user', content: [{ text: 'Hi' }] }] },
    },
    {
        name: 'system and developer messages go to top-level system',
        request: {
            messages: [
                { role: 'system', content: 'Be terse.' },
                { role: 'developer', content: 'Answer in French.' },
                { role: 'user', content: 'Hi' },
            ],
        },
        expect: {
            system: [{ text: 'Be terse.' }, { text: 'Answer in French.' }],
            messages: [{ role: 'user', content: [{ text: 'Hi' }] }],
        },
    },
    {
        name: 'text content parts',
        request: {
            messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }],
        },
        expect: { messages: [{ role: 'user', content: [{ text: 'a' }, { text: 'b' }] }] },
    },
    {
        name: 'consecutive same-role messages merge into one turn',
        request: {
            messages: [
                { role: 'user', content: 'a' },
                { role: 'user', content: 'b' },
                { role: 'assistant', content: 'c' },
                { role: 'assistant', content: 'd' },
                { role: 'user', content: 'e' },
            ],
        },
        expect: {
            messages: [
                { role: 'user', content: [{ text: 'a' }, { text: 'b' }] },
                { role: 'assistant', content: [{ text: 'c' }, { text: 'd' }] },
                { role: 'user', content: [{ text: 'e' }] },
            ],
        },
    },
    {
        name: 'max_completion_tokens wins over max_tokens',
        request: { messages: USER_HI, max_tokens: 100, max_completion_tokens: 50 },
        expect: { 'inferenceConfig.maxTokens': 50 },
    },
    {
        name: 'max_tokens alone',
        request: { messages: USER_HI, max_tokens: 100 },
        expect: { 'inferenceConfig.maxTokens': 100 },
    },
    {
        name: 'temperature and top_p',
        request: { messages: USER_HI, temperature: 0.25, top_p: 0.9 },
        expect: { 'inferenceConfig.temperature': 0.25, 'inferenceConfig.topP': 0.9 },
    },
    {
        name: 'temperature above 1 is clamped to 1',
        request: { messages: USER_HI, temperature: 1.5 },
        expect: { 'inferenceConfig.temperature': 1 },
    },
    {
        name: 'stop string',
        request: { messages: USER_HI, stop: 'END' },
        expect: { 'inferenceConfig.stopSequences': ['END'] },
    },
    {
        name: 'stop array',
        request: { messages: USER_HI, stop: ['a', 'b'] },
        expect: { 'inferenceConfig.stopSequences': ['a', 'b'] },
    },
    {
        name: 'data: URL images become image blocks',
        request: {
            messages: [{
                role: 'user',
                content: [
                    { type: 'text', text: 'What is this?' },
                    { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
                    { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${JPEG_B64}`, detail: 'low' } },
                ],
            }],
        },
        expect: {
            messages: [{
                role: 'user',
                content: [
                    { text: 'What is this?' },
                    { image: { format: 'png', source: { bytes: PNG_B64 } } },
                    { image: { format: 'jpeg', source: { bytes: JPEG_B64 } } },
                ],
            }],
        },
    },
    {
        name: 'tool calls and tool results',
        request: {
            tools: TOOLS,
            messages: [
                { role: 'user', content: 'Weather in Paris and London?' },
                {
                    role: 'assistant',
                    content: null,
                    tool_calls: [
                        toolCall('call_1', 'get_weather', { city: 'Paris' }),
                        toolCall('call_2', 'get_weather', { city: 'London' }),
                    ],
                },
                { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
                { role: 'tool', tool_call_id: 'call_2', content: 'rain' },
            ],
        },
        expect: {
            messages: [
                { role: 'user', content: [{ text: 'Weather in Paris and London?' }] },
                {
                    role: 'assistant',
                    content: [
                        { toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } } },
                        { toolUse: { toolUseId: 'call_2', name: 'get_weather', input: { city: 'London' } } },
                    ],
                },
                {
                    role: 'user',
                    content: [
                        { toolResult: { toolUseId: 'call_1', content: [{ text: 'sunny' }] } },
                        { toolResult: { toolUseId: 'call_2', content: [{ text: 'rain' }] } },
                    ],
                },
            ],
            'toolConfig.tools': TOOL_SPECS,
        },
    },
    {
        name: 'tool_choice auto',
        request: { messages: USER_HI, tools: TOOLS, tool_choice: 'auto' },
        expect: { 'toolConfig.tools': TOOL_SPECS, 'toolConfig.toolChoice': { auto: {} } },
    },
    {
        name: 'tool_choice required',
        request: { messages: USER_HI, tools: TOOLS, tool_choice: 'required' },
        expect: { 'toolConfig.toolChoice': { any: {} } },
    },
    {
        name: 'tool_choice naming a function',
        request: {
            messages: USER_HI,
            tools: TOOLS,
            tool_choice: { type: 'function', function: { name: 'get_time' } },
        },
        expect: { 'toolConfig.toolChoice': { tool: { name: 'get_time' } } },
    },
];

function pick(obj, dotted) {
    return dotted.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

const CREDENTIAL_MODES = [
    { name: 'long-term keys', credentials: TEST_CREDENTIALS },
    { name: 'session token', credentials: { ...TEST_CREDENTIALS, sessionToken: TEST_SESSION_TOKEN } },
];

for (const mode of CREDENTIAL_MODES) {
    describe(`chat completions with ${mode.name}`, () => {
        let gw;
        const upstream = (modelId) => ({ modelId, credentials: mode.credentials });

        before(async () => {
            gw = await startGateway({ fake: { credentials: mode.credentials } });
        });
        after(() => gw && gw.stop());
        beforeEach(() => gw.fake.reset());

        it('answers a raw HTTP call with a chat.completion', async () => {
            const res = await gw.chat({ model: 'gpt-4o', messages: USER_HI });
            assert.equal(res.status, 200, res.text);
            assertJsonResponse(res);
            const choice = assertChatCompletion(res.json, { model: 'gpt-4o' });
            assert.equal(choice.message.content, 'Hello from fake Bedrock');
            assert.equal(choice.finish_reason, 'stop');
            assert.equal(res.json.usage.prompt_tokens, 10);
            assert.equal(res.json.usage.completion_tokens, 5);
            assert.equal(res.json.usage.total_tokens, 15);
            // Bedrock's own headers stay behind nginx.
            assert.equal(res.headers['x-amzn-requestid'], undefined);

            assert.equal(gw.fake.requests.length, 1);
            assertUpstreamCall(gw.fake.last, upstream(HAIKU_ID));
            assert.equal(gw.fake.last.path, '/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/converse');
        });

        it('escapes ":" and "/" of an inference-profile ARN in the path', async () => {
            const res = await gw.chat({ model: 'profile', messages: USER_HI });
            assert.equal(res.status, 200, res.text);
            assert.equal(res.json.model, 'profile');
            assertUpstreamCall(gw.fake.last, upstream(PROFILE_ARN));
            assert.equal(gw.fake.last.path,
                '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile' +
                '%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse');
        });

        it('routes each alias to its own model id', async () => {
            const res = await gw.chat({ model: 'fast', messages: USER_HI });
            assert.equal(res.status, 200, res.text);
            assert.equal(res.json.model, 'fast');
            assertUpstreamCall(gw.fake.last, upstream(NOVA_ID));
        });

        it('works with the official openai SDK', async () => {
            const completion = await gw.openai().chat.completions.create({
                model: 'gpt-4o',
                messages: [{ role: 'user', content: 'Hi from the SDK' }],
            });
            const choice = assertChatCompletion(completion, { model: 'gpt-4o' });
            assert.equal(choice.message.content, 'Hello from fake Bedrock');
            assert.equal(choice.finish_reason, 'stop');
            assert.equal(gw.fake.requests.length, 1);
            assertUpstreamCall(gw.fake.last, upstream(HAIKU_ID));
            assert.deepEqual(gw.fake.last.json.messages,
                [{ role: 'user', content: [{ text: 'Hi from the SDK' }] }]);
        });

        describe('request translation', () => {
            for (const { name, request, expect } of TRANSLATIONS) {
                it(name, async () => {
                    const res = await gw.chat({ model: 'gpt-4o', ...request });
                    assert.equal(res.status, 200, res.text);
                    assert.equal(gw.fake.requests.length, 1);
                    const rec = gw.fake.last;
                    assertUpstreamCall(rec, upstream(HAIKU_ID));
                    for (const [dotted, want] of Object.entries(expect)) {
                        assert.deepEqual(pick(rec.json, dotted), want, `Converse ${dotted}`);
                    }
                    assert.ok(!rec.json.messages.some((m) => m.role === 'system'), 'no system turns');
                });
            }
        });
    });
}
