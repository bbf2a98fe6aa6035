# SPDX-License-Identifier: Apache-2.0
"""kernelvm.py -- boot Debian kernel packages in qemu (TCG) with a small initramfs and read back results.

Three parts, used by test_kernels.py:
  fetch_kernel(k)     the kernel's vmlinuz, from the .deb that `apt-get download`
                      fetches under a private apt configuration (own sources.list,
                      state and cache folders under the cache), so the host's apt
                      sources and state stay untouched; cached.
  build_initramfs()   busybox-static, podprof-worker and every shared library ldd
                      names, the test workloads, the verifier-stats tool, the BPF
                      object and the guest script kernels/init.sh, as an
                      uncompressed newc cpio; cached by content hash.
  boot(vmlinuz, initrd)  qemu-system-x86_64 under TCG (a KVM guest hangs on the
                      machines this runs on), serial console on stdout; returns
                      the console text. The guest prints its results as lines
                      starting with "@@ " and powers off.

Everything cached lives under $TOOLS_DIR/kernels (default ~/.cache/podprof/kernels).
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "kernels")
WORKLOADS = os.path.join(HERE, "workloads")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR = os.environ.get("PODPROF_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BOOT_TIMEOUT_S = 900  # TCG is slow and the machine is shared; a hung guest still ends


class Kernel:
    """A Debian kernel: a name for reports, the suite whose linux-image-amd64 it follows."""

    def __init__(self, name, suite):
        self.name, self.suite = name, suite

    def __repr__(self):
        return self.name


def cache_dir():
    base = os.environ.get("TOOLS_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "podprof")
    d = os.path.join(base, "kernels")
    os.makedirs(d, exist_ok=True)
    return d


# ---- kernels from Debian ------------------------------------------------------------------------

def _apt(root, *args, cwd=None):
    """Run apt-get/apt-cache with every path pointing into `root` (nothing of the host's apt)."""
    opts = [
        f"-oDir::Etc={root}/etc", f"-oDir::State={root}/state", f"-oDir::Cache={root}/cache",
        f"-oDir::State::status={root}/state/status", "-oAPT::Sandbox::User=root",
        "-oDebug::NoLocking=1", "-oAPT::Architecture=amd64", "-oAcquire::Languages=none",
        "-q",
    ]
    return subprocess.run([*args[:1], *opts, *args[1:]], capture_output=True, text=True,
                          check=True, timeout=900, cwd=cwd).stdout


def _private_apt(kernel):
    root = os.path.join(cache_dir(), "apt", kernel.suite)
    for sub in ("etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "state/lists/partial",
                "cache/archives/partial"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    open(os.path.join(root, "state", "status"), "a").close()
    with open(os.path.join(root, "etc", "sources.list"), "w") as f:
        f.write(f"deb [signed-by={KEYRING}] {MIRROR} {kernel.suite} main\n")
    return root


def fetch_kernel(kernel):
    """Path of the kernel's vmlinuz (downloaded and unpacked once, then cached)."""
    kdir = os.path.join(cache_dir(), kernel.name)
    done = os.path.join(kdir, "vmlinuz")
    if os.path.exists(done):
        return done
    root = _private_apt(kernel)
    _apt(root, "apt-get", "update")
    meta = _apt(root, "apt-cache", "show", "linux-image-amd64")
    m = re.search(r"^Depends: (linux-image-[^ ,]+)", meta, re.M)
    if not m:
        raise RuntimeError(f"{kernel.suite}: linux-image-amd64 names no kernel package:\n{meta}")
    pkg = m.group(1)
    os.makedirs(kdir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=kdir) as tmp:
        _apt(root, "apt-get", "download", pkg, cwd=tmp)
        deb = glob.glob(os.path.join(tmp, "*.deb"))[0]
        # Only the kernel image: everything the test needs (BPF, BTF, perf,
        # cgroup2, serial console) is built in, so no modules are unpacked.
        tar = subprocess.run(["sh", "-c", f"dpkg-deb --fsys-tarfile '{deb}' | "
                              f"tar -x -C '{tmp}' --wildcards './boot/vmlinuz-*'"],
                             capture_output=True, text=True)
        if tar.returncode != 0:
            raise RuntimeError(f"unpacking {deb}: {tar.stderr}")
        vmlinuz = glob.glob(os.path.join(tmp, "boot", "vmlinuz-*"))[0]
        with open(os.path.join(kdir, "package"), "w") as f:
            f.write(os.path.basename(deb) + "\n")
        os.replace(vmlinuz, done)
    return done


def kernel_package(kernel):
    """The .deb file name the cached kernel came from."""
    with open(os.path.join(cache_dir(), kernel.name, "package")) as f:
        return f.read().strip()


# ---- initramfs ----------------------------------------------------------------------------------

def _ldd(path):
    """Shared libraries (absolute paths) that `path` loads, the dynamic loader included;
    none for a static executable."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    if r.returncode != 0:
        if "not a dynamic executable" in r.stdout + r.stderr:
            return []
        raise RuntimeError(f"ldd {path}: {r.stdout}{r.stderr}")
    out = r.stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def build_initramfs(files):
    """An initramfs holding busybox, the guest script and `files` ({guest path: host path}),
    plus the shared libraries of every ELF executable among them. Cached by content."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    entries = {"/bin/busybox": busybox, "/init": os.path.join(GUEST, "init.sh"), **files}
    for src in list(entries.values()):
        with open(src, "rb") as f:
            is_elf = f.read(4) == b"\x7fELF"
        if is_elf and os.access(src, os.X_OK):
            for lib in _ldd(src):
                entries.setdefault(lib, lib)
    # glibc loads libgcc_s at run time for thread cancellation and unwinding.
    for extra in glob.glob("/lib/x86_64-linux-gnu/libgcc_s.so.1"):
        entries.setdefault(extra, extra)

    h = hashlib.sha256()
    for dst in sorted(entries):
        h.update(dst.encode() + b"\0")
        with open(entries[dst], "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    out = os.path.join(cache_dir(), f"initramfs-{h.hexdigest()[:16]}.cpio")
    if os.path.exists(out):
        return out
    for old in glob.glob(os.path.join(cache_dir(), "initramfs-*.cpio")):
        os.unlink(old)  # one initramfs is kept: the one for the current build

    with tempfile.TemporaryDirectory(dir=cache_dir()) as stage:
        for d in ("proc", "sys", "dev", "tmp", "run"):
            os.makedirs(os.path.join(stage, d))
        for dst, src in entries.items():
            path = os.path.join(stage, dst.lstrip("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy2(os.path.realpath(src), path)
            os.chmod(path, 0o755 if os.access(src, os.X_OK) else 0o644)
        # The loader is looked up at its ELF interpreter path; with a merged /usr
        # ldd may name /lib64 or /usr/lib64, so both exist.
        for d in ("lib64", "usr/lib64"):
            os.makedirs(os.path.join(stage, d), exist_ok=True)
        for ld in glob.glob(os.path.join(stage, "lib*", "ld-linux-x86-64.so.2")) + \
                glob.glob(os.path.join(stage, "usr", "lib*", "ld-linux-x86-64.so.2")):
            for d in ("lib64", "usr/lib64"):
                tgt = os.path.join(stage, d, "ld-linux-x86-64.so.2")
                if not os.path.exists(tgt):
                    shutil.copy2(ld, tgt)
        names = subprocess.run(["find", "."], cwd=stage, capture_output=True, text=True,
                               check=True).stdout
        with open(out + ".tmp", "wb") as f:
            subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=stage, input=names.encode(),
                           stdout=f, check=True)
        os.replace(out + ".tmp", out)
    return out


# ---- the VM -------------------------------------------------------------------------------------

def boot(vmlinuz, initrd, cpus=2, mem_mb=1024, append=""):
    """Boot under TCG and return the serial console output (the guest powers off at the end)."""
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", str(cpus),
        "-m", str(mem_mb), "-kernel", vmlinuz, "-initrd", initrd,
        # no_timer_check: a vCPU the host starves during boot otherwise fails
        # the IO-APIC timer check and panics (seen with 6.1 on a loaded host).
        "-append", f"console=ttyS0 panic=-1 quiet loglevel=3 no_timer_check {append}".strip(),
        "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
        "-nodefaults",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                       timeout=BOOT_TIMEOUT_S)
    return r.stdout + r.stderr


def results(console):
    """The guest's "@@ key rest" lines as a list of (key, rest)."""
    out = []
    for line in console.splitlines():
        line = line.rstrip("\r")
        i = line.find("@@ ")
        if i >= 0:
            key, _, rest = line[i + 3:].partition(" ")
            out.append((key, rest))
    return out
