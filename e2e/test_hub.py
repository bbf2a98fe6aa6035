# SPDX-License-Identifier: Apache-2.0
"""test_hub.py -- the operator's worker hub refuses wrong tokens and malformed,
unknown or oversized frames without crashing, and keeps serving good workers.

Runs `podprof-testdrv debug-hub` (the operator's hub alone, in the test-only driver) and talks to it with a raw
WebSocket client written here on the standard library (no pip dependencies),
so that the test can send exactly the bytes a hostile peer would send.
"""
import base64
import gzip
import json
import os
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import pprofread

BUILD = os.environ.get("PODPROF_BUILD", "build")
ASAN_BUILD = os.environ.get("PODPROF_ASAN_BUILD", os.path.join(BUILD, "asan"))
# The hub runs under ASan+UBSan when that build exists: "no crash" then also
# means no memory error on any of the hostile inputs below.
TESTDRV = next((p for p in (os.path.join(ASAN_BUILD, "podprof-testdrv"),
                            os.path.join(BUILD, "podprof-testdrv")) if os.access(p, os.X_OK)),
               os.path.join(BUILD, "podprof-testdrv"))
WORKER = os.path.join(BUILD, "podprof-worker")
TOKEN = "e2e-secret-7f3a9c"
WAIT = 30  # seconds to wait for an expected event (a wait, not a timing assertion)
PROFILE_CAP = 1024 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Hub:
    """A debug-hub process whose stdout events are collected."""

    def __init__(self, tmp_path, extra=(), port=None, token_text=TOKEN + "\n"):
        self.token_file = tmp_path / "token"
        self.token_file.write_text(token_text)
        self.token_file.chmod(0o600)
        self.log_path = tmp_path / "hub.log"
        # A port free a moment ago may be taken by then (other processes on a
        # shared machine): try another one, unless the test chose it.
        for attempt in range(1 if port else 3):
            self.port = port or free_port()
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [TESTDRV, "debug-hub", "--port", str(self.port), "--token-file",
                 str(self.token_file), "--max-profile-bytes", str(PROFILE_CAP),
                 "--heartbeat-ms", "1000", *extra],
                stdout=self.log, stderr=subprocess.STDOUT)
            try:
                self.wait_for("event listening")
                return
            except AssertionError:
                if attempt == 2 or port or "cannot serve on port" not in self.text():
                    raise
                self.proc.wait()
                self.log.close()

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, needle, count=1):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.text().count(needle) >= count:
                return
            assert self.proc.poll() is None, "hub exited:\n" + self.text()
            time.sleep(0.05)
        raise AssertionError(f"no {needle!r} in hub log:\n" + self.text())

    def http_get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=WAIT) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name):
        _, body = self.http_get("/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError(f"metric {name} missing:\n{body}")

    def stop(self):
        """Stop the hub; a clean exit means no sanitizer report and no leak."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=WAIT)
        self.log.close()
        assert self.proc.returncode == 0, f"hub exit {self.proc.returncode}:\n" + self.text()


def encode_frame(opcode, payload, fin=True, announce=None, zero_mask=False):
    """One masked client frame. announce: length to put in the header (lets a
    test lie about size); zero_mask: an all-zero mask (valid, and no per-byte
    XOR in Python, so that a test can push hundreds of MiB quickly)."""
    n = len(payload) if announce is None else announce
    hdr = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
    if zero_mask:
        return hdr + b"\0\0\0\0" + payload
    mask = os.urandom(4)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WS:
    """Minimal RFC 6455 client: masked frames out, unmasked frames in."""

    def __init__(self, port, token=TOKEN, subprotocol="podprof.v1", tls_ca=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n")
        if subprotocol:
            req += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
        if token:
            req += f"Authorization: Bearer {token}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        line = head.split(b"\r\n")[0].decode() if head else ""
        self.status = int(line.split()[1]) if line.startswith("HTTP/") else 0

    def send_frame(self, opcode, payload, fin=True, announce=None):
        """announce: length to put in the header (lets a test lie about size)."""
        try:
            self.sock.sendall(encode_frame(opcode, payload, fin, announce))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_json(self, obj):
        self.send_frame(0x1, json.dumps(obj).encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """Next message as (opcode, payload); close frames as (8, code)."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        payload = self._read(n)
        op = b0 & 0x0F
        if op == 0x8:
            return 8, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        return op, payload

    def recv_json(self):
        op, payload = self.recv()
        assert op == 1, f"expected text, got opcode {op} {payload!r}"
        return json.loads(payload)

    def expect_close(self):
        """The hub closes: a close frame (its code) or an EOF/reset (None)."""
        try:
            while True:
                op, payload = self.recv()
                if op == 8:
                    return payload
        except (EOFError, ConnectionResetError):
            return None

    def hello(self, node, token=None):
        msg = {"v": 1, "type": "hello", "node": node, "version": "e2e",
               "capabilities": ["kernel-stacks"]}
        if token:
            msg["token"] = token
        self.send_json(msg)
        return self.recv_json()

    def close(self):
        self.sock.close()


@pytest.fixture
def hub(tmp_path):
    if not os.access(TESTDRV, os.X_OK):
        pytest.fail(f"{TESTDRV} not built (run make)")
    h = Hub(tmp_path)
    yield h
    h.stop()


def assert_alive_and_serving(hub, node):
    """The hub process survived and a fresh good worker still registers."""
    assert hub.proc.poll() is None, hub.text()
    ws = WS(hub.port)
    assert ws.status == 101
    welcome = ws.hello(node)
    assert welcome["type"] == "welcome"
    ws.close()


def test_wrong_token_refused(hub):
    """A worker with a wrong token is refused (HTTP 401 or a policy close)."""
    bad_header = WS(hub.port, token="not-the-secret")
    assert bad_header.status == 401
    bad_header.close()
    # Token in hello instead of the header: also checked.
    ws = WS(hub.port, token=None)
    assert ws.status == 101
    ws.send_json({"v": 1, "type": "hello", "node": "intruder", "version": "x", "token": "wrong"})
    assert ws.expect_close() == 1008
    # No token at all.
    ws = WS(hub.port, token=None)
    ws.send_json({"v": 1, "type": "hello", "node": "intruder", "version": "x"})
    assert ws.expect_close() == 1008
    assert hub.metric("podprof_hub_auth_failures_total") >= 2
    assert "event connected node=intruder" not in hub.text()
    assert TOKEN not in hub.text(), "the secret leaked into the log"
    # Right token in hello (no header) works.
    ws = WS(hub.port, token=None)
    assert ws.hello("node-hello-token", token=TOKEN)["type"] == "welcome"
    ws.close()
    assert_alive_and_serving(hub, "node-ok")


@pytest.mark.parametrize("name,frame", [
    ("bad_json", b'{"v":1,"type":"hello","node":'),
    ("bad_version", b'{"v":9,"type":"heartbeat"}'),
    ("unknown_type", b'{"v":1,"type":"exec","cmd":"id"}'),
    ("wrong_type", b'{"v":1,"type":"progress","jobId":"j","samples":"many"}'),
    ("bad_string", b'{"v":1,"type":"progress","jobId":"' + b"j" * 500 + b'","samples":1}'),
    ("not_utf8", b'{"v":1,"type":"heartbeat","x":"\xff\xfe"}'),
])
def test_malformed_frames_refused(hub, name, frame):
    """Malformed control frames drop the connection with 1008 (or 1007 for bad UTF-8)."""
    ws = WS(hub.port)
    assert ws.hello("node-" + name.replace("_", "-"))["type"] == "welcome"
    ws.send_frame(0x1, frame)
    code = ws.expect_close()
    assert code in ((1007,) if name == "not_utf8" else (1008,)), code
    if name != "not_utf8":
        hub.wait_for("invalid message: " + name.replace("bad_string", "bad_string"))
    assert_alive_and_serving(hub, "node-after-" + name.replace("_", "-"))


def test_order_and_direction_enforced(hub):
    """Messages before hello, and operator-only messages from a worker, are refused."""
    ws = WS(hub.port)
    ws.send_json({"v": 1, "type": "progress", "jobId": "j", "samples": 1})
    assert ws.expect_close() == 1008
    ws = WS(hub.port)
    ws.hello("node-dir")
    ws.send_json({"v": 1, "type": "attach", "jobId": "j", "frequencyHz": 99, "windowMs": 10,
                  "pods": []})
    assert ws.expect_close() == 1008
    ws = WS(hub.port)
    ws.send_frame(0x2, b"PPRF\x01\x00\x00\x01j" + b"x" * 10)
    assert ws.expect_close() == 1008
    ws = WS(hub.port, subprotocol=None)
    assert ws.status != 101
    assert_alive_and_serving(hub, "node-dir2")


def test_oversized_frames_refused(hub):
    """Frames over the caps get 1009 as soon as the header announces them."""
    # Text frame announcing 1 MiB (text cap is 64 KiB): refused before the body.
    ws = WS(hub.port)
    ws.hello("node-big1")
    ws.send_frame(0x1, b'{"v":1', announce=1 << 20)
    assert ws.expect_close() == 1009
    # Binary profile announcing more than --max-profile-bytes.
    ws = WS(hub.port)
    ws.hello("node-big2")
    ws.send_frame(0x2, b"PPRF", announce=PROFILE_CAP + 4096)
    assert ws.expect_close() == 1009
    # Many small fragments that together exceed the text cap.
    ws = WS(hub.port)
    ws.hello("node-big3")
    ws.send_frame(0x1, b" " * 30000, fin=False)
    ws.send_frame(0x0, b" " * 30000, fin=False)
    ws.send_frame(0x0, b" " * 30000, fin=True)
    assert ws.expect_close() == 1009
    # A 64-bit length near 2^63: must not overflow the cap check.
    ws = WS(hub.port)
    ws.hello("node-big4")
    ws.send_frame(0x2, b"PPRF", announce=(1 << 63) - 1)
    assert ws.expect_close() in (1009, 1002, None)
    assert hub.metric('podprof_hub_refused_messages_total{reason="too_big"}') >= 3
    assert_alive_and_serving(hub, "node-big-ok")


def test_good_worker_session(hub):
    """A good worker registers, heartbeats, reports progress and sends a fragmented profile."""
    ws = WS(hub.port)
    welcome = ws.hello("node-good")
    assert welcome["type"] == "welcome" and welcome["v"] == 1
    assert welcome["maxProfileBytes"] == PROFILE_CAP
    hub.wait_for("event connected node=node-good identity=token-file")
    assert hub.metric("podprof_hub_connected_workers") == 1
    ws.send_json({"v": 1, "type": "heartbeat", "seq": 7})
    assert ws.recv_json() == {"v": 1, "type": "heartbeat", "seq": 7}
    ws.send_json({"v": 1, "type": "progress", "jobId": "t1/1", "samples": 10, "drops": 0,
                  "cgroups": 1, "errors": 0, "final": False,
                  "pods": [{"uid": "u1", "samples": 10}]})
    hub.wait_for("event progress node=node-good job=t1/1 samples=10")
    payload = gzip.compress(os.urandom(200000))
    msg = b"PPRF\x01\x01\x00\x04t1/1" + payload
    parts = [msg[i:i + 50000] for i in range(0, len(msg), 50000)]
    for i, p in enumerate(parts):
        ws.send_frame(0x2 if i == 0 else 0x0, p, fin=(i == len(parts) - 1))
    hub.wait_for(f"event profile node=node-good job=t1/1 bytes={len(payload)} final=1")
    # A second connection for the same node replaces the first.
    ws2 = WS(hub.port)
    assert ws2.hello("node-good")["type"] == "welcome"
    assert ws.expect_close() == 1008
    assert hub.metric("podprof_hub_connected_workers") == 1
    ws2.close()
    hub.wait_for("event disconnected node=node-good", count=2)
    status, body = hub.http_get("/healthz")
    assert status == 200
    status, _ = hub.http_get("/readyz")
    assert status == 200
    status, _ = hub.http_get("/nope")
    assert status == 404


def test_idle_worker_dropped(hub):
    """A connection that never says hello is closed by the hub (no slot held forever)."""
    ws = WS(hub.port)
    assert ws.status == 101
    assert ws.expect_close() in (None, 1000, 1001, 1006, 1008)
    assert hub.proc.poll() is None


def test_silent_worker_dropped(hub):
    """A registered worker that goes silent (three heartbeat periods) is closed and unregistered."""
    ws = WS(hub.port)
    assert ws.hello("node-silent")["type"] == "welcome"
    hub.wait_for("event connected node=node-silent")
    ws.send_json({"v": 1, "type": "heartbeat", "seq": 1})
    assert ws.recv_json()["type"] == "heartbeat"
    assert ws.expect_close() in (None, 1000, 1001, 1006)
    hub.wait_for("event disconnected node=node-silent")
    assert "worker node-silent silent for" in hub.text()
    assert hub.metric("podprof_hub_connected_workers") == 0


CGROUP_ROOT = "/sys/fs/cgroup/unified"


def rmdir_soon(path):
    """Remove a pod cgroup once its killed processes have left it."""
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.05)


