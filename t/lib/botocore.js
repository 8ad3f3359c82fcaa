'use strict';

// botocore (the AWS SDK for Python) as the reference credential resolver:
// resolveWithBotocore(env) runs its default provider chain in exactly that
// environment (plus PATH) and reports which provider answered. Tests skip
// when python3 with botocore is not installed.

const { execFile } = require('node:child_process');
const path = require('node:path');

const SCRIPT = path.join(__dirname, 'botocore-credentials.py');

function run(file, args, options) {
    return new Promise((resolve) => {
        execFile(file, args, options, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });
}

let interpreter;

/** The python that has botocore (null when there is none), found once. */
async function botocorePython() {
    if (interpreter === undefined) {
        const { err, stdout } = await run('python3',
            ['-c', 'import sys, botocore; print(sys.executable)'], { timeout: 20000 });
        interpreter = err ? null : stdout.trim();
    }
    return interpreter;
}

/**
 * botocore's default chain in `env` (undefined values are left out). Must
 * run asynchronously: the fakes it calls live in this process.
 * Resolves to { method, accessKeyId, sessionToken } | { method: null } |
 * { error, message }.
 */
async function resolveWithBotocore(env) {
    const python = await botocorePython();
    if (!python) {
        throw new Error('python3 with botocore is not installed');
    }
    const { err, stdout, stderr } = await run(python, [SCRIPT], {
        env: { PATH: process.env.PATH, BOTO_CONFIG: '/nonexistent/boto.cfg', ...env },
        timeout: 30000,
    });
    if (err) {
        throw new Error(`botocore resolver failed: ${err.message}\n${stderr}`);
    }
    return JSON.parse(stdout);
}

module.exports = { botocorePython, resolveWithBotocore };
