'use strict';

// What a streamed chat completion must look like: a reference translation
// of ConverseStream frames into OpenAI chunks (the contract in
// PROTOCOL.md 6.4 and 7), and the checks of what nginx actually sent.

const assert = require('node:assert/strict');
const { FINISH_REASONS, assertUpstreamCall } = require('./expect');
const { DONE, parseSse, streamChat } = require('./sse');
const { eventStreamAnswer } = require('./fake-bedrock');
const { describeFrame } = require('./eventstream');
const { HAIKU_ID, TEST_CREDENTIALS } = require('./gateway');

// In-stream Bedrock exceptions -> the error event's type (and code).
const STREAM_ERRORS = Object.freeze({
    throttlingException: { type: 'rate_limit_error', code: 'rate_limit_exceeded' },
    validationException: { type: 'invalid_request_error' },
    modelStreamErrorException: { type: 'server_error' },
    internalServerException: { type: 'server_error' },
    serviceUnavailableException: { type: 'server_error' },
});
const SERVER_ERROR = Object.freeze({ type: 'server_error' });

const choiceChunk = (delta, finishReason = null) => ({ delta, finish_reason: finishReason });

function openaiUsage(u) {
    const cached = u.cacheReadInputTokens || 0;
    const prompt = u.inputTokens + cached + (u.cacheWriteInputTokens || 0);
    return {
        prompt_tokens: prompt,
        completion_tokens: u.outputTokens,
        total_tokens: prompt + u.outputTokens,
        prompt_tokens_details: { cached_tokens: cached, cache_write_tokens: u.cacheWriteInputTokens || 0 },
    };
}

/**
 * The stream the module must send for Bedrock frames ({headers, payload}, as
 * in *.decoded.jsonl or describeFrame()):
 *   { chunks: [{delta, finish_reason} | {usage}], error: null | {type, code?}, done }
 * `failure`: the error expected after these frames (a corrupt frame, a
 * timeout...). Without messageStop and without a failure, the stream was cut
 * short: a server_error.
 */
function expectedStream(frames, { includeUsage = false, failure = null } = {}) {
    const chunks = [];
    const toolOf = new Map();  // contentBlockIndex -> tool_calls index
    let stopped = false;

    for (const { headers, payload } of frames) {
        const kind = headers[':message-type'];
        if (kind === 'exception') {
            return { chunks, error: STREAM_ERRORS[headers[':exception-type']] || SERVER_ERROR, done: false };
        }
        if (kind === 'error') {
            return { chunks, error: SERVER_ERROR, done: false };
        }
        const block = payload.contentBlockIndex;
        switch (headers[':event-type']) {
        case 'messageStart':
            chunks.push(choiceChunk({ role: 'assistant', content: '' }));
            break;
        case 'contentBlockStart': {
            const tool = payload.start.toolUse;
            if (tool && tool.type !== 'server_tool_use') {
                const index = toolOf.size;
                toolOf.set(block, index);
                chunks.push(choiceChunk({
                    tool_calls: [{
                        index, id: tool.toolUseId, type: 'function',
                        function: { name: tool.name, arguments: '' },
                    }],
                }));
            }
            break;
        }
        case 'contentBlockDelta': {
            const d = payload.delta;
            if (typeof d.text === 'string' && d.text !== '') {
                chunks.push(choiceChunk({ content: d.text }));
            } else if (d.toolUse && d.toolUse.input && toolOf.has(block)) {
                chunks.push(choiceChunk({
                    tool_calls: [{ index: toolOf.get(block), function: { arguments: d.toolUse.input } }],
                }));
            } else if (d.reasoningContent) {
                // the text as reasoning_content, then what a client sends
                // back for the model to check: the signature, or the
                // redacted block
                const r = d.reasoningContent;
                if (r.text) {
                    chunks.push(choiceChunk({ reasoning_content: r.text }));
                }
                if (r.signature) {
                    chunks.push(choiceChunk({
                        thinking_blocks: [{ type: 'thinking', thinking: '', signature: r.signature }],
                    }));
                }
                if (r.redactedContent) {
                    chunks.push(choiceChunk({
                        thinking_blocks: [{ type: 'redacted_thinking', data: r.redactedContent }],
                    }));
                }
            }
            break;
        }
        case 'messageStop':
            stopped = true;
            chunks.push(choiceChunk({}, FINISH_REASONS[payload.stopReason]));
            break;
        case 'metadata':
            if (includeUsage) {
                chunks.push({ usage: openaiUsage(payload.usage) });
            }
            break;
        default:
            break;
        }
    }
    if (failure) {
        return { chunks, error: failure, done: false };
    }
    return stopped ? { chunks, error: null, done: true } : { chunks, error: SERVER_ERROR, done: false };
}

