'use strict';

// What the module must answer: OpenAI response shapes and the Bedrock ->
// OpenAI translation rules, shared by the test files.

const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { CLIENT_API_KEY } = require('./gateway');

const FINISH_REASONS = Object.freeze({
    end_turn: 'stop',
    stop_sequence: 'stop',
    max_tokens: 'length',
    model_context_window_exceeded: 'length',
    tool_use: 'tool_calls',
    guardrail_intervened: 'content_filter',
    content_filtered: 'content_filter',
});

// Bedrock error answers -> the OpenAI error and the SDK's error class.
const BEDROCK_ERRORS = [
    { status: 400, type: 'ValidationException', want: { type: 'invalid_request_error' }, sdk: OpenAI.BadRequestError },
    { status: 403, type: 'AccessDeniedException', want: { type: 'permission_error' }, sdk: OpenAI.PermissionDeniedError },
    { status: 404, type: 'ResourceNotFoundException', want: { code: 'model_not_found' }, sdk: OpenAI.NotFoundError },
    {
        status: 429,
        type: 'ThrottlingException',
        want: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
        sdk: OpenAI.RateLimitError,
    },
    { status: 500, type: 'InternalServerException', want: { type: 'server_error' }, sdk: OpenAI.InternalServerError },
    { status: 503, type: 'ServiceUnavailableException', want: { type: 'server_error' }, sdk: OpenAI.InternalServerError },
];

// Top-level members of a Converse request body (PROTOCOL.md 1.4).
const CONVERSE_REQUEST_KEYS = new Set([
    'messages', 'system', 'inferenceConfig', 'toolConfig', 'guardrailConfig',
    'additionalModelRequestFields', 'additionalModelResponseFieldPaths', 'promptVariables',
    'requestMetadata', 'performanceConfig', 'serviceTier', 'outputConfig',
]);

/** The OpenAI message/finish_reason/usage a Converse answer must become. */
function expectedCompletion(converse) {
    const blocks = converse.output.message.content;
    const texts = blocks.filter((b) => typeof b.text === 'string').map((b) => b.text);
    const toolUses = blocks.filter((b) => b.toolUse).map((b) => b.toolUse);
    const u = converse.usage;
    const cacheRead = u.cacheReadInputTokens || 0;
    const prompt = u.inputTokens + cacheRead + (u.cacheWriteInputTokens || 0);
    return {
        content: texts.length > 0 ? texts.join('') : null,
        toolCalls: toolUses.map((t) => ({ id: t.toolUseId, name: t.name, input: t.input })),
        finishReason: FINISH_REASONS[converse.stopReason],
        usage: {
            prompt_tokens: prompt,
            completion_tokens: u.outputTokens,
            total_tokens: prompt + u.outputTokens,
        },
        cachedTokens: 'cacheReadInputTokens' in u ? cacheRead : undefined,
    };
}

function assertJsonResponse(res) {
    assert.match(String(res.headers['content-type']), /^application\/json\b/, 'Content-Type');
    assert.ok(res.json !== null, `body is not JSON: ${res.text}`);
}

function matches(actual, expected) {
    if (expected instanceof RegExp) {
        return typeof actual === 'string' && expected.test(actual);
    }
    if (typeof expected === 'function') {
        return expected(actual);
    }
    return actual === expected;
}

/**
 * Checks an OpenAI error answer: status (or a list of allowed ones), JSON, exactly
 * {error:{message,type,param,code}}. `expected` fields may be values,
 * RegExps or predicates. Returns the error object.
 */
function assertOpenAIError(res, status, expected = {}) {
    if (Array.isArray(status)) {
        assert.ok(status.includes(res.status), `status ${res.status} not in ${status} (body: ${res.text})`);
    } else {
        assert.equal(res.status, status, `status (body: ${res.text})`);
    }
    assertJsonResponse(res);
    assert.deepEqual(Object.keys(res.json), ['error'], res.text);
    const err = res.json.error;
    assert.deepEqual(Object.keys(err).sort(), ['code', 'message', 'param', 'type'], res.text);
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0, 'error.message is empty');
    assert.equal(typeof err.type, 'string');
    assert.ok(err.param === null || typeof err.param === 'string', 'error.param');
    assert.ok(err.code === null || typeof err.code === 'string', 'error.code');
    for (const [key, want] of Object.entries(expected)) {
        assert.ok(matches(err[key], want), `error.${key} is ${JSON.stringify(err[key])}, want ${want}`);
    }
    return err;
}

