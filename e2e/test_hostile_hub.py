# SPDX-License-Identifier: Apache-2.0
"""test_hostile_hub.py -- the hub against peers without (or with the wrong) token.

Issue 17, operator side: each test runs a hostile client written here against
the real hub (`podprof-testdrv debug-hub`: the hub alone, local-mode tokens) and
asserts a bound -- peak RSS, who gets a slot, what is refused, where files
land -- not only "no crash". The TokenReview cases (slow API server, node
identity under the chart's RBAC) are in e2e/test_rbac_flow.py.
"""
import json
import os
import resource
import socket
import struct
import threading

import pytest

from test_hub import BUILD, TOKEN, WAIT, WS, Hub, encode_frame

# RSS is measured on the plain build: ASan's shadow memory would hide the bound.
PLAIN_TESTDRV = os.path.join(BUILD, "podprof-testdrv")
PROFILE_CAP = 64 * 1024 * 1024  # the operator's default --max-profile-bytes


def vm_hwm_kib(pid):
    """Peak resident set size of pid (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def frame(opcode, payload, fin=True):
    return encode_frame(opcode, payload, fin, zero_mask=True)


def upgrade_request(port, token=None):
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: podprof.v1\r\n")
    if token:
        req += f"Authorization: Bearer {token}\r\n"
    return (req + "\r\n").encode()


@pytest.fixture
def plain_hub(tmp_path):
    if not os.access(PLAIN_TESTDRV, os.X_OK):
        pytest.fail(f"{PLAIN_TESTDRV} not built (run make)")
    import test_hub
    saved = test_hub.TESTDRV
    test_hub.TESTDRV = PLAIN_TESTDRV
    try:
        h = Hub(tmp_path, extra=("--max-profile-bytes", str(PROFILE_CAP)))
    finally:
        test_hub.TESTDRV = saved
    yield h
    h.stop()


def test_prehello_fragments_do_not_grow_memory(plain_hub):
    """Finding 1: 8 tokenless sockets streaming a 48 MiB binary message in 1 MiB
    fragments before hello (last fragment held back) keep the operator's peak RSS
    under 64 MiB; before the fix each was buffered up to the 64 MiB profile cap."""
    hub = plain_hub
    chunk = b"x" * (1 << 20)
    socks = []

    def stream(s):
        try:
            s.sendall(frame(0x2, chunk, fin=False))
            for _ in range(47):
                s.sendall(frame(0x0, chunk, fin=False))
        except OSError:
            pass  # refused: the hub closed the connection

    for _ in range(8):
        ws = WS(hub.port, token=None)
        assert ws.status == 101
        socks.append(ws)
    threads = [threading.Thread(target=stream, args=(ws.sock,)) for ws in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Text before hello is capped too: 64 KiB, then 1009.
    ws = WS(hub.port, token=None)
    try:
        ws.sock.sendall(frame(0x1, b" " * 60000, fin=False) + frame(0x0, b" " * 60000))
    except OSError:
        pass
    assert ws.expect_close() in (1009, None)
    peak_mib = vm_hwm_kib(hub.proc.pid) / 1024
    print(f"operator peak RSS {peak_mib:.1f} MiB after 8 x 48 MiB pre-hello streams")
    assert peak_mib < 64, f"operator peak RSS {peak_mib:.1f} MiB"
    for ws in socks:
        assert ws.expect_close() in (1008, None)
    assert "binary message before hello" in hub.text()
    ws = WS(hub.port)
    assert ws.hello("node-after-flood")["type"] == "welcome"
    ws.close()


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 16384)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 9000:
        pytest.fail(f"need ~9000 file descriptors, hard limit is {hard}")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_prehello_flood_does_not_lock_out_worker(tmp_path, many_fds):
    """Finding 5: 4,096 tokenless upgrades that never say hello, from 256 source
    addresses, do not keep a real worker out: it registers at once, and the hub
    holds at most --max-pending (256) silent sessions (16 per address)."""
    hub = Hub(tmp_path)  # started after the fd limit was raised: it inherits it
    flood = []
    try:
        for i in range(4096):
            s = socket.socket()
            s.bind((f"127.0.1.{i % 256}", 0))
            s.settimeout(WAIT)
            try:
                s.connect(("127.0.0.1", hub.port))
                s.sendall(upgrade_request(hub.port))
            except OSError:
                s.close()
                continue
            flood.append(s)
        upgraded = 0
        for s in flood:
            try:
                upgraded += s.recv(4096).startswith(b"HTTP/1.1 101")
            except OSError:
                pass
        print(f"{upgraded} of 4096 flood upgrades got 101")
        # A real worker (from 127.0.0.1) while the flood is open.
        ws = WS(hub.port)
        assert ws.status == 101
        assert ws.hello("node-real")["type"] == "welcome"
        pending = hub.metric("podprof_hub_pending_sessions")
        assert pending <= 256, pending
        assert hub.metric("podprof_hub_connected_workers") == 1
        _, body = hub.http_get("/metrics")
        print([ln for ln in body.splitlines() if "limited_total" in ln])
        ws.send_json({"v": 1, "type": "heartbeat", "seq": 1})
        assert ws.recv_json()["seq"] == 1
        ws.close()
    finally:
        for s in flood:
            s.close()
        hub.stop()


def test_per_address_prehello_cap(tmp_path):
    """Finding 5: one address cannot hold more than --max-pending-per-addr
    silent sessions; the next is refused with 1013 and a good worker from
    another address still registers."""
    hub = Hub(tmp_path, extra=("--max-pending-per-addr", "4"))
    held = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", hub.port), source_address=("127.0.2.1", 0))
            s.sendall(upgrade_request(hub.port))
            assert s.recv(4096).startswith(b"HTTP/1.1 101")
            held.append(s)
        s = socket.create_connection(("127.0.0.1", hub.port), source_address=("127.0.2.1", 0))
        s.settimeout(WAIT)
        s.sendall(upgrade_request(hub.port))
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert rest[:1] == b"\x88" and struct.unpack("!H", rest[2:4])[0] == 1013, data
        ws = WS(hub.port)
        assert ws.hello("node-other-addr")["type"] == "welcome"
        ws.close()
    finally:
        for s in held:
            s.close()
        hub.stop()


def test_node_bound_tokens_local_mode(tmp_path):
    """Finding 8 (local mode): with per-node secrets, node A's token cannot speak
    for node B: refused (1008) and sent nothing; B's genuine worker keeps its
    session and gets its attach; only the same identity may replace it."""
    attach = {"v": 1, "type": "attach", "jobId": "t/1", "frequencyHz": 9, "windowMs": 60000,
              "kernelStacks": False,
              "pods": [{"uid": "uid-secret-b", "namespace": "ns", "name": "pod-b", "containers": []}]}
    (tmp_path / "attach.json").write_text(json.dumps(attach))
    hub = Hub(tmp_path, extra=("--attach-file", str(tmp_path / "attach.json")),
              token_text="node-a tok-aaaa\nnode-b tok-bbbb\n")
    try:
        b = WS(hub.port, token="tok-bbbb")
        assert b.hello("node-b")["type"] == "welcome"
        assert b.recv_json()["type"] == "attach"
        # A's token claiming node B: refused, and the close is all it receives.
        evil = WS(hub.port, token="tok-aaaa")
        assert evil.status == 101
        evil.send_json({"v": 1, "type": "hello", "node": "node-b", "version": "x"})
        op, payload = evil.recv()
        assert op == 8 and payload == 1008, (op, payload)
        hub.wait_for("event refused node=node-b identity=token-file:node-a")
        # The genuine worker is undisturbed.
        b.send_json({"v": 1, "type": "heartbeat", "seq": 5})
        assert b.recv_json() == {"v": 1, "type": "heartbeat", "seq": 5}
        assert "event disconnected node=node-b" not in hub.text()
        # A's token in hello instead of the header: same refusal.
        evil = WS(hub.port, token=None)
        evil.send_json({"v": 1, "type": "hello", "node": "node-b", "version": "x", "token": "tok-aaaa"})
        assert evil.expect_close() == 1008
        # The old shared secret is no longer valid at all.
        assert WS(hub.port, token=TOKEN).status == 401
        # Node B's own token (same identity) may replace its session (restart).
        b2 = WS(hub.port, token="tok-bbbb")
        assert b2.hello("node-b")["type"] == "welcome"
        assert b.expect_close() == 1008
        b2.close()
        a = WS(hub.port, token="tok-aaaa")
        assert a.hello("node-a")["type"] == "welcome"
        a.close()
        assert hub.metric('podprof_hub_limited_total{limit="node_binding"}') == 2
    finally:
        hub.stop()


def test_node_name_traversal_refused(tmp_path):
    """Finding 12: a hello naming node "../x" (or any non-DNS-1123 name) is
    refused, so --profile-dir never writes outside its directory."""
    prof = tmp_path / "prof"
    prof.mkdir()
    hub = Hub(tmp_path, extra=("--profile-dir", str(prof)))
    try:
        for node in ("../escaped", "a/b", "UPPER", "-x", "x..y"):
            ws = WS(hub.port)
            ws.send_json({"v": 1, "type": "hello", "node": node, "version": "x"})
            assert ws.expect_close() == 1008, node
        hub.wait_for("invalid message: bad_string at node")
        ws = WS(hub.port)
        assert ws.hello("node-ok")["type"] == "welcome"
        payload = b"\x1f\x8b" + os.urandom(64)
        ws.send_frame(0x2, b"PPRF\x01\x01\x00\x03t/1" + payload)
        hub.wait_for("event profile-saved")
        ws.close()
        assert os.listdir(prof) == ["node-ok.0.pb.gz"]
        assert not any(p.name.startswith("escaped") for p in tmp_path.iterdir())
    finally:
        hub.stop()


def test_total_receive_buffers_capped(tmp_path):
    """Finding 1: reassembly buffers of all sessions share one cap (4 x the
    profile cap). Six registered workers each holding back the end of a
    900 KiB profile (cap 1 MiB) cannot make the hub buffer six of them: the
    ones over the total are closed with 1013 (try again later)."""
    hub = Hub(tmp_path)  # --max-profile-bytes 1 MiB: total cap about 4 MiB
    conns = []
    try:
        for i in range(6):
            ws = WS(hub.port)
            assert ws.hello(f"node-rx{i}")["type"] == "welcome"
            conns.append(ws)
        for ws in conns:
            try:
                ws.sock.sendall(frame(0x2, b"PPRF\x01\x01\x00\x03t/1" + b"x" * (900 * 1024), fin=False))
            except OSError:
                pass
        hub.wait_for("operator receive buffers full")
        assert hub.metric('podprof_hub_limited_total{limit="rx_buffers"}') >= 1
        assert hub.metric("podprof_hub_rx_buffer_bytes") <= 4 * (1 << 20) + 4 * 1024
        codes = [ws.expect_close() for ws in conns[4:]]
        assert 1013 in codes, codes
    finally:
        for ws in conns:
            ws.close()
        hub.stop()
