# SPDX-License-Identifier: Apache-2.0
"""test_cluster.py -- what a user does, on a real node: build the image, helm install, profile pods.

A real single-node cluster (e2e/cluster/node.py: kubelet, containerd, runc,
CNI, controller-manager, scheduler, kube-proxy), the project's own Dockerfile
built with podman (e2e/cluster/images.sh), the real chart installed with
helm, a demo Deployment with two replicas, a ProfilingTarget applied with
kubectl, the profile read back from S3 with `go tool pprof`, then helm
uninstall. Everything is torn down, also on failure.

Needs root, podman, containerd, runc and the CNI plugins (scripts/deps.sh or
docs/install.md), and the node tools (`e2e/tools/build.sh node`).
"""

import json
import os
import re
import subprocess
import tempfile

import pytest

import podprof
import pprofread
import stack as stack_mod
from cluster import node as node_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(REPO, "charts", "podprof")
RELEASE = "podprof"
RELEASE_NS = "podprof-system"
APP_NS = "shop"


def _sh(args, timeout=3600):
    """Run a build step with its output shown (first runs take minutes)."""
    subprocess.run(args, check=True, timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.fail("the real-cluster suite needs root (kubelet, containerd, eBPF)")
    _sh([os.path.join(REPO, "e2e", "tools", "build.sh"), "kube", "etcd", "minio", "helm", "node"])
    _sh([os.path.join(REPO, "e2e", "cluster", "images.sh")])
    c = node_mod.Cluster()
    try:
        c.start()
    except Exception:
        c.stop(keep_dir=True)
        raise
    yield c
    c.stop()
    left = c.leftovers()
    assert not left, f"teardown left {left}"


def helm(c, *args, check=True):
    env = c.stack.env()
    for var in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"):
        env[var] = os.path.join(c.dir, "helm", var.lower())
    proc = subprocess.run([stack_mod.tool("helm"), *args, "--kubeconfig", c.stack.kubeconfig], env=env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise stack_mod.CommandError(proc)
    return proc


def _pods(c, ns, selector):
    out = c.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json").stdout
    return json.loads(out)["items"]


def _all_running(c, ns, selector, count):
    pods = _pods(c, ns, selector)
    running = [p for p in pods if p["status"].get("phase") == "Running" and
               all(s.get("ready") for s in p["status"].get("containerStatuses", [{}]))]
    return len(running) == count and len(pods) == count


def _describe(c, ns):
    """Pod states and recent events, for failure messages."""
    pods = c.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False).stdout
    events = c.kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False).stdout
    return f"{pods}\n{events[-3000:]}"


def _deploy(c, app, container, image, args, replicas, command=None):
    """A Deployment of `replicas` pods labelled app=APP in APP_NS, waited for until Running."""
    ctr = {"name": container, "image": image, "imagePullPolicy": "Never", "args": args}
    if command:
        ctr["command"] = command
    c.stack.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": APP_NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [ctr]}}},
    })
    _wait_running(c, APP_NS, f"app={app}", replicas, f"{replicas} {app} pod(s) Running")


def _profile(c, app, sel_op, sel_wk, **spec):
    """A 5 s ProfilingTarget over app=APP (more spec fields from SPEC); its status once final
    (the podprof pods' logs if never)."""
    podprof.apply_target(c.stack, APP_NS, app, {"matchLabels": {"app": app}}, duration="5s", **spec)
    try:
        return podprof.wait_phase(c.stack, APP_NS, app, timeout=240)["status"]
    except TimeoutError as e:
        op_log = c.kubectl("logs", "-n", RELEASE_NS, "-l", sel_op, "--tail=50", check=False).stdout
        wk_log = c.kubectl("logs", "-n", RELEASE_NS, "-l", sel_wk, "--tail=50", check=False).stdout
        raise AssertionError(f"{e}\n--- operator ---\n{op_log}\n--- worker ---\n{wk_log}") from None


