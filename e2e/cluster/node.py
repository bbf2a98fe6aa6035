#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""node.py -- a real single-node Kubernetes cluster on this machine, and its teardown.

Control plane: etcd + kube-apiserver from e2e/stack.py (bound to the node's
address, ServiceAccount admission on, Node+RBAC authorization),
kube-controller-manager, kube-scheduler and kube-proxy (iptables mode) built
from the same pinned k8s.io/kubernetes module, plus a Service-name DNS
(dns.py). Node: containerd and runc from Debian with the CRI and overlayfs
plugins, CNI bridge/host-local/loopback from Debian, and the kubelet with the
cgroupfs driver on this machine's hybrid cgroups (v1 controllers, so
failCgroupV1 is false). Images come from images.sh and are imported into
containerd's k8s.io namespace; nothing is pulled from a registry.

Networking stays on this machine: the node's address lives on a local veth
interface, pods on a bridge, and a FORWARD rule drops any pod packet headed
anywhere but another pod.

Teardown (stop(), also on failure and at interpreter exit) removes pods,
containers, sandboxes' network namespaces, mounts under the state folder,
cgroups the kubelet made, iptables rules, interfaces and processes.

Library use:
    with Cluster() as c:
        c.stack.kubectl("get", "nodes")
Command line (foreground; Ctrl-C or SIGTERM tears everything down):
    python3 e2e/cluster/node.py up [--state-dir DIR]   # prints a KUBECONFIG export
"""

import argparse
import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import stack  # noqa: E402 -- path set above

NODE_NAME = "podprof-node"
NODE_IP = "10.217.0.1"  # on the veth interface below; never routed anywhere
NODE_IF = "ppnode0"
POD_CIDR = "10.218.0.0/24"
POD_BRIDGE = "ppcni0"
CLUSTER_DOMAIN = "cluster.local"
FWD_CHAIN = "PODPROF-E2E-FWD"
CGROUP_ROOT = "/sys/fs/cgroup"

# Image names; images.sh builds them (keep in step with its TAG and *_IMAGE
# lines): the images built from this checkout carry a tag of its own, so that
# two checkouts on one machine do not overwrite each other's.
_REPO = os.path.realpath(os.path.join(HERE, "..", ".."))
IMAGE_TAG = os.environ.get("PODPROF_IMAGE_TAG") or \
    "e2e-" + hashlib.sha256(_REPO.encode()).hexdigest()[:8]
PAUSE_IMAGE = "localhost/podprof-pause:3.10"
PODPROF_IMAGE = f"localhost/podprof:{IMAGE_TAG}"
DEMOAPP_IMAGE = f"localhost/podprof-demoapp:{IMAGE_TAG}"
PYAPP_IMAGE = f"localhost/podprof-pyapp:{IMAGE_TAG}"
IMAGE_ARCHIVES = ("pause.oci.tar", f"podprof-{IMAGE_TAG}.oci.tar", f"demoapp-{IMAGE_TAG}.oci.tar",
                  f"pyapp-{IMAGE_TAG}.oci.tar")


def images_dir():
    tools = os.environ.get("TOOLS_DIR") or os.path.expanduser("~/.cache/podprof")
    return os.path.join(tools, "images")


def _run(args, check=True, timeout=300, **kw):
    return stack._run(args, check=check, timeout=timeout, **kw)


def _log(msg):
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def _mounts_under(prefix):
    """Mount points at or below prefix, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    return sorted(set(out), key=len, reverse=True)


def _sysctl(path, value):
    with open(path, "w") as f:
        f.write(f"{value}\n")


def _netns_names():
    try:
        return set(os.listdir("/var/run/netns"))
    except FileNotFoundError:
        return set()


_IPT = ("iptables", "ip6tables")
_IPT_TABLES = ("filter", "nat", "mangle")


def _kube_chains():
    """{(binary, table, chain)} of KUBE-* chains now present (kubelet and kube-proxy make them)."""
    found = set()
    for ipt in _IPT:
        for table in _IPT_TABLES:
            out = _run([ipt, "-w", "-t", table, "-S"], check=False).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "-N" and parts[1].startswith("KUBE-"):
                    found.add((ipt, table, parts[1]))
    return found


def _remove_chains(chains):
    """Delete the rules jumping to these chains, then the chains themselves."""
    names = {c for _, _, c in chains}
    for ipt, table in {(i, t) for i, t, _ in chains}:
        out = _run([ipt, "-w", "-t", table, "-S"], check=False).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1] in names \
                    and parts[1] not in names:
                _run([ipt, "-w", "-t", table, "-D", *parts[1:]], check=False)
    for ipt, table, chain in chains:
        _run([ipt, "-w", "-t", table, "-F", chain], check=False)
    for ipt, table, chain in chains:
        _run([ipt, "-w", "-t", table, "-X", chain], check=False)


