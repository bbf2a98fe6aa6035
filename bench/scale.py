#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""scale.py -- one podprof-operator with N load-generator workers (bench/fakeworkers.py).

For each N: N Pod objects bound to N distinct node names (no processes: the
fake workers only speak the protocol), the load generator connects N
WebSocket workers to `podprof-operator run` on loopback, then one
ProfilingTarget (2 s window) selects all N pods. Measured:
  fan-out            operator log "window of N ms started" -> the last fake
                     worker received its attach (fake worker wall clock, same
                     machine), and apply -> last attach received
  collection         window end -> status phase Succeeded (HTTP watch)
  operator RSS       VmRSS with N workers connected and idle; VmHWM at the end
  operator CPU       user+sys (/proc/PID/stat) over 5 s idle with N connected
                     (heartbeats), and from apply to Succeeded
  status size        bytes of the target's final status (JSON): it must stay
                     well below etcd's 1.5 MiB object limit at N = 5,000
  healthy            Succeeded, every node Done, samples = 10 x N, no worker
                     connection dropped, operator still running

Large N: the load generator runs as several processes (PER_GENERATOR workers
each), and this process raises its soft open-file limit to the hard one (no
privilege needed) for them and the operator it starts.
"""

import argparse
import http.client
import json
import os
import resource
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse

import benchlib as bl
import cluster as cl

sys.path.insert(0, bl.E2E)
import podprof  # noqa: E402
import stack as stack_mod  # noqa: E402

WINDOW_S = 2
PER_GENERATOR = 1250  # fake workers per load-generator process


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Api:
    """Keep-alive HTTPS connection to the API server, for creating many Pods fast."""

    def __init__(self, st):
        u = urllib.parse.urlsplit(st.server)
        self.conn = http.client.HTTPSConnection(u.hostname, u.port, context=st.ssl_context(), timeout=60)
        self.token = st.token

    def call(self, method, path, body, ctype="application/json"):
        self.conn.request(method, path, json.dumps(body),
                          {"Authorization": f"Bearer {self.token}", "Content-Type": ctype})
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {r.status}: {data[:300]!r}")
        return json.loads(data)

    def close(self):
        self.conn.close()


def make_pods(st, ns, n, prefix, app, threads=4):
    """n running Pods p<i> bound to nodes <prefix><i>, over a few keep-alive connections at once."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    errors = []

    def part(first):
        api = Api(st)
        try:
            for i in range(first, n, threads):
                name = f"p{i}"
                api.call("POST", f"/api/v1/namespaces/{ns}/pods", {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
                    "spec": {"nodeName": f"{prefix}{i}", "containers": [{"name": "main", "image": "x"}]}})
                api.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": {
                    "phase": "Running", "startTime": now, "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "main", "containerID": "containerd://" + secrets.token_hex(32),
                                           "ready": True, "restartCount": 0, "image": "x", "imageID": "",
                                           "started": True, "state": {"running": {"startedAt": now}}}]}},
                    ctype="application/merge-patch+json")
        except Exception as e:  # noqa: BLE001 -- raised below, in the caller's thread
            errors.append(e)
        finally:
            api.close()

    ts = [threading.Thread(target=part, args=(k,)) for k in range(min(threads, n))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


class Events(threading.Thread):
    """Reads the load generator's JSON event lines."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc = proc
        self.events = []
        self.lock = threading.Lock()

    def run(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if e["ev"] == kind]


def one_n(st, op, n, log):
    r = {"n": n}
    ns = f"scale-{n}-" + secrets.token_hex(2)
    prefix = f"f{n}-{secrets.token_hex(2)}-"
    st.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    t = time.time()
    make_pods(st, ns, n, prefix, "scale")
    log(f"  N={n}: {n} pods created in {time.time() - t:.1f} s")
    opid = op.procs["operator"].pid
    # One Python event loop keeps up with about a thousand workers' bursts
    # (attach, progress, profile) on this machine; more go to more processes,
    # so that the fan-out measured is the operator's, not the generator's.
    # Handshakes in flight stay under the hub's 256 connections before hello
    # (past it the hub closes the oldest: a real worker would retry).
    nproc = max(1, min(8, (n + PER_GENERATOR - 1) // PER_GENERATOR))
    gens, evs = [], []
    for k in range(nproc):
        first, count = k * n // nproc, (k + 1) * n // nproc - k * n // nproc
        g = subprocess.Popen([sys.executable, os.path.join(bl.REPO, "bench", "fakeworkers.py"), "--url", op.url,
                              "--token-file", op.token_file, "--count", str(count), "--start", str(first),
                              "--prefix", prefix, "--parallel-handshakes", str(max(8, 128 // nproc))],
                             stdout=subprocess.PIPE, text=True)
        gens.append(g)
        evs.append(Events(g))
        evs[-1].start()
    of = lambda kind: [e for ev in evs for e in ev.of(kind)]  # noqa: E731
    r["generators"] = nproc
    try:
        t = time.time()
        stack_mod.wait_for(lambda: len(of("all_connected")) == nproc or any(g.poll() is not None for g in gens),
                           300 + n / 20, interval=0.1, desc=f"{n} fake workers connected")
        if len(of("all_connected")) != nproc:
            r["error"] = (f"{len(of('connected'))} of {n} workers connected; load generator exit codes "
                          f"{[g.poll() for g in gens]}; closed: {of('closed')[:3]}")
            return r
        r["connect_all_s"] = time.time() - t
        time.sleep(1.0)
        c0 = proc_cpu_s(opid)
        time.sleep(5.0)
        r["idle_cpu_pct"] = 100.0 * (proc_cpu_s(opid) - c0) / 5.0
        r["idle_rss_kb"] = bl.proc_status_kb(opid, "VmRSS")
        name = "scale"
        w = cl.Watch(st, ns, name, n)
        w.start()
        w.ready.wait(30)
        c0 = proc_cpu_s(opid)
        t0 = time.time()
        podprof.apply_target(st, ns, name, {"matchLabels": {"app": "scale"}}, duration=f"{WINDOW_S}s")
        w.done.wait(120 + n / 10)
        c1 = proc_cpu_s(opid)
        r["target_cpu_s"] = c1 - c0
        r["phase"] = w.phase
        time.sleep(0.2)
        text = op.log()
        started = [cl.log_time(ln) for ln in text.splitlines() if f"{ns}/{name}: window of" in ln]
        attaches = [e["t"] for e in of("attach")]
        r["attached_workers"] = len({e["node"] for e in of("attach")})
        if attaches:
            r["apply_to_last_attach_s"] = max(attaches) - t0
            if started:
                r["fanout_s"] = max(attaches) - started[0]
        if started and w.succeeded:
            r["collection_s"] = w.succeeded - (started[0] + WINDOW_S)
        obj = podprof.get_target(st, ns, name)
        status = obj.get("status", {})
        if "nodeStates" in status:  # the nodes list stops at 256; the counts cover all
            r["nodes_done"] = status["nodeStates"].get("Done", 0)
        else:
            r["nodes_done"] = sum(1 for x in status.get("nodes", []) if x.get("state") == "Done")
        r["samples"] = status.get("samples")
        r["matched_pods"], r["node_states"] = status.get("matchedPods"), status.get("nodeStates")
        r["status_bytes"] = len(json.dumps(status, separators=(",", ":")))
        r["peak_rss_kb"] = bl.proc_status_kb(opid, "VmHWM")
        r["dropped_workers"] = len(of("closed"))
        r["healthy"] = (w.phase == "Succeeded" and r["nodes_done"] == n and r["samples"] == 10 * n
                        and r["dropped_workers"] == 0 and op.procs["operator"].poll() is None)
        log(f"  N={n}: {r}")
        st.kubectl("delete", "pt", name, "-n", ns, "--wait=false", check=False)
    finally:
        for g in gens:
            g.terminate()
        for g in gens:
            try:
                g.wait(30)
            except subprocess.TimeoutExpired:
                g.kill()
                g.wait()
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    # 5,000: the largest cluster Kubernetes documents (one worker per node).
    ap.add_argument("--sizes", default="10,100" if bl.QUICK else "10,100,1000,5000")
    args = ap.parse_args()
    log = lambda s: print(s, flush=True)  # noqa: E731
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    res = {"machine": bl.machine(), "window_s": WINDOW_S, "runs": []}
    st = stack_mod.Stack()
    op = None
    try:
        st.start()
        cl.setup_crd(st)
        op = podprof.Operator(st, grace_ms=5000).start()
        res["operator_start_rss_kb"] = bl.proc_status_kb(op.procs["operator"].pid, "VmRSS")
        for n in [int(x) for x in args.sizes.split(",")]:
            try:
                res["runs"].append(one_n(st, op, n, log))
            except Exception as e:  # noqa: BLE001 -- the table says what failed
                res["runs"].append({"n": n, "error": f"{type(e).__name__}: {e}", "healthy": False})
                log(f"  N={n}: {e}")
            if op.procs["operator"].poll() is not None:
                res["error"] = "operator exited:\n" + op.log_tail("operator")
                break
            # Give the operator time to see the disconnects before the next size.
            time.sleep(3.0)
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
        log(res["error"])
    finally:
        if op:
            op.stop()
        st.stop(keep_dir=bool(os.environ.get("BENCH_KEEP_STACK")))
        if os.environ.get("BENCH_KEEP_STACK"):
            log(f"stack kept in {st.dir}")
    bl.write_json(args.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
