'use strict';

// bedrock_image_fetch: image parts given as http(s) URLs are fetched by
// the gateway (nginx's resolver, then one HTTP/1.1 exchange on the event
// loop), checked, and sent to Bedrock as image bytes. Refused: hosts that
// resolve to loopback, private, link-local and other internal addresses
// (each address of the name, after each redirect), bodies over the cap,
// non-image types, slow servers. A refusal is a 400 naming the part, with
// no Bedrock call. Real sockets: a DNS server, an image server over HTTP
// and TLS, the fake Bedrock checking every signature with AWS's signer.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const https = require('node:https');

const { converseAnswer, eventStreamAnswer } = require('./lib/fake-bedrock');
const { bedrock } = require('./lib/eventstream');
const { startGateway, bedrockLocation, ENV_DIRECTIVES, CLIENT_API_KEY } = require('./lib/gateway');
const { nginxTest } = require('./lib/nginx');
const { startDns } = require('./lib/dns');
const { mintCerts } = require('./lib/certs');
const { until, sleep } = require('./lib/http');

const PNG = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
    'base64');
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]);
// a PNG a little over the test locations' 64k cap, and one a little under
const BIG_PNG = Buffer.concat([PNG.subarray(0, 16), Buffer.alloc(66 * 1024, 1)]);
const NEAR_CAP_PNG = Buffer.concat([PNG.subarray(0, 16), Buffer.alloc(63 * 1024, 2)]);

const NAMES = {
    'images.test': ['127.0.0.1'],
    'private.test': ['10.1.2.3'],
    'metadata.test': ['169.254.169.254'],
    'other-loopback.test': ['127.0.0.2'],
    'v6-loopback.test': ['::1'],
    'mixed.test': ['127.0.0.1', '10.0.0.7'],
};

// The image server: paths are what it serves; it records each request
// and when each connection closed.
function imageRoutes(port) {
    return {
        '/cat.png': { type: 'image/png', body: PNG },
        '/photo.jpg': { type: 'image/jpeg', body: JPEG },
        '/typed.png': { type: 'image/png; charset=binary', body: PNG },
        '/near-cap.png': { type: 'image/png', body: NEAR_CAP_PNG },
        '/big.png': { type: 'image/png', body: BIG_PNG },
        '/big-chunked.png': { type: 'image/png', body: BIG_PNG, chunked: true },
        '/chunked.png': { type: 'image/png', body: PNG, chunked: true },
        '/page.html': { type: 'text/html', body: Buffer.from('<html></html>') },
        '/untyped': { body: PNG },
        '/gzip.png': { type: 'image/png', body: PNG, headers: { 'content-encoding': 'gzip' } },
        '/lies.png': { type: 'image/png', body: Buffer.from('this is not a png at all') },
        '/empty.png': { type: 'image/png', body: Buffer.alloc(0) },
        '/rel': { status: 302, location: 'cat.png' },
        '/to-private': { status: 302, location: `http://private.test:${port}/cat.png` },
        '/to-metadata': { status: 307, location: 'http://169.254.169.254/latest/meta-data/' },
        '/to-ftp': { status: 301, location: 'ftp://images.test/cat.png' },
        '/no-location': { status: 302 },
    };
}

