# SPDX-License-Identifier: Apache-2.0
"""conftest.py -- shared pytest fixtures for the e2e suites.

Fixtures start real servers lazily: a test that asks for none of them pays
nothing. All are session-scoped and torn down at the end of the session, also
when tests fail (and by the kernel if pytest itself is killed).

  stack      etcd + kube-apiserver (stack.Stack): .kubeconfig, .server, .token,
             .ca_cert, .kubectl(*args), .apply(manifest), .request(method, path),
             .sa_token(ns, name, audiences), .token_review(token), .ca.issue(...)
  crd        the ProfilingTarget CRD applied to `stack` and Established
  namespace  a fresh namespace name on `stack` for one test
  s3         MinIO (stack.S3Server): .endpoint, .access_key, .secret_key,
             .region, .bucket, .put/.get/.list
  build_dir / asan_build_dir   folders holding the podprof binaries
"""

import os
import secrets
import tempfile

import pytest

import nodesim
import podprof
import stack as stack_mod

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRD_PATH = os.path.join(REPO, "crds", "profilingtarget.yaml")
CRD_NAME = "profilingtargets.podprof.dev"


@pytest.fixture(scope="session")
def build_dir():
    """Folder with podprof-worker and podprof-operator (PODPROF_BUILD, default build/)."""
    return os.path.abspath(os.environ.get("PODPROF_BUILD") or os.path.join(REPO, "build"))


@pytest.fixture(scope="session")
def asan_build_dir():
    """Folder with the ASan+UBSan binaries (PODPROF_ASAN_BUILD, default build/asan)."""
    return os.path.abspath(os.environ.get("PODPROF_ASAN_BUILD") or os.path.join(REPO, "build", "asan"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with the last lines of every podprof
    operator and worker still running: in CI that is all there is to read."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    for svc in list(stack_mod._Service.live):
        for name in list(svc.procs):
            if name in ("operator", "worker"):
                label = getattr(getattr(svc, "node", None), "name", "")
                rep.sections.append((f"{name} {label} log tail".replace("  ", " "),
                                     svc.log_tail(name, 25)))


def _serve(svc):
    # On a failed start keep the state folder: its *.log files say why.
    try:
        svc.start()
    except Exception:
        svc.stop(keep_dir=True)
        raise
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def stack():
    """A running etcd + kube-apiserver for the whole session."""
    yield from _serve(stack_mod.Stack())


@pytest.fixture(scope="session")
def crd(stack):
    """The ProfilingTarget CRD, applied with kubectl and Established."""
    stack.kubectl("apply", "-f", CRD_PATH)
    stack.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=120s")
    # Discovery lags Established a little; kubectl must resolve the short name.
    stack_mod.wait_for(lambda: stack.kubectl("get", "pt", "-A", check=False).returncode == 0, 60,
                       desc="ProfilingTarget in discovery")
    return CRD_NAME


@pytest.fixture
def namespace(stack):
    """A fresh namespace for one test (left behind: no namespace controller runs)."""
    name = "t-" + secrets.token_hex(4)
    stack.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture(scope="session")
def demoapp():
    """e2e/workloads/demoapp built with frame pointers (checkout_* / search_* hot functions)."""
    return podprof.compile_workload("demoapp", tempfile.mkdtemp(prefix="podprof-wl-"))


@pytest.fixture
def node(stack, crd, request):
    """One simulated node of this test alone (unique name, own cgroup subtree);
    the name starts with the suite's initial, e.g. f- for test_faults."""
    prefix = request.module.__name__.split("test_", 1)[-1][:1] + "-"
    name = prefix + request.node.name.replace("_", "-")[5:30].strip("-").lower()
    c = nodesim.Cluster(stack, [name])
    yield c.nodes[name]
    c.stop()


@pytest.fixture
def private_s3():
    """A MinIO of one test alone, which the test may pause() and resume()."""
    yield from _serve(stack_mod.S3Server(bucket="private"))


@pytest.fixture(scope="session")
def s3():
    """A running MinIO with one bucket for the whole session."""
    yield from _serve(stack_mod.S3Server())
