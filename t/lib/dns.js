'use strict';

// A tiny DNS server on loopback for nginx's resolver: answers A queries for
// the names it is given with 127.0.0.1, NXDOMAIN for everything else, and
// counts the queries it saw.

const dgram = require('node:dgram');

function readName(msg, offset) {
    const labels = [];
    while (msg[offset] !== 0) {
        const len = msg[offset];
        labels.push(msg.toString('ascii', offset + 1, offset + 1 + len));
        offset += 1 + len;
    }
    return { name: labels.join('.').toLowerCase(), end: offset + 1 };
}

function answer(query, names) {
    const { name, end } = readName(query, 12);
    const qtype = query.readUInt16BE(end);
    const question = query.subarray(12, end + 4);
    const found = names.has(name) && qtype === 1;

    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);                    // id
    header.writeUInt16BE(found || names.has(name) ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);                     // questions
    header.writeUInt16BE(found ? 1 : 0, 6);         // answers

    const parts = [header, question];
    if (found) {
        const rr = Buffer.alloc(16);
        rr.writeUInt16BE(0xc00c, 0);                // name: the question's
        rr.writeUInt16BE(1, 2);                     // A
        rr.writeUInt16BE(1, 4);                     // IN
        rr.writeUInt32BE(30, 6);                    // TTL
        rr.writeUInt16BE(4, 10);
        Buffer.from([127, 0, 0, 1]).copy(rr, 12);
        parts.push(rr);
    }
    return { name, reply: Buffer.concat(parts) };
}

async function startDns(hostnames) {
    const names = new Set(hostnames.map((n) => n.toLowerCase()));
    const sock = dgram.createSocket('udp4');
    const dns = { port: 0, queries: [] };

    sock.on('message', (msg, peer) => {
        const { name, reply } = answer(msg, names);
        dns.queries.push(name);
        sock.send(reply, peer.port, peer.address);
    });

    await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
    dns.port = sock.address().port;
    dns.close = () => new Promise((resolve) => sock.close(resolve));
    return dns;
}

module.exports = { startDns };
