# SPDX-License-Identifier: Apache-2.0
"""test_k8s_client.py -- the operator's Kubernetes client against a real kube-apiserver.

Drives the C client through the `podprof-testdrv debug-*` subcommands
(tests/drivers/debug_k8s.c, a test-only binary), which print one JSON object per line. The ASan+UBSan
build is used when present, so memory errors on real network paths fail the
test (every command must exit 0 after SIGTERM, which includes LeakSanitizer).
"""

import base64
import json
import os
import queue
import shlex
import signal
import subprocess
import threading

import pytest

import stack as stack_mod

WAIT = 90  # generous upper bound for events on a shared, noisy machine


@pytest.fixture(scope="module")
def driver_bin(build_dir, asan_build_dir):
    for d in (asan_build_dir, build_dir):
        path = os.path.join(d, "podprof-testdrv")
        if os.access(path, os.X_OK):
            return path
    pytest.fail(f"podprof-testdrv not built in {asan_build_dir} or {build_dir} (run make)")


def run_cmd(driver_bin, stack, *args, input=None, check=True):
    """Run one debug subcommand to completion; returns (rc, [json lines], stderr)."""
    env = dict(stack.env(), ASAN_OPTIONS="detect_leaks=1")
    proc = subprocess.run([driver_bin, *args, "--kubeconfig", stack.kubeconfig], input=input,
                          capture_output=True, text=True, env=env, timeout=120)
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[0]} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, lines, proc.stderr