@pytest.fixture
def busy_pod(tmp_path):
    """A real process spinning in a kubelet-style (cgroupfs driver) pod cgroup."""
    if os.geteuid() != 0 or not os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.procs")):
        pytest.fail("needs root and a cgroup v2 mount at " + CGROUP_ROOT)
    uid = "e2e0hub0-" + os.urandom(4).hex() + "-4000-8000-000000000001"
    path = os.path.join(CGROUP_ROOT, "kubepods", "pod" + uid)
    os.makedirs(path)
    proc = subprocess.Popen(
        ["sh", "-c", f"echo $$ > {path}/cgroup.procs && exec sh -c 'while :; do :; done'"])
    yield uid
    proc.kill()
    proc.wait()
    rmdir_soon(path)


def start_agent(hub, node, tmp_path, token=TOKEN, extra=(), scheme="ws"):
    tok = tmp_path / f"agent-token-{node}"
    tok.write_text(token + "\n")
    tok.chmod(0o600)
    log = open(tmp_path / f"agent-{node}.log", "w")
    worker = next((p for p in (os.path.join(ASAN_BUILD, "podprof-worker"), WORKER)
                   if os.access(p, os.X_OK)), WORKER)
    proc = subprocess.Popen(
        [worker, "agent", "--operator", f"{scheme}://127.0.0.1:{hub.port}", "--node", node,
         "--token-file", str(tok), "--cgroup-root", CGROUP_ROOT, *extra],
        stdout=log, stderr=subprocess.STDOUT)
    return proc, tmp_path / f"agent-{node}.log"


