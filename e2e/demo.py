# SPDX-License-Identifier: Apache-2.0
"""demo.py -- `make demo`: podprof end to end on the local embedded stack.

Starts etcd + kube-apiserver + MinIO, the podprof operator and two simulated
nodes each with a real podprof worker, runs a small shop (checkout and search
"pods": real processes in kubelet-style cgroups), applies a ProfilingTarget
selecting app=checkout, and prints what a user sees: `kubectl get pt`, the
top functions, and where the pprof and the flame graph SVG are.

  python3 e2e/demo.py [--keep] [--duration 10s]   run the demo
  python3 e2e/demo.py --down                      stop a kept demo
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nodesim  # noqa: E402
import podprof  # noqa: E402
import stack as stack_mod  # noqa: E402

REPO = podprof.REPO
STATE = os.path.join(REPO, "build", "demo")
OUT = os.path.join(REPO, "build", "demo-out")


def say(msg):
    print(f"\n==> {msg}", flush=True)


def kubectl_show(kube, *args):
    print(f"$ kubectl {' '.join(args)}")
    print(kube.kubectl(*args).stdout.rstrip(), flush=True)


def down():
    path = os.path.join(STATE, "demo.json")
    if not os.path.exists(path):
        print("demo: nothing to stop")
        return 0
    with open(path) as f:
        st = json.load(f)
    for pid in st.get("pids", []):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    time.sleep(1)
    for pid in st.get("pids", []):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if st.get("cgroup_base"):
        nodesim._rmdir_tree(st["cgroup_base"])
    stack_mod.main(["down", "--state-dir", os.path.join(STATE, "stack")])
    os.unlink(path)
    print("demo: stopped")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the stack running; stop it with --down")
    ap.add_argument("--down", action="store_true", help="stop a stack left by --keep")
    ap.add_argument("--duration", default="10s", help="profiling window (default 10s)")
    args = ap.parse_args()
    if args.down:
        return down()
    if os.geteuid() != 0:
        print("demo: needs root (eBPF, cgroups)", file=sys.stderr)
        return 1
    if os.path.exists(os.path.join(STATE, "demo.json")):
        down()
    # A fresh cluster every time: old etcd data would replay an old answer.
    shutil.rmtree(STATE, ignore_errors=True)
    os.makedirs(STATE, exist_ok=True)
    os.makedirs(OUT, exist_ok=True)
    detach = args.keep
    services, cluster, kept = [], None, False
    try:
        say("starting etcd + kube-apiserver and an S3 server (MinIO) on 127.0.0.1")
        kube = stack_mod.Stack(os.path.join(STATE, "stack", "kube"), detach=detach).start()
        services.append(kube)
        s3 = stack_mod.S3Server(os.path.join(STATE, "stack", "s3"), detach=detach).start()
        services.append(s3)
        with open(os.path.join(STATE, "stack", "state.json"), "w") as f:
            json.dump({"stack": kube.state(), "s3": s3.state()}, f)
        print(f"    kube-apiserver {kube.server}, S3 {s3.endpoint} bucket {s3.bucket}")

        say("installing the ProfilingTarget CRD")
        kubectl_show(kube, "apply", "-f", os.path.join(REPO, "crds", "profilingtarget.yaml"))
        kube.kubectl("wait", "--for=condition=Established", "crd/profilingtargets.podprof.dev", "--timeout=60s")
        stack_mod.wait_for(lambda: kube.kubectl("get", "pt", "-A", check=False).returncode == 0, 60,
                           desc="CRD served")

        say("starting podprof-operator and two nodes, each with a podprof-worker")
        # TLS on the hub, as in a cluster: a certificate for 127.0.0.1 from a
        # CA made for this demo; the workers trust that CA.
        op = podprof.Operator(kube, s3=s3, tls=True)
        op.detach = detach
        op.start()
        services.append(op)
        cluster = nodesim.Cluster(kube, ["demo-node-1", "demo-node-2"])
        workers = []
        for node in cluster.nodes.values():
            w = podprof.Worker(op, node)
            w.detach = detach
            workers.append(w.start())
            services.append(w)
        print(f"    operator hub {op.url}; workers: {', '.join(cluster.nodes)}")

        say("running the shop: 2 checkout pods and 1 search pod (real processes in pod cgroups)")
        app = podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-demo-"))
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        n1, n2 = cluster.nodes["demo-node-1"], cluster.nodes["demo-node-2"]
        n1.run_pod("shop", "checkout-7d9f-a", {"app": "checkout"}, [("app", [app, "checkout"])])
        n2.run_pod("shop", "checkout-7d9f-b", {"app": "checkout"}, [("app", [app, "checkout"])])
        n1.run_pod("shop", "search-5c4b-a", {"app": "search"}, [("app", [app, "search"])])
        kubectl_show(kube, "get", "pods", "-n", "shop", "-o", "wide")

        say(f"profiling app=checkout for {args.duration}")
        manifest = f"""apiVersion: podprof.dev/v1alpha1
