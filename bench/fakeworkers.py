#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fakeworkers.py -- load generator: N podprof workers speaking podprof.v1 over real WebSockets.

A benchmark client for the operator-scale table, not a test double: each
simulated worker opens its own TCP connection to the operator's hub, does the
RFC 6455 upgrade with subprotocol podprof.v1 and the bearer token, sends
hello for its own node name, answers heartbeats, and on attach behaves like
the real agent does on the wire: a non-final progress at once, then at the
window's end a binary profile frame (PPRF header + a small valid gzip pprof
written here from the public profile.proto field numbers) followed by a
final progress. No sampling happens; the point is the operator's fan-out and
collection under many connections. Written on asyncio and the standard
library only (no pip dependency).

Events go to stdout, one JSON object per line, wall-clock times (time.time()):
  {"ev": "connected", "node": ..., "t": ...}
  {"ev": "attach", "node": ..., "job": ..., "pods": n, "t": ...}
  {"ev": "final", "node": ..., "job": ..., "t": ...}
  {"ev": "closed", "node": ..., "t": ..., "why": ...}
  {"ev": "all_connected", "n": N, "t": ...}

Usage: fakeworkers.py --url ws://127.0.0.1:PORT --token-file F --count N --prefix fake- [--start I]

Workers are named PREFIX<i> for i in [I, I + N); scale.py runs several such
processes side by side for large N (one Python event loop per CPU-bound
process), and "all_connected" then counts this process's workers.
"""

import argparse
import asyncio
import base64
import gzip
import json
import os
import resource
import signal
import struct
import sys
import time

SAMPLES_PER_POD = 10
PERIOD_NS = 10101010  # 99 Hz


# --- a small pprof, hand-encoded -------------------------------------------------


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, wire, payload):
    key = _varint((num << 3) | wire)
    if wire == 0:
        return key + _varint(payload)
    return key + _varint(len(payload)) + payload


def _msg(*fields):
    return b"".join(fields)


def _packed(num, values):
    return _field(num, 2, b"".join(_varint(v) for v in values))


def make_profile(node, samples):
    """gzip pprof with two functions and `samples` samples (3:1), valid for the operator's merge."""
    strings = ["", "samples", "count", "cpu", "nanoseconds", "fake_hot", "fake_cold", "fake.c", "node", node]
    s = {v: i for i, v in enumerate(strings)}
    vt = lambda t, u: _msg(_field(1, 0, s[t]), _field(2, 0, s[u]))  # noqa: E731
    hot = samples * 3 // 4
    parts = [
        _field(1, 2, vt("samples", "count")),
        _field(1, 2, vt("cpu", "nanoseconds")),
    ]
    for loc, n in ((1, hot), (2, samples - hot)):
        label = _msg(_field(1, 0, s["node"]), _field(2, 0, s[node]))
        parts.append(_field(2, 2, _msg(_packed(1, [loc]), _packed(2, [n, n * PERIOD_NS]), _field(3, 2, label))))
    for i in (1, 2):
        parts.append(_field(4, 2, _msg(_field(1, 0, i), _field(4, 2, _msg(_field(1, 0, i), _field(2, 0, 1))))))
    for i, name in ((1, "fake_hot"), (2, "fake_cold")):
        parts.append(_field(5, 2, _msg(_field(1, 0, i), _field(2, 0, s[name]), _field(3, 0, s[name]),
                                       _field(4, 0, s["fake.c"]))))
    for st in strings:
        parts.append(_field(6, 2, st.encode()))
    parts += [_field(9, 0, time.time_ns()), _field(10, 0, 1000000000),
              _field(11, 2, vt("cpu", "nanoseconds")), _field(12, 0, PERIOD_NS)]
    return gzip.compress(b"".join(parts))


# --- WebSocket client ---------------------------------------------------------------


