'use strict';

// A small HTTP(S) client on node:http, so tests control framing exactly
// (Content-Length vs chunked request bodies, custom CAs, raw headers).

const http = require('node:http');
const https = require('node:https');

function toBuffer(body) {
    if (body === undefined || body === null) {
        return null;
    }
    if (Buffer.isBuffer(body)) {
        return body;
    }
    return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

function parseJson(text) {
    try {
        return JSON.parse(text);
    } catch {
        return null;
    }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls check() until it returns a truthy value; fails after timeoutMs. */
async function until(check, what, timeoutMs = 3000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value) {
            return value;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await sleep(10);
    }
}

/**
 * request({ url, method, headers, body, chunks, chunkDelayMs, ca, agent, timeoutMs })
 * - body: object (sent as JSON), string or Buffer, sent with Content-Length;
 * - chunks: array of strings/Buffers sent with Transfer-Encoding: chunked.
 * Resolves to { status, headers, text, json }.
 */
function request(options) {
    const {
        url,
        method = 'GET',
        headers = {},
        body,
        chunks,
        chunkDelayMs = 10,
        ca,
        agent,
        timeoutMs = 10000,
    } = options;
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : http;
    const payload = toBuffer(body);
    const allHeaders = { ...headers };
    if (payload && !Object.keys(allHeaders).some((h) => h.toLowerCase() === 'content-length')) {
        allHeaders['Content-Length'] = payload.length;
    }
    if (body !== undefined && typeof body === 'object' && !Buffer.isBuffer(body) &&
        !Object.keys(allHeaders).some((h) => h.toLowerCase() === 'content-type')) {
        allHeaders['Content-Type'] = 'application/json';
    }

    return new Promise((resolve, reject) => {
        const req = lib.request({
            hostname: target.hostname,
            port: target.port,
            path: target.pathname + target.search,
            method,
            headers: allHeaders,
            ca,
            agent,
            timeout: timeoutMs,
        }, (res) => {
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('end', () => {
                const text = Buffer.concat(parts).toString('utf8');
                resolve({ status: res.statusCode, headers: res.headers, text, json: parseJson(text) });
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
        req.on('error', reject);

        if (!chunks) {
            req.end(payload || undefined);
            return;
        }
        (async () => {
            for (const chunk of chunks) {
                req.write(chunk);
                await sleep(chunkDelayMs);
            }
            req.end();
        })().catch((err) => req.destroy(err));
    });
}

module.exports = { request, sleep, until, parseJson };
