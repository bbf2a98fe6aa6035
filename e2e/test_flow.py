# SPDX-License-Identifier: Apache-2.0
"""test_flow.py -- the whole flow by label selector, as a user meets it.

Three simulated nodes, two apps with different labels spread across them, a
real operator and real eBPF workers, MinIO as object storage. Every profile
check is made on the object read back from S3 with `go tool pprof`, not on
in-memory data.
"""

import os
import re
import tempfile

import pytest

import nodesim
import podprof
import stack as stack_mod

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="eBPF needs root")

CHECKOUT = ("checkout_compute_tax", "checkout_render_receipt")
SEARCH = ("search_rank_results", "search_parse_query")


@pytest.fixture(scope="module")
def env(stack, crd, s3):
    """3 nodes; checkout (3 pods, env prod/prod/dev) and search (2 pods) spread over them."""
    app = podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-wl-"))
    ns = "flow"
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster = nodesim.Cluster(stack, ["n1", "n2", "n3"])
    op = podprof.Operator(stack, s3=s3, tls=True).start()  # wss, as in a cluster
    workers = [podprof.Worker(op, node).start() for node in cluster.nodes.values()]
    n1, n2, n3 = (cluster.nodes[n] for n in ("n1", "n2", "n3"))
    pods = [
        n1.run_pod(ns, "checkout-1", {"app": "checkout", "env": "prod"}, [("app", [app, "checkout"])]),
        n2.run_pod(ns, "checkout-2", {"app": "checkout", "env": "prod"}, [("app", [app, "checkout"])]),
        n3.run_pod(ns, "checkout-3", {"app": "checkout", "env": "dev"}, [("app", [app, "checkout"])]),
        n1.run_pod(ns, "search-1", {"app": "search", "env": "prod"}, [("app", [app, "search"])]),
        n3.run_pod(ns, "search-2", {"app": "search", "env": "prod"}, [("app", [app, "search"])]),
    ]
    yield {"ns": ns, "op": op, "cluster": cluster, "pods": pods}
    for w in workers:
        w.stop()
    op.stop()
    cluster.stop()


def _profile_from_s3(stack, s3, ns, name, tmp_path):
    """Wait for the upload, fetch the pprof from S3, return go tool pprof's {function: flat}."""
    def uploaded():
        st = podprof.get_target(stack, ns, name)["status"]
        prof = st.get("profile", {})
        return st if prof.get("state") == "Uploaded" and prof.get("svgURL") else None
    st = stack_mod.wait_for(uploaded, 90, desc=f"{name} uploaded")
    url = st["profile"]["url"]
    key = url.split(f"/{s3.bucket}/", 1)[1]
    assert key.startswith(f"{ns}/{name}/"), key
    path = tmp_path / f"{name}.pb.gz"
    path.write_bytes(s3.get(key))
    svg = s3.get(st["profile"]["svgURL"].split(f"/{s3.bucket}/", 1)[1])
    assert svg.startswith(b"<?xml") or b"<svg" in svg[:200]
    # The workload is built with -g: tooltips name the hottest line of frames.
    assert re.search(rb"\nat [^<]*/demoapp\.c:\d+ \(\d+ samples there\)</title>", svg), svg[:2000]
    return podprof.pprof_top(str(path)), st


def test_match_labels_profiles_only_the_selected_app(stack, s3, env, tmp_path):
    """matchLabels app=checkout: the S3 profile holds checkout's functions and none of search's."""
    ns = env["ns"]
    podprof.apply_target(stack, ns, "only-checkout", {"matchLabels": {"app": "checkout"}}, duration="4s")
    st = podprof.wait_phase(stack, ns, "only-checkout", timeout=90)["status"]
    assert st["phase"] == "Succeeded", st
    assert st["matchedPods"] == 3
    assert {n["name"] for n in st["nodes"]} == {"n1", "n2", "n3"}
    top, _ = _profile_from_s3(stack, s3, ns, "only-checkout", tmp_path)
    assert any(f in top for f in CHECKOUT), top
    assert not any(f in top for f in SEARCH), top


def test_match_expressions_in_and_notin(stack, s3, env, tmp_path):
    """matchExpressions app In [checkout] and env NotIn [dev] picks exactly the two prod checkout pods."""
    ns = env["ns"]
    sel = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["checkout"]},
                                {"key": "env", "operator": "NotIn", "values": ["dev"]}]}
    podprof.apply_target(stack, ns, "prod-checkout", sel, duration="3s")
    st = podprof.wait_phase(stack, ns, "prod-checkout", timeout=90)["status"]
    assert st["phase"] == "Succeeded", st
    assert sorted(p["name"] for p in st["pods"]) == ["checkout-1", "checkout-2"]
    assert {n["name"] for n in st["nodes"]} == {"n1", "n2"}
    top, _ = _profile_from_s3(stack, s3, ns, "prod-checkout", tmp_path)
    assert "checkout_compute_tax" in top and not any(f in top for f in SEARCH)


