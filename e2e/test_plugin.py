# SPDX-License-Identifier: Apache-2.0
"""test_plugin.py -- `kubectl podprof` as a user meets it, against the local stack.

Two simulated nodes with real eBPF workers, a real operator storing into
MinIO, and the plugin run through the real kubectl (found on PATH as
kubectl-podprof). Profiles come back through the API server's service proxy
to the operator's /profiles/ endpoint: the operator listens on the host's
address and a selectorless Service + Endpoints in namespace "podprof" point
at it, as the chart's Service does in a cluster. No S3 credentials reach the
plugin. The flame graph's script is checked in headless Chromium; its
screenshot lands in $PODPROF_ARTIFACTS (default: the test's tmp folder).
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

import nodesim
import podprof
import pprofread
import stack as stack_mod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(REPO, "charts", "podprof")
OP_NS = "podprof"
OP_SVC = "podprof-hub"


def _host_ip():
    """A non-loopback address of this host: Endpoints may not be loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
        return s.getsockname()[0]


def _expose(stack, port):
    """Service podprof/podprof-hub -> this host's operator port, as in a cluster.

    The API server's service proxy only dials addresses of Pods (the
    endpoint's targetRef must name a Pod with that IP), so the operator gets
    a Pod object whose status carries this host's address, as a real
    operator pod's would."""
    ip = _host_ip()
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OP_NS}})
    stack.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "podprof-operator", "namespace": OP_NS},
                 "spec": {"containers": [{"name": "operator", "image": "podprof/sim:latest"}]}})
    stack.request("PATCH", f"/api/v1/namespaces/{OP_NS}/pods/podprof-operator/status",
                  {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                              "conditions": [{"type": "Ready", "status": "True"}]}},
                  content_type="application/merge-patch+json")
    stack.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": OP_SVC, "namespace": OP_NS},
                 "spec": {"ports": [{"name": "hub", "port": 7443, "targetPort": port}]}})
    stack.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": OP_SVC, "namespace": OP_NS},
                 "subsets": [{"addresses": [{"ip": ip, "targetRef": {"kind": "Pod", "namespace": OP_NS,
                                                                            "name": "podprof-operator"}}],
                              "ports": [{"name": "hub", "port": port}]}]})
    stack.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": OP_SVC + "-1", "namespace": OP_NS,
                              "labels": {"kubernetes.io/service-name": OP_SVC}},
                 "addressType": "IPv4", "endpoints": [{"addresses": [ip]}],
                 "ports": [{"name": "hub", "port": port, "protocol": "TCP"}]})


@pytest.fixture(scope="module")
def env(stack, crd, s3, demoapp, build_dir):
    """Operator (wss, all interfaces, S3) exposed through a Service; two nodes with workers."""
    ns = "plug"
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster = nodesim.Cluster(stack, ["p1", "p2"])
    op = podprof.Operator(stack, s3=s3, tls=True, iface=None).start()
    workers = [podprof.Worker(op, n).start() for n in cluster.nodes.values()]
    _expose(stack, op.port)
    wl = tempfile.mkdtemp(prefix="podprof-wl-")
    ratio = podprof.compile_workload("ratio", wl)
    waiter = podprof.compile_workload("offcpu", wl, extra=("-pthread",))
    p1, p2 = cluster.nodes["p1"], cluster.nodes["p2"]
    pods = [p1.run_pod(ns, "shop-1", {"app": "shop"}, [("app", [demoapp, "checkout"])]),
            p2.run_pod(ns, "waiter", {"app": "waiter"}, [("app", [waiter, "pipe"])]),
            p2.run_pod(ns, "shop-2", {"app": "shop"}, [("app", [demoapp, "checkout"])]),
            p1.run_pod(ns, "ratio-a", {"app": "ratio", "v": "a"}, [("app", [ratio, "plain"])]),
            p2.run_pod(ns, "ratio-b", {"app": "ratio", "v": "b"}, [("app", [ratio, "inverse"])])]
    path = build_dir + os.pathsep + stack_mod.tools_bin() + os.pathsep + os.environ.get("PATH", "")
    yield {"ns": ns, "op": op, "workers": workers, "path": path, "pods": pods}
    for w in workers:
        w.stop()
    op.stop()
    cluster.stop()