class Watcher:
    """A running `debug-watch`; collects its JSON event lines from a reader thread."""

    def __init__(self, driver_bin, kubeconfig, env, *args):
        env = dict(env, ASAN_OPTIONS="detect_leaks=1")
        self.proc = subprocess.Popen([driver_bin, "debug-watch", "--kubeconfig", kubeconfig, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.q = queue.Queue()
        self.seen = []
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.q.put(json.loads(line))
        self.q.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait(self, pred, desc):
        """Return the first event (already seen or new) matching pred, waiting up to WAIT s."""
        for ev in self.seen:
            if pred(ev):
                return ev
        while True:
            try:
                ev = self.q.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no {desc} within {WAIT}s; saw {self.seen}\n{''.join(self.stderr[-30:])}")
            if ev is None:
                raise AssertionError(f"debug-watch exited before {desc}; saw {self.seen}\n{''.join(self.stderr)}")
            self.seen.append(ev)
            if pred(ev):
                return ev

    def stop(self):
        """SIGTERM and wait; returns the exit code (0 = clean shutdown, no leaks)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def ev_is(kind, key):
    return lambda e: e.get("event") == kind and e.get("key") == key


def pod(ns, name, labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def restart_apiserver(stack):
    """Kill kube-apiserver and start it again with the same command line and port."""
    proc = stack.procs["kube-apiserver"]
    args = open(f"/proc/{proc.pid}/cmdline", "rb").read().rstrip(b"\0").decode().split("\0")
    stack_mod._kill_group(proc.pid)
    proc.wait(timeout=60)
    stack._start_proc("kube-apiserver", args)
    stack_mod.wait_for(lambda: stack._check_running("kube-apiserver") and stack._readyz(), 180,
                       desc="kube-apiserver /readyz after restart")


def test_watch_sees_create_update_delete(stack, namespace, driver_bin):
    """Pods created, changed and deleted reach the informer's handlers as add/update/delete."""
    w = Watcher(driver_bin, stack.kubeconfig, stack.env(), "--resource", "pods", "--namespace", namespace)
    try:
        w.wait(lambda e: e.get("event") == "SYNCED", "initial list")
        stack.apply(pod(namespace, "p1"))
        key = f"{namespace}/p1"
        added = w.wait(ev_is("ADDED", key), "ADDED p1")
        stack.kubectl("label", "pod", "p1", "-n", namespace, "tier=front")
        mod = w.wait(ev_is("MODIFIED", key), "MODIFIED p1")
        assert int(mod["rv"]) > int(added["rv"])
        stack.kubectl("delete", "pod", "p1", "-n", namespace, "--grace-period=0", "--force")
        w.wait(ev_is("DELETED", key), "DELETED p1")
    finally:
        assert w.stop() == 0, "".join(w.stderr)


def test_watch_survives_apiserver_restart(stack, namespace, driver_bin):
    """Changes made while the watch is down (API server restart) are still delivered: no lost event."""
    w = Watcher(driver_bin, stack.kubeconfig, stack.env(), "--resource", "pods", "--namespace", namespace)
    try:
        w.wait(lambda e: e.get("event") == "SYNCED", "initial list")
        stack.apply(pod(namespace, "before"))
        stack.apply(pod(namespace, "doomed"))
        w.wait(ev_is("ADDED", f"{namespace}/doomed"), "ADDED doomed")
        restart_apiserver(stack)
        # The watcher is still in reconnect backoff: these happen while it is not watching.
        stack.apply(pod(namespace, "after"))
        stack.kubectl("delete", "pod", "doomed", "-n", namespace, "--grace-period=0", "--force")
        stack.kubectl("label", "pod", "before", "-n", namespace, "changed=yes")
        w.wait(ev_is("ADDED", f"{namespace}/after"), "ADDED after (created during the outage)")
        w.wait(ev_is("DELETED", f"{namespace}/doomed"), "DELETED doomed (deleted during the outage)")
        w.wait(ev_is("MODIFIED", f"{namespace}/before"), "MODIFIED before")
        # The informer did notice the outage (a failed watch or a relist).
        assert any("watch failed" in l or "relisting" in l or "list failed" in l for l in w.stderr), \
            "".join(w.stderr)
        print("".join(l for l in w.stderr if "informer" in l))
    finally:
        assert w.stop() == 0, "".join(w.stderr)


def test_watch_rereads_rotated_token_file(stack, namespace, driver_bin, tmp_path):
    """A rotated token file is picked up without a restart (in-cluster tokens rotate hourly)."""
    token_file = tmp_path / "token"
    token_file.write_text("not-a-valid-token\n")
    kc = tmp_path / "kubeconfig.yaml"
    kc.write_text(f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: {stack.ca_cert}
    server: {stack.server}
  name: c
contexts:
- context:
    cluster: c
    user: u
  name: ctx
current-context: ctx
users:
- name: u
  user:
    tokenFile: token
""")
    w = Watcher(driver_bin, str(kc), stack.env(), "--resource", "pods", "--namespace", namespace)
    try:
        stack_mod.wait_for(lambda: any("401" in l for l in w.stderr), WAIT, desc="401 with the stale token")
        token_file.write_text(stack.token + "\n")
        w.wait(lambda e: e.get("event") == "SYNCED", "list with the rotated token")
        stack.apply(pod(namespace, "rot"))
        w.wait(ev_is("ADDED", f"{namespace}/rot"), "ADDED rot")
    finally:
        assert w.stop() == 0, "".join(w.stderr)


def test_client_certificate_data_kubeconfig(stack, driver_bin, tmp_path):
    """Inline CA and client certificate/key (base64 *-data, in YAML, block or flow style) authenticate without files."""
    def b64(path):
        return base64.b64encode(open(path, "rb").read()).decode()

    kc = tmp_path / "kubeconfig"
    kc.write_text(f"""# kind/kubeadm style
apiVersion: v1
clusters:
  - name: c
    cluster:
      certificate-authority-data: {b64(stack.ca_cert)}
      server: "{stack.server}"
contexts:
  - name: ctx
    context: {{cluster: c, user: admin}}
current-context: ctx
users:
  - name: admin
    user:
      client-certificate-data: {b64(stack.admin_cert)}
      client-key-data: {b64(stack.admin_key)}
""")
    env = dict(stack.env(), ASAN_OPTIONS="detect_leaks=1")
    # The context is a flow mapping inside block style, as kubectl reads it.
    proc = subprocess.run([driver_bin, "debug-get", "--kubeconfig", str(kc), "/api/v1/namespaces/default"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metadata"]["name"] == "default"
    # Broken YAML (the flow mapping left open) is refused with its line number.
    kc.write_text(kc.read_text().replace("    context: {cluster: c, user: admin}",
                                         "    context: {cluster: c, user: admin"))
    proc = subprocess.run([driver_bin, "debug-get", "--kubeconfig", str(kc), "/api/v1/namespaces/default"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and "kubeconfig line " in proc.stderr, proc.stderr
    # The same in block style.
    kc.write_text(kc.read_text().replace("    context: {cluster: c, user: admin",
                                         "    context:\n      cluster: c\n      user: admin"))
    proc = subprocess.run([driver_bin, "debug-get", "--kubeconfig", str(kc), "/api/v1/namespaces/default"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metadata"]["name"] == "default"


def test_api_error_is_surfaced(stack, namespace, driver_bin):
    """A failed call reports the API server's Status reason and message, not just an HTTP code."""
    rc, lines, stderr = run_cmd(driver_bin, stack, "debug-get",
                                f"/api/v1/namespaces/{namespace}/pods/no-such-pod", check=False)
    assert rc == 1
    assert lines[0]["code"] == 404 and lines[0]["reason"] == "NotFound"
    assert 'pods "no-such-pod" not found' in lines[0]["message"]
    assert lines[0]["errno"] == 2  # ENOENT, as documented in k8s_client.h


def make_target(stack, namespace, name):
    stack.apply({"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"selector": {"matchLabels": {"app": "web"}}}})


def test_status_write_retries_on_conflict(stack, crd, namespace, driver_bin):
    """A status write that loses a race with another writer re-reads and succeeds, keeping both changes."""
    make_target(stack, namespace, "t1")
    bump = " ".join(shlex.quote(a) for a in (
        stack_mod.tool("kubectl"), "--kubeconfig", stack.kubeconfig, "label", "pt", "t1", "-n", namespace,
        "raced=yes"))
    _, lines, _ = run_cmd(driver_bin, stack, "debug-status", "--resource", "profilingtargets",
                          "--namespace", namespace, "--name", "t1",
                          "--merge", json.dumps({"phase": "Running", "samples": 42}),
                          "--before-put", bump + " >/dev/null")
    assert lines[0]["errno"] == 0
    assert lines[0]["attempts"] == 2, lines  # first PUT conflicted, second won
    obj = json.loads(stack.kubectl("get", "pt", "t1", "-n", namespace, "-o", "json").stdout)
    assert obj["status"]["phase"] == "Running" and obj["status"]["samples"] == 42
    assert obj["metadata"]["labels"]["raced"] == "yes"


def test_event_shows_in_kubectl(stack, crd, namespace, driver_bin):
    """Events recorded about a ProfilingTarget are listed by `kubectl get events` for that object."""
    make_target(stack, namespace, "t2")
    run_cmd(driver_bin, stack, "debug-event", "--resource", "profilingtargets", "--namespace", namespace,
            "--name", "t2", "--type", "Warning", "--reason", "Failed", "--message", "node n1: worker missing")
    out = stack.kubectl("get", "events", "-n", namespace, "--field-selector",
                        "involvedObject.name=t2", "-o", "json").stdout
    items = json.loads(out)["items"]
    assert len(items) == 1, items
    ev = items[0]
    assert ev["reason"] == "Failed" and ev["type"] == "Warning"
    assert ev["message"] == "node n1: worker missing"
    assert ev["involvedObject"]["kind"] == "ProfilingTarget"
    assert ev["involvedObject"]["uid"]
    assert ev["source"]["component"] == "podprof-operator"


def test_token_review_names_service_account(stack, namespace, driver_bin):
    """A worker's service-account token is accepted and mapped to its account; a forged one is not."""
    token = stack.sa_token(namespace, "podprof-worker")
    _, lines, _ = run_cmd(driver_bin, stack, "debug-tokenreview", input=token)
    assert lines[0]["authenticated"] is True
    assert lines[0]["username"] == f"system:serviceaccount:{namespace}:podprof-worker"
    assert lines[0]["namespace"] == namespace and lines[0]["serviceaccount"] == "podprof-worker"
    _, lines, _ = run_cmd(driver_bin, stack, "debug-tokenreview", input=token[:-4] + "AAAA")
    assert lines[0]["authenticated"] is False
    assert lines[0]["username"] == ""