def test_two_targets_at_once_on_overlapping_pods(stack, s3, env, tmp_path):
    """Two concurrent targets sharing pods on n1 each get their own, correct profile."""
    ns = env["ns"]
    podprof.apply_target(stack, ns, "all-prod", {"matchLabels": {"env": "prod"}}, duration="4s")
    podprof.apply_target(stack, ns, "search", {"matchLabels": {"app": "search"}}, duration="4s")
    a = podprof.wait_phase(stack, ns, "all-prod", timeout=90)["status"]
    b = podprof.wait_phase(stack, ns, "search", timeout=90)["status"]
    assert a["phase"] == b["phase"] == "Succeeded", (a, b)
    assert sorted(p["name"] for p in a["pods"]) == ["checkout-1", "checkout-2", "search-1", "search-2"]
    assert sorted(p["name"] for p in b["pods"]) == ["search-1", "search-2"]
    top_a, _ = _profile_from_s3(stack, s3, ns, "all-prod", tmp_path)
    top_b, _ = _profile_from_s3(stack, s3, ns, "search", tmp_path)
    assert "checkout_compute_tax" in top_a and "search_rank_results" in top_a, top_a
    assert "search_rank_results" in top_b and not any(f in top_b for f in CHECKOUT), top_b


def test_kubectl_get_and_describe_tell_the_answer(stack, env):
    """`kubectl get pt` shows phase, pods, samples and top function; `describe` shows the events."""
    ns = env["ns"]
    podprof.apply_target(stack, ns, "readable", {"matchLabels": {"app": "checkout"}}, duration="3s")
    podprof.wait_phase(stack, ns, "readable", timeout=90)
    out = stack.kubectl("get", "pt", "readable", "-n", ns).stdout.splitlines()
    header, row = out[0].split(), out[1].split()
    assert header[:5] == ["NAME", "PHASE", "PODS", "SAMPLES", "TOP"], header
    assert row[1] == "Succeeded" and row[2] == "3" and int(row[3]) > 0, row
    assert row[4] in CHECKOUT, row
    desc = stack.kubectl("describe", "pt", "readable", "-n", ns).stdout
    for reason in ("Started", "Completed", "Uploaded"):
        stack_mod.wait_for(lambda: reason in stack.kubectl("describe", "pt", "readable", "-n", ns).stdout,
                           30, desc=f"event {reason}")
    assert "Top Functions" in desc or "topFunctions" in desc.replace(" ", "")
    # The hottest line of the top function, where a reader jumps to the code:
    # inside that function's body in the -g workload's source.
    top = podprof.get_target(stack, ns, "readable")["status"]["topFunctions"][0]
    assert top["file"].endswith("workloads/demoapp.c"), top
    src = open(os.path.join(podprof.WORKLOADS, "demoapp.c")).read().splitlines()
    first = next(i for i, t in enumerate(src, 1) if f"void {top['function']}(void)" in t)
    assert first < top["line"] < first + 4, (top, first)
    assert f"{top['line']}" in desc and "demoapp.c" in desc, desc


def test_s3_outage_during_window_uploads_after_return(stack, s3, env, tmp_path):
    """S3 down during the window: status says Spooled meanwhile; the profile lands when S3 returns."""
    ns = env["ns"]
    s3.pause()
    try:
        podprof.apply_target(stack, ns, "outage", {"matchLabels": {"app": "search"}}, duration="2s")
        st = podprof.wait_phase(stack, ns, "outage", timeout=90)["status"]
        assert st["phase"] == "Succeeded"
        st = stack_mod.wait_for(
            lambda: (lambda s: s if s.get("profile", {}).get("state") in ("Spooled", "Retrying") else None)(
                podprof.get_target(stack, ns, "outage")["status"]), 90, desc="Spooled while S3 is down")
        cond = {c["type"]: c for c in st["conditions"]}["Uploaded"]
        assert cond["status"] == "False" and cond["message"], cond
    finally:
        s3.resume()
    top, st = _profile_from_s3(stack, s3, ns, "outage", tmp_path)
    assert "search_rank_results" in top
    assert {c["type"]: c for c in st["conditions"]}["Uploaded"]["status"] == "True"


def test_selector_matching_nothing_ends_with_a_clear_condition(stack, env):
    """A selector that matches no pod ends Failed with reason NoPodsMatched and a message."""
    ns = env["ns"]
    podprof.apply_target(stack, ns, "nobody", {"matchLabels": {"app": "ghost"}}, duration="2s")
    st = podprof.wait_phase(stack, ns, "nobody", timeout=60)["status"]
    assert st["phase"] == "Failed"
    ready = {c["type"]: c for c in st["conditions"]}["Ready"]
    assert ready["reason"] == "NoPodsMatched" and "matched no running pod" in ready["message"]


def test_schedule_runs_repeated_windows(stack, s3, env):
    """schedule every 3s, count 2: two windows, two profiles in S3, then Succeeded."""
    ns = env["ns"]
    podprof.apply_target(stack, ns, "continuous", {"matchLabels": {"app": "search"}}, duration="1s",
                         schedule={"every": "3s", "count": 2})
    st = stack_mod.wait_for(
        lambda: (lambda s: s if s.get("phase") in ("Succeeded", "Failed") and s.get("windowsCompleted") == 2
                 else None)(podprof.get_target(stack, ns, "continuous").get("status", {})),
        120, desc="two windows completed")
    assert st["phase"] == "Succeeded", st
    uid = podprof.get_target(stack, ns, "continuous")["metadata"]["uid"]
    keys = stack_mod.wait_for(
        lambda: (lambda k: k if len([x for x in k if x.endswith(".pb.gz")]) == 2 else None)(
            s3.list(f"{ns}/continuous/{uid}/")), 60, desc="two profiles uploaded")
    assert len([k for k in keys if k.endswith(".svg")]) == 2, keys
