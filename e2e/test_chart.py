# SPDX-License-Identifier: Apache-2.0
"""test_chart.py -- the Helm chart against a real kube-apiserver (with RBAC authorization).

Checks helm lint, the values schema, server-side dry-runs of default and
non-default renders, install/upgrade/uninstall leaving exactly the expected
objects, and that the rendered RBAC gives the operator's ServiceAccount what
the operator needs and nothing more: with a TokenRequest token for that
identity the real operator syncs, the chart's Lease Role lets the real leader
election run, and removing one rule fails with a clear logged error. There is
no kubelet, so objects are checked, not pods. Also checks the docs values
table and the chart's copy of the CRD.
"""

import json
import os
import re
import secrets
import subprocess
import urllib.request

import pytest
import yaml

import stack as stack_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(REPO, "charts", "podprof")
KUBE_VERSION = "1.34.4"  # the pinned API server of e2e/tools/build.sh

# Non-default values touching every switch: several replicas (leader
# election), a watched namespace (Role instead of ClusterRole rules), S3 with
# chart-made credentials, a user TLS secret, extra capabilities.
NONDEFAULT = {
    "image": {"repository": "registry.example.com/podprof", "tag": "0.1.0-rc1", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "regcred"}],
    "logLevel": "debug",
    "operator": {"replicas": 3, "leaderElection": {"enabled": True, "leaseDurationSeconds": 20},
                 "watchNamespace": "apps", "topFunctions": 20, "graceMs": 8000,
                 "priorityClassName": "system-cluster-critical",
                 "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra",
                                  "effect": "NoSchedule"}],
                 "podLabels": {"team": "perf"}},
    "worker": {"priorityClassName": "system-node-critical", "extraCapabilities": ["SYS_RESOURCE"],
               "nodeSelector": {"podprof.dev/profile": "true"}, "seccompProfile": "Localhost",
               "seccompLocalhostProfile": "operators/podprof-worker.json", "onControlPlane": True,
               "maxUnavailable": "10%", "tokenExpirationSeconds": 7200},
    "hub": {"port": 9443, "audience": "podprof-hub", "tls": {"mode": "secret", "secretName": "my-hub-tls"},
            "networkPolicy": {"extraFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]}},
    "storage": {"type": "s3", "s3": {"endpoint": "https://minio.storage.svc:9000", "bucket": "profiles",
                                     "region": "eu-west-1", "prefix": "cluster-a/", "pathStyle": True,
                                     "accessKey": "AKIAEXAMPLE", "secretKey": "secret-example"}},
}


def helm_bin():
    return stack_mod.tool("helm")


def helm(*args, kube=None, check=True, input=None):
    """Run the pinned helm with private config/cache folders (and the stack's kubeconfig)."""
    env = dict(os.environ)
    base = os.path.join(os.environ.get("TMPDIR", "/tmp"), "podprof-helm-home")
    for var, sub in (("HELM_CONFIG_HOME", "config"), ("HELM_CACHE_HOME", "cache"), ("HELM_DATA_HOME", "data")):
        env[var] = os.path.join(base, sub)
    cmd = [helm_bin(), *args]
    if kube is not None:
        env.update(kube.env())
        cmd += ["--kubeconfig", kube.kubeconfig]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, input=input, timeout=300)
    if check and proc.returncode != 0:
        raise stack_mod.CommandError(proc)
    return proc


def values_file(tmp_path, values, name="values.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return str(path)


def render(tmp_path, values=None, release="pp", namespace="podprof", *extra):
    args = ["template", release, CHART, "-n", namespace, "--kube-version", KUBE_VERSION, *extra]
    if values:
        args += ["-f", values_file(tmp_path, values)]
    return helm(*args).stdout


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs, kind, suffix=""):
    return [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]


# --- static checks ------------------------------------------------------------