function startImageServer(tls) {
    const server = { requests: [], closes: [], port: 0 };
    const handler = (req, res) => {
        const record = { path: req.url, headers: req.headers, closedAt: null };
        server.requests.push(record);
        req.socket.on('close', () => {
            record.closedAt = performance.now();
        });
        const redirect = /^\/redirect\/(\d+)$/.exec(req.url);
        if (redirect) {
            const n = Number(redirect[1]);
            res.writeHead(302, { location: n === 0 ? '/cat.png' : `/redirect/${n - 1}` });
            res.end();
            return;
        }
        if (req.url === '/hang') {
            return;     // never answers
        }
        if (req.url === '/dribble.png') {
            res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length });
            res.write(PNG.subarray(0, 8));
            const timer = setTimeout(() => res.end(PNG.subarray(8)), 5000);
            res.on('close', () => clearTimeout(timer));
            return;
        }
        const route = imageRoutes(server.port)[req.url.split('?')[0]];
        if (!route) {
            res.writeHead(404, { 'content-type': 'text/plain' });
            res.end('not found');
            return;
        }
        if (route.status) {
            res.writeHead(route.status, route.location ? { location: route.location } : {});
            res.end();
            return;
        }
        const headers = { ...route.headers };
        if (route.type) {
            headers['content-type'] = route.type;
        }
        if (!route.chunked) {
            headers['content-length'] = route.body.length;
        }
        res.writeHead(200, headers);
        if (route.chunked) {
            const half = Math.floor(route.body.length / 2);
            res.write(route.body.subarray(0, half));
            res.end(route.body.subarray(half));
        } else {
            res.end(route.body);
        }
    };
    const srv = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler)
        : http.createServer(handler);
    return new Promise((resolve) => {
        srv.listen(0, '127.0.0.1', () => {
            server.port = srv.address().port;
            server.close = () => new Promise((done) => {
                srv.closeAllConnections();
                srv.close(done);
            });
            resolve(server);
        });
    });
}

function imagePart(url) {
    return { type: 'image_url', image_url: { url } };
}

function chatWith(...parts) {
    return {
        model: 'fast',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe.' }, ...parts] }],
    };
}

// The image blocks of the first Converse message the fake received.
function sentImages(gw) {
    return gw.fake.requests[0].json.messages[0].content.filter((b) => b.image).map((b) => b.image);
}

function assertRefused(gw, res, param, message) {
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.type, 'invalid_request_error', res.text);
    assert.equal(res.json.error.param, param, res.text);
    if (message) {
        assert.match(res.json.error.message, message);
    }
    assert.equal(gw.fake.requests.length, 0, 'no Bedrock call for a refused image');
}