def _kubepods_cgroups():
    """kubepods folders the kubelet makes in each cgroup hierarchy."""
    found = []
    for ctrl in sorted(os.listdir(CGROUP_ROOT)):
        p = os.path.join(CGROUP_ROOT, ctrl, "kubepods")
        if os.path.isdir(p):
            found.append(p)
    return found


def _rmdir_tree(path):
    """Remove a cgroup folder bottom-up (cgroup folders only rmdir when empty of children)."""
    for root, dirs, _files in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


class Cluster(stack._Service):
    """A single real node. Attributes after start(): stack (stack.Stack), s3
    (stack.S3Server or None), node_ip, containerd_sock."""

    def __init__(self, state_dir=None, detach=False, with_s3=True):
        super().__init__(state_dir, detach, prefix="podprof-cluster-")
        self.dir = os.path.abspath(self.dir)
        self.with_s3 = with_s3
        self.node_ip = NODE_IP
        self.stack = None
        self.s3 = None
        self.cd_dir = os.path.join(self.dir, "containerd")
        self.containerd_sock = os.path.join(self.cd_dir, "containerd.sock")
        self.kubelet_dir = os.path.join(self.dir, "kubelet")
        self.cni_dir = os.path.join(self.dir, "cni")
        self.undo = []  # (description, fn), run in reverse by stop()
        self._stopped = False

    # -- helpers --

    def _undo(self, desc, fn):
        self.undo.append((desc, fn))

    def ctr(self, *args, check=True, timeout=300):
        return _run(["ctr", "--address", self.containerd_sock, "-n", "k8s.io", *args], check=check,
                    timeout=timeout)

    def kubectl(self, *args, **kw):
        return self.stack.kubectl(*args, **kw)

    def _write(self, path, text, mode=0o644):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def _kubeconfig(self, name, cert, key):
        cfg = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "podprof", "cluster": {"server": self.stack.server,
                                                         "certificate-authority": self.stack.ca_cert}}],
            "users": [{"name": name, "user": {"client-certificate": cert, "client-key": key}}],
            "contexts": [{"name": "podprof", "context": {"cluster": "podprof", "user": name}}],
            "current-context": "podprof",
        }
        return self._write(os.path.join(self.dir, f"{name}.kubeconfig"), json.dumps(cfg, indent=1), 0o600)

    # -- start --

    def start(self, timeout=300.0):
        atexit.register(self.stop)
        self._atexit = True
        try:
            self._preflight()
            self._network()
            kube_dir = os.path.join(self.dir, "kube")
            # The API server reaches the kubelet (logs, exec) by address, not
            # by a host name the machine's resolver does not know, and with a
            # client certificate the kubelet checks against the cluster CA.
            os.makedirs(os.path.join(kube_dir, "pki"), exist_ok=True)
            kubelet_client = stack.CA(os.path.join(kube_dir, "pki")).issue(
                "apiserver-kubelet-client", "podprof-apiserver", orgs=("system:masters",), client=True)
            self.stack = stack.Stack(kube_dir, detach=self.detach, host=NODE_IP, real_node=True, extra_args=(
                "--kubelet-preferred-address-types", "InternalIP",
                "--kubelet-client-certificate", kubelet_client[0], "--kubelet-client-key", kubelet_client[1]))
            self._undo("control plane", self.stack.stop)
            self.stack.start()
            if self.with_s3:
                self.s3 = stack.S3Server(os.path.join(self.dir, "s3"), detach=self.detach, host=NODE_IP)
                self._undo("s3", self.s3.stop)
                self.s3.start()
            self._containerd()
            self._import_images()
            self._controllers()
            self._kubelet()
            self.wait_node_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _preflight(self):
        missing = [b for b in ("containerd", "runc", "ctr", "iptables", "ip") if not shutil.which(b)]
        missing += [p for p in ("/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback")
                    if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"missing {missing}: apt-get install containerd runc "
                                    "containernetworking-plugins iptables (see docs/install.md)")
        for b in ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
            stack.tool(b)
        for a in IMAGE_ARCHIVES:
            if not os.path.exists(os.path.join(images_dir(), a)):
                raise FileNotFoundError(f"{a} missing in {images_dir()}: run e2e/cluster/images.sh")
        if os.path.exists(f"/sys/class/net/{NODE_IF}"):
            raise RuntimeError(f"interface {NODE_IF} exists: another cluster runs (or `node.py down` it)")
        self.netns_before = _netns_names()
        self.cgroups_before = set(_kubepods_cgroups())
        self.had_var_lib_kubelet = os.path.exists("/var/lib/kubelet")
        self.chains_before = _kube_chains()

    def _network(self):
        # A veth pair, because this kernel has no dummy interfaces; the peer
        # stays unused and goes away with it.
        _run(["ip", "link", "add", NODE_IF, "type", "veth", "peer", "name", NODE_IF + "p"])
        self._undo("node interface", lambda: _run(["ip", "link", "del", NODE_IF], check=False))
        _run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_IF])
        _run(["ip", "link", "set", NODE_IF, "up"])
        self._undo("pod bridge", lambda: _run(["ip", "link", "del", POD_BRIDGE], check=False))
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            fwd = f.read().strip()
        self._undo("ip_forward", lambda: _sysctl("/proc/sys/net/ipv4/ip_forward", fwd))
        # Pods may talk to pods and to this host (INPUT), never beyond: the
        # bridge plugin turns on forwarding, this keeps it inside.
        _run(["iptables", "-w", "-N", FWD_CHAIN])
        _run(["iptables", "-w", "-A", FWD_CHAIN, "-s", POD_CIDR, "!", "-d", POD_CIDR, "-j", "DROP"])
        _run(["iptables", "-w", "-I", "FORWARD", "1", "-j", FWD_CHAIN])
        self._undo("forward guard", self._drop_guard)
        # Bridged pod-to-Service-to-pod replies must pass conntrack to be un-NATed.
        nf = "/proc/sys/net/bridge/bridge-nf-call-iptables"
        with open(nf) as f:
            was = f.read().strip()
        if was != "1":
            _sysctl(nf, 1)
            self._undo("bridge-nf-call-iptables", lambda: _sysctl(nf, was))

    @staticmethod
    def _drop_guard():
        _run(["iptables", "-w", "-D", "FORWARD", "-j", FWD_CHAIN], check=False)
        _run(["iptables", "-w", "-F", FWD_CHAIN], check=False)
        _run(["iptables", "-w", "-X", FWD_CHAIN], check=False)

    def _containerd(self):
        cni = {
            "cniVersion": "1.0.0", "name": "podprof",
            "plugins": [{
                "type": "bridge", "bridge": POD_BRIDGE, "isGateway": True, "ipMasq": False,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": os.path.join(self.cni_dir, "ipam")},
            }],
        }
        self._write(os.path.join(self.cni_dir, "net.d", "10-podprof.conflist"), json.dumps(cni, indent=1))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        conf = f"""version = 2
root = "{self.cd_dir}/root"
state = "{self.cd_dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.containerd_sock}"
[ttrpc]
  address = "{self.containerd_sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.cd_dir}/opt"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # These machines lack CAP_SYS_RESOURCE, so runc cannot give the sandbox the
  # negative oom_score_adj the kubelet asks for (runc init dies with "can't
  # get final child's PID from pipe: EOF"); cap it at containerd's own.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{shutil.which('runc')}"
        Root = "{self.cd_dir}/runc"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{self.cni_dir}/net.d"
    max_conf_num = 1
"""
        path = self._write(os.path.join(self.cd_dir, "config.toml"), conf)
        self._start_proc("containerd", ["containerd", "--config", path, "--log-level", "info"])
        self._undo("containerd", lambda: self._stop_proc("containerd"))
        stack.wait_for(lambda: self._check_running("containerd") and
                       self.ctr("version", check=False).returncode == 0, 60, desc="containerd")

    def _import_images(self):
        for a in IMAGE_ARCHIVES:
            self.ctr("images", "import", "--snapshotter", "overlayfs", os.path.join(images_dir(), a))
        names = self.ctr("images", "ls", "-q").stdout.split()
        for want in (PAUSE_IMAGE, PODPROF_IMAGE, DEMOAPP_IMAGE, PYAPP_IMAGE):
            if want not in names:
                raise RuntimeError(f"{want} not in containerd's k8s.io namespace after import: {names}")

    def _controllers(self):
        st = self.stack
        kcm_cert = st.ca.issue("kcm", "podprof-kube-controller-manager", orgs=("system:masters",), client=True)
        self.kcm_kubeconfig = self._kubeconfig("kcm", *kcm_cert)
        self._start_proc("kube-controller-manager", [
            stack.tool("kube-controller-manager"), "--kubeconfig", self.kcm_kubeconfig,
            "--service-account-private-key-file", st.sa_key, "--root-ca-file", st.ca_cert,
            "--service-cluster-ip-range", stack.SERVICE_CIDR, "--cluster-name", "podprof",
            "--leader-elect=false", "--secure-port=0", "--v=1",
        ])
        sched_cert = st.ca.issue("scheduler", "system:kube-scheduler", client=True)
        self._start_proc("kube-scheduler", [
            stack.tool("kube-scheduler"), "--kubeconfig", self._kubeconfig("scheduler", *sched_cert),
            "--leader-elect=false", "--secure-port=0", "--v=1",
        ])
        proxy_cert = st.ca.issue("proxy", "system:kube-proxy", client=True)
        proxy_cfg = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": self._kubeconfig("proxy", *proxy_cert)},
            "hostnameOverride": NODE_NAME, "mode": "iptables", "clusterCIDR": POD_CIDR,
            "healthzBindAddress": f"127.0.0.1:{stack.free_port()}",
            "metricsBindAddress": f"127.0.0.1:{stack.free_port()}",
            # Leave the host's conntrack sysctls and localhost routing alone.
            "conntrack": {"maxPerCore": 0},
            "iptables": {"localhostNodePorts": False},
        }
        path = self._write(os.path.join(self.dir, "kube-proxy.json"), json.dumps(proxy_cfg, indent=1))
        self._start_proc("kube-proxy", [stack.tool("kube-proxy"), "--config", path, "--v=1"])
        self._undo("kube-proxy rules", lambda: _run([stack.tool("kube-proxy"), "--cleanup"], check=False))
        # The kubelet's own chains (KUBE-FIREWALL, canaries) outlive --cleanup.
        self._undo("kubelet chains", lambda: _remove_chains(_kube_chains() - self.chains_before))
        self._start_proc("dns", [sys.executable, os.path.join(HERE, "dns.py"), "--listen", NODE_IP,
                                 "--server", st.server, "--ca", st.ca_cert, "--token-file",
                                 self._write(os.path.join(self.dir, "dns.token"), st.token, 0o600),
                                 "--domain", CLUSTER_DOMAIN])

    def _kubelet(self):
        st = self.stack
        node_cert = st.ca.issue("kubelet-client", f"system:node:{NODE_NAME}", orgs=("system:nodes",), client=True)
        serving = st.ca.issue("kubelet-serving", NODE_NAME, server=True, sans=(f"IP:{NODE_IP}",
                                                                                f"DNS:{NODE_NAME}"))
        resolv = self._write(os.path.join(self.dir, "resolv.conf"), "# no upstream: cluster names only\n")
        cfg = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": NODE_IP, "port": stack.free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": stack.free_port(),
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            # Hybrid cgroups here (v1 controllers), no systemd as PID 1.
            "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
            "cgroupsPerQOS": True, "enforceNodeAllocatable": ["pods"],
            "clusterDNS": [NODE_IP], "clusterDomain": CLUSTER_DOMAIN, "resolvConf": resolv,
            "tlsCertFile": serving[0], "tlsPrivateKeyFile": serving[1],
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": st.ca_cert}},
            "authorization": {"mode": "AlwaysAllow"},
            # A shared test machine: never evict for disk or memory pressure.
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "0%", "nodefs.inodesFree": "0%",
                             "imagefs.available": "0%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "syncFrequency": "10s", "nodeStatusUpdateFrequency": "5s", "fileCheckFrequency": "5s",
            "maxPods": 30, "serializeImagePulls": False,
            "podLogsDir": os.path.join(self.dir, "pod-logs"),
        }
        path = self._write(os.path.join(self.dir, "kubelet.json"), json.dumps(cfg, indent=1))
        self._start_proc("kubelet", [
            stack.tool("kubelet"), "--config", path, "--kubeconfig", self._kubeconfig("kubelet", *node_cert),
            "--root-dir", self.kubelet_dir, "--hostname-override", NODE_NAME, "--node-ip", NODE_IP,
            "--cert-dir", os.path.join(self.dir, "kubelet-pki"), "--v=1",
        ])

    def _node_ready(self):
        self._check_running("kubelet")
        node = self.stack.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        return conds.get("Ready") == "True"

    def wait_node_ready(self, timeout=300.0):
        try:
            stack.wait_for(self._node_ready, timeout, interval=1.0, desc=f"node {NODE_NAME} Ready")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n--- kubelet log ---\n{self.log_tail('kubelet', 60)}") from None

    # -- stop --

    def _stop_proc(self, name, grace=10.0):
        proc = self.procs.pop(name, None)
        if proc is not None:
            stack._kill_group(proc.pid, grace)
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass

    def _drain_pods(self, timeout=120.0):
        """Delete every pod through the API and let the kubelet stop them, so
        sandboxes leave via CNI DEL; controllers are stopped first so nothing
        comes back."""
        for name in ("kube-controller-manager", "kube-scheduler"):
            self._stop_proc(name)
        if "kubelet" not in self.procs or "containerd" not in self.procs:
            return
        self.stack.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false",
                           check=False)

        def drained():
            out = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            return not out
        try:
            stack.wait_for(drained, timeout, interval=1.0, desc="containers to stop")
        except TimeoutError as e:
            _log(f"{e}; killing the rest")

    def _kill_containers(self):
        """Whatever the kubelet left: kill tasks, remove containers."""
        for tid in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            self.ctr("tasks", "kill", "-s", "SIGKILL", tid, check=False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            time.sleep(0.5)
        for tid in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
            self.ctr("tasks", "delete", "-f", tid, check=False)
        for cid in self.ctr("containers", "ls", "-q", check=False).stdout.split():
            self.ctr("containers", "delete", cid, check=False)

    def _kill_shims(self):
        """Shims run in their own sessions; end the ones our containerd started (by pid)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and \
                    self.containerd_sock.encode() in argv:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self, keep_dir=False):
        if self._stopped:
            return
        self._stopped = True
        errors = []

        def attempt(desc, fn):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 -- teardown goes on; report at the end
                errors.append(f"{desc}: {e}")

        if self.stack is not None and self.stack.server:
            attempt("drain pods", self._drain_pods)
        for name in ("kubelet", "kube-proxy", "dns", "kube-controller-manager", "kube-scheduler"):
            attempt(f"stop {name}", lambda n=name: self._stop_proc(n))
        if "containerd" in self.procs:
            attempt("containers", self._kill_containers)
        attempt("shims", self._kill_shims)
        for desc, fn in reversed(self.undo):
            attempt(desc, fn)
        self.undo = []
        # Sandbox network namespaces the CRI pinned and did not remove.
        for ns in _netns_names() - getattr(self, "netns_before", _netns_names()):
            attempt(f"netns {ns}", lambda n=ns: (_run(["umount", f"/var/run/netns/{n}"], check=False),
                                                  os.unlink(f"/var/run/netns/{n}")))
        for mp in _mounts_under(self.dir):
            attempt(f"umount {mp}", lambda m=mp: _run(["umount", "-l", m], check=False))
        for cg in set(_kubepods_cgroups()) - getattr(self, "cgroups_before", set(_kubepods_cgroups())):
            attempt(f"cgroup {cg}", lambda c=cg: _rmdir_tree(c))
        if not getattr(self, "had_var_lib_kubelet", True):
            attempt("/var/lib/kubelet", lambda: shutil.rmtree("/var/lib/kubelet", ignore_errors=True))
        super().stop(keep_dir=keep_dir)
        if errors:
            _log("teardown problems:\n  " + "\n  ".join(errors))

    def leftovers(self):
        """What teardown failed to remove (empty when clean): for tests."""
        left = []
        if os.path.exists(f"/sys/class/net/{NODE_IF}"):
            left.append(f"interface {NODE_IF}")
        if os.path.exists(f"/sys/class/net/{POD_BRIDGE}"):
            left.append(f"interface {POD_BRIDGE}")
        left += [f"mount {m}" for m in _mounts_under(self.dir)]
        left += [f"cgroup {c}" for c in set(_kubepods_cgroups()) - getattr(self, "cgroups_before", set())]
        left += [f"netns {n}" for n in _netns_names() - getattr(self, "netns_before", set())]
        left += [f"{i} -t {t} chain {c}" for i, t, c in _kube_chains() - getattr(self, "chains_before", set())]
        if _run(["iptables", "-w", "-S", FWD_CHAIN], check=False).returncode == 0:
            left.append(f"iptables chain {FWD_CHAIN}")
        return left


def main(argv=None):
    p = argparse.ArgumentParser(description="A real single-node Kubernetes cluster for podprof's e2e suite.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start in the foreground; Ctrl-C tears it down")
    up.add_argument("--state-dir")
    args = p.parse_args(argv)
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="podprof-cluster-")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    c = Cluster(state_dir)
    c.start()
    print(f"export KUBECONFIG={c.stack.kubeconfig}", flush=True)
    if c.s3:
        print(f"# S3: {c.s3.endpoint} bucket {c.s3.bucket} access {c.s3.access_key} secret {c.s3.secret_key}",
              flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