def _sampler_progs():
    """The worker's perf_event sampling programs that the kernel holds (bpftool prog)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return [p for p in json.loads(out or "[]") if p.get("type") == "perf_event" and
            p.get("name", "").startswith("profile_sample")]


def _wait_running(c, ns, selector, count, what, timeout=300):
    try:
        stack_mod.wait_for(lambda: _all_running(c, ns, selector, count), timeout, interval=1.0, desc=what)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{_describe(c, ns)}") from None


SEL_OP = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"
SEL_WK = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=worker"


@pytest.fixture(scope="module")
def release(cluster):
    """The chart helm-installed into RELEASE_NS (S3 storage, the suite's images), operator and
    worker pods Running, namespace APP_NS made; uninstalled at the end unless a test did."""
    c, s3 = cluster, cluster.s3
    hybrid = os.path.isdir("/sys/fs/cgroup/unified") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    sets = {
        "image.repository": node_mod.PODPROF_IMAGE.rsplit(":", 1)[0],
        "image.tag": node_mod.PODPROF_IMAGE.rsplit(":", 1)[1],
        "image.pullPolicy": "Never",
        "storage.type": "s3",
        "storage.s3.endpoint": s3.endpoint,
        "storage.s3.bucket": s3.bucket,
        "storage.s3.region": s3.region,
        "storage.s3.accessKey": s3.access_key,
        "storage.s3.secretKey": s3.secret_key,
        "logLevel": "debug",
    }
    if hybrid:
        # The worker filters by cgroup v2 IDs; on a hybrid host v2 lives here.
        sets["worker.cgroupRoot"] = "/sys/fs/cgroup/unified"
    args = ["install", RELEASE, CHART, "-n", RELEASE_NS, "--create-namespace"]
    for k, v in sets.items():
        args += ["--set-string" if k.endswith(("Key", "tag")) else "--set", f"{k}={v}"]
    helm(c, *args)
    state = {"installed": True}
    try:
        _wait_running(c, RELEASE_NS, SEL_OP, 1, "operator pod Running and Ready")
        _wait_running(c, RELEASE_NS, SEL_WK, 1, "worker pod Running and Ready")
        c.stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS}})
        yield state
    finally:
        if state["installed"]:
            helm(c, "uninstall", RELEASE, "-n", RELEASE_NS, "--wait", "--timeout", "5m", check=False)


def _user_kubeconfig(c, tmp_path, namespace, name):
    """A kubeconfig for ServiceAccount NAMESPACE/NAME (a bound token), as a user of the cluster."""
    token = c.stack.sa_token(namespace, name)
    with open(c.stack.kubeconfig) as f:
        cfg = json.load(f)
    cfg["users"] = [{"name": name, "user": {"token": token}}]
    cfg["contexts"][0]["context"]["user"] = name
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(json.dumps(cfg))
    return str(path)


def _podprof(c, build_dir, kubeconfig, *args):
    """`kubectl podprof ...` (the host's build, found by kubectl on PATH) as the user of kubeconfig."""
    env = c.stack.env()
    env["PATH"] = build_dir + os.pathsep + stack_mod.tools_bin() + os.pathsep + env.get("PATH", "")
    env["KUBECONFIG"] = kubeconfig
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    proc = subprocess.run([stack_mod.tool("kubectl"), "podprof", *args, "--operator-namespace", RELEASE_NS],
                          env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_plugin_run_and_fetch_through_the_service_proxy(cluster, release, build_dir, tmp_path):
    """`kubectl podprof run` over helm-installed pods, then `fetch` through the API server's service
    proxy to the operator pod as a user bound to the chart's podprof-viewer ClusterRole (pprof with
    the hot function, flame graph with its source line); a user without it is refused, exit 1."""
    c = cluster
    if not os.access(os.path.join(build_dir, "kubectl-podprof"), os.X_OK):
        pytest.fail(f"no kubectl-podprof in {build_dir} (make)")
    _deploy(c, "checkout", "app", node_mod.DEMOAPP_IMAGE, ["checkout"], 2)
    # alice: run in APP_NS (a Role) and read profiles (the chart's viewer role, cluster-wide).
    users = "podprof-users"
    c.stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "pt-runner", "namespace": APP_NS},
                   "rules": [{"apiGroups": ["podprof.dev"], "resources": ["profilingtargets"],
                              "verbs": ["create", "get", "list", "watch", "delete"]}]})
    c.stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "alice-pt-runner", "namespace": APP_NS},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pt-runner"},
                   "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": users}]})
    c.stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "alice-podprof-viewer"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": f"{RELEASE}-viewer"},
                   "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": users}]})
    # bob: may read the targets in APP_NS, but holds no podprof-viewer.
    c.stack.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "bob-pt-runner", "namespace": APP_NS},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pt-runner"},
                   "subjects": [{"kind": "ServiceAccount", "name": "bob", "namespace": users}]})
    alice = _user_kubeconfig(c, tmp_path, users, "alice")
    bob = _user_kubeconfig(c, tmp_path, users, "bob")
    def can(who, *what):
        return c.kubectl("auth", "can-i", *what, f"--as=system:serviceaccount:{users}:{who}",
                         check=False).stdout.strip() == "yes"
    # The authorizer learns new bindings from a watch: wait until both are in effect.
    stack_mod.wait_for(lambda: can("alice", "get", f"services/https:{RELEASE}-hub:7443", "--subresource=proxy",
                                         "-n", RELEASE_NS) and
                       can("bob", "create", "profilingtargets.podprof.dev", "-n", APP_NS),
                       30, interval=0.5, desc="RBAC bindings in effect")

    out_dir = tmp_path / "run"
    rc, out, err = _podprof(c, build_dir, alice, "run", "-n", APP_NS, "-l", "app=checkout", "--duration", "3s",
                            "--frequency", "499", "-o", str(out_dir))
    print(err + out)  # docs/usage.md quotes it
    assert rc == 0, err
    name = err.split("profilingtarget ", 1)[1].split()[0].split("/")[1]
    assert "nodes 1/1" in err and "pods 2" in err, err
    top = podprof.pprof_top(str(out_dir / f"{name}.pb.gz"))
    assert max(top, key=top.get) == "checkout_compute_tax", top

    fetched = tmp_path / "fetched"
    rc, out, err = _podprof(c, build_dir, alice, "fetch", name, "-n", APP_NS, "-o", str(fetched))
    print(err + out)
    assert rc == 0, err
    pb = (fetched / f"{name}.pb.gz").read_bytes()
    assert pb == (out_dir / f"{name}.pb.gz").read_bytes()
    # The same bytes the operator stored in S3: the proxy path reached the operator pod.
    url = podprof.get_target(c.stack, APP_NS, name)["status"]["profile"]["url"]
    assert pb == c.s3.request("GET", url)[2]
    top = podprof.pprof_top(str(fetched / f"{name}.pb.gz"))
    assert max(top, key=top.get) == "checkout_compute_tax", top
    svg = (fetched / f"{name}.svg").read_text()
    assert svg.startswith("<?xml") and "window.podprofFlameGraph" in svg, svg[:200]
    # The image's -g demoapp: the hot frame's tooltip names its source line.
    assert re.search(r"<title>checkout_compute_tax \(\d+ samples[^<]*\nat \S*demoapp\.c:\d+ ", svg), \
        svg[svg.find("<title>checkout_compute_tax"):][:200]

    rc, out, err = _podprof(c, build_dir, bob, "fetch", name, "-n", APP_NS, "-o", str(tmp_path / "bob"))
    print(err)
    assert rc == 1, (rc, err)
    assert f"not allowed to read profiles through service {RELEASE_NS}/{RELEASE}-hub" in err, err
    assert "cannot get resource \"services/proxy\"" in err and "podprof-viewer" in err, err
    assert not (tmp_path / "bob").exists()