/** Content, reasoning, tool calls (by index), finish_reason and usage of chunks. */
function summarise(chunks) {
    const out = { content: '', reasoning: '', tools: [], finishReason: null, usage: null, toolOrder: [] };
    for (const c of chunks) {
        if (c.usage) {
            out.usage = c.usage;
            continue;
        }
        const d = c.delta;
        out.content += d.content || '';
        out.reasoning += d.reasoning_content || '';
        for (const call of d.tool_calls || []) {
            if (!out.tools[call.index]) {
                out.tools[call.index] = { id: undefined, name: undefined, arguments: '' };
                out.toolOrder.push(call.index);
            }
            const t = out.tools[call.index];
            if (call.id) {
                t.id = call.id;
            }
            if (call.function && call.function.name) {
                t.name = call.function.name;
            }
            t.arguments += (call.function && call.function.arguments) || '';
        }
        if (c.finish_reason) {
            out.finishReason = c.finish_reason;
        }
    }
    return out;
}

const CHUNK_KEYS = ['choices', 'created', 'id', 'model', 'object', 'system_fingerprint'];
const sortedKeys = (o) => Object.keys(o).sort();

/** Checks the envelope of every chunk; returns them as {delta, finish_reason} | {usage}. */
function checkEnvelopes(chunks, { model, includeUsage }) {
    if (chunks.length === 0) {
        return [];
    }
    const { id, created } = chunks[0];
    assert.match(String(id), /^chatcmpl-./, 'chunk id');
    assert.ok(Number.isInteger(created), `created is an integer: ${created}`);
    assert.ok(Math.abs(created - Date.now() / 1000) < 120, 'created is about now');
    const keys = includeUsage ? [...CHUNK_KEYS, 'usage'].sort() : CHUNK_KEYS;

    return chunks.map((c, i) => {
        const where = `chunk ${i} ${JSON.stringify(c)}`;
        assert.equal(c.id, id, `${where}: same id on every chunk`);
        assert.equal(c.created, created, `${where}: same created on every chunk`);
        assert.equal(c.object, 'chat.completion.chunk', where);
        assert.equal(c.model, model, `${where}: model is the client's alias`);
        assert.equal(c.system_fingerprint, null, where);
        assert.ok(Array.isArray(c.choices), where);
        if (c.choices.length === 0) {
            assert.ok(includeUsage, `${where}: a usage chunk without include_usage`);
            assert.deepEqual(sortedKeys(c), keys, `${where}: members`);
            assert.ok(c.usage && typeof c.usage === 'object', `${where}: usage`);
            return { usage: c.usage };
        }
        assert.deepEqual(sortedKeys(c), keys, `${where}: members`);
        if (includeUsage) {
            assert.equal(c.usage, null, `${where}: usage is null on choice chunks`);
        }
        assert.equal(c.choices.length, 1, where);
        const choice = c.choices[0];
        assert.deepEqual(sortedKeys(choice), ['delta', 'finish_reason', 'index', 'logprobs'],
            `${where}: choice members`);
        assert.equal(choice.index, 0, where);
        assert.equal(choice.logprobs, null, where);
        assert.ok(choice.delta && typeof choice.delta === 'object', `${where}: delta`);
        return { delta: choice.delta, finish_reason: choice.finish_reason };
    });
}

/** Checks an in-stream error event {"error":{message,type,param,code}}. */
function assertStreamError(event, want) {
    const text = JSON.stringify(event);
    assert.ok(event && typeof event === 'object', `error event: ${text}`);
    assert.deepEqual(Object.keys(event), ['error'], `error event: ${text}`);
    const err = event.error;
    assert.deepEqual(sortedKeys(err), ['code', 'message', 'param', 'type'], `error event: ${text}`);
    assert.equal(typeof err.message, 'string', text);
    assert.ok(err.message.length > 0, `empty error message: ${text}`);
    assert.equal(err.param, null, text);
    assert.equal(err.type, want.type, `error type: ${text}`);
    if ('code' in want) {
        assert.equal(err.code, want.code, `error code: ${text}`);
    } else {
        assert.ok(err.code === null || typeof err.code === 'string', `error code: ${text}`);
    }
    return err;
}

function parseEvent(data, i) {
    let value;
    assert.doesNotThrow(() => { value = JSON.parse(data); }, `event ${i} is not JSON: ${data.slice(0, 200)}`);
    return value;
}

/**
 * Checks a streamed answer (openStream's result) against expectedStream().
 * options: model (the alias asked for), includeUsage, label (for messages),
 * unterminated: true when the connection may close without the chunked
 * terminator (a read timeout). Returns { chunks (parsed), error, summary }.
 */
