#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""stack.py -- a real local control plane and S3 server for tests and the demo.

Starts etcd + kube-apiserver on 127.0.0.1 (TLS with a throwaway CA, a static
admin token and an admin client certificate, service-account signing keys so
TokenRequest/TokenReview work), and MinIO as an S3 server that checks SigV4
signatures. Everything lives in one state folder and runs in its own process
group; it is torn down on stop(), at interpreter exit, and (for library use)
by the kernel when the Python process dies (PR_SET_PDEATHSIG).

There is no kube-controller-manager, scheduler or kubelet: Pods are plain
objects (bind them with spec.nodeName), namespaces are not finalized on
delete, and the ServiceAccount admission plugin is off so Pods need no
"default" ServiceAccount object.

Library use:
    with Stack() as st:          # or st = Stack(); st.start(); ...; st.stop()
        st.kubectl("get", "ns")
        token = st.sa_token("default", "podprof-worker")
    with S3Server() as s3:
        s3.put("a/b.txt", b"hi"); s3.get("a/b.txt"); s3.list("a/")

Command line (the demo):
    python3 e2e/stack.py up --state-dir DIR [--s3]   # prints shell exports
    python3 e2e/stack.py down --state-dir DIR
"""

import argparse
import atexit
import ctypes
import datetime
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
import xml.etree.ElementTree as ET

ADMIN_USER = "podprof-admin"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.0.0.0/24"
S3_REGION = "us-east-1"


def tools_bin():
    """Folder holding the Go-built tools (TOOLS_DIR/bin, see e2e/tools/build.sh)."""
    tools = os.environ.get("TOOLS_DIR") or os.path.expanduser("~/.cache/podprof")
    return os.path.join(tools, "bin")


def tool(name):
    """Path of one Go-built tool; raises FileNotFoundError naming `make tools`."""
    path = os.path.join(tools_bin(), name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} missing: run `make tools` (or e2e/tools/build.sh)")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, timeout=60.0, interval=0.2, desc=None):
    """Call fn() until it returns something truthy and return that value.

    Exceptions from fn count as "not yet". On timeout raise TimeoutError naming
    desc and the last value or exception, so a failing test says what it waited
    for. The timeout is a deadline for a condition, not a performance claim.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except Exception as e:  # noqa: BLE001 -- any failure means "retry"
            last = e
        if time.monotonic() >= deadline:
            what = desc or getattr(fn, "__name__", "condition")
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class CommandError(RuntimeError):
    """A command exited non-zero; carries the CompletedProcess as .proc."""

    def __init__(self, proc):
        self.proc = proc
        cmd = " ".join(proc.args) if isinstance(proc.args, list) else str(proc.args)
        super().__init__(f"{cmd!r} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")


def _run(args, check=True, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise CommandError(proc)
    return proc


# --- processes ---------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # Runs in the child between fork and exec: if the test runner is killed
    # outright, the kernel kills the server too instead of leaking it.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _spawn(args, log_path, env=None, detach=False):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group, killed as a whole
            preexec_fn=None if detach else _die_with_parent,
        )
    finally:
        log.close()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _kill_group(pid, grace=10.0):
    """SIGTERM the process group led by pid, then SIGKILL after grace seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.05)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


class _Service:
    """Shared lifecycle: a state folder, child processes, teardown hooks."""

    # Services with podprof processes running, for the log tails conftest
    # attaches to a failed test's report.
    live = weakref.WeakSet()

    def __init__(self, state_dir=None, detach=False, prefix="podprof-"):
        self._own_dir = state_dir is None
        self.dir = state_dir or tempfile.mkdtemp(prefix=prefix)
        os.makedirs(self.dir, exist_ok=True)
        self.detach = detach
        self.procs = {}  # name -> Popen
        self._atexit = False

    def _start_proc(self, name, args, env=None):
        proc = _spawn(args, os.path.join(self.dir, f"{name}.log"), env=env, detach=self.detach)
        self.procs[name] = proc
        _Service.live.add(self)
        if not self.detach and not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        return proc

    def log_tail(self, name, lines=40):
        """Last lines of a child's log, for error messages."""
        try:
            with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _check_running(self, name):
        proc = self.procs[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
        return True

    def stop(self, keep_dir=False):
        """Kill every child (whole process groups); remove the state folder if we made it."""
        _Service.live.discard(self)
        for name in reversed(list(self.procs)):
            proc = self.procs.pop(name)
            _kill_group(proc.pid)
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if self._own_dir and not keep_dir and os.environ.get("PODPROF_KEEP_STACK") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


# --- certificates --------------------------------------------------------------


class CA:
    """A throwaway certificate authority made with the openssl CLI."""

    def __init__(self, folder, name="podprof-test-ca"):
        self.folder = folder
        self.cert = os.path.join(folder, "ca.crt")
        self.key = os.path.join(folder, "ca.key")
        if not os.path.exists(self.cert):
            _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "3650", "-subj", f"/CN={name}",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def issue(self, name, cn, orgs=(), sans=(), client=False, server=False):
        """Sign a fresh key pair; returns (cert_path, key_path) in the CA folder.

        sans are "IP:x" / "DNS:y" strings; client/server choose the extended key usage.
        """
        crt = os.path.join(self.folder, f"{name}.crt")
        key = os.path.join(self.folder, f"{name}.key")
        csr = os.path.join(self.folder, f"{name}.csr")
        ext = os.path.join(self.folder, f"{name}.ext")
        subj = "".join(f"/O={o}" for o in orgs) + f"/CN={cn}"
        _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", csr, "-subj", subj])
        usages = [u for u, on in (("serverAuth", server), ("clientAuth", client)) if on]
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
        if usages:
            lines.append("extendedKeyUsage=" + ",".join(usages))
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
              "-out", crt, "-days", "3650", "-extfile", ext])
        os.chmod(key, 0o600)
        return crt, key


