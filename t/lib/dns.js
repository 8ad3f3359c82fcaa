'use strict';

// A tiny DNS server on loopback for nginx's resolver. startDns(names):
// - an array of names: each answers A 127.0.0.1;
// - an object { name: ['192.0.2.1', '::1', ...] }: each name answers A
//   queries with its IPv4 addresses and AAAA queries with its IPv6 ones.
// Every other name gets NXDOMAIN. It counts the queries it saw; the records
// may be changed while it runs (dns.records).

const dgram = require('node:dgram');
const net = require('node:net');

const A = 1;
const AAAA = 28;

function readName(msg, offset) {
    const labels = [];
    while (msg[offset] !== 0) {
        const len = msg[offset];
        labels.push(msg.toString('ascii', offset + 1, offset + 1 + len));
        offset += 1 + len;
    }
    return { name: labels.join('.').toLowerCase(), end: offset + 1 };
}

function ipv6Bytes(text) {
    const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
    const words = (s) => (s ? s.split(':') : []);
    const left = words(head);
    const right = tail === null ? [] : words(tail);
    const fill = tail === null ? [] : Array(8 - left.length - right.length).fill('0');
    const all = [...left, ...fill, ...right];
    const out = Buffer.alloc(16);
    all.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
    return out;
}

function rdata(address) {
    return net.isIPv4(address)
        ? Buffer.from(address.split('.').map(Number))
        : ipv6Bytes(address);
}

function answer(query, records) {
    const { name, end } = readName(query, 12);
    const qtype = query.readUInt16BE(end);
    const question = query.subarray(12, end + 4);
    const known = records.has(name);
    const family = qtype === A ? 4 : qtype === AAAA ? 6 : 0;
    const found = known
        ? records.get(name).filter((a) => net.isIP(a) === family)
        : [];

    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);                    // id
    header.writeUInt16BE(known ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);                     // questions
    header.writeUInt16BE(found.length, 6);          // answers

    const parts = [header, question];
    for (const address of found) {
        const data = rdata(address);
        const rr = Buffer.alloc(12);
        rr.writeUInt16BE(0xc00c, 0);                // name: the question's
        rr.writeUInt16BE(qtype, 2);
        rr.writeUInt16BE(1, 4);                     // IN
        rr.writeUInt32BE(30, 6);                    // TTL
        rr.writeUInt16BE(data.length, 10);
        parts.push(rr, data);
    }
    return { name, reply: Buffer.concat(parts) };
}

function toRecords(names) {
    const entries = Array.isArray(names)
        ? names.map((n) => [n, ['127.0.0.1']])
        : Object.entries(names);
    return new Map(entries.map(([n, a]) => [n.toLowerCase(), a]));
}

async function startDns(names) {
    const sock = dgram.createSocket('udp4');
    const dns = { port: 0, queries: [], records: toRecords(names) };

    sock.on('message', (msg, peer) => {
        const { name, reply } = answer(msg, dns.records);
        dns.queries.push(name);
        sock.send(reply, peer.port, peer.address);
    });

    await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
    dns.port = sock.address().port;
    dns.close = () => new Promise((resolve) => sock.close(resolve));
    return dns;
}

module.exports = { startDns };