function assertStream(res, expected, options = {}) {
    const { model = 'gpt-4o', includeUsage = false, label = '', unterminated = false } = options;
    const at = label ? `${label}: ` : '';
    assert.equal(res.status, 200, `${at}status (body: ${res.text.slice(0, 500)})`);
    assert.match(String(res.headers['content-type']), /^text\/event-stream\b/, `${at}Content-Type`);
    assert.equal(res.headers['transfer-encoding'], 'chunked', `${at}Transfer-Encoding`);
    assert.equal(res.headers['content-length'], undefined, `${at}no Content-Length`);
    if (!unterminated) {
        assert.ok(res.complete, `${at}the response ends with the chunked terminator ` +
            `(tail: ${JSON.stringify(res.text.slice(-200))})`);
    }

    const { events, error } = parseSse(res.text);
    assert.equal(error, null, `${at}${error}`);
    const dones = events.filter((e) => e === DONE).length;
    let err = null;
    let data = events;
    if (expected.done) {
        assert.equal(events[events.length - 1], DONE, `${at}the stream ends with data: [DONE] ` +
            `(tail: ${JSON.stringify(res.text.slice(-300))})`);
        assert.equal(dones, 1, `${at}exactly one [DONE]`);
        data = events.slice(0, -1);
    } else {
        assert.equal(dones, 0, `${at}no [DONE] after a failure (tail: ${JSON.stringify(res.text.slice(-300))})`);
        assert.ok(events.length > 0, `${at}an error event was expected, the body is empty`);
        err = assertStreamError(parseEvent(events[events.length - 1], events.length - 1), expected.error);
        data = events.slice(0, -1);
    }
    const parsed = data.map(parseEvent);
    parsed.forEach((c, i) => {
        assert.ok(!('error' in c), `${at}unexpected error event ${i}: ${JSON.stringify(c)}`);
    });

    const actual = checkEnvelopes(parsed, { model, includeUsage });
    const got = summarise(actual);
    const want = summarise(expected.chunks);
    assert.equal(got.content, want.content, `${at}concatenated delta.content`);
    assert.equal(got.reasoning, want.reasoning, `${at}concatenated delta.reasoning_content`);
    assert.deepEqual(got.toolOrder, want.toolOrder, `${at}tool_calls indexes, dense from 0 in order`);
    assert.deepEqual(got.tools, want.tools, `${at}tool calls (id, name, concatenated arguments)`);
    assert.equal(got.finishReason, want.finishReason, `${at}finish_reason`);
    assert.deepEqual(got.usage, want.usage, `${at}usage`);
    if (expected.chunks.length > 0 && expected.chunks[0].delta && expected.chunks[0].delta.role) {
        assert.deepEqual(actual[0], expected.chunks[0], `${at}the role chunk comes first`);
    }
    assert.deepEqual(actual, expected.chunks, `${at}the chunks, one per Bedrock event`);
    return { chunks: parsed, error: err, summary: got };
}

/** The body with the response's id and created replaced, for comparing runs. */
function normaliseStreamBody(text, chunks) {
    if (chunks.length === 0) {
        return text;
    }
    return text.split(chunks[0].id).join('chatcmpl-ID')
        .replace(/("created"\s*:\s*)\d+/g, (_, key) => `${key}0`);
}

const USER_HI = Object.freeze([{ role: 'user', content: 'Hi' }]);

/**
 * Has the fake answer with `frames`, streams a chat completion (model
 * gpt-4o) through the gateway and checks it against the reference
 * translation. options:
 *   answer: eventStreamAnswer options (split, stall, truncateAfter...)
 *   expectFrames: the frames the expectation is computed from (default:
 *                 the frames the fake sends, described; needed when frames
 *                 holds raw bytes)
 *   failure: the error expected after expectFrames
 *   includeUsage, body (extra request members), prefix, label, unterminated
 * Returns assertStream's result plus res (the raw answer).
 */
async function replayStream(gw, frames, options = {}) {
    const {
        answer = {}, expectFrames, failure = null, includeUsage = false, body = {}, prefix, label,
        unterminated = false, timeoutMs,
    } = options;
    gw.fake.respond = () => eventStreamAnswer(frames, answer);
    const request = { model: 'gpt-4o', messages: USER_HI, ...body };
    if (includeUsage) {
        request.stream_options = { include_usage: true };
    }
    const res = await streamChat(gw, request, { prefix, timeoutMs }).done;
    // what the fake sends: all frames, or the first truncateAfter of them
    const sent = answer.truncateAfter === undefined ? frames : frames.slice(0, answer.truncateAfter);
    const expected = expectedStream(expectFrames || sent.map(describeFrame), { includeUsage, failure });
    const checked = assertStream(res, expected, { includeUsage, label, unterminated });
    assertUpstreamCall(gw.fake.last, { modelId: HAIKU_ID, credentials: TEST_CREDENTIALS, op: 'converse-stream' });
    return { ...checked, res, expected };
}

module.exports = {
    USER_HI,
    replayStream,
    STREAM_ERRORS,
    SERVER_ERROR,
    expectedStream,
    summarise,
    assertStream,
    assertStreamError,
    normaliseStreamBody,
    openaiUsage,
};