def stop(proc, log=None):
    """Stop an agent; it must exit cleanly (0) on SIGTERM."""
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=WAIT)
    assert proc.returncode == 0, (open(log).read() if log else proc.returncode)


def test_real_agent_profiles_attached_pod(tmp_path, busy_pod):
    """A real worker agent registers with the right token, samples the pod the
    operator names in attach, and sends back the profile and a final progress."""
    attach = {"v": 1, "type": "attach", "jobId": "e2e-target/1", "frequencyHz": 99,
              "kernelStacks": False, "windowMs": 3000,
              "pods": [{"uid": busy_pod, "namespace": "default", "name": "busy",
                        "containers": []}]}
    (tmp_path / "attach.json").write_text(json.dumps(attach))
    (tmp_path / "prof").mkdir()
    hub = Hub(tmp_path, ["--attach-file", str(tmp_path / "attach.json"),
                         "--profile-dir", str(tmp_path / "prof")])
    agent, agent_log = start_agent(hub, "node-e2e", tmp_path)
    try:
        hub.wait_for("event connected node=node-e2e identity=token-file")
        assert hub.metric("podprof_hub_connected_workers") == 1
        hub.wait_for("event profile node=node-e2e job=e2e-target/1")
        hub.wait_for("event progress node=node-e2e job=e2e-target/1")
        final = [l for l in hub.text().splitlines()
                 if l.startswith("event progress ") and "final=1" in l]
        assert final, hub.text()
        samples = int(final[0].split("samples=")[1].split()[0])
        assert samples > 0, final[0]
        assert f"progress-pod node=node-e2e job=e2e-target/1 uid={busy_pod} samples=" in hub.text()
        saved = hub.text().split("event profile-saved path=")[1].split()[0]
        raw = gzip.decompress(open(saved, "rb").read())
        assert b"node-e2e" in raw and b"busy" in raw  # node and pod labels
        assert agent.poll() is None, open(agent_log).read()
    finally:
        stop(agent, agent_log)
        hub.stop()