describe('bedrock_image_fetch', () => {
    let gw;
    let dns;
    let plain;
    let secure;
    let certs;
    let base;       // http://images.test:PORT
    let tlsBase;    // https://images.test:PORT

    const FETCH = (extra = '') => [
        '    bedrock_image_fetch on;',
        '    bedrock_image_fetch_allow 127.0.0.1/32;',
        '    bedrock_image_fetch_max_size 64k;',
        extra,
    ].join('\n');

    before(async () => {
        certs = mintCerts({ names: ['images.test'] });
        dns = await startDns(NAMES);
        plain = await startImageServer(null);
        secure = await startImageServer(certs);
        base = `http://images.test:${plain.port}`;
        tlsBase = `https://images.test:${secure.port}`;
        gw = await startGateway({
            server: (fake) => [
                `    resolver 127.0.0.1:${dns.port} valid=1s;`,
                bedrockLocation('/v1/', {
                    pass: fake.url,
                    extra: FETCH(`    bedrock_image_fetch_trusted_certificate ${certs.caFile};\n` +
                        '    bedrock_image_fetch_timeout 3s;'),
                }),
                bedrockLocation('/off/v1/', { pass: fake.url }),
                bedrockLocation('/quick/v1/', { pass: fake.url, extra: FETCH('    bedrock_image_fetch_timeout 400ms;') }),
                bedrockLocation('/patient/v1/', { pass: fake.url, extra: FETCH('    bedrock_image_fetch_timeout 30s;') }),
                bedrockLocation('/strict/v1/', { pass: fake.url, extra: '    bedrock_image_fetch on;' }),
                bedrockLocation('/systrust/v1/', { pass: fake.url, extra: FETCH() }),
                bedrockLocation('/guarded/v1/', {
                    pass: fake.url,
                    extra: FETCH(`    bedrock_image_fetch_trusted_certificate ${certs.caFile};\n` +
                        '    bedrock_guardrail gr-abc123 1;'),
                }),
            ].join('\n'),
        });
    });
    after(async () => {
        await Promise.all([gw && gw.stop(), dns && dns.close(), plain && plain.close(), secure && secure.close()]);
        if (certs) {
            certs.cleanup();
        }
    });
    beforeEach(() => {
        gw.fake.reset();
        gw.fake.respond = () => converseAnswer({ text: 'A cat.' });
        plain.requests.length = 0;
        secure.requests.length = 0;
    });

    describe('fetched', () => {
        it('an http URL image becomes Converse image bytes, in place, beside data: URLs', async () => {
            const res = await gw.chat(chatWith(
                imagePart(`${base}/cat.png`),
                imagePart(`data:image/jpeg;base64,${JPEG.toString('base64')}`),
                imagePart(`${base}/photo.jpg`),
            ));
            assert.equal(res.status, 200, res.text);
            assert.equal(res.json.choices[0].message.content, 'A cat.');
            const sent = gw.fake.requests[0];
            assert.equal(sent.authOk, true, sent.authError);
            const blocks = sent.json.messages[0].content;
            assert.deepEqual(blocks, [
                { text: 'Describe.' },
                { image: { format: 'png', source: { bytes: PNG.toString('base64') } } },
                { image: { format: 'jpeg', source: { bytes: JPEG.toString('base64') } } },
                { image: { format: 'jpeg', source: { bytes: JPEG.toString('base64') } } },
            ]);
        });

        it('the image server gets a plain GET: the client\'s key and headers stay at the gateway', async () => {
            const res = await gw.chat(chatWith(imagePart(`${base}/cat.png?size=small#frag`)), {
                headers: { cookie: 'session=abc' },
            });
            assert.equal(res.status, 200, res.text);
            assert.equal(plain.requests.length, 1);
            const { path, headers } = plain.requests[0];
            assert.equal(path, '/cat.png?size=small');
            assert.equal(headers.host, `images.test:${plain.port}`);
            assert.equal(headers.authorization, undefined);
            assert.equal(headers.cookie, undefined);
            assert.match(headers.accept, /image\/png/);
        });

        it('https URLs are fetched over TLS verified against bedrock_image_fetch_trusted_certificate', async () => {
            const res = await gw.chat(chatWith(imagePart(`${tlsBase}/cat.png`)));
            assert.equal(res.status, 200, res.text);
            assert.equal(secure.requests.length, 1);
            assert.deepEqual(sentImages(gw), [{ format: 'png', source: { bytes: PNG.toString('base64') } }]);
        });

        it('an https server the trust store does not vouch for is refused', async () => {
            const res = await gw.chat(chatWith(imagePart(`${tlsBase}/cat.png`)), { prefix: '/systrust/v1/' });
            assertRefused(gw, res, 'messages[0].content[1].image_url.url', /TLS handshake/);
            assert.match(gw.nginx.errorLog(), /certificate verify error from "images\.test"/);
        });

        it('a chunked body, a Content-Type with parameters and a literal allowed address', async () => {
            const res = await gw.chat(chatWith(
                imagePart(`${base}/chunked.png`),
                imagePart(`${base}/typed.png`),
                imagePart(`http://127.0.0.1:${plain.port}/cat.png`),
            ));
            assert.equal(res.status, 200, res.text);
            const png = { format: 'png', source: { bytes: PNG.toString('base64') } };
            assert.deepEqual(sentImages(gw), [png, png, png]);
        });

        it('an image just under bedrock_image_fetch_max_size is taken whole', async () => {
            const res = await gw.chat(chatWith(imagePart(`${base}/near-cap.png`)));
            assert.equal(res.status, 200, res.text);
            assert.equal(sentImages(gw)[0].source.bytes, NEAR_CAP_PNG.toString('base64'));
        });

        it('redirects are followed, relative ones too, up to three', async () => {
            for (const path of ['/rel', '/redirect/2']) {
                gw.fake.reset();
                gw.fake.respond = () => converseAnswer({ text: 'A cat.' });
                const res = await gw.chat(chatWith(imagePart(base + path)));
                assert.equal(res.status, 200, `${path}: ${res.text}`);
                assert.equal(sentImages(gw)[0].source.bytes, PNG.toString('base64'));
            }
        });

        it('the splice keeps the body valid beside a guardrail and with many images', async () => {
            const urls = Array.from({ length: 20 }, (_, i) => `${base}/${i % 2 ? 'cat.png' : 'photo.jpg'}`);
            const res = await gw.chat(chatWith(...urls.map(imagePart)), { prefix: '/guarded/v1/' });
            assert.equal(res.status, 200, res.text);
            const sent = gw.fake.requests[0].json;
            assert.deepEqual(sent.guardrailConfig, { guardrailIdentifier: 'gr-abc123', guardrailVersion: '1' });
            assert.deepEqual(sentImages(gw).map((img) => img.format),
                urls.map((u) => (u.endsWith('png') ? 'png' : 'jpeg')));
        });

        it('the openai SDK: a URL image, plain and streamed', async () => {
            const client = gw.openai();
            const completion = await client.chat.completions.create({
                model: 'fast',
                messages: [{
                    role: 'user',
                    content: [
                        { type: 'text', text: 'What is this?' },
                        { type: 'image_url', image_url: { url: `${tlsBase}/cat.png`, detail: 'high' } },
                    ],
                }],
            });
            assert.equal(completion.choices[0].message.content, 'A cat.');
            assert.equal(sentImages(gw)[0].source.bytes, PNG.toString('base64'));

            gw.fake.reset();
            gw.fake.respond = () => eventStreamAnswer([
                bedrock.messageStart(),
                bedrock.text(0, 'A '),
                bedrock.text(0, 'cat.'),
                bedrock.blockStop(0),
                bedrock.messageStop('end_turn'),
                bedrock.metadata(),
            ]);
            const stream = await client.chat.completions.create({
                model: 'fast',
                stream: true,
                messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `${base}/photo.jpg` } }] }],
            });
            let text = '';
            for await (const chunk of stream) {
                text += chunk.choices[0]?.delta?.content || '';
            }
            assert.equal(text, 'A cat.');
            assert.equal(gw.fake.requests[0].op, 'converse-stream');
            assert.deepEqual(sentImages(gw), [{ format: 'jpeg', source: { bytes: JPEG.toString('base64') } }]);
        });

        it('the Responses API: an input_image URL, through the openai SDK', async () => {
            const client = gw.openai();
            const response = await client.responses.create({
                model: 'fast',
                input: [{
                    role: 'user',
                    content: [
                        { type: 'input_text', text: 'What is this?' },
                        { type: 'input_image', image_url: `${base}/cat.png`, detail: 'auto' },
                    ],
                }],
            });
            assert.equal(response.output_text, 'A cat.');
            assert.deepEqual(gw.fake.requests[0].json.messages[0].content, [
                { text: 'What is this?' },
                { image: { format: 'png', source: { bytes: PNG.toString('base64') } } },
            ]);
        });
    });

    describe('refused, with no Bedrock call', () => {
        const PARAM = 'messages[0].content[1].image_url.url';

        for (const [name, address] of [
            ['private.test', '10.1.2.3, a private'],
            ['metadata.test', '169.254.169.254, a link-local'],
            ['other-loopback.test', '127.0.0.2, a loopback'],
            ['v6-loopback.test', '::1, a loopback'],
            ['mixed.test', '10.0.0.7, a private'],
        ]) {
            it(`a name resolving to ${address} address (${name})`, async () => {
                const res = await gw.chat(chatWith(imagePart(`http://${name}:${plain.port}/cat.png`)));
                assertRefused(gw, res, PARAM, /not one the gateway fetches from/);
                assert.equal(res.json.error.code, 'invalid_image_url');
                assert.equal(plain.requests.length, 0, 'the image server was never reached');
                assert.ok(gw.nginx.errorLog().includes(`"${name}" resolves to ${address} address`),
                    'the error log names the host and the address');
            });
        }

        it('literal internal addresses, IPv4 and IPv6, without a lookup', async () => {
            for (const url of [
                'http://10.0.0.1/x.png', 'http://169.254.169.254/latest/meta-data/',
                'http://[::1]/x.png', 'http://[::ffff:10.0.0.1]/x.png', 'http://0.0.0.0/x.png',
            ]) {
                const res = await gw.chat(chatWith(imagePart(url)));
                assertRefused(gw, res, PARAM, /not one the gateway fetches from/);
            }
        });

        it('loopback itself, where bedrock_image_fetch_allow does not list it', async () => {
            const res = await gw.chat(chatWith(imagePart(`${base}/cat.png`)), { prefix: '/strict/v1/' });
            assertRefused(gw, res, PARAM, /not one the gateway fetches from/);
            assert.equal(plain.requests.length, 0);
        });

        it('a redirect to a private name or to the metadata service', async () => {
            for (const path of ['/to-private', '/to-metadata']) {
                const res = await gw.chat(chatWith(imagePart(base + path)));
                assertRefused(gw, res, PARAM, /not one the gateway fetches from/);
            }
        });

        it('a fourth redirect, a redirect to another scheme and one without a Location', async () => {
            let res = await gw.chat(chatWith(imagePart(`${base}/redirect/3`)));
            assertRefused(gw, res, PARAM, /redirects too many times/);
            res = await gw.chat(chatWith(imagePart(`${base}/to-ftp`)));
            assertRefused(gw, res, PARAM, /http: or https:/);
            res = await gw.chat(chatWith(imagePart(`${base}/no-location`)));
            assertRefused(gw, res, PARAM, /without a valid Location/);
        });

        it('a body over bedrock_image_fetch_max_size, sized or chunked', async () => {
            for (const path of ['/big.png', '/big-chunked.png']) {
                const res = await gw.chat(chatWith(imagePart(base + path)));
                assertRefused(gw, res, PARAM, /larger than the gateway fetches/);
            }
        });

        it('what is not an image of a type Bedrock takes', async () => {
            for (const [path, message] of [
                ['/page.html', /Content-Type is not an image type/],
                ['/untyped', /Content-Type is not an image type/],
                ['/gzip.png', /Content-Encoding/],
                ['/lies.png', /not a png image, as its Content-Type declares/],
                ['/empty.png', /empty/],
                ['/missing.png', /did not answer 200 OK/],
            ]) {
                const res = await gw.chat(chatWith(imagePart(base + path)));
                assertRefused(gw, res, PARAM, message);
            }
        });

        it('a name that does not resolve, and a port nothing listens on', async () => {
            let res = await gw.chat(chatWith(imagePart(`http://nowhere.test:${plain.port}/cat.png`)));
            assertRefused(gw, res, PARAM, /could not be resolved/);
            res = await gw.chat(chatWith(imagePart('http://127.0.0.1:9/cat.png')));
            assertRefused(gw, res, PARAM, /could not be fetched/);
        });

        it('URLs refused as written: scheme, user information, bad host, spaces', async () => {
            for (const [url, message] of [
                ['ftp://images.test/cat.png', /http: or https:/],
                ['file:///etc/passwd', /http: or https:/],
                [`http://user:pw@images.test:${plain.port}/cat.png`, /user information/],
                ['http:///cat.png', /no host/],
                ['http://images.test:99999/cat.png', /port/],
                ['http://images.test/a cat.png', /printable ASCII/],
            ]) {
                const res = await gw.chat(chatWith(imagePart(url)));
                assertRefused(gw, res, PARAM, message);
            }
            assert.equal(plain.requests.length, 0);
        });

        it('one refused image among good ones names its own part', async () => {
            const res = await gw.chat(chatWith(
                imagePart(`${base}/cat.png`),
                imagePart(`${base}/page.html`),
                imagePart(`${base}/photo.jpg`),
            ));
            assertRefused(gw, res, 'messages[0].content[2].image_url.url', /Content-Type/);
        });

        it('more than 20 image URLs in one request', async () => {
            const parts = Array.from({ length: 21 }, () => imagePart(`${base}/cat.png?of=21`));
            const res = await gw.chat(chatWith(...parts));
            assertRefused(gw, res, 'messages[0].content[21].image_url.url', /at most 20/);
            await sleep(50);
            assert.equal(plain.requests.filter((r) => r.path.endsWith('?of=21')).length, 0,
                'nothing fetched for a request refused as written');
        });

        it('a server too slow for bedrock_image_fetch_timeout, silent or dribbling', async () => {
            for (const path of ['/hang', '/dribble.png']) {
                const started = performance.now();
                const res = await gw.chat(chatWith(imagePart(base + path)), { prefix: '/quick/v1/' });
                const took = performance.now() - started;
                assertRefused(gw, res, PARAM, /not fetched in time/);
                assert.ok(took >= 350 && took < 3000, `${path}: refused after ${took} ms`);
            }
        });

        it('the Responses API names its own part', async () => {
            const res = await gw.call('POST', '/v1/responses', {
                body: {
                    model: 'fast',
                    input: [{ role: 'user', content: [{ type: 'input_image', image_url: `${base}/page.html` }] }],
                },
            });
            assertRefused(gw, res, 'input[0].content[0].image_url', /Content-Type/);
        });

        it('without bedrock_image_fetch, URLs are refused as before and never fetched', async () => {
            const res = await gw.chat(chatWith(imagePart(`${base}/cat.png`)), { prefix: '/off/v1/' });
            assertRefused(gw, res, PARAM, /data: URLs/);
            assert.equal(plain.requests.length, 0);
        });
    });

    it('a client that leaves mid-fetch ends the fetch and the request, with no Bedrock call', async () => {
        const controller = new AbortController();
        const pending = fetch(`${gw.url}/patient/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_API_KEY}` },
            body: JSON.stringify(chatWith(imagePart(`${base}/hang`))),
            signal: controller.signal,
        }).catch((err) => err);
        const record = await until(() => plain.requests.find((r) => r.path === '/hang'), 'the fetch to start');
        await sleep(100);
        const left = performance.now();
        controller.abort();
        assert.equal((await pending).name, 'AbortError');
        await until(() => record.closedAt, 'the gateway to close the image connection', 3000);
        assert.ok(record.closedAt - left < 2000, `closed ${record.closedAt - left} ms after the client left`);
        await sleep(100);
        assert.equal(gw.fake.requests.length, 0);

        // the worker goes on serving
        const res = await gw.chat(chatWith(imagePart(`${base}/cat.png`)));
        assert.equal(res.status, 200, res.text);
    });
});