/** Checks the chat.completion envelope; returns choices[0]. */
function assertChatCompletion(body, { model }) {
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.object, 'chat.completion');
    assert.ok(Number.isInteger(body.created), 'created is an integer');
    assert.ok(Math.abs(body.created - Date.now() / 1000) < 120, 'created is about now');
    assert.equal(body.model, model);
    assert.equal(body.choices.length, 1);
    const choice = body.choices[0];
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.logprobs, null);
    for (const key of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
        assert.ok(Number.isInteger(body.usage[key]), `usage.${key}`);
    }
    return choice;
}

/** Checks a chat.completion against expectedCompletion(converse). */
function assertTranslated(body, converse, { model }) {
    const want = expectedCompletion(converse);
    const choice = assertChatCompletion(body, { model });
    assert.equal(choice.message.content, want.content);
    assert.equal(choice.finish_reason, want.finishReason);
    if (want.toolCalls.length === 0) {
        assert.ok(choice.message.tool_calls == null, 'no tool_calls expected');
    } else {
        assert.equal(choice.message.tool_calls.length, want.toolCalls.length);
        choice.message.tool_calls.forEach((call, i) => {
            assert.equal(call.id, want.toolCalls[i].id);
            assert.equal(call.type, 'function');
            assert.equal(call.function.name, want.toolCalls[i].name);
            assert.equal(typeof call.function.arguments, 'string');
            assert.deepEqual(JSON.parse(call.function.arguments), want.toolCalls[i].input);
        });
    }
    for (const [key, value] of Object.entries(want.usage)) {
        assert.equal(body.usage[key], value, `usage.${key}`);
    }
    if (want.cachedTokens !== undefined) {
        assert.equal(body.usage.prompt_tokens_details.cached_tokens, want.cachedTokens);
    }
    return choice;
}

/** The Bedrock wire path for a model id: every byte but A-Za-z0-9-._~ escaped. */
function wirePath(modelId, op = 'converse') {
    const label = encodeURIComponent(modelId)
        .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    return `/model/${label}/${op}`;
}

/**
 * Checks one request the fake received from nginx: an authenticated Converse
 * (or, with op 'converse-stream', ConverseStream) call for `modelId`, signed
 * with `credentials` (or carrying `bearerToken`), with a JSON body of
 * Converse members only and no trace of the client's key.
 */
function assertUpstreamCall(rec, { modelId, credentials, bearerToken, op = 'converse' }) {
    assert.ok(rec.authOk, `the fake rejected nginx's request: ${rec.authError}`);
    assert.equal(rec.method, 'POST');
    assert.equal(rec.op, op);
    assert.equal(rec.path, wirePath(modelId, op));
    assert.equal(rec.modelId, modelId);
    assert.match(String(rec.headers['content-type']), /^application\/json\b/);

    const auth = rec.headers.authorization;
    if (bearerToken) {
        assert.equal(auth, `Bearer ${bearerToken}`);
        assert.equal(rec.headers['x-amz-date'], undefined, 'no SigV4 headers with a bearer key');
        assert.equal(rec.headers['x-amz-security-token'], undefined);
    } else {
        assert.ok(auth.startsWith(`AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/`), auth);
        assert.equal(rec.headers['x-amz-security-token'], credentials.sessionToken);
    }
    for (const [name, value] of Object.entries(rec.headers)) {
        assert.ok(!String(value).includes(CLIENT_API_KEY), `client API key forwarded in ${name}`);
    }

    assert.ok(rec.json && typeof rec.json === 'object' && !Array.isArray(rec.json), 'JSON object body');
    for (const key of Object.keys(rec.json)) {
        assert.ok(CONVERSE_REQUEST_KEYS.has(key), `unexpected Converse member "${key}"`);
    }
}

/** Fails if any of the secrets occurs in any of the texts. */
function assertNoSecrets(texts, secrets, where) {
    for (const text of [].concat(texts)) {
        for (const secret of secrets.filter(Boolean)) {
            assert.ok(!text.includes(secret), `${where} leaks ${secret.slice(0, 6)}...`);
        }
    }
}

module.exports = {
    FINISH_REASONS,
    BEDROCK_ERRORS,
    CONVERSE_REQUEST_KEYS,
    expectedCompletion,
    assertJsonResponse,
    assertOpenAIError,
    assertChatCompletion,
    assertTranslated,
    assertNoSecrets,
    assertUpstreamCall,
    wirePath,
};
