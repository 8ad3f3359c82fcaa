'use strict';

// The test suite's fake Bedrock as a standalone server, for trying the
// gateway without an AWS account (scripts/gateway.sh --fake).
//
//   node t/fake-bedrock-server.js PORT
//
// It checks SigV4 signatures made with the test credentials (printed as
// shell assignments on stdout) and answers every Converse call with an echo
// of the last user message; a ConverseStream call ("stream": true) gets the
// same echo as an event stream, word by word.

const { startFake, converseAnswer, eventStreamAnswer, TEST_CREDENTIALS } = require('./lib/fake-bedrock');
const { textStream } = require('./lib/eventstream');

// Pause between two frames of a stream, so that a person sees it stream.
const STREAM_DELAY_MS = 30;

function lastUserText(json) {
    const turns = (json && json.messages) || [];
    for (let i = turns.length - 1; i >= 0; i--) {
        if (turns[i].role === 'user') {
            return turns[i].content.filter((b) => b.text).map((b) => b.text).join(' ');
        }
    }
    return '';
}

async function main() {
    const port = Number(process.argv[2] || 0);
    const fake = await startFake({ port });

    fake.respond = (req) => {
        fake.requests.length = 0;
        const text = `Fake Bedrock (${req.modelId}) heard: ${lastUserText(req.json)}`;
        const words = text.split(/\s+/).length;
        const usage = { inputTokens: words, outputTokens: words, totalTokens: 2 * words };
        if (req.op === 'converse-stream') {
            // messageStart, one contentBlockDelta per word ("Fake", " Bedrock",
            // ...: together the same text), contentBlockStop, messageStop,
            // metadata
            return eventStreamAnswer(textStream(text.split(/(?<=\S)(?=\s)/), { usage }),
                { delayMs: STREAM_DELAY_MS });
        }
        return converseAnswer({ text, usage });
    };

    process.stdout.write(`FAKE_BEDROCK_URL=${fake.url}\n`
        + `AWS_ACCESS_KEY_ID=${TEST_CREDENTIALS.accessKeyId}\n`
        + `AWS_SECRET_ACCESS_KEY=${TEST_CREDENTIALS.secretAccessKey}\n`);

    const stop = () => fake.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
