#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""dns.py -- the cluster DNS of the real-cluster e2e suite (Service names -> ClusterIPs).

Pods reach the operator's hub by its Service name (`<svc>.<ns>.svc`), which
needs a cluster DNS. CoreDNS is not part of the pinned Kubernetes module, so
this small UDP server answers A queries for `<svc>.<ns>.svc.<domain>` from the
real API server's Service list (refreshed every second) and refuses to
recurse: every other name gets NXDOMAIN, so nothing leaves the machine.

    python3 e2e/cluster/dns.py --listen 10.217.0.1 --server URL --ca CA --token-file F
"""

import argparse
import json
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.request

_TYPE_A = 1
_CLASS_IN = 1
_RCODE_NXDOMAIN = 3
_RCODE_FORMERR = 1
_MAX_QUERY = 512  # classic UDP DNS size; larger queries are not ours


class Services:
    """ClusterIPs by (namespace, name), polled from the API server."""

    def __init__(self, server, ca, token):
        self.url = server.rstrip("/") + "/api/v1/services"
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token = token
        self.ips = {}
        self.lock = threading.Lock()

    def refresh(self):
        req = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            items = json.load(r).get("items", [])
        ips = {}
        for s in items:
            ip = s.get("spec", {}).get("clusterIP")
            if ip and ip != "None":
                ips[(s["metadata"]["namespace"], s["metadata"]["name"])] = ip
        with self.lock:
            self.ips = ips

    def poll_forever(self, interval=1.0):
        while True:
            try:
                self.refresh()
            except Exception as e:  # noqa: BLE001 -- API server restarts are retried
                print(f"dns: service list failed: {e}", file=sys.stderr, flush=True)
            time.sleep(interval)

    def lookup(self, ns, name):
        with self.lock:
            return self.ips.get((ns, name))


def parse_question(msg):
    """(id, flags, labels, qtype, end offset) of a one-question query, or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1:
        return None
    labels, off = [], 12
    while True:
        if off >= len(msg):
            return None
        n = msg[off]
        off += 1
        if n == 0:
            break
        if n > 63 or off + n > len(msg):  # no compression in questions
            return None
        labels.append(msg[off:off + n].decode("ascii", "replace").lower())
        off += n
    if off + 4 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[off:off + 4])
    return qid, flags, labels, qtype, off + 4


def answer(msg, services, domain):
    """The reply datagram for one query."""
    q = parse_question(msg)
    if q is None:
        if len(msg) < 2:
            return None
        return msg[:2] + struct.pack("!HHHHH", 0x8000 | _RCODE_FORMERR, 0, 0, 0, 0)
    qid, flags, labels, qtype, end = q
    question = msg[12:end]
    rd = flags & 0x0100
    suffix = ["svc"] + domain.split(".")
    ip = None
    known = False
    if len(labels) == 2 + len(suffix) and labels[2:] == suffix:
        ip = services.lookup(labels[1], labels[0])
        known = ip is not None
    rcode = 0 if known else _RCODE_NXDOMAIN
    answers = b""
    count = 0
    if known and qtype == _TYPE_A:
        # Name pointer to the question (offset 12), TTL 5 s, 4-byte address.
        answers = struct.pack("!HHHIH", 0xC00C, _TYPE_A, _CLASS_IN, 5, 4) + socket.inet_aton(ip)
        count = 1
    # Authoritative answer, no recursion available.
    out_flags = 0x8000 | 0x0400 | rd | rcode
    return struct.pack("!HHHHHH", qid, out_flags, 1, count, 0, 0) + question + answers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="address to serve on (port 53)")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--server", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--domain", default="cluster.local")
    a = p.parse_args(argv)
    with open(a.token_file) as f:
        token = f.read().strip()
    services = Services(a.server, a.ca, token)
    threading.Thread(target=services.poll_forever, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.listen, a.port))
    print(f"dns: serving {a.domain} on {a.listen}:{a.port}", flush=True)
    while True:
        msg, peer = sock.recvfrom(_MAX_QUERY)
        reply = answer(msg, services, a.domain)
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    sys.exit(main())