def kubectl_podprof(stack, env, *args, kubeconfig=None, aws=None, **kw):
    """`kubectl podprof ...` through the real kubectl's plugin lookup; aws: {AWS_*: value} to set."""
    e = stack.env()
    e["PATH"] = env["path"]
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        e.pop(var, None)
    e.update(aws or {})
    if kubeconfig:
        e["KUBECONFIG"] = kubeconfig
    return subprocess.Popen([stack_mod.tool("kubectl"), "podprof", *args, "--operator-namespace", OP_NS],
                            env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc, timeout=180):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _run_name(err):
    """The generated target name from run's "profilingtarget NS/NAME created" line."""
    return err.split("profilingtarget ", 1)[1].split()[0].split("/")[1]


def _targets(stack, ns):
    return json.loads(stack.kubectl("get", "pt", "-n", ns, "-o", "json").stdout)["items"]


def test_run_offcpu_reports_blocked_time(stack, env, tmp_path):
    """`kubectl podprof run --offcpu --kernel-stacks` on a pod blocked in a pipe read: the
    target has spec.profile offcpu, the table gives blocked-time shares with the kernel's
    pipe read on top, and the pprof is off_cpu/nanoseconds."""
    out_dir = tmp_path / "off"
    rc, out, err = _finish(kubectl_podprof(stack, env, "run", "-n", env["ns"], "-l", "app=waiter",
                                           "--offcpu", "--min-block", "5ms", "--kernel-stacks",
                                           "--duration", "3s", "-o", str(out_dir)))
    print(err + out)
    assert rc == 0, err
    name = _run_name(err)
    assert "off CPU (blocks from 5ms)" in err, err
    pt = podprof.get_target(stack, env["ns"], name)
    assert pt["spec"]["profile"] == "offcpu" and pt["spec"]["offcpu"]["minBlock"] == "5ms"
    assert pt["status"]["measured"] == "blocked time (off CPU)"
    assert " s blocked (off CPU)" in out and "SELF_MS" in out, out
    rows = out.split("FUNCTION", 1)[1].strip().splitlines()
    # The reader waits 50 ms per byte, the writer sleeps 50 ms: both in the kernel.
    assert rows[0].split()[-1] in ("pipe_read", "anon_pipe_read", "do_nanosleep"), out
    prof = pprofread.Profile(str(out_dir / f"{name}.pb.gz"))
    assert prof.sample_types == [("off_cpu", "nanoseconds")]
    assert any("pipe_reader" in s.frames for s in prof.samples)