def exec_workload(tmp_path):
    """A program built without frame pointers that execs a second one (unwexec) a
    second after it starts: (argv, known chain of the second)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads")
    nofp = ["cc", "-O2", "-fomit-frame-pointer"]
    lib = str(tmp_path / "libunwlib.so")
    subprocess.run([*nofp, "-shared", "-fPIC", "-o", lib, os.path.join(here, "unwlib.c")],
                   check=True)
    before, after = str(tmp_path / "unwind-nofp"), str(tmp_path / "unwexec")
    subprocess.run([*nofp, "-o", before, os.path.join(here, "unwind.c"), f"-L{tmp_path}",
                    "-lunwlib", f"-Wl,-rpath,{tmp_path}", "-ldl"], check=True)
    subprocess.run([*nofp, "-o", after, os.path.join(here, "unwexec.c")], check=True)
    return f"{before} exec 1 {after} 30"


def exec_pod(tmp_path, tag):
    uid = "e2e0hub0-" + os.urandom(4).hex() + "-4000-8000-00000000000" + tag
    path = os.path.join(CGROUP_ROOT, "kubepods", "pod" + uid)
    os.makedirs(path)
    attach = {"v": 1, "type": "attach", "jobId": f"e2e-exec/{tag}", "frequencyHz": 99,
              "kernelStacks": False, "windowMs": 5000,
              "pods": [{"uid": uid, "namespace": "default", "name": "exec",
                        "containers": []}]}
    (tmp_path / "attach.json").write_text(json.dumps(attach))
    (tmp_path / "prof").mkdir()
    return path


def exec_window_learnt_at_once(hub, path, cmd):
    """Start cmd in the pod once the hub sent its attach; the new program's samples
    must nearly all carry its whole chain down to the process entry."""
    hub.wait_for("event attach-sent")
    proc = subprocess.Popen(["sh", "-c", f"echo $$ > {path}/cgroup.procs && exec {cmd}"])
    try:
        hub.wait_for("event profile-saved path=")
    finally:
        proc.kill()
        proc.wait()
    saved = hub.text().split("event profile-saved path=")[1].split()[0]
    stacks = pprofread.Profile(saved).stacks()
    new = [(f, v) for f, v in stacks if f and f[0] == "after_leaf"]
    n = sum(v for _, v in new)
    good = sum(v for f, v in new if f[:3] == ["after_leaf", "after_outer", "main"]
               and "__libc_start_main" in f[-3:] and not f[-1].startswith("["))
    assert n >= 50, (n, sorted(stacks, key=lambda s: -s[1])[:5])
    # Learnt once a second instead, a quarter of them would end in a marker.
    assert good >= 0.93 * n, (good, n, sorted(new, key=lambda s: -s[1])[:5])


def test_real_agent_unwinds_process_exec_mid_window(tmp_path):
    """A process the agent has never seen (here: one that execs a second program,
    built without frame pointers, a second into the window) is learnt the moment
    the BPF program meets it, not at the next once-a-second scan: nearly all of the
    new program's samples reach the process entry with the known call chain."""
    cmd = exec_workload(tmp_path)
    path = exec_pod(tmp_path, "2")
    hub = Hub(tmp_path, ["--attach-file", str(tmp_path / "attach.json"),
                         "--profile-dir", str(tmp_path / "prof")])
    agent, agent_log = start_agent(hub, "node-exec", tmp_path)
    try:
        exec_window_learnt_at_once(hub, path, cmd)
        assert agent.poll() is None, open(agent_log).read()
    finally:
        stop(agent, agent_log)
        hub.stop()
        rmdir_soon(path)