def test_chart_crd_is_the_top_level_crd():
    """The CRD shipped in the chart is byte-identical to crds/ at the top (one source)."""
    with open(os.path.join(REPO, "crds", "profilingtarget.yaml"), "rb") as a, \
            open(os.path.join(CHART, "crds", "profilingtarget.yaml"), "rb") as b:
        assert a.read() == b.read(), "charts/podprof/crds/ differs: cp crds/profilingtarget.yaml charts/podprof/crds/"
    assert sorted(os.listdir(os.path.join(CHART, "crds"))) == sorted(os.listdir(os.path.join(REPO, "crds")))


@pytest.mark.parametrize("values", [None, NONDEFAULT], ids=["default", "nondefault"])
def test_helm_lint_clean(tmp_path, values):
    """helm lint --strict reports no warning or error for default and non-default values."""
    args = ["lint", "--strict", CHART, "--kube-version", KUBE_VERSION]
    if values:
        args += ["-f", values_file(tmp_path, values)]
    out = helm(*args).stdout
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


@pytest.mark.parametrize("bad,key", [
    ({"operator": {"replicas": 0}}, "replicas"),
    ({"storage": {"type": "gcs"}}, "type"),
    ({"storage": {"type": "s3"}}, "bucket"),
    ({"storage": {"s3": {"accessKey": "AK"}}}, "secretKey"),
    ({"hub": {"tls": {"mode": "secret"}}}, "secretName"),
    ({"worker": {"capabilities": ["SYS_PTRACE"]}}, "capabilities"),
    ({"worker": {"extraCapabilities": ["NET_ADMIN"]}}, "extraCapabilities"),
    ({"worker": {"privileged": True}}, "privileged"),
    ({"logLevel": "trace"}, "logLevel"),
    ({"operator": {"watchNamespace": "Bad_NS"}}, "watchNamespace"),
    ({"hub": {"port": 80}}, "port"),
])
def test_schema_rejects_bad_values(tmp_path, bad, key):
    """values.schema.json refuses invalid or unknown values before anything is rendered."""
    proc = helm("template", "pp", CHART, "--kube-version", KUBE_VERSION, "-f", values_file(tmp_path, bad),
                check=False)
    assert proc.returncode != 0, f"{bad} was accepted"
    assert "schema" in proc.stderr and key in proc.stderr, proc.stderr


