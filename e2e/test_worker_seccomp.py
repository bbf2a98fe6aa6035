# SPDX-License-Identifier: Apache-2.0
"""test_worker_seccomp.py -- the chart's seccomp allow-list covers what the worker uses.

The profile in charts/podprof/files/worker-seccomp.json was derived from this
run: the real worker agent, under strace -f, dials a TLS hub, samples a busy
process in a pod cgroup with kernel stacks, sends its profile, answers the
kubelet's liveness/readiness probes (--check-health / --check-ready) and stops
on SIGTERM. Every system call it made must be allowed by the profile; a new
call in the worker makes this test fail and names the call. It also runs the
health-file probes against a live and a stalled agent (issue 17, finding 9).
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from test_hub import BUILD, CGROUP_ROOT, WAIT, Hub, busy_pod, stop  # noqa: F401 (fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILE = os.path.join(HERE, "..", "charts", "podprof", "files", "worker-seccomp.json")
WORKER = os.path.join(BUILD, "podprof-worker")  # plain build: ASan adds its own calls

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")

CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")


def traced_calls(path):
    names = set()
    with open(path) as f:
        for line in f:
            m = CALL.match(line)
            if m:
                names.add(m.group(1))
    return names


def allowed_calls():
    with open(PROFILE) as f:
        prof = json.load(f)
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO"
    return {n for rule in prof["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}


def tls_cert(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=podprof-operator", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def profile_job(tmp_path, busy_pod, wrap):  # noqa: F811
    """One worker life under wrap (argv prefix): TLS link, a 3 s job with kernel
    stacks, both probes (also under wrap), SIGTERM. Returns the hub's log."""
    cert, key = tls_cert(tmp_path)
    attach = {"v": 1, "type": "attach", "jobId": "sc/1", "frequencyHz": 99, "kernelStacks": True,
              "windowMs": 3000, "pods": [{"uid": busy_pod, "namespace": "default", "name": "busy",
                                          "containers": []}]}
    (tmp_path / "attach.json").write_text(json.dumps(attach))
    hub = Hub(tmp_path, ["--tls-cert", str(cert), "--tls-key", str(key),
                         "--attach-file", str(tmp_path / "attach.json")])
    tok = tmp_path / "agent-token"
    tok.write_text(hub.token_file.read_text())
    health = tmp_path / "health"
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen([*wrap("agent"),
        WORKER, "agent", "--operator", f"wss://127.0.0.1:{hub.port}", "--node", "node-sc",
        "--token-file", str(tok), "--cgroup-root", CGROUP_ROOT, "--ca-file", str(cert),
        "--health-file", str(health)], stdout=log, stderr=subprocess.STDOUT)
    try:
        hub.wait_for("event profile node=node-sc job=sc/1")
        hub.wait_for("final=1")
        for mode in ("--check-health", "--check-ready"):
            p = subprocess.run([*wrap(mode), WORKER, "agent", f"{mode}={health}"],
                               capture_output=True, text=True, timeout=WAIT)
            assert p.returncode == 0, (mode, p.stderr)
    finally:
        # SIGTERM the worker itself (not a wrapper), so that its shutdown runs too.
        kids = open(f"/proc/{agent.pid}/task/{agent.pid}/children").read().split()
        for pid in kids or [agent.pid]:
            os.kill(int(pid), signal.SIGTERM)
        rc = agent.wait(timeout=WAIT)
        hub.stop()
    assert rc == 0, open(tmp_path / "agent.log").read()
    return hub.text()


def test_worker_syscalls_within_seccomp_profile(tmp_path, busy_pod):  # noqa: F811
    """The derivation: every call of a traced worker life is in the allow-list."""
    profile_job(tmp_path, busy_pod,
                lambda what: ["strace", "-f", "-qq", "-o", str(tmp_path / f"trace-{what}"), "--"])
    used = set()
    for name in os.listdir(tmp_path):
        if name.startswith("trace"):
            used |= traced_calls(tmp_path / name)
    print("system calls used:", " ".join(sorted(used)))
    assert {"bpf", "perf_event_open", "execve"} <= used  # the trace saw the real work
    missing = used - allowed_calls()
    assert not missing, f"worker-seccomp.json does not allow {sorted(missing)}"


def test_worker_runs_under_seccomp_profile(tmp_path, busy_pod):  # noqa: F811
    """The profile enforced (libseccomp, as a runtime would load it): the worker
    still samples, sends its profile and answers its probes; a call outside the
    list fails (ENOSYS), so a shell cannot even start under it."""
    wrap = ["/usr/bin/python3", os.path.join(HERE, "seccomp_exec.py"), PROFILE, "--"]
    log = profile_job(tmp_path, busy_pod, lambda what: wrap)
    final = [ln for ln in log.splitlines() if ln.startswith("event progress ") and "final=1" in ln]
    assert final and int(final[0].split("samples=")[1].split()[0]) > 0, log
    sh = subprocess.run([*wrap, "/bin/sh", "-c", "ls /"], capture_output=True, text=True, timeout=WAIT)
    assert sh.returncode != 0, sh.stdout


def test_health_probes_track_the_event_loop(tmp_path):
    """Finding 9: --check-ready passes while linked; --check-health fails once the
    agent's loop stops rewriting the file (here: SIGSTOP and an old mtime), and
    passes again after it resumes."""
    hub = Hub(tmp_path)
    tok = tmp_path / "agent-token"
    tok.write_text(hub.token_file.read_text())
    health = tmp_path / "health"
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen([WORKER, "agent", "--operator", f"ws://127.0.0.1:{hub.port}", "--node",
                              "node-hp", "--token-file", str(tok), "--cgroup-root", CGROUP_ROOT,
                              "--health-file", str(health)], stdout=log, stderr=subprocess.STDOUT)

    def probe(mode):
        return subprocess.run([WORKER, "agent", f"{mode}={health}"], capture_output=True,
                              text=True, timeout=WAIT)

    def wait_probe(mode, rc):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if probe(mode).returncode == rc:
                return
            time.sleep(0.2)
        raise AssertionError(f"{mode} never returned {rc}: {probe(mode).stderr}")

    try:
        hub.wait_for("event connected node=node-hp")
        wait_probe("--check-ready", 0)
        assert probe("--check-health").returncode == 0
        agent.send_signal(signal.SIGSTOP)
        old = time.time() - 120
        os.utime(health, (old, old))
        r = probe("--check-health")
        assert r.returncode == 1 and "stalled" in r.stderr, r.stderr
        agent.send_signal(signal.SIGCONT)
        wait_probe("--check-health", 0)
        hub.stop()  # operator gone: alive, but not ready
        wait_probe("--check-ready", 1)
        assert probe("--check-health").returncode == 0
    finally:
        agent.send_signal(signal.SIGCONT)
        stop(agent, tmp_path / "agent.log")
        if hub.proc.poll() is None:
            hub.stop()
