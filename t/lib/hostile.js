'use strict';

// Hostile request bodies and the ways of holding many of them at once,
// shared by t/hostile.test.js (which asserts) and bench/hostile-bench.js
// (which prints figures).

const net = require('node:net');

const { converseAnswer } = require('./fake-bedrock');
const { NGINX_BIN } = require('./nginx');

// Locations as the README configures them for large histories.
const BIG_BODIES = 'client_max_body_size 20m; client_body_buffer_size 1m;';

// ASan keeps freed memory in its quarantine (256 MB by default): a small
// one keeps RSS about what is live (options in the environment add to the
// ones compiled into build/asan/nginx).
const ASAN_ENV = /asan/.test(NGINX_BIN)
    ? { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=16` } : {};

const increasingNames = (n) => Array.from({ length: n }, (_, i) => `f${String(i + 1).padStart(6, '0')}`);
const decreasingNames = (n) => increasingNames(n).reverse();

/** A chat body whose assistant message calls each of `names` once; no `tools`. */
function historyBody(names, { model = 'gpt-4o', args = '{}', stream, extraCalls = [] } = {}) {
    const calls = names.map((name, i) => ({ id: `c${i}`, type: 'function', function: { name, arguments: args } }));
    return JSON.stringify({
        model,
        ...(stream ? { stream: true } : {}),
        messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', tool_calls: [...calls, ...extraCalls] }],
    });
}

// ~964 KB: 19,000 tiny tool calls, just under client_body_buffer_size, so
// that nginx keeps each body in memory.
const TINY_CALL = '{"id":"c","function":{"name":"f","arguments":"{}"}}';
function tinyCallsBody(count = 19000, { stream = false } = {}) {
    return `{"model":"gpt-4o",${stream ? '"stream":true,' : ''}"messages":[{"role":"user","content":"Hi"},` +
        `{"role":"assistant","tool_calls":[${Array(count).fill(TINY_CALL).join(',')}]}]}`;
}

// ~500 KB of JSON values the gateway does not translate (255,000 of them:
// just under the request's budget of 256 Ki values, so the body is valid).
function metadataBody(values = 255000) {
    return `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"metadata":[${
        Array(values).fill('0').join(',')}]}`;
}

/**
 * Makes the fake hold every answer until it holds `count` requests.
 * Returns { held: a promise of that moment, release(), isHeld() }.
 */
function holdAnswers(fake, count, answer) {
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    let allHeld;
    let isHeld = false;
    const held = new Promise((resolve) => { allHeld = resolve; }).then(() => { isHeld = true; });
    fake.respond = async () => {
        if (fake.requests.length === count) {
            allHeld();
        }
        await released;
        return answer();
    };
    return { held, release, isHeld: () => isHeld };
}

/** A Converse answer with one tool call whose input holds `values` numbers, serialised once. */
function manyValuesAnswer(values) {
    const answer = converseAnswer({
        content: [{ toolUse: { toolUseId: 't1', name: 'f', input: { a: new Array(values).fill(0) } } }],
        stopReason: 'tool_use',
    });
    answer.body = Buffer.from(JSON.stringify(answer.body));
    return answer;
}

/**
 * `count` raw clients that send a chat request and read nothing until
 * read() is called; read() resolves to their whole replies.
 */
function waitingClients(port, count, body) {
    const socks = Array.from({ length: count }, () => {
        const sock = net.connect(port, '127.0.0.1');
        sock.pause();
        sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            + `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return sock;
    });
    const read = () => Promise.all(socks.map((sock) => new Promise((resolve, reject) => {
        const parts = [];
        sock.on('data', (d) => parts.push(d));
        sock.on('error', reject);
        sock.on('end', () => resolve(Buffer.concat(parts).toString()));
        sock.resume();
    })));
    return { read };
}

/** Waits until the fake has received `count` requests (or `ms` pass). */
async function requestsReached(fake, count, ms = 60000) {
    const started = performance.now();
    while (fake.requests.length < count && performance.now() - started < ms) {
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

module.exports = {
    BIG_BODIES, ASAN_ENV, increasingNames, decreasingNames, historyBody, tinyCallsBody, metadataBody,
    holdAnswers, manyValuesAnswer, waitingClients, requestsReached,
};
