'use strict';

// Runs a real nginx (daemonised master + 1 worker) in a private prefix
// directory with the module loaded, and fails the test on alerts, crashes or
// sanitizer reports in its error log when it stops.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { until } = require('./http');

const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
const MODULE_PATH = path.resolve(process.env.BEDROCK_MODULE ||
    path.join(__dirname, '../../build/ngx_http_bedrock_module.so'));
const BAD_LOG_LINES = [/\[alert\]/, /\[emerg\]/, /\[crit\]/, /segfault/, /exited on signal/, /Sanitizer/,
    /: runtime error: /];
const TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];

// Every nginx of the suite logs at debug level unless a test asks otherwise,
// and at stop its log must hold none of the suite's AWS secrets.
const DEFAULT_LOG_LEVEL = process.env.NGINX_ERROR_LOG_LEVEL || 'debug';
const SUITE_SECRETS = (() => {
    const { TEST_CREDENTIALS, TEST_SESSION_TOKEN, TEST_BEARER_TOKEN } = require('./fake-bedrock');
    return [TEST_CREDENTIALS.secretAccessKey, TEST_SESSION_TOKEN, TEST_BEARER_TOKEN];
})();

// Sanitizer and fault-injection runs (scripts/sanitize.sh, scripts/eagain.sh)
// hand their settings to nginx, and only to nginx: ASAN_OPTIONS, UBSAN_OPTIONS,
// LSAN_OPTIONS and EAGAIN_SHIM_* as they are, NGINX_LD_PRELOAD as LD_PRELOAD
// (so that node itself does not load the shim).
const PASSTHROUGH_ENV = (() => {
    const env = {};
    for (const [name, value] of Object.entries(process.env)) {
        if (/^(ASAN|UBSAN|LSAN)_OPTIONS$|^EAGAIN_SHIM_/.test(name)) {
            env[name] = value;
        }
    }
    if (process.env.NGINX_LD_PRELOAD) {
        env.LD_PRELOAD = process.env.NGINX_LD_PRELOAD;
    }
    return env;
})();

// Masters still running, killed if the test process exits without stop().
const running = new Set();
process.on('exit', () => {
    for (const pid of running) {
        try {
            process.kill(pid, 'SIGKILL');
        } catch {
            // already gone
        }
    }
});

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

function moduleMissingError() {
    return new Error(`${MODULE_PATH} does not exist: build the module first (scripts/build.sh), ` +
        'or point BEDROCK_MODULE at the .so');
}

function readIfExists(file) {
    try {
        return fs.readFileSync(file, 'utf8');
    } catch {
        return '';
    }
}

