'use strict';

// What /proc says about a running nginx: its workers (the master's
// children), their memory (VmRSS, VmHWM) and the CPU time they used, for
// tests and benchmarks that bound cost by ratios or growth, not by clocks.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

// Clock ticks per second of utime/stime in /proc/<pid>/stat (100 on Linux).
const CLK_TCK = (() => {
    try {
        const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
        return ticks > 0 ? ticks : 100;
    } catch {
        return 100;
    }
})();

function read(file) {
    try {
        return fs.readFileSync(file, 'utf8');
    } catch {
        return '';
    }
}

/** Pids of the master's children (its workers, and cache processes if any). */
function workerPids(masterPid) {
    return read(`/proc/${masterPid}/task/${masterPid}/children`).trim().split(/\s+/).filter(Boolean).map(Number);
}

/** One field of /proc/<pid>/status in kB ('VmRSS', 'VmHWM', ...); 0 when gone. */
function statusKb(pid, field) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(read(`/proc/${pid}/status`));
    return m ? Number(m[1]) : 0;
}

/** utime + stime of a process, in seconds; 0 when gone. */
function cpuSeconds(pid) {
    const stat = read(`/proc/${pid}/stat`);
    if (stat === '') {
        return 0;
    }
    // after "pid (comm) ": state is field 3, utime 14 and stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * The files a process has open: [{ fd, target, size }]; target is what
 * /proc/<pid>/fd/<fd> links to (" (deleted)" appended for an unlinked file,
 * as nginx's temp files are), size is that of the open file.
 */
function openFiles(pid) {
    let fds;
    try {
        fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
        return [];
    }
    const files = [];
    for (const fd of fds) {
        try {
            const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
            if (target.startsWith('/')) {
                files.push({ fd: Number(fd), target, size: fs.statSync(`/proc/${pid}/fd/${fd}`).size });
            }
        } catch {
            // closed meanwhile
        }
    }
    return files;
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

/** Summed over the master's workers: RSS and peak RSS in bytes, CPU seconds. */
function workersRss(masterPid) {
    return sum(workerPids(masterPid).map((pid) => statusKb(pid, 'VmRSS'))) * 1024;
}

function workersHwm(masterPid) {
    return sum(workerPids(masterPid).map((pid) => statusKb(pid, 'VmHWM'))) * 1024;
}

function workersCpu(masterPid) {
    return sum(workerPids(masterPid).map(cpuSeconds));
}

/**
 * Samples workersRss() every `intervalMs` until stop() is called; stop()
 * returns the highest sum seen (it also samples once more).
 */
function sampleRss(masterPid, intervalMs = 20) {
    let peak = workersRss(masterPid);
    const timer = setInterval(() => {
        peak = Math.max(peak, workersRss(masterPid));
    }, intervalMs);
    return {
        get peak() {
            return peak;
        },
        stop() {
            clearInterval(timer);
            peak = Math.max(peak, workersRss(masterPid));
            return peak;
        },
    };
}

const MB = 1024 * 1024;

module.exports = {
    CLK_TCK, MB, workerPids, statusKb, cpuSeconds, openFiles, workersRss, workersHwm, workersCpu, sampleRss,
};