# --- Kubernetes ----------------------------------------------------------------


class Stack(_Service):
    """etcd + kube-apiserver on loopback with TLS, an admin token and kubeconfig.

    Attributes after start(): server (https URL), kubeconfig (path), token
    (admin bearer token, group system:masters), ca_cert, admin_cert/admin_key
    (client certificate, same rights), sa_key/sa_pub (token signing keys),
    ca (the CA object; ca.issue(...) makes more certificates).
    """

    def __init__(self, state_dir=None, detach=False, host="127.0.0.1", real_node=False, extra_args=()):
        """host: the address the API server binds and advertises (a real node's
        pods need one they can reach). real_node: a kubelet will join, so keep
        the ServiceAccount admission plugin and authorize kubelets with the
        Node authorizer; extra_args go to kube-apiserver last."""
        super().__init__(state_dir, detach, prefix="podprof-stack-")
        self.host = host
        self.real_node = real_node
        self.extra_args = list(extra_args)
        self.pki = os.path.join(self.dir, "pki")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.server = None
        self.token = None

    # -- setup --

    def _make_pki(self):
        os.makedirs(self.pki, exist_ok=True)
        self.ca = CA(self.pki)
        self.ca_cert = self.ca.cert
        self.serving_cert, self.serving_key = self.ca.issue(
            "apiserver", "kube-apiserver", server=True,
            sans=(*dict.fromkeys(("IP:127.0.0.1", f"IP:{self.host}")), "IP:10.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                  "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"))
        self.admin_cert, self.admin_key = self.ca.issue("admin", ADMIN_USER, orgs=("system:masters",), client=True)
        self.sa_key = os.path.join(self.pki, "sa.key")
        self.sa_pub = os.path.join(self.pki, "sa.pub")
        _run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.sa_key])
        _run(["openssl", "pkey", "-in", self.sa_key, "-pubout", "-out", self.sa_pub])
        self.token = secrets.token_hex(24)
        self.token_file = os.path.join(self.pki, "tokens.csv")
        with open(self.token_file, "w") as f:
            f.write(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        os.chmod(self.token_file, 0o600)

    def _write_kubeconfig(self):
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "podprof", "cluster": {"server": self.server, "certificate-authority": self.ca_cert}}],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [{"name": "podprof", "context": {"cluster": "podprof", "user": ADMIN_USER,
                                                         "namespace": "default"}}],
            "current-context": "podprof",
        }
        with open(self.kubeconfig, "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is valid kubeconfig YAML
        os.chmod(self.kubeconfig, 0o600)

    def start(self, timeout=180.0):
        """Start etcd and kube-apiserver; returns once /readyz answers ok."""
        etcd, apiserver = tool("etcd"), tool("kube-apiserver")
        self._make_pki()
        self.etcd_port, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self._start_proc("etcd", [
            etcd, "--name", "podprof", "--data-dir", os.path.join(self.dir, "etcd"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"podprof=http://127.0.0.1:{peer}",
            "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}",
            # Throwaway data on a shared, noisy machine: skip fsync.
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        wait_for(lambda: self._check_running("etcd") and self._etcd_healthy(), timeout, desc="etcd /health")

        self.port = free_port()
        self.server = f"https://{self.host}:{self.port}"
        self._start_proc("kube-apiserver", [
            apiserver,
            "--etcd-servers", self.etcd_url,
            "--bind-address", self.host, "--advertise-address", self.host,
            "--secure-port", str(self.port),
            "--tls-cert-file", self.serving_cert, "--tls-private-key-file", self.serving_key,
            "--client-ca-file", self.ca_cert,
            "--token-auth-file", self.token_file,
            "--authorization-mode", "Node,RBAC" if self.real_node else "RBAC",
            "--service-account-issuer", SA_ISSUER,
            "--service-account-key-file", self.sa_pub,
            "--service-account-signing-key-file", self.sa_key,
            "--api-audiences", SA_ISSUER,
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--allow-privileged=true",
            # Without a real node no controller-manager creates "default"
            # ServiceAccounts, so Pods would be refused by this plugin.
            *(("--enable-admission-plugins", "NodeRestriction") if self.real_node
              else ("--disable-admission-plugins", "ServiceAccount")),
            "--profiling=false", "--v=1",
            *self.extra_args,
        ])
        self._write_kubeconfig()
        wait_for(lambda: self._check_running("kube-apiserver") and self._readyz(), timeout,
                 desc="kube-apiserver /readyz")
        return self

    def restart_apiserver(self, timeout=180.0):
        """Kill kube-apiserver and start it again with the same command line and port
        (etcd keeps the data); returns once /readyz answers ok again."""
        proc = self.procs["kube-apiserver"]
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            args = f.read().rstrip(b"\0").decode().split("\0")
        _kill_group(proc.pid)
        proc.wait(timeout=60)
        self._start_proc("kube-apiserver", args)
        wait_for(lambda: self._check_running("kube-apiserver") and self._readyz(), timeout,
                 desc="kube-apiserver /readyz after restart")

    def _etcd_healthy(self):
        with urllib.request.urlopen(self.etcd_url + "/health", timeout=5) as r:
            return json.load(r).get("health") == "true"

    def _readyz(self):
        try:
            return self.request("GET", "/readyz", raw=True) == b"ok"
        except urllib.error.HTTPError:
            return False

    # -- clients --

    def ssl_context(self):
        """An ssl.SSLContext trusting the stack's CA."""
        return ssl.create_default_context(cafile=self.ca_cert)

    def request(self, method, path, body=None, token=None, raw=False, content_type="application/json"):
        """One API call as admin (or with token); returns parsed JSON (or bytes if raw).

        Raises urllib.error.HTTPError on non-2xx; e.read() has the Status body.
        """
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as r:
            out = r.read()
        return out if raw else json.loads(out or b"null")

    def env(self):
        """Environment for child processes: KUBECONFIG plus a private kubectl cache."""
        env = dict(os.environ)
        env["KUBECONFIG"] = self.kubeconfig
        env["KUBECACHEDIR"] = os.path.join(self.dir, "kube-cache")
        return env

    def kubectl(self, *args, input=None, check=True, timeout=120):
        """Run the pinned kubectl against this stack; returns CompletedProcess (text).

        Raises CommandError (with stderr in the message) when check and it fails.
        """
        return _run([tool("kubectl"), *args], check=check, input=input, env=self.env(), timeout=timeout)

    def apply(self, manifest, *extra, check=True):
        """kubectl apply -f - with manifest given as YAML text or a dict."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.kubectl("apply", "-f", "-", *extra, input=text, check=check)

    def sa_token(self, namespace, name, audiences=(), duration="1h", bound_pod=None):
        """Mint a bound service-account token (TokenRequest), creating the namespace
        and ServiceAccount if needed. The API server accepts it in TokenReview.
        bound_pod: name of a pod (of this ServiceAccount) the token is bound to,
        as a projected token in that pod would be; its TokenReview then names
        the pod and, on Kubernetes >= 1.30, the pod's node."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        self.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace}})
        args = ["create", "token", name, "-n", namespace, "--duration", duration]
        for a in audiences:
            args += ["--audience", a]
        if bound_pod:
            args += ["--bound-object-kind", "Pod", "--bound-object-name", bound_pod]
        return self.kubectl(*args).stdout.strip()

    def worker_pod(self, namespace, name, service_account, node=None):
        """A (never started) pod of service_account, on node when given: what a
        worker DaemonSet pod is to the API server, so that tokens can be bound to it."""
        spec = {"serviceAccountName": service_account, "automountServiceAccountToken": False,
                "containers": [{"name": "worker", "image": "podprof/worker:e2e"}]}
        if node:
            spec["nodeName"] = node
        self.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": service_account, "namespace": namespace}})
        return self.request("POST", f"/api/v1/namespaces/{namespace}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": spec})

    def token_review(self, token, audiences=()):
        """Ask the API server who a token belongs to; returns the TokenReview status."""
        spec = {"token": token}
        if audiences:
            spec["audiences"] = list(audiences)
        review = self.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec})
        return review.get("status", {})

    def state(self):
        return {"kind": "stack", "dir": self.dir, "server": self.server, "kubeconfig": self.kubeconfig,
                "token": self.token, "ca_cert": self.ca_cert,
                "pids": {n: p.pid for n, p in self.procs.items()}}


# --- S3 ------------------------------------------------------------------------


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(method, url, body, access_key, secret_key, region=S3_REGION, service="s3", now=None):
    """AWS Signature Version 4 headers for one request (path-style URL).

    Written from the public SigV4 description; enough for tests to talk to
    the S3 server without an SDK.
    """
    u = urllib.parse.urlsplit(url)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = _sha256(body)
    headers = {"host": u.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    path = urllib.parse.quote(urllib.parse.unquote(u.path) or "/", safe="/-_.~")
    query = sorted(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    canon_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                           for k, v in query)
    signed = ";".join(sorted(headers))
    canon_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    canon = "\n".join([method, path, canon_query, canon_headers, signed, payload])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256(canon.encode())])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), service), "aws4_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={sig}")
    del headers["host"]  # urllib sets Host itself, to the same value
    return headers


