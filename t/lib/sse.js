'use strict';

// The client side of a streamed chat completion: a node:http request whose
// body is read as it arrives (so tests can act on the first chunk), and a
// strict parser of the text/event-stream the module must send.

const http = require('node:http');
const { StringDecoder } = require('node:string_decoder');
const { CLIENT_API_KEY } = require('./gateway');

const DONE = '[DONE]';

/**
 * Splits a complete text/event-stream body into its events' data. The
 * contract is strict: every event is exactly `data: <one line>\n\n`.
 * Returns { events: [data strings], error: null | description }.
 */
function parseSse(text) {
    const events = [];
    if (text === '') {
        return { events, error: null };
    }
    if (!text.endsWith('\n\n')) {
        return { events, error: `body does not end with a blank line: ${JSON.stringify(text.slice(-80))}` };
    }
    for (const block of text.slice(0, -2).split('\n\n')) {
        const m = /^data: ([^\n]*)$/.exec(block);
        if (!m) {
            return { events, error: `not a "data: ..." event: ${JSON.stringify(block.slice(0, 200))}` };
        }
        events.push(m[1]);
    }
    return { events, error: null };
}

function parseJson(text, fallback = undefined) {
    try {
        return JSON.parse(text);
    } catch {
        return fallback;
    }
}

/**
 * POSTs a chat completion request and reads the answer as it streams.
 * Returns a handle:
 *   done: Promise of { status, headers, text, json (when the body is JSON,
 *         else null), complete (the chunked terminator arrived), aborted,
 *         elapsedMs }
 *   when(predicate, what): Promise resolved with the first parsed event
 *         (JSON or the string "[DONE]") for which predicate is true
 *   firstContent(): when(an event carrying non-empty delta.content)
 *   destroy(): drops the connection (a client that goes away)
 * Rejects `done` when the answer does not finish within timeoutMs.
 */
function openStream(url, body, { headers = {}, timeoutMs = 10000 } = {}) {
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const target = new URL(url);
    const started = performance.now();
    const waiters = [];
    const seen = [];
    let req;
    let res = null;
    let text = '';
    let pending = '';
    let destroyedByUs = false;

    const notify = (event) => {
        seen.push(event);
        for (const w of waiters) {
            if (!w.settled && w.predicate(event)) {
                w.settled = true;
                w.resolve(event);
            }
        }
    };

    const done = new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            const err = new Error(`${url}: the stream did not end within ${timeoutMs} ms; ` +
                `received so far: ${JSON.stringify(text.slice(-300))}`);
            req.destroy(err);
            reject(err);
        }, timeoutMs);

        req = http.request({
            hostname: target.hostname,
            port: target.port,
            path: target.pathname + target.search,
            method: 'POST',
            headers: {
                authorization: `Bearer ${CLIENT_API_KEY}`,
                'content-type': 'application/json',
                'content-length': payload.length,
                ...headers,
            },
        }, (response) => {
            res = response;
            const decoder = new StringDecoder('utf8');
            res.on('data', (chunk) => {
                const s = decoder.write(chunk);
                text += s;
                pending += s;
                let cut;
                while ((cut = pending.indexOf('\n\n')) !== -1) {
                    const block = pending.slice(0, cut);
                    pending = pending.slice(cut + 2);
                    const data = block.startsWith('data: ') ? block.slice(6) : block;
                    notify(data === DONE ? DONE : parseJson(data));
                }
            });
            // 'close' comes after 'end', or alone when the connection drops.
            res.on('error', () => {});
            res.on('close', () => {
                clearTimeout(timer);
                text += decoder.end();
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    text,
                    json: parseJson(text, null),
                    complete: res.complete,
                    aborted: destroyedByUs,
                    socket: req.socket,
                    elapsedMs: performance.now() - started,
                });
            });
        });
        req.on('error', (err) => {
            clearTimeout(timer);
            if (res === null && !destroyedByUs) {
                reject(err);
            }
        });
        req.end(payload);
    });

    const when = (predicate, what = 'an event') => new Promise((resolve, reject) => {
        const hit = seen.find(predicate);
        if (hit !== undefined) {
            resolve(hit);
            return;
        }
        const w = { predicate, resolve, settled: false };
        waiters.push(w);
        done.then(() => {
            if (!w.settled) {
                w.settled = true;
                reject(new Error(`the stream ended without ${what}: ${JSON.stringify(text.slice(-300))}`));
            }
        }, reject);
    });

    return {
        done,
        when,
        firstContent: () => when((e) => Boolean(e && e.choices && e.choices[0] &&
            typeof e.choices[0].delta.content === 'string' && e.choices[0].delta.content !== ''),
            'a content chunk'),
        destroy() {
            destroyedByUs = true;
            req.destroy();
            if (req.socket) {
                req.socket.destroy();
            }
        },
        get text() {
            return text;
        },
        /** How many events arrived so far. */
        get eventCount() {
            return seen.length;
        },
    };
}

/** Opens a streamed chat completion through a gateway (see openStream). */
function streamChat(gw, body, { prefix = '/v1/', ...options } = {}) {
    return openStream(`${gw.url}${prefix}chat/completions`, { stream: true, ...body }, options);
}

module.exports = { DONE, parseSse, openStream, streamChat };