def _uploaded_profile(c, name):
    """The target's status once its profile is in S3, and the profile read with pprofread."""
    status = stack_mod.wait_for(
        lambda: (lambda st: st if st.get("profile", {}).get("state") == "Uploaded" else None)(
            podprof.get_target(c.stack, APP_NS, name)["status"]), 120, desc=f"{name} profile uploaded")
    return status, pprofread.Profile(c.s3.request("GET", status["profile"]["url"])[2])


def test_offcpu_target_on_real_pods(cluster, release):
    """spec.profile offcpu over a real pod whose thread sleeps 3:1 in two functions that enter the
    kernel themselves (e2e/workloads/offcpu.c rawsleep, in the demoapp image): status says blocked
    time, topFunctions name both with blockedMs and a 75/25 split and their source file read in the
    container's root; the pprof in S3 is off_cpu/nanoseconds with a thread-state label; a pod of
    another app on the node, blocking on a pipe in the same binary, never appears."""
    c = cluster
    offcpu = ["/usr/local/bin/offcpu"]
    _deploy(c, "waiter", "app", node_mod.DEMOAPP_IMAGE, ["rawsleep", "30"], 1, command=offcpu)
    _deploy(c, "bystander", "app", node_mod.DEMOAPP_IMAGE, ["pipe"], 1, command=offcpu)
    # Without kernel stacks the leaf of every wait is the user function that made the syscall.
    st = _profile(c, "waiter", SEL_OP, SEL_WK, profile="offcpu", offcpu={"minBlock": "2ms"},
                  kernelStacks=False)
    assert st["phase"] == "Succeeded", st
    assert st["measured"] == "blocked time (off CPU)", st
    # A 5 s window over a thread that is asleep nearly all the time.
    assert 2.0 < st["blockedSeconds"] < 10.0, st
    top = st["topFunctions"]
    assert top and all("blockedMs" in e and "samples" not in e for e in top), top
    by_name = {e["function"]: e for e in top}
    major, minor = by_name.get("sleep_major"), by_name.get("sleep_minor")
    assert major and minor and top[0] is major, top
    assert 65 <= major["selfPercent"] <= 85 and 15 <= minor["selfPercent"] <= 35, top
    # blockedMs is the share of the total, in milliseconds.
    blocked_ms = st["blockedSeconds"] * 1000
    for e in (major, minor):
        assert abs(e["blockedMs"] - e["selfPercent"] / 100 * blocked_ms) <= 0.01 * blocked_ms + 2, (e, st)
    assert major.get("file", "").endswith("offcpu.c") and major.get("line", 0) > 0, major
    waiter = [p["metadata"]["name"] for p in _pods(c, APP_NS, "app=waiter")]
    assert [p["name"] for p in st["pods"]] == waiter, st["pods"]

    st, prof = _uploaded_profile(c, "waiter")
    assert prof.sample_types == [("off_cpu", "nanoseconds")], prof.sample_types
    total = sum(s.values[0] for s in prof.samples)
    assert abs(total / 1e9 - st["blockedSeconds"]) < 0.01 + 0.01 * st["blockedSeconds"], (total, st)
    maj = sum(s.values[0] for s in prof.samples if "sleep_major" in s.frames)
    mnr = sum(s.values[0] for s in prof.samples if "sleep_minor" in s.frames)
    assert 0.65 <= maj / (maj + mnr) <= 0.85, (maj, mnr)
    assert {s.labels.get("pod") for s in prof.samples} == set(waiter)
    assert not any("pipe_reader" in s.frames or "pipe_writer" in s.frames for s in prof.samples)
    # nanosleep is an interruptible sleep; a wakeup can find the CPU taken (runnable) now and then.
    states = {}
    for s in prof.samples:
        states[s.labels.get("state")] = states.get(s.labels.get("state"), 0) + s.values[0]
    assert set(states) <= {"sleeping", "runnable"} and states.get("sleeping", 0) > 0.9 * total, states

    out = c.kubectl("get", "pt", "waiter", "-n", APP_NS).stdout.splitlines()
    header, row = out[0].split(), out[1].split()
    assert row[header.index("PROFILE")] == "offcpu", out