def _leaves(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v and k not in ("nodeSelector", "requests", "limits"):
            yield from _leaves(v, path)
        else:
            yield path


def test_docs_values_table_matches_values_yaml():
    """docs/install.md lists every value of values.yaml with its default, and no value that is gone."""
    with open(os.path.join(CHART, "values.yaml")) as f:
        values = yaml.safe_load(f)
    with open(os.path.join(REPO, "docs", "install.md")) as f:
        text = f.read()
    rows = dict(re.findall(r"^\| `([A-Za-z0-9_.]+)` \| `([^`]*)` \|", text, re.M))
    want = set(_leaves(values))
    assert set(rows) == want, f"missing in docs: {sorted(want - set(rows))}, stale: {sorted(set(rows) - want)}"
    for key, shown in rows.items():
        v = values
        for part in key.split("."):
            v = v[part]
        assert json.loads(shown) == v, f"{key}: docs say {shown}, values.yaml has {json.dumps(v)}"


def test_default_render_is_least_privilege(tmp_path):
    """The default render: unprivileged worker with only the needed capabilities and read-only host views,
    an operator running as non-root, and RBAC limited to what the operator calls."""
    objs = docs(render(tmp_path))
    ds = by_kind(objs, "DaemonSet")[0]["spec"]["template"]["spec"]
    c = ds["containers"][0]
    sc = c["securityContext"]
    assert sc["privileged"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["capabilities"]["add"] == ["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYSLOG"]
    assert ds["hostPID"] is True and ds["automountServiceAccountToken"] is False
    assert "hostNetwork" not in ds
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in ds["volumes"]}
    # Read-only everywhere but the health file's small in-memory emptyDir.
    assert all(m.get("readOnly") or "emptyDir" in vols[n] for n, m in mounts.items())
    assert [n for n, m in mounts.items() if not m.get("readOnly")] == ["run"]
    assert vols["cgroup"]["hostPath"]["path"] == "/sys/fs/cgroup"
    assert vols["btf"]["hostPath"]["path"] == "/sys/kernel/btf"
    assert not any("debug" in v.get("hostPath", {}).get("path", "") for v in ds["volumes"])
    tok = vols["hub-token"]["projected"]["sources"][0]["serviceAccountToken"]
    assert tok["audience"] == "podprof"
    assert "--operator=wss://pp-podprof-hub.podprof.svc:7443" in c["args"]
    # Issue 17, finding 9: off control-plane nodes, probes, hub NetworkPolicy, seccomp list shipped.
    terms = ds["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"} in \
        terms[0]["matchExpressions"]
    assert c["livenessProbe"]["exec"]["command"][-1] == "--check-health=/run/podprof/health"
    assert c["readinessProbe"]["exec"]["command"][-1] == "--check-ready=/run/podprof/health"
    assert "--health-file=/run/podprof/health" in c["args"]
    assert vols["run"]["emptyDir"]["medium"] == "Memory"
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    np = by_kind(objs, "NetworkPolicy")[0]["spec"]
    assert np["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert np["ingress"] == [{"ports": [{"port": "hub", "protocol": "TCP"}], "from": [{"podSelector": {
        "matchLabels": {"app.kubernetes.io/name": "podprof", "app.kubernetes.io/instance": "pp",
                        "app.kubernetes.io/component": "worker"}}}]}]
    cm = by_kind(objs, "ConfigMap", "-worker-seccomp")[0]
    with open(os.path.join(CHART, "files", "worker-seccomp.json")) as f:
        assert json.loads(cm["data"]["worker.json"]) == json.load(f)
    dep = by_kind(objs, "Deployment")[0]["spec"]
    assert dep["strategy"]["type"] == "Recreate"  # one operator, never two at once
    pod = dep["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    args = pod["containers"][0]["args"]
    assert "--token-review" in args and "--audience=podprof" in args
    assert "--worker-sa=podprof:pp-podprof-worker" in args
    assert not any(a.startswith("--leader") for a in args)
    rules = by_kind(objs, "ClusterRole")[0]["rules"]
    flat = {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    assert flat == {
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("", "pods", "get"), ("", "pods", "list"), ("", "pods", "watch"),
        ("podprof.dev", "profilingtargets", "get"), ("podprof.dev", "profilingtargets", "list"),
        ("podprof.dev", "profilingtargets", "watch"),
        ("podprof.dev", "profilingtargets/status", "get"), ("podprof.dev", "profilingtargets/status", "update"),
        ("podprof.dev", "profilingtargets/status", "patch"),
        ("", "events", "create"), ("", "events", "patch"),
    }
    assert not by_kind(objs, "Role")  # no Lease rights without leader election


def test_nondefault_render_wires_every_switch(tmp_path):
    """Non-default values reach the objects: leader election flags and Lease Role, namespaced
    RBAC, S3 flags with a credentials Secret, the user's TLS secret, extra capabilities."""
    objs = docs(render(tmp_path, NONDEFAULT))
    dep = by_kind(objs, "Deployment")[0]["spec"]
    assert dep["replicas"] == 3 and "strategy" not in dep
    args = dep["template"]["spec"]["containers"][0]["args"]
    for a in ("--leader-elect", "--leader-lease=pp-podprof-operator-leader", "--leader-namespace=podprof",
              "--leader-lease-seconds=20", "--namespace=apps", "--storage=s3", "--s3-bucket=profiles",
              "--s3-endpoint=https://minio.storage.svc:9000", "--s3-prefix=cluster-a/", "--s3-path-style=true",
              "--s3-access-key-file=/etc/podprof/s3/access-key", "--port=9443", "--audience=podprof-hub"):
        assert a in args, a
    secret = [s for s in by_kind(objs, "Secret") if s["metadata"]["name"] == "pp-podprof-s3"][0]
    assert set(secret["data"]) == {"access-key", "secret-key"}
    assert not [s for s in by_kind(objs, "Secret") if s["metadata"]["name"].endswith("hub-tls")]
    roles = {r["metadata"]["name"]: r for r in by_kind(objs, "Role")}
    assert roles["pp-podprof-operator-watch"]["metadata"]["namespace"] == "apps"
    lease_rules = roles["pp-podprof-operator-leader"]["rules"]
    assert {"resourceNames": ["pp-podprof-operator-leader"], "verbs": ["get", "update"]}.items() <= \
        lease_rules[1].items()
    cr = by_kind(objs, "ClusterRole")[0]["rules"]
    assert [r["resources"] for r in cr] == [["tokenreviews"]]
    ds = by_kind(objs, "DaemonSet")[0]["spec"]["template"]["spec"]
    c = ds["containers"][0]
    assert "SYS_RESOURCE" in c["securityContext"]["capabilities"]["add"]
    assert ds["priorityClassName"] == "system-node-critical"
    assert "--operator=wss://pp-podprof-hub.podprof.svc:9443" in c["args"] and "-v" in c["args"]
    assert {v["name"]: v for v in ds["volumes"]}["hub-ca"]["secret"]["secretName"] == "my-hub-tls"
    assert "affinity" not in ds  # onControlPlane: no exclusion
    assert c["securityContext"]["seccompProfile"] == {"type": "Localhost",
                                                      "localhostProfile": "operators/podprof-worker.json"}
    assert by_kind(objs, "NetworkPolicy")[0]["spec"]["ingress"][0]["from"][1] == \
        {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}


# --- against the real API server -----------------------------------------------------


@pytest.mark.parametrize("values", [None, NONDEFAULT], ids=["default", "nondefault"])
def test_render_accepted_by_server_dry_run(stack, crd, tmp_path, values):
    """Every rendered manifest passes the real kube-apiserver's server-side dry-run with strict field validation."""
    ns = "podprof-dry-" + secrets.token_hex(3)
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    text = render(tmp_path, values, "pp", ns)
    out = stack.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=text).stdout
    assert out.count("(server dry run)") == len(docs(text)), out


def _release_objects(stack, ns, release):
    """(kind, name) of every object labelled with the release, namespaced and cluster-wide."""
    sel = f"app.kubernetes.io/instance={release}"
    kinds = "serviceaccounts,secrets,services,deployments,daemonsets,roles,rolebindings,configmaps,networkpolicies"
    out = json.loads(stack.kubectl("get", kinds, "-n", ns, "-l", sel, "-o", "json").stdout)
    cluster = json.loads(stack.kubectl("get", "clusterroles,clusterrolebindings", "-l", sel, "-o", "json").stdout)
    return {(o["kind"], o["metadata"]["name"]) for o in out["items"] + cluster["items"]}


def test_install_upgrade_uninstall(stack, crd, namespace):
    """helm install, upgrade (one value changed) and uninstall leave exactly the expected objects."""
    rel = "pi" + secrets.token_hex(2)
    fn = f"{rel}-podprof"
    helm("install", rel, CHART, "-n", namespace, kube=stack)
    base = {("ServiceAccount", f"{fn}-operator"), ("ServiceAccount", f"{fn}-worker"), ("Secret", f"{fn}-hub-tls"),
            ("Service", f"{fn}-hub"), ("Deployment", f"{fn}-operator"), ("DaemonSet", f"{fn}-worker"),
            ("ClusterRole", f"{fn}-operator"), ("ClusterRoleBinding", f"{fn}-operator"),
            ("ClusterRole", f"{fn}-viewer"),
            ("ConfigMap", f"{fn}-worker-seccomp"), ("NetworkPolicy", f"{fn}-hub")}
    assert _release_objects(stack, namespace, rel) == base
    tls1 = json.loads(stack.kubectl("get", "secret", f"{fn}-hub-tls", "-n", namespace, "-o", "json").stdout)["data"]
    assert set(tls1) == {"tls.crt", "tls.key", "ca.crt"}

    helm("upgrade", rel, CHART, "-n", namespace, "--set", "operator.replicas=2", kube=stack)
    leader = {("Role", f"{fn}-operator-leader"), ("RoleBinding", f"{fn}-operator-leader")}
    assert _release_objects(stack, namespace, rel) == base | leader
    dep = json.loads(stack.kubectl("get", "deploy", f"{fn}-operator", "-n", namespace, "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 2
    assert "--leader-elect" in dep["spec"]["template"]["spec"]["containers"][0]["args"]
    tls2 = json.loads(stack.kubectl("get", "secret", f"{fn}-hub-tls", "-n", namespace, "-o", "json").stdout)["data"]
    assert tls2 == tls1, "the hub certificate must survive upgrades (workers trust its CA)"
    assert "REVISION: 2" in helm("status", rel, "-n", namespace, kube=stack).stdout

    helm("uninstall", rel, "-n", namespace, kube=stack)
    assert _release_objects(stack, namespace, rel) == set()
    # Helm never deletes CRDs from crds/: ProfilingTargets outlive a reinstall.
    stack.kubectl("get", "crd", crd)


# --- RBAC proven with the operator's own token ---------------------------------------


def _rbac_for(stack, tmp_path, ns, rel, values=None):
    """Apply the chart's ServiceAccounts and RBAC (leader election on) to ns; return a
    kubeconfig path holding a TokenRequest token of the operator's ServiceAccount."""
    vals = {"operator": {"replicas": 2}}
    vals.update(values or {})
    text = render(tmp_path, vals, rel, ns, "--show-only", "templates/serviceaccounts.yaml",
                  "--show-only", "templates/rbac.yaml")
    objs = docs(text)
    stack.apply(text)
    token = stack.sa_token(ns, f"{rel}-podprof-operator")
    kc = tmp_path / "operator-kubeconfig"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": stack.server, "certificate-authority": stack.ca_cert}}],
        "users": [{"name": "op", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "op", "namespace": ns}}],
        "current-context": "c"}))
    return str(kc), token, objs