// A daemonised master is not our child, so it may linger as a zombie when
// nothing reaps it: treat that as gone.
function isAlive(pid) {
    const stat = readIfExists(`/proc/${pid}/stat`);
    if (stat === '') {
        return false;
    }
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** Replaces %%DIR%% and %%PORT%%, %%PORT2%%, ... in the given texts. */
async function allocatePlaceholders(texts, dir, ports) {
    for (const text of texts) {
        for (const [, n] of text.matchAll(/%%PORT(\d*)%%/g)) {
            const key = n || '1';
            if (!ports.has(key)) {
                ports.set(key, await freePort());
            }
        }
    }
    return texts.map((text) => text
        .replace(/%%DIR%%/g, dir)
        .replace(/%%PORT(\d*)%%/g, (_, n) => String(ports.get(n || '1'))));
}

function renderConfig(dir, {
    http = '', main = '', errorLogLevel = DEFAULT_LOG_LEVEL, noModule = false, workerConnections = 256,
    workerProcesses = 1,
}) {
    return [
        noModule ? '' : `load_module ${MODULE_PATH};`,
        'daemon on;',
        'master_process on;',
        `worker_processes ${workerProcesses};`,
        `error_log ${dir}/error.log ${errorLogLevel};`,
        `pid ${dir}/nginx.pid;`,
        main,
        `events { worker_connections ${workerConnections}; }`,
        'http {',
        `    access_log ${dir}/access.log;`,
        ...TEMP_PATHS.map((t) => `    ${t}_temp_path ${dir}/${t}_temp;`),
        http,
        '}',
        '',
    ].join('\n');
}

/** Creates the prefix dir and writes conf/nginx.conf. */
async function prepare(options, ports = new Map(), dir = null) {
    if (!options.noModule && !fs.existsSync(MODULE_PATH)) {
        throw moduleMissingError();
    }
    if (!dir) {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bedrock-nginx-'));
        // Workers run as an unprivileged user when we are root.
        fs.chmodSync(dir, 0o755);
        fs.mkdirSync(path.join(dir, 'conf'), { recursive: true });
    }
    const [http, main] = await allocatePlaceholders([options.http || '', options.main || ''], dir, ports);
    const conf = renderConfig(dir, { ...options, http, main });
    fs.writeFileSync(path.join(dir, 'conf', 'nginx.conf'), conf);
    return { dir, conf, ports };
}

function runNginx(dir, extraArgs, env = {}) {
    const args = ['-p', `${dir}/`, '-c', 'conf/nginx.conf', '-e', `${dir}/error.log`, ...extraArgs];
    return new Promise((resolve, reject) => {
        const child = spawn(NGINX_BIN, args, {
            env: { PATH: process.env.PATH, ...PASSTHROUGH_ENV, ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (c) => { output += c; });
        child.stderr.on('data', (c) => { output += c; });
        child.on('error', reject);
        // A daemonising nginx exits at once; do not wait for inherited pipes.
        child.on('exit', (code, signal) => {
            setTimeout(() => {
                child.stdout.destroy();
                child.stderr.destroy();
                resolve({ code: code === null ? `signal ${signal}` : code, stderr: output });
            }, 50);
        });
    });
}

function portAccepts(port) {
    return new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1');
        sock.once('connect', () => { sock.destroy(); resolve(true); });
        sock.once('error', () => resolve(false));
    });
}

function listenPorts(conf) {
    const ports = new Set();
    for (const [, port] of conf.matchAll(/^\s*listen\s+(?:127\.0\.0\.1:|localhost:)?(\d+)\b/gm)) {
        ports.add(Number(port));
    }
    return [...ports];
}

function badLogLines(log) {
    return log.split('\n').filter((line) => BAD_LOG_LINES.some((re) => re.test(line)));
}

/**
 * startNginx({ http, main, env, errorLogLevel = 'info', noModule = false,
 *              workerConnections = 256, workerProcesses = 1 })
 * `http` goes inside http{}, `main` at the top level. %%PORT%%, %%PORT2%%...
 * become free ports and %%DIR%% the prefix dir. `env` is the whole
 * environment of nginx besides PATH.
 */
async function startNginx(options = {}) {
    const { dir, conf, ports } = await prepare(options);
    const env = options.env || {};
    const errorLogPath = path.join(dir, 'error.log');
    // stop() removes the dir: errorLog() then returns what the log held at exit
    let finalLog = null;
    const errorLog = () => (finalLog === null ? readIfExists(errorLogPath) : finalLog);

    const started = await runNginx(dir, [], env);
    if (started.code !== 0) {
        throw new Error(`nginx failed to start (exit ${started.code}):\n${started.stderr}\n${errorLog()}\n` +
            `--- ${dir}/conf/nginx.conf\n${conf}`);
    }
    const pid = await until(() => {
        const text = readIfExists(path.join(dir, 'nginx.pid')).trim();
        return text ? Number(text) : 0;
    }, 'nginx.pid', 5000);
    running.add(pid);

    const listening = listenPorts(conf);
    try {
        await Promise.all(listening.map((p) => until(() => portAccepts(p), `nginx to listen on ${p}`, 5000)));
    } catch (err) {
        err.message += `\n${errorLog()}`;
        throw err;
    }

    const port = ports.get('1') || listening[0];
    let stopped = false;
    return {
        dir,
        pid,
        port,
        ports: [...ports.values()],
        url: `http://127.0.0.1:${port}`,
        errorLog,
        accessLog: (name = 'access.log') => readIfExists(path.join(dir, name)),

        /** Sends HUP (optionally with a new config) and waits for new workers. */
        async reload(newOptions) {
            if (newOptions) {
                await prepare({ ...options, ...newOptions }, ports, dir);
            }
            const countStarts = () => (errorLog().match(/start worker process/g) || []).length;
            const before = countStarts();
            process.kill(pid, 'SIGHUP');
            await until(() => countStarts() > before, 'nginx reload', 5000);
        },

        /**
         * Graceful QUIT; throws if error.log shows alerts, crashes or sanitizer
         * output. errorLog() keeps answering with the final log afterwards.
         */
        async stop() {
            if (stopped) {
                return;
            }
            stopped = true;
            if (isAlive(pid)) {
                process.kill(pid, 'SIGQUIT');
            }
            try {
                await until(() => !isAlive(pid), `nginx ${pid} to exit`, 10000);
            } catch (err) {
                process.kill(pid, 'SIGKILL');
                throw err;
            } finally {
                running.delete(pid);
            }
            const leaked = SUITE_SECRETS.filter((secret) => errorLog().includes(secret));
            if (leaked.length > 0) {
                throw new Error(`nginx error.log in ${dir} holds ${leaked.length} AWS secret(s) of the suite`);
            }
            const bad = badLogLines(errorLog());
            if (bad.length > 0) {
                throw new Error(`nginx error.log in ${dir} has alerts or crashes:\n${bad.join('\n')}`);
            }
            if (!process.env.KEEP_NGINX_DIR) {
                finalLog = errorLog();
                fs.rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}

/**
 * nginx -t on a configuration. Accepts the same options as startNginx (or
 * just the http{} text) and resolves to { code, stderr } where stderr also
 * holds the error log written during the test.
 */
async function nginxTest(options) {
    const opts = typeof options === 'string' ? { http: options } : options;
    const { dir } = await prepare(opts);
    try {
        const { code, stderr } = await runNginx(dir, ['-t'], opts.env || {});
        const output = stderr + readIfExists(path.join(dir, 'error.log'));
        // a sanitizer report fails nginx -t whatever the test expects of it
        if (/Sanitizer|: runtime error: /.test(output)) {
            throw new Error(`nginx -t in ${dir} hit a sanitizer:\n${output}`);
        }
        return { code, stderr: output };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

module.exports = { NGINX_BIN, MODULE_PATH, freePort, startNginx, nginxTest, moduleMissingError };
