'use strict';

// GET /v1/models and /v1/models/{alias}: answered by nginx from the
// location's bedrock_model_map, without calling Bedrock.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');

const { startGateway, MODELS } = require('./lib/gateway');
const { assertJsonResponse, assertOpenAIError } = require('./lib/expect');

const ALIASES = Object.keys(MODELS).sort();

function assertModel(model, id) {
    assert.equal(model.id, id);
    assert.equal(model.object, 'model');
    assert.ok(Number.isInteger(model.created), 'created is an integer');
    assert.equal(typeof model.owned_by, 'string');
}

describe('models', () => {
    let gw;
    before(async () => {
        gw = await startGateway();
    });
    after(async () => {
        if (gw) {
            assert.equal(gw.fake.requests.length, 0, 'model listing never calls Bedrock');
            await gw.stop();
        }
    });

    it('lists exactly the mapped aliases', async () => {
        const res = await gw.call('GET', '/v1/models');
        assert.equal(res.status, 200, res.text);
        assertJsonResponse(res);
        assert.equal(res.json.object, 'list');
        assert.deepEqual(res.json.data.map((m) => m.id).sort(), ALIASES);
        for (const model of res.json.data) {
            assertModel(model, model.id);
        }
    });

    for (const alias of ALIASES) {
        it(`retrieves ${alias}`, async () => {
            const res = await gw.call('GET', `/v1/models/${alias}`);
            assert.equal(res.status, 200, res.text);
            assertJsonResponse(res);
            assertModel(res.json, alias);
        });
    }

    it('refuses an unknown alias with 404 model_not_found', async () => {
        const res = await gw.call('GET', '/v1/models/gpt-unknown');
        assertOpenAIError(res, 404, { code: 'model_not_found' });
    });

    it('works with the openai SDK', async () => {
        const client = gw.openai();
        const ids = [];
        for await (const model of client.models.list()) {
            ids.push(model.id);
        }
        assert.deepEqual(ids.sort(), ALIASES);
        assertModel(await client.models.retrieve('fast'), 'fast');
        await assert.rejects(client.models.retrieve('gpt-unknown'), OpenAI.NotFoundError);
    });
});