class S3Error(RuntimeError):
    """Non-2xx answer from the S3 server; .status and .body hold the details."""

    def __init__(self, status, body):
        self.status, self.body = status, body
        super().__init__(f"S3 HTTP {status}: {body[:300]!r}")


class S3Server(_Service):
    """MinIO on a random loopback port with fresh keys and one bucket.

    Attributes after start(): endpoint (http URL), access_key, secret_key,
    region, bucket, data_dir.
    """

    def __init__(self, state_dir=None, detach=False, bucket="podprof", host="127.0.0.1"):
        """host: the address MinIO listens on (pods on a real node need a non-loopback one)."""
        super().__init__(state_dir, detach, prefix="podprof-s3-")
        self.host = host
        self.bucket = bucket
        self.region = S3_REGION
        self.access_key = "podprof" + secrets.token_hex(4)
        self.secret_key = secrets.token_hex(20)
        self.data_dir = os.path.join(self.dir, "data")
        self.endpoint = None

    def _env(self):
        env = dict(os.environ)
        env.update({
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_REGION": self.region,
            # Allow a data folder on the root filesystem (a temp dir here).
            "MINIO_CI_CD": "on",
            "HOME": self.dir,  # MinIO writes ~/.minio; keep it in the state folder
        })
        return env

    def start(self, timeout=120.0):
        minio = tool("minio")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.endpoint = f"http://{self.host}:{self.port}"
        env = self._env()
        self._start_proc("minio", [minio, "server", self.data_dir, "--quiet", "--address",
                                   f"{self.host}:{self.port}", "--console-address", f"127.0.0.1:{free_port()}"],
                         env=env)
        wait_for(lambda: self._check_running("minio") and self._ready(), timeout, desc="MinIO /minio/health/ready")
        wait_for(lambda: self.create_bucket(self.bucket) or True, 30, desc=f"bucket {self.bucket}")
        return self

    def _ready(self):
        with urllib.request.urlopen(self.endpoint + "/minio/health/ready", timeout=5) as r:
            return r.status == 200

    def pause(self):
        """Stop the server (an outage); resume() starts it again on the same port and data."""
        self._paused_args = self.procs["minio"].args
        _kill_group(self.procs.pop("minio").pid)

    def resume(self, timeout=120.0):
        self._start_proc("minio", self._paused_args, env=self._env())
        wait_for(lambda: self._check_running("minio") and self._ready(), timeout,
                 desc="MinIO ready after restart")

    def url(self, bucket, key=""):
        return f"{self.endpoint}/{bucket}/{urllib.parse.quote(key, safe='/-_.~')}"

    def request(self, method, url, body=b"", secret_key=None):
        """One signed request; returns (status, headers, body). Raises S3Error on non-2xx."""
        headers = sigv4_headers(method, url, body, self.access_key, secret_key or self.secret_key, self.region)
        req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            raise S3Error(e.code, e.read()) from None

    def create_bucket(self, bucket):
        try:
            self.request("PUT", f"{self.endpoint}/{bucket}")
        except S3Error as e:
            if b"BucketAlreadyOwnedByYou" not in e.body:
                raise

    def put(self, key, data, bucket=None):
        self.request("PUT", self.url(bucket or self.bucket, key), data)

    def get(self, key, bucket=None):
        """Object bytes; raises S3Error (status 404) when missing."""
        return self.request("GET", self.url(bucket or self.bucket, key))[2]

    def list(self, prefix="", bucket=None):
        """Keys under prefix (ListObjectsV2, all pages) -> {key: size}."""
        out, token = {}, None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            url = f"{self.endpoint}/{bucket or self.bucket}?{urllib.parse.urlencode(q)}"
            root = ET.fromstring(self.request("GET", url)[2])
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for c in root.findall(f"{ns}Contents"):
                out[c.findtext(f"{ns}Key")] = int(c.findtext(f"{ns}Size") or 0)
            token = root.findtext(f"{ns}NextContinuationToken")
            if root.findtext(f"{ns}IsTruncated") != "true" or not token:
                return out

    def state(self):
        return {"kind": "s3", "dir": self.dir, "endpoint": self.endpoint, "access_key": self.access_key,
                "secret_key": self.secret_key, "region": self.region, "bucket": self.bucket,
                "pids": {n: p.pid for n, p in self.procs.items()}}


