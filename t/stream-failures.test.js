'use strict';

// Streams that fail. After the stream started: exactly one error event
// after what was already sent, no [DONE], and the answer ends. Before it
// started: an ordinary OpenAI error response, as for non-streaming calls.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');

const { awsError, loadConverseVectors } = require('./lib/fake-bedrock');
const { bedrock } = require('./lib/eventstream');
const { startGateway, CLIENT_API_KEY } = require('./lib/gateway');
const { assertOpenAIError, BEDROCK_ERRORS } = require('./lib/expect');
const { streamChat } = require('./lib/sse');
const { until } = require('./lib/http');
const { replayStream, USER_HI } = require('./lib/stream-expect');
const {
    LEAD, REST, SLOW_PREFIX, streamLocations, MID_STREAM_FAILURES,
} = require('./lib/stream-cases');

// a GET through Node's global agent (keep-alive, last freed socket
// first), as the stream before it: { status, socket }
function getOnSameAgent(url) {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { headers: { authorization: `Bearer ${CLIENT_API_KEY}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, socket: req.socket }));
        });
        req.setTimeout(5000, () => req.destroy(new Error(`${url}: no answer`)));
        req.on('error', reject);
    });
}

describe('streams failing midway', () => {
    let gw;

    before(async () => {
        gw = await startGateway({ server: streamLocations });
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    for (const c of MID_STREAM_FAILURES) {
        for (const split of c.splits) {
            it(`${c.name} (${split}): one ${c.want.type} event, then the end`, async () => {
                const { res } = await replayStream(gw, c.frames, {
                    answer: { ...c.answer, split },
                    expectFrames: c.expectFrames,
                    failure: c.failure,
                    prefix: c.prefix,
                    unterminated: c.unterminated,
                    label: c.name,
                    timeoutMs: 5000,
                });
                if (c.answer.stall) {
                    // nginx gives up the upstream connection it cannot reuse
                    const rec = gw.fake.last;
                    await until(() => rec.closedEarly, 'nginx to close the upstream connection');
                }
                if (c.prefix === SLOW_PREFIX) {
                    assert.ok(res.elapsedMs >= 900, `the error came after the 1 s timeout (${res.elapsedMs} ms)`);
                    // the core marks a response cut short by an upstream
                    // timeout by closing the connection (README, Streaming)
                    await until(() => res.socket.destroyed, 'nginx to close the client connection');
                }
                if (c.answer.truncateAfter !== undefined) {
                    // a clean close upstream: the client's connection stays
                    // and carries the next request
                    const next = await getOnSameAgent(`${gw.url}/v1/models`);
                    assert.equal(next.status, 200);
                    assert.equal(next.socket, res.socket, 'the next request reuses the connection');
                }
            });
        }
    }

    it('modelStreamErrorException with its extra members, the upstream then closing', async () => {
        await replayStream(gw, [...LEAD, bedrock.exception('modelStreamErrorException', 'Model Stream Error',
            { originalStatusCode: 500, originalMessage: 'The model stream failed.' })]);
    });

    it('an exception before any event: only the error event', async () => {
        const { chunks } = await replayStream(gw, [bedrock.exception('throttlingException', 'Too many tokens')], {
            answer: { stall: true },
        });
        assert.equal(chunks.length, 0);
    });

    it('the upstream closing right after the response header: only the error event', async () => {
        await replayStream(gw, [...LEAD], { answer: { truncateAfter: 0 } });
    });

    it('a slow stream within bedrock_read_timeout is not cut', async () => {
        await replayStream(gw, [...LEAD, ...REST.slice(1)], { prefix: SLOW_PREFIX, answer: { delayMs: 300 } });
    });

    it('nginx keeps serving streams after all this', async () => {
        await replayStream(gw, [...LEAD, ...REST]);
    });
});

describe('streams refused before they start', () => {
    let gw;

    before(async () => {
        gw = await startGateway();
    });
    after(() => gw && gw.stop());
    beforeEach(() => gw.fake.reset());

    const streamed = (model = 'gpt-4o') => streamChat(gw, { model, messages: USER_HI }).done;

    const vector = loadConverseVectors().find((v) => v.name === 'pydantic-converse-stream-error-400-invalid-model');
    it('the recorded ConverseStream 400 becomes a JSON 400', { skip: !vector && 'no ../shared/vectors' }, async () => {
        gw.fake.respond = () => ({
            status: 400,
            // the recording drops the x-amzn-ErrorType header AWS sends with it
            headers: awsError(400, 'ValidationException', '').headers,
            body: vector.response,
        });
        const res = await streamed();
        assertOpenAIError(res, 400, {
            type: 'invalid_request_error',
            message: (m) => m.includes(vector.response.message),
        });
        assert.equal(gw.fake.last.op, 'converse-stream');
    });

    for (const { status, type, want } of BEDROCK_ERRORS) {
        it(`Bedrock ${status} ${type} on converse-stream: the same JSON error as without stream`, async () => {
            gw.fake.respond = () => awsError(status, type, `${type} raised by the fake`);
            const res = await streamed();
            assertOpenAIError(res, status, want);
            assert.equal(gw.fake.last.op, 'converse-stream');
            assert.equal(gw.fake.requests.length, 1);
        });
    }

    it('a client error is still refused before calling Bedrock', async () => {
        assertOpenAIError(await streamed('gpt-unknown'), 404, { code: 'model_not_found' });
        assert.equal(gw.fake.requests.length, 0);
    });
});