def test_helm_install_profiles_real_pods(cluster, release):
    """helm install runs the operator and a capability-limited worker in real pods; a
    ProfilingTarget over a two-replica Deployment succeeds with its hot function in
    status and in the pprof stored in S3; helm uninstall detaches and unloads BPF."""
    c, s3 = cluster, cluster.s3
    sel_op, sel_wk = SEL_OP, SEL_WK
    worker = _pods(c, RELEASE_NS, sel_wk)[0]
    sc = worker["spec"]["containers"][0]["securityContext"]
    assert not sc.get("privileged") and "ALL" in sc["capabilities"]["drop"], sc

    _deploy(c, "checkout", "app", node_mod.DEMOAPP_IMAGE, ["checkout"], 2)
    status = _profile(c, "checkout", sel_op, sel_wk)
    assert status["phase"] == "Succeeded", status
    tops = [f["function"] for f in status.get("topFunctions", [])]
    assert "checkout_compute_tax" in tops, status
    # Lines come from the image's -g binary, read inside the container's root:
    # the node has no /usr/local/bin/demoapp.
    hot = next(f for f in status["topFunctions"] if f["function"] == "checkout_compute_tax")
    assert not os.path.exists("/usr/local/bin/demoapp")
    assert hot.get("file", "").endswith("demoapp.c") and hot.get("line", 0) > 0, hot

    # Both replicas were found and sampled.
    assert sorted(p["name"] for p in status["pods"] if p.get("samples", 0) > 0) == \
        sorted(p["metadata"]["name"] for p in _pods(c, APP_NS, "app=checkout")), status["pods"]

    # Succeeded can be written before the upload lands: wait for the object.
    status = stack_mod.wait_for(
        lambda: (lambda st: st if st.get("profile", {}).get("state") == "Uploaded" else None)(
            podprof.get_target(c.stack, APP_NS, "checkout")["status"]), 120, desc="profile uploaded")
    url = status["profile"]["url"]
    assert url.startswith(f"{s3.endpoint}/{s3.bucket}/"), status["profile"]
    _, _, body = s3.request("GET", url)
    with tempfile.NamedTemporaryFile(suffix=".pb.gz", delete=False) as f:
        f.write(body)
    try:
        top = podprof.pprof_top(f.name)
    finally:
        os.unlink(f.name)
    assert top.get("checkout_compute_tax", 0) > 0, top

    # A Python pod (Debian's python3.11 in the image): its functions by name.
    _deploy(c, "pyapp", "py", node_mod.PYAPP_IMAGE, ["chain"], 1)
    py = _profile(c, "pyapp", sel_op, sel_wk)
    assert py["phase"] == "Succeeded", py
    hot = [f for f in py.get("topFunctions", []) if f["function"] == "c"]
    assert hot and hot[0].get("file", "").endswith("pywork.py") and hot[0].get("line", 0) > 0, py

    # A long target keeps the sampler loaded; uninstalling must take it away.
    podprof.apply_target(c.stack, APP_NS, "long", {"matchLabels": {"app": "checkout"}}, duration="10m")
    stack_mod.wait_for(_sampler_progs, 120, interval=1.0, desc="sampler BPF program loaded by the worker pod")
    helm(c, "uninstall", RELEASE, "-n", RELEASE_NS, "--wait", "--timeout", "5m")
    release["installed"] = False
    stack_mod.wait_for(lambda: not _pods(c, RELEASE_NS, f"app.kubernetes.io/instance={RELEASE}"), 180,
                       interval=1.0, desc="podprof pods gone after helm uninstall")
    stack_mod.wait_for(lambda: not _sampler_progs(), 60, interval=1.0,
                       desc="sampler BPF programs gone after helm uninstall")