# --- command line ---------------------------------------------------------------


def _exports(state):
    st, s3 = state.get("stack"), state.get("s3")
    lines = []
    if st:
        lines += [f"export KUBECONFIG={st['kubeconfig']}", f"export PODPROF_KUBE_SERVER={st['server']}"]
    if s3:
        lines += [f"export PODPROF_S3_ENDPOINT={s3['endpoint']}", f"export PODPROF_S3_BUCKET={s3['bucket']}",
                  f"export PODPROF_S3_REGION={s3['region']}", f"export PODPROF_S3_ACCESS_KEY={s3['access_key']}",
                  f"export PODPROF_S3_SECRET_KEY={s3['secret_key']}"]
    return "\n".join(lines)


def _down(state_dir):
    path = os.path.join(state_dir, "state.json")
    try:
        with open(path) as f:
            state = json.load(f)
    except FileNotFoundError:
        return 0
    for part in ("s3", "stack"):
        for name, pid in (state.get(part) or {}).get("pids", {}).items():
            # Only kill what we started: the pid must still run the same tool.
            if os.path.basename(_cmdline(pid)) == name:
                _kill_group(pid)
    os.unlink(path)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="Local kube-apiserver + etcd (+ MinIO) for podprof's demo and tests.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start in the background and print shell exports")
    up.add_argument("--state-dir", required=True)
    up.add_argument("--s3", action="store_true", help="also start the S3 server")
    up.add_argument("--no-kube", action="store_true", help="skip etcd/kube-apiserver")
    down = sub.add_parser("down", help="stop what `up` started")
    down.add_argument("--state-dir", required=True)
    args = p.parse_args(argv)

    state_dir = os.path.abspath(args.state_dir)
    if args.cmd == "down":
        return _down(state_dir)

    _down(state_dir)  # a previous run left behind is replaced, not doubled
    state, started = {}, []
    try:
        if not args.no_kube:
            st = Stack(os.path.join(state_dir, "kube"), detach=True)
            started.append(st)
            st.start()
            state["stack"] = st.state()
        if args.s3:
            s3 = S3Server(os.path.join(state_dir, "s3"), detach=True)
            started.append(s3)
            s3.start()
            state["s3"] = s3.state()
    except Exception as e:
        for svc in started:
            svc.stop()
        print(f"stack: failed to start: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(state_dir, "state.json"), "w") as f:
        json.dump(state, f, indent=1)
    os.chmod(os.path.join(state_dir, "state.json"), 0o600)
    print(_exports(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