describe('bedrock_image_fetch: nginx -t', () => {
    const PASS = 'http://127.0.0.1:9';
    const test = (location, http = '') => nginxTest({
        main: ENV_DIRECTIVES,
        http: `${http}\nserver {\n    listen 127.0.0.1:%%PORT%%;\n${location}\n}`,
    });

    it('needs a resolver for the image hosts', async () => {
        const { code, stderr } = await test(bedrockLocation('/v1/', { pass: PASS, extra: 'bedrock_image_fetch on;' }));
        assert.notEqual(code, 0);
        assert.match(stderr, /"bedrock_image_fetch on" needs a "resolver"/);
    });

    it('takes the directives at http level with a resolver', async () => {
        const { code, stderr } = await test(bedrockLocation('/v1/', { pass: PASS }), [
            'resolver 127.0.0.1:53;',
            'bedrock_image_fetch on;',
            'bedrock_image_fetch_max_size 1m;',
            'bedrock_image_fetch_timeout 5s;',
            'bedrock_image_fetch_allow 192.0.2.0/24 2001:db8::/32;',
        ].join('\n'));
        assert.equal(code, 0, stderr);
    });

    it('refuses an address that is not one', async () => {
        const { code, stderr } = await test(bedrockLocation('/v1/', {
            pass: PASS,
            extra: 'resolver 127.0.0.1:53;\nbedrock_image_fetch on;\nbedrock_image_fetch_allow example.com;',
        }));
        assert.notEqual(code, 0);
        assert.match(stderr, /invalid address "example\.com" in "bedrock_image_fetch_allow"/);
    });

    it('refuses a trust file that does not exist', async () => {
        const { code, stderr } = await test(bedrockLocation('/v1/', {
            pass: PASS,
            extra: 'resolver 127.0.0.1:53;\nbedrock_image_fetch on;\n' +
                'bedrock_image_fetch_trusted_certificate /nonexistent/ca.pem;',
        }));
        assert.notEqual(code, 0);
        assert.match(stderr, /nonexistent\/ca\.pem/);
    });
});