def _mask(payload):
    key = os.urandom(4)
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big") if n else 0
    body = (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big") if n else b""
    return key + body


def frame(opcode, payload):
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return hdr + _mask(payload)


def emit(**ev):
    ev["t"] = time.time()
    sys.stdout.write(json.dumps(ev) + "\n")


class FakeWorker:
    def __init__(self, args, node, index=0):
        self.args, self.node = args, node
        # Each real worker dials from its own pod address, and the hub caps
        # connections before hello per address: on loopback, use one source
        # address per fake worker (127.1.0.0/16 is all loopback on Linux).
        self.local_addr = (f"127.1.{index // 250 % 256}.{index % 250 + 1}", 0) \
            if args.host.startswith("127.") else None
        self.jobs = {}  # job id -> asyncio.Task ending the window
        self.writer = None

    def send_json(self, obj):
        obj["v"] = 1
        self.writer.write(frame(0x1, json.dumps(obj, separators=(",", ":")).encode()))

    async def read_frame(self, reader):
        """Next whole message: (opcode, payload), reassembling fragments."""
        msg_op, buf = None, b""
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            payload = await reader.readexactly(n)
            op = b0 & 0x0F
            if op >= 0x8:  # control frames may sit between fragments
                return op, payload
            if op != 0:
                msg_op = op
            buf += payload
            if b0 & 0x80:
                return msg_op, buf

    async def run(self, handshake_sem, connected):
        host, port = self.args.host, self.args.port
        async with handshake_sem:
            reader, self.writer = await asyncio.open_connection(host, port, limit=1 << 20,
                                                                local_addr=self.local_addr)
            key = base64.b64encode(os.urandom(16)).decode()
            self.writer.write((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: podprof.v1\r\n"
                               f"Authorization: Bearer {self.args.token}\r\n\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 101 " not in head.split(b"\r\n")[0]:
                raise ConnectionError(head.split(b"\r\n")[0].decode(errors="replace"))
            self.send_json({"type": "hello", "node": self.node, "version": "fakeworkers",
                            "capabilities": ["kernel-stacks", "cgroup-v2"]})
            op, payload = await self.read_frame(reader)
            welcome = json.loads(payload)
            if welcome.get("type") != "welcome":
                raise ConnectionError(f"expected welcome, got {payload[:200]!r}")
        emit(ev="connected", node=self.node)
        connected()
        hb = asyncio.create_task(self.heartbeat(welcome.get("heartbeatMs", 5000) / 1000.0))
        try:
            while True:
                op, payload = await self.read_frame(reader)
                if op == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    emit(ev="closed", node=self.node, why=f"close {code}")
                    return
                if op == 0x9:
                    self.writer.write(frame(0xA, payload))
                    continue
                if op != 0x1:
                    continue
                self.on_message(json.loads(payload))
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            emit(ev="closed", node=self.node, why=type(e).__name__)
        finally:
            hb.cancel()
            for t in self.jobs.values():
                t.cancel()

    async def heartbeat(self, every):
        seq = 0
        while True:
            await asyncio.sleep(every)
            seq += 1
            self.send_json({"type": "heartbeat", "seq": seq})

    def on_message(self, m):
        typ = m.get("type")
        if typ == "attach":
            job = m["jobId"]
            pods = [p["uid"] for p in m.get("pods", [])]
            emit(ev="attach", node=self.node, job=job, pods=len(pods))
            self.send_json({"type": "progress", "jobId": job, "samples": 0, "drops": 0,
                            "cgroups": len(pods), "errors": 0, "final": False,
                            "pods": [{"uid": u, "samples": 0} for u in pods]})
            old = self.jobs.pop(job, None)
            if old:
                old.cancel()
            self.jobs[job] = asyncio.create_task(self.finish(job, pods, m["windowMs"] / 1000.0))
        elif typ == "detach":
            t = self.jobs.pop(m.get("jobId"), None)
            if t:
                t.cancel()

    async def finish(self, job, pods, window_s):
        await asyncio.sleep(window_s)
        samples = SAMPLES_PER_POD * len(pods)
        jid = job.encode()
        self.writer.write(frame(0x2, b"PPRF" + bytes([1, 1]) + struct.pack("!H", len(jid)) + jid +
                                make_profile(self.node, samples)))
        self.send_json({"type": "progress", "jobId": job, "samples": samples, "drops": 0,
                        "cgroups": len(pods), "errors": 0, "final": True,
                        "pods": [{"uid": u, "samples": SAMPLES_PER_POD} for u in pods]})
        self.jobs.pop(job, None)
        emit(ev="final", node=self.node, job=job)


async def amain(args):
    sem = asyncio.Semaphore(args.parallel_handshakes)
    count = [0]

    def connected():
        count[0] += 1
        if count[0] == args.count:
            emit(ev="all_connected", n=args.count)

    workers = [FakeWorker(args, f"{args.prefix}{i}", i)
               for i in range(args.start, args.start + args.count)]

    async def one(w):
        try:
            await w.run(sem, connected)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as e:
            emit(ev="closed", node=w.node, why=f"{type(e).__name__}: {e}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(one(w)) for w in workers]
    await stop.wait()
    for t in tasks:
        t.cancel()
    for w in workers:
        if w.writer:
            w.writer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="ws://HOST:PORT of podprof-operator run")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--prefix", default="fake-")
    ap.add_argument("--start", type=int, default=0,
                    help="first worker index (several generator processes share one run)")
    ap.add_argument("--parallel-handshakes", type=int, default=64)
    args = ap.parse_args()
    hostport = args.url.split("://", 1)[1].rstrip("/")
    args.host, _, port = hostport.rpartition(":")
    args.port = int(port)
    with open(args.token_file) as f:
        args.token = f.readline().strip()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.count + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sys.stdout.reconfigure(line_buffering=True)
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