def test_run_two_nodes_writes_pprof_svg_and_top(stack, env, tmp_path):
    """`kubectl podprof run -l app=shop` on two nodes: exits 0 with a pprof go tool pprof reads
    (hot function checkout_compute_tax), an SVG, the top table, and the target labelled as ours."""
    out_dir = tmp_path / "out"
    t0 = time.monotonic()
    rc, out, err = _finish(kubectl_podprof(stack, env, "run", "-n", env["ns"], "-l", "app=shop",
                                           "--duration", "3s", "--frequency", "499", "-o", str(out_dir)))
    elapsed = time.monotonic() - t0
    print(f"run of a 3s window returned after {elapsed:.1f}s")  # reported, not asserted
    print(err + out)  # the transcript docs/usage.md quotes
    assert rc == 0, err
    name = _run_name(err)
    assert name.startswith("podprof-run-"), err
    assert "nodes 2/2" in err, err  # plain progress lines: stderr is not a TTY
    top = podprof.pprof_top(str(out_dir / f"{name}.pb.gz"))
    assert max(top, key=top.get) == "checkout_compute_tax", top
    svg = (out_dir / f"{name}.svg").read_text()
    assert svg.startswith("<?xml") and "checkout_compute_tax" in svg
    assert "SELF%" in out and "checkout_compute_tax" in out.split("SELF%", 1)[1].splitlines()[1], out
    pt = podprof.get_target(stack, env["ns"], name)
    assert pt["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-podprof"
    assert pt["metadata"]["labels"]["podprof.dev/owner"]
    assert {n["name"] for n in pt["status"]["nodes"]} == {"p1", "p2"}
    assert pt["spec"]["duration"] == "3s" and pt["spec"]["frequencyHz"] == 499

    # top and fetch read the same target back later.
    rc, out, err = _finish(kubectl_podprof(stack, env, "top", name, "-n", env["ns"], "--lines", "3"))
    print(err + out)
    assert rc == 0, err
    rows = out.split("FUNCTION", 1)[1].strip().splitlines()
    assert len(rows) <= 3 and rows[0].split()[-1] == "checkout_compute_tax", out
    fetched = tmp_path / "fetched"
    rc, out, err = _finish(kubectl_podprof(stack, env, "fetch", name, "-n", env["ns"], "-o", str(fetched)))
    print(err + out)
    assert rc == 0, err
    assert (fetched / f"{name}.pb.gz").read_bytes() == (out_dir / f"{name}.pb.gz").read_bytes()


def test_sigint_mid_window_leaves_nothing_running(stack, env):
    """Ctrl-C mid-window: exit 130, no ProfilingTarget left, no BPF program held by the workers."""
    ns = env["ns"]
    before = {t["metadata"]["name"] for t in _targets(stack, ns)}
    proc = kubectl_podprof(stack, env, "run", "-n", ns, "-l", "app=shop", "--duration", "60s", "-o", "/nonexistent")
    worker_pids = {w.pid for w in env["workers"]}

    def attached():
        new = [t for t in _targets(stack, ns) if t["metadata"]["name"] not in before]
        return new and all(n.get("state") == "Attached" for n in new[0].get("status", {}).get("nodes", [{}])) \
            and len(new[0]["status"]["nodes"]) == 2
    stack_mod.wait_for(attached, 60, desc="the run's target attached on both nodes")
    stack_mod.wait_for(lambda: podprof.perf_event_fds(worker_pids) > 0, 30, desc="sampling started")
    # kubectl runs the plugin as its child: signal the plugin as a terminal would (whole group).
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc, out, err = _finish(proc, timeout=60)
    print(f"exited {time.monotonic() - t0:.2f}s after SIGINT:\n{err}")  # reported, not asserted
    assert rc == 130, (rc, err)
    assert "deleted profilingtarget" in err, err
    assert {t["metadata"]["name"] for t in _targets(stack, ns)} == before
    stack_mod.wait_for(lambda: not podprof.perf_event_fds(worker_pids), 30,
                       desc="no perf event left")


def test_diff_colours_opposite_changes_opposite_ways(stack, env, tmp_path):
    """diff of a 3:1 and a 1:3 workload: burn_major red (grew), burn_minor blue (shrank)."""
    ns = env["ns"]
    names = []
    for v in ("a", "b"):
        # 999 Hz: enough samples for the shares even when the machine is busy.
        rc, out, err = _finish(kubectl_podprof(stack, env, "run", "-n", ns, "-l", f"app=ratio,v={v}",
                                               "--duration", "4s", "--frequency", "999", "-o", str(tmp_path)))
        assert rc == 0, err
        names.append(_run_name(err))
    # a: major 3 : minor 1, b: 1 : 3 -- diff from b to a, one operand local, one from the cluster.
    diff = tmp_path / "diff.svg"
    rc, out, err = _finish(kubectl_podprof(stack, env, "diff", str(tmp_path / f"{names[1]}.pb.gz"), names[0],
                                           "-n", ns, "-o", str(diff)))
    print(err + out)
    assert rc == 0, err
    svg = diff.read_text()

    def fill(fn):
        i = svg.index(f"<title>{fn} (")
        rgb = svg[svg.index('fill="rgb(', i) + 10:].split(")", 1)[0]
        return tuple(int(x) for x in rgb.split(","))
    r, g, b = fill("burn_major")
    assert r == 255 and b < r, (r, g, b)
    r, g, b = fill("burn_minor")
    assert b == 255 and r < b, (r, g, b)
    assert 'class="legend"' in svg


def test_help_and_usage_errors(stack, env):
    """--help prints examples and exits 0; bad usage exits 2 naming the problem."""
    rc, out, err = _finish(kubectl_podprof(stack, env, "run", "--help"))
    assert rc == 0 and "Examples:" in out and "kubectl podprof run -n shop -l app=checkout" in out
    rc, out, err = _finish(kubectl_podprof(stack, env, "run", "-l", "app in (x"))
    assert rc == 2 and "invalid --selector" in err, err
    rc, out, err = _finish(kubectl_podprof(stack, env, "top", "no-such-target", "-n", env["ns"]))
    assert rc == 1 and "not found" in err, err


def _user_kubeconfig(stack, tmp_path, user):
    token = stack.sa_token("plug-users", user)
    cfg = json.load(open(stack.kubeconfig))
    cfg["users"] = [{"name": user, "user": {"token": token}}]
    cfg["contexts"][0]["context"]["user"] = user
    path = tmp_path / f"{user}.kubeconfig"
    path.write_text(json.dumps(cfg))
    return str(path)


def _stored_target(stack, env, tmp_path):
    """A ProfilingTarget of env's namespace whose profile is stored (a short run makes one if none is)."""
    def stored():
        return [t for t in _targets(stack, env["ns"])
                if t.get("status", {}).get("profile", {}).get("state") == "Uploaded"]
    if not stored():
        rc, _, err = _finish(kubectl_podprof(stack, env, "run", "-n", env["ns"], "-l", "app=shop",
                                             "--duration", "2s", "-o", str(tmp_path), "-q"))
        assert rc == 0, err
    return stored()[0]


def test_fetch_needs_the_viewer_role(stack, env, tmp_path):
    """A user bound to the chart's podprof-viewer ClusterRole fetches through the proxy; one without
    it is refused with a message naming the role."""
    helm = os.path.join(stack_mod.tools_bin(), "helm")
    if not os.access(helm, os.X_OK):
        pytest.skip("helm not built (make tools)")
    ns = env["ns"]
    kube_version = stack.kubectl("version", "-o", "json").stdout
    kube_version = json.loads(kube_version)["serverVersion"]["gitVersion"].lstrip("v")
    rendered = subprocess.run([helm, "template", "podprof", CHART, "-n", OP_NS, "--kube-version", kube_version,
                               "--show-only", "templates/viewer-rbac.yaml"],
                              capture_output=True, text=True, check=True).stdout
    stack.apply(rendered)
    stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": "plug-viewer"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "podprof-viewer"},
                 "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "plug-users"}]})
    name = _stored_target(stack, env, tmp_path)["metadata"]["name"]
    viewer = _user_kubeconfig(stack, tmp_path, "viewer")
    # RBAC changes reach the authorizer's cache shortly after the write.
    def fetched():
        rc, _, _ = _finish(kubectl_podprof(stack, env, "fetch", name, "-n", ns, "-o", str(tmp_path / "v"),
                                           kubeconfig=viewer))
        return rc == 0
    stack_mod.wait_for(fetched, 30, interval=1, desc="viewer can fetch")
    assert (tmp_path / "v" / f"{name}.pb.gz").stat().st_size > 0
    # May read targets but not the proxy: refused at the proxy, told which role is missing.
    stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": "plug-pt-reader"},
                 "rules": [{"apiGroups": ["podprof.dev"], "resources": ["profilingtargets"], "verbs": ["get"]}]})
    stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": "plug-pt-reader"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "plug-pt-reader"},
                 "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": "plug-users"}]})
    nobody = _user_kubeconfig(stack, tmp_path, "nobody")

    def refused_at_proxy():
        rc, _, err = _finish(kubectl_podprof(stack, env, "fetch", name, "-n", ns, "-o", str(tmp_path / "n"),
                                             kubeconfig=nobody))
        return (rc, err) if "not allowed to read profiles" in err else None
    rc, err = stack_mod.wait_for(refused_at_proxy, 30, interval=1, desc="refused at the proxy")
    print(err)
    assert rc == 1 and "podprof-viewer" in err, err
    assert not (tmp_path / "n").exists()