kind: ProfilingTarget
metadata:
  name: checkout-cpu
  namespace: shop
spec:
  selector:
    matchLabels:
      app: checkout
  duration: {args.duration}
  frequencyHz: 99
"""
        print(manifest)
        kube.apply(manifest)
        t0 = time.monotonic()
        last = None
        while True:
            st = podprof.get_target(kube, "shop", "checkout-cpu").get("status", {})
            phase = st.get("phase")
            if phase != last:
                print(f"    {time.monotonic() - t0:5.1f}s  phase={phase} pods={st.get('matchedPods')} "
                      f"samples={st.get('samples')}", flush=True)
                last = phase
            if phase in ("Succeeded", "Failed"):
                break
            if time.monotonic() - t0 > 300:
                raise TimeoutError("the target did not finish in 300s")
            time.sleep(0.3)

        say("the answer, with plain kubectl")
        kubectl_show(kube, "get", "pt", "-n", "shop")
        print()
        kubectl_show(kube, "get", "pt", "checkout-cpu", "-n", "shop", "-o",
                     "custom-columns=FUNCTION:.status.topFunctions[*].function,"
                     "SELF%:.status.topFunctions[*].selfPercent")
        st = podprof.get_target(kube, "shop", "checkout-cpu")["status"]
        print("\n    top functions (self %):")
        for f in st.get("topFunctions", [])[:8]:
            print(f"      {f['selfPercent']:6.2f}%  {f['function']}")
        prof = st.get("profile", {})
        stack_mod.wait_for(lambda: (lambda p: p.get("state") == "Uploaded" and p.get("svgURL"))(
            podprof.get_target(kube, "shop", "checkout-cpu")["status"].get("profile", {})), 60,
            desc="pprof and flame graph uploaded")
        prof = podprof.get_target(kube, "shop", "checkout-cpu")["status"]["profile"]
        print(f"\n    pprof: {prof.get('url')} ({prof.get('sizeBytes')} bytes)")
        print(f"    flame graph: {prof.get('svgURL')}")

        say("reading the profile back from S3")
        key = prof["url"].split(f"/{s3.bucket}/", 1)[1]
        local = os.path.join(OUT, "checkout-cpu.pb.gz")
        with open(local, "wb") as f:
            f.write(s3.get(key))
        svg_key = prof.get("svgURL", "").split(f"/{s3.bucket}/", 1)[-1]
        if svg_key:
            with open(os.path.join(OUT, "checkout-cpu.svg"), "wb") as f:
                f.write(s3.get(svg_key))
        print(f"    saved {local} and {os.path.join(OUT, 'checkout-cpu.svg')}")
        print(f"$ go tool pprof -top {os.path.relpath(local, REPO)}")
        out = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=8", local], capture_output=True,
                             text=True).stdout
        print("\n".join(out.splitlines()[:16]))
        ok = st.get("phase") == "Succeeded"
        if args.keep:
            with open(os.path.join(STATE, "demo.json"), "w") as f:
                json.dump({"pids": [p.pid for s in services for p in s.procs.values()] +
                           [pid for n in cluster.nodes.values() for pod in n.pods for pid in pod.pids],
                           "cgroup_base": cluster.base}, f)
            kept = True
            say("left running (--keep):")
            print(f"    export KUBECONFIG={kube.kubeconfig}")
            print(f"    {stack_mod.tool('kubectl')} get pt -A")
            print("    stop it with: python3 e2e/demo.py --down")
            return 0 if ok else 1
        return 0 if ok else 1
    finally:
        # A failed run is never kept: nothing would know how to stop it.
        if not kept:
            say("cleaning up")
            if cluster:
                cluster.stop()
            for s in reversed(services):
                s.stop()


if __name__ == "__main__":
    sys.exit(main())