def _can_i(stack, kc, *args):
    env = dict(stack.env(), KUBECONFIG=kc)
    proc = subprocess.run([stack_mod.tool("kubectl"), "auth", "can-i", *args], capture_output=True, text=True,
                          env=env, timeout=60)
    return proc.stdout.strip()


class _Op(stack_mod._Service):
    """podprof-operator run in cluster mode (TokenReview) with a given kubeconfig."""

    def __init__(self, build_dir, kubeconfig, worker_sa):
        super().__init__(prefix="podprof-chart-op-")
        self.port = stack_mod.free_port()
        self.args = [os.path.join(build_dir, "podprof-operator"), "run", "--kubeconfig", kubeconfig,
                     "--port", str(self.port), "--iface", "127.0.0.1", "--token-review",
                     "--worker-sa", worker_sa, "--audience", "podprof", "--no-storage"]

    def start(self):
        self._start_proc("operator", self.args)
        return self

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as r:
                return r.status == 200
        except Exception:  # noqa: BLE001 -- not up or not ready
            return False

    def log(self):
        return self.log_tail("operator", 10**6)


def test_rbac_grants_exactly_what_the_operator_needs(stack, crd, namespace, tmp_path, build_dir):
    """With a TokenRequest token of the chart's operator ServiceAccount: every call the operator makes
    is allowed, neighbouring rights are denied, and the real operator syncs its caches."""
    rel = "pr" + secrets.token_hex(2)
    kc, token, _ = _rbac_for(stack, tmp_path, namespace, rel)
    lease = f"{rel}-podprof-operator-leader"
    allowed = [
        ("get", "pods", "-A"), ("list", "pods", "-A"), ("watch", "pods", "-A"),
        ("get", "profilingtargets.podprof.dev", "-A"), ("list", "profilingtargets.podprof.dev", "-A"),
        ("watch", "profilingtargets.podprof.dev", "-A"),
        ("update", "profilingtargets.podprof.dev", "--subresource=status", "-n", "default"),
        ("patch", "profilingtargets.podprof.dev", "--subresource=status", "-n", "default"),
        ("create", "events", "-n", "default"), ("patch", "events", "-n", "default"),
        ("create", "tokenreviews.authentication.k8s.io"),
        ("create", "leases.coordination.k8s.io", "-n", namespace),
        ("get", f"leases.coordination.k8s.io/{lease}", "-n", namespace),
        ("update", f"leases.coordination.k8s.io/{lease}", "-n", namespace),
    ]
    denied = [
        ("create", "pods", "-n", "default"), ("delete", "pods", "-n", "default"), ("list", "secrets", "-A"),
        ("get", "secrets", "-n", namespace), ("update", "profilingtargets.podprof.dev", "-n", "default"),
        ("delete", "profilingtargets.podprof.dev", "-n", "default"), ("create", "profilingtargets.podprof.dev"),
        ("list", "nodes"), ("delete", "events", "-n", "default"),
        ("get", "leases.coordination.k8s.io/kube-scheduler", "-n", namespace),
        ("update", "leases.coordination.k8s.io/other", "-n", namespace),
        ("create", "leases.coordination.k8s.io", "-n", "default"),
        ("create", "serviceaccounts/token", "-n", namespace), ("create", "clusterrolebindings"),
    ]
    for a in allowed:
        assert _can_i(stack, kc, *a) == "yes", f"operator may not {' '.join(a)}"
    for a in denied:
        assert _can_i(stack, kc, *a) == "no", f"operator may {' '.join(a)}"

    # Real calls with the token, beyond can-i: review a worker token and write a status.
    worker_token = stack.sa_token(namespace, f"{rel}-podprof-worker", audiences=("podprof",))
    review = stack.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                           {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                            "spec": {"token": worker_token, "audiences": ["podprof"]}}, token=token)
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:{rel}-podprof-worker"

    op = _Op(build_dir, kc, f"{namespace}:{rel}-podprof-worker").start()
    try:
        stack_mod.wait_for(lambda: op._check_running("operator") and op.ready(), 60,
                           desc="operator /readyz with the chart's RBAC")
        assert "forbidden" not in op.log().lower()
    finally:
        op.stop()

    # The chart's Lease Role is enough for the real leader election code.
    env = dict(os.environ, PODPROF_LEADER_KUBECONFIG=kc, PODPROF_LEADER_NAMESPACE=namespace,
               PODPROF_LEADER_LEASE=lease)
    proc = subprocess.run([os.path.join(build_dir, "unit-tests"), "leader_api"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "ran against the API server" in proc.stdout, proc.stdout + proc.stderr


def test_rbac_missing_rule_fails_with_clear_error(stack, crd, namespace, tmp_path, build_dir):
    """Removing one rule from the chart's RBAC makes the operator's action fail, and the log says which."""
    rel = "pm" + secrets.token_hex(2)
    kc, _, objs = _rbac_for(stack, tmp_path, namespace, rel)

    # Without list/watch on ProfilingTargets the operator never gets ready and logs the 403.
    cr = by_kind(objs, "ClusterRole")[0]
    cr["rules"] = [r for r in cr["rules"] if r["resources"] != ["profilingtargets"]]
    stack.apply(cr)
    op = _Op(build_dir, kc, f"{namespace}:{rel}-podprof-worker").start()
    try:
        stack_mod.wait_for(lambda: op._check_running("operator") and "forbidden" in op.log().lower(), 60,
                           desc="operator logging the forbidden watch")
        log = op.log()
        line = next(ln for ln in log.splitlines() if "forbidden" in ln.lower())
        assert "profilingtargets" in line, line
        assert not op.ready()
    finally:
        op.stop()

    # Without the Lease Role, leader election stops at once with an error naming the missing rights.
    stack.kubectl("delete", "role", f"{rel}-podprof-operator-leader", "-n", namespace)
    env = dict(os.environ, PODPROF_LEADER_KUBECONFIG=kc, PODPROF_LEADER_NAMESPACE=namespace,
               PODPROF_LEADER_LEASE=f"{rel}-podprof-operator-leader")
    proc = subprocess.run([os.path.join(build_dir, "unit-tests"), "leader_api"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "forbidden" in proc.stderr and "needs get, create and update on coordination.k8s.io leases" \
        in proc.stderr, proc.stderr