def test_fetch_reads_the_bucket_with_s3_credentials(stack, env, s3, tmp_path):
    """With S3 credentials in the environment fetch reads the bucket itself: a user who may read
    targets but not the proxy gets the stored bytes; a wrong secret fails naming the S3 error;
    --via-operator goes through the proxy again (and is refused for that user)."""
    ns = env["ns"]
    t = _stored_target(stack, env, tmp_path)
    name, url = t["metadata"]["name"], t["status"]["profile"]["url"]
    stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": "pt-get", "namespace": ns},
                 "rules": [{"apiGroups": ["podprof.dev"], "resources": ["profilingtargets"], "verbs": ["get"]}]})
    stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": "s3user-pt-get", "namespace": ns},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pt-get"},
                 "subjects": [{"kind": "ServiceAccount", "name": "s3user", "namespace": "plug-users"}]})
    user = _user_kubeconfig(stack, tmp_path, "s3user")
    aws = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key, "AWS_REGION": s3.region}

    def fetch(out, creds, *extra):
        return _finish(kubectl_podprof(stack, env, "fetch", name, "-n", ns, "-o", str(tmp_path / out), *extra,
                                       kubeconfig=user, aws=creds))
    # RBAC changes reach the authorizer's cache shortly after the write.
    rc, out, err = stack_mod.wait_for(lambda: (lambda r: r if r[0] == 0 else None)(fetch("d", aws)), 30,
                                      interval=1, desc="s3user can read the target")
    print(err + out)
    assert "from the bucket (S3 credentials in the environment)" in err, err
    assert (tmp_path / "d" / f"{name}.pb.gz").read_bytes() == s3.get(url.split(f"/{s3.bucket}/", 1)[1])
    assert (tmp_path / "d" / f"{name}.svg").read_text().startswith("<?xml")

    rc, out, err = fetch("w", dict(aws, AWS_SECRET_ACCESS_KEY="wrong" + s3.secret_key))
    print(err)
    assert rc == 1 and "cannot read the profile from the bucket" in err and "SignatureDoesNotMatch" in err, err
    assert not (tmp_path / "w").exists()

    rc, out, err = fetch("v", aws, "--via-operator")
    assert rc == 1 and "not allowed to read profiles through service" in err, err