def test_real_agent_learns_processes_at_once_after_bpf_reload(tmp_path):
    """The wake-up fd belongs to one load of the BPF object: after the agent unloads
    it (--unload-after 0, no job) and loads it again for the next job, it watches
    the new one, so new processes are still learnt at once."""
    cmd = exec_workload(tmp_path)
    first, second = tmp_path / "hub1", tmp_path / "hub2"
    first.mkdir()
    second.mkdir()
    path = exec_pod(first, "3")
    (second / "attach.json").write_text((first / "attach.json").read_text())
    (second / "prof").mkdir()
    hub = Hub(first, ["--attach-file", str(first / "attach.json"),
                      "--profile-dir", str(first / "prof")])
    agent, agent_log = start_agent(hub, "node-reload", tmp_path, extra=("--unload-after", "0"))
    try:
        exec_window_learnt_at_once(hub, path, cmd)
        port = hub.port
        hub.stop()
        deadline = time.monotonic() + WAIT
        while "BPF sampler unloaded" not in open(agent_log).read():
            assert time.monotonic() < deadline, open(agent_log).read()
            time.sleep(0.1)
        hub = Hub(second, ["--attach-file", str(second / "attach.json"),
                           "--profile-dir", str(second / "prof")], port=port)
        exec_window_learnt_at_once(hub, path, cmd)
        assert open(agent_log).read().count("BPF sampler loaded") == 2, open(agent_log).read()
        assert agent.poll() is None, open(agent_log).read()
    finally:
        stop(agent, agent_log)
        hub.stop()
        rmdir_soon(path)