# --- the flame graph in a real browser -----------------------------------------


class _WebSocket:
    """Just enough of RFC 6455 for a DevTools session: one client, text frames."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the WebSocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("WebSocket closed")
            buf += chunk
        return buf

    def send(self, text):
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536 else
                                bytes([0x80 | 127]) + n.to_bytes(8, "big"))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._exact(8), "big")
            payload = self._exact(n)
            if b0 & 0x0F in (0x9, 0xA):  # ping/pong: the browser does not send them here
                continue
            msg += payload
            if b0 & 0x80:
                return msg.decode()

    def close(self):
        self.sock.close()


class _DevTools:
    """A minimal Chrome DevTools Protocol session over one page's WebSocket."""

    def __init__(self, ws_url):
        self.ws = _WebSocket(ws_url)
        self.next_id = 0
        self.events = []
        self.replies = {}

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def _pump(self):
        msg = json.loads(self.ws.recv())
        if "id" in msg:
            self.replies[msg["id"]] = msg
        else:
            self.events.append(msg)

    def reply(self, mid):
        while mid not in self.replies:
            self._pump()
        msg = self.replies.pop(mid)
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg.get("result", {})

    def call(self, method, **params):
        return self.reply(self.send(method, **params))

    def event(self, method):
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    return self.events.pop(i)["params"]
            self._pump()

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self):
        self.ws.close()


def _browser(tmp_path):
    """Headless Chromium with remote debugging on a free port; returns (proc, page ws URL)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium not installed (scripts/deps.sh)")
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}",
                             "--window-size=1300,700", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    stack_mod.wait_for(lambda: port_file.exists() and port_file.read_text().strip(), 60, desc="chromium started")
    port = int(port_file.read_text().split()[0])

    def page():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            return next((t["webSocketDebuggerUrl"] for t in json.load(r) if t["type"] == "page"), None)
    return proc, stack_mod.wait_for(page, 30, desc="chromium page target")


def test_flame_graph_in_a_real_browser(stack, env, tmp_path):
    """Headless Chromium opens a `run` flame graph: a click zooms into the frame, a typed search
    highlights frames and reports the share the static SVG gives them; a screenshot is kept."""
    rc, out, err = _finish(kubectl_podprof(stack, env, "run", "-n", env["ns"], "-l", "app=shop",
                                           "--duration", "3s", "--frequency", "999", "-o", str(tmp_path)))
    assert rc == 0, err
    svg_path = tmp_path / f"{_run_name(err)}.svg"
    # What the page must report, computed from the file itself.
    import xml.etree.ElementTree as ET
    ns = "{http://www.w3.org/2000/svg}"
    widths = {}
    for g in ET.parse(svg_path).getroot().iter(ns + "g"):
        if g.get("class") == "f":
            widths[g.find(ns + "title").text.rsplit(" (", 1)[0]] = float(g.find(ns + "rect").get("width"))
    want_share = 100 * sum(w for n, w in widths.items() if "checkout_" in n) / widths["all"]

    proc, ws_url = _browser(tmp_path)
    cdp = _DevTools(ws_url)
    try:
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=svg_path.as_uri())
        stack_mod.wait_for(lambda: cdp.js("document.readyState === 'complete' && !!window.podprofFlameGraph"),
                           30, desc="flame graph loaded")
        box = cdp.js("""(() => { for (const g of document.querySelectorAll('g.f')) {
            if (g.querySelector('title').textContent.startsWith('checkout_compute_tax (')) {
              const r = g.querySelector('rect').getBoundingClientRect();
              return [r.x + r.width / 2, r.y + r.height / 2]; } } return null; })()""")
        assert box, "checkout_compute_tax frame not drawn"
        for kind in ("mousePressed", "mouseReleased"):
            cdp.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        assert cdp.js("document.documentElement.getAttribute('data-zoom')") == "checkout_compute_tax"
        full = cdp.js("""(() => { for (const g of document.querySelectorAll('g.f'))
            if (g.querySelector('title').textContent.startsWith('checkout_compute_tax ('))
              return +g.querySelector('rect').getAttribute('width'); })()""")
        assert abs(full - widths["all"]) < 0.5, full  # the zoomed frame fills the width
        # The tooltip names the frame's busiest source line (demoapp is built with -g).
        tip = cdp.js("""(() => { for (const g of document.querySelectorAll('g.f')) {
            const t = g.querySelector('title').textContent;
            if (t.startsWith('checkout_compute_tax (')) return t; } })()""")
        print(f"tooltip: {tip!r}")
        first, _, where = tip.partition("\n")
        assert re.fullmatch(r"checkout_compute_tax \(\d+ samples, [\d.]+%, self \d+\)", first), tip
        assert re.fullmatch(r"at \S*demoapp\.c:\d+ \(\d+ samples there\)", where), tip
        hidden = cdp.js("""[...document.querySelectorAll('g.f')].filter(g =>
            g.querySelector('title').textContent.startsWith('checkout_render_receipt (')
            && g.style.display !== 'none').length""")
        assert hidden == 0  # its sibling left the picture

        # "/" opens the search prompt; the test types into it.
        key = cdp.send("Input.dispatchKeyEvent", type="keyDown", key="/", text="/")
        cdp.event("Page.javascriptDialogOpening")
        cdp.call("Page.handleJavaScriptDialog", accept=True, promptText="checkout_")
        cdp.reply(key)
        cdp.call("Input.dispatchKeyEvent", type="keyUp", key="/")
        share = float(cdp.js("document.documentElement.getAttribute('data-match')"))
        assert abs(share - want_share) < 0.05, (share, want_share)
        assert cdp.js("document.getElementById('matched').textContent").startswith("Matched: ")
        lit = cdp.js("""[...document.querySelectorAll('g.f rect')].filter(r =>
            r.getAttribute('fill') === 'rgb(230,0,230)').length""")
        assert lit >= 1
        shot = cdp.call("Page.captureScreenshot", format="png")["data"]
        artifacts = os.environ.get("PODPROF_ARTIFACTS") or str(tmp_path)
        os.makedirs(artifacts, exist_ok=True)
        with open(os.path.join(artifacts, "flamegraph-browser.png"), "wb") as f:
            f.write(base64.b64decode(shot))
    finally:
        cdp.close()
        proc.terminate()
        proc.wait(timeout=30)


def _hub_get(op, path, method="GET", timeout=10):
    """(status, body) of a request straight to the operator's hub port."""
    import ssl
    import urllib.error
    req = urllib.request.Request(f"https://127.0.0.1:{op.port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=ssl.create_default_context(cafile=op.ca_file)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_profiles_endpoint_serves_only_profile_paths(stack, env, s3):
    """/profiles/ returns the stored object for <ns>/<target>/<uid>/<start>.pb.gz and 404 for
    traversal, other shapes and unknown objects; it only answers GET."""
    done = [t for t in _targets(stack, env["ns"]) if t.get("status", {}).get("profile", {}).get("state") == "Uploaded"]
    if not done:
        pytest.skip("no stored profile yet (run the run test first)")
    url = done[0]["status"]["profile"]["url"]
    rel = "/".join(url.split("/")[-4:])
    status, body = _hub_get(env["op"], f"/profiles/{rel}")
    assert status == 200 and body == s3.get(url.split(f"/{s3.bucket}/", 1)[1])
    ns, target, uid, file = rel.split("/")
    start = file.split(".")[0]
    for bad in (f"/profiles/{ns}/{target}/{uid}/{start}.txt",           # other extension
                f"/profiles/{ns}/{target}/{uid}/x/{file}",               # other shape
                f"/profiles/{ns}/{target}/../{uid}/{file}",              # traversal
                f"/profiles/{ns}/{target}/{uid}/..%2f{file}",
                f"/profiles/{ns.upper()}/{target}/{uid}/{file}",         # not a DNS name
                f"/profiles/{ns}/{target}/{uid}/20000101T000000Z.pb.gz",  # no such object
                "/profiles/", "/profiles/../../etc/passwd"):
        status, _ = _hub_get(env["op"], bad)
        assert status == 404, (bad, status)
    status, _ = _hub_get(env["op"], f"/profiles/{rel}", method="DELETE")
    assert status != 200
    assert _hub_get(env["op"], f"/profiles/{rel}")[0] == 200  # still there


def _metrics(op):
    """The hub's /metrics as {"name{labels}": value}."""
    status, body = _hub_get(op, "/metrics")
    assert status == 200, status
    return {k: float(v) for k, v in (ln.rsplit(" ", 1) for ln in body.decode().splitlines()
                                     if ln and not ln.startswith("#"))}


def test_stalled_store_does_not_stall_workers(stack, env, s3, tmp_path):
    """A /profiles/ read waiting on a stalled S3 server (SIGSTOP) holds neither the workers'
    frames nor other requests; reads past the bound get 503 at once; all answer once it resumes."""
    import threading
    op = env["op"]
    url = _stored_target(stack, env, tmp_path)["status"]["profile"]["url"]
    rel = "/".join(url.split("/")[-4:])
    want = s3.get(url.split(f"/{s3.bucket}/", 1)[1])
    bound = 8  # HUB_READS_MAX in operator/hub/hub_int.h
    heartbeats = 'podprof_hub_messages_received_total{type="heartbeat"}'
    before = _metrics(op)
    assert before["podprof_hub_connected_workers"] == 2, before
    results = []

    def read():
        results.append(_hub_get(op, f"/profiles/{rel}", timeout=120))
    minio = s3.procs["minio"].pid
    os.kill(minio, signal.SIGSTOP)
    threads = []
    try:
        for _ in range(bound):
            threads.append(threading.Thread(target=read))
            threads[-1].start()
        # /metrics answers while every read waits on the store: the hub thread is free.
        stack_mod.wait_for(lambda: _metrics(op)["podprof_hub_profile_reads_pending"] == bound, 30,
                           interval=0.2, desc=f"{bound} reads pending on the stalled store")
        status, body = _hub_get(op, f"/profiles/{rel}")
        assert status == 503 and b"too many profile reads" in body, (status, body)
        # Both workers' heartbeats keep arriving (every 5 s) while the reads wait.
        stack_mod.wait_for(lambda: _metrics(op)[heartbeats] >= before[heartbeats] + 2, 30, interval=0.5,
                           desc="worker heartbeats received while the store is stalled")
        during = _metrics(op)
        assert during["podprof_hub_profile_reads_pending"] == bound and not results, (during, results)
        assert during["podprof_hub_connected_workers"] == 2, during
        assert during["podprof_hub_hellos_total"] == before["podprof_hub_hellos_total"], during  # no reconnect
        assert during['podprof_hub_limited_total{limit="profile_reads"}'] >= 1, during
    finally:
        os.kill(minio, signal.SIGCONT)
        for t in threads:
            t.join(timeout=150)
    assert len(results) == bound and all(r == (200, want) for r in results), [r[0] for r in results]
    assert _metrics(op)["podprof_hub_profile_reads_pending"] == 0