def test_real_agent_wrong_token_and_reconnect(tmp_path):
    """A worker with a wrong token never registers (and keeps the hub healthy);
    a good worker reconnects by itself after the operator restarts."""
    hub = Hub(tmp_path)
    bad, bad_log = start_agent(hub, "node-bad", tmp_path, token="wrong-token")
    good, good_log = start_agent(hub, "node-good", tmp_path)
    try:
        hub.wait_for("event connected node=node-good")
        deadline = time.monotonic() + WAIT
        while hub.metric("podprof_hub_auth_failures_total") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.metric("podprof_hub_auth_failures_total") >= 2  # it retried, refused each time
        assert "node=node-bad" not in hub.text()
        assert bad.poll() is None and hub.proc.poll() is None
        # Operator restart on the same port: the agent dials again with backoff.
        port = hub.port
        hub.stop()
        (tmp_path / "h2").mkdir()
        hub2 = Hub(tmp_path / "h2", port=port)
        try:
            hub2.wait_for("event connected node=node-good")
        finally:
            hub2.stop()
        assert TOKEN not in open(good_log).read() and TOKEN not in hub2.text()
    finally:
        stop(bad, bad_log)
        stop(good, good_log)


def test_tls_hub(tmp_path):
    """With a certificate the hub speaks only TLS: workers that trust its CA
    register over wss://, others do not, and tokens are still checked."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=podprof-operator", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    hub = Hub(tmp_path, ["--tls-cert", str(cert), "--tls-key", str(key)])
    trusting, t_log = start_agent(hub, "node-tls", tmp_path, scheme="wss",
                                  extra=["--ca-file", str(cert)])
    untrusting, u_log = start_agent(hub, "node-untrusted", tmp_path, scheme="wss")
    plain, p_log = start_agent(hub, "node-plain", tmp_path, scheme="ws")
    try:
        hub.wait_for("event connected node=node-tls identity=token-file")
        ws = WS(hub.port, token="wrong", tls_ca=str(cert))
        assert ws.status == 401
        ws = WS(hub.port, tls_ca=str(cert))
        assert ws.hello("node-raw-tls")["type"] == "welcome"
        ws.close()
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"https://localhost:{hub.port}/healthz", context=ctx,
                                    timeout=WAIT) as r:
            assert r.status == 200
        # Give the other two agents several dial attempts (a wait, not a timing check).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.2)
        assert "node=node-untrusted" not in hub.text()
        assert "node=node-plain" not in hub.text()
        # Both did try, and failed at the TLS/HTTP layer.
        assert "cannot reach the operator" in open(u_log).read()
        assert "cannot reach the operator" in open(p_log).read()
        assert hub.proc.poll() is None
    finally:
        stop(trusting, t_log)
        stop(untrusting, u_log)
        stop(plain, p_log)
        hub.stop()
