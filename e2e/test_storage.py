# SPDX-License-Identifier: Apache-2.0
"""test_storage.py -- the operator's object storage against a real MinIO that checks SigV4.

Drives operator/storage/storage.c through `podprof-testdrv debug-upload` (test-only)
subcommand (same flags, signing, retries and spool as the operator) and reads
every object back independently (stack.S3Server signs its own requests), so a
pass means the bytes really are in the bucket.
"""

import os
import secrets
import shutil
import ssl
import subprocess
import urllib.request

import pytest

import stack as stack_mod
from conftest import _serve

FLAVOURS = ["plain", "asan"]


def driver_bin(build_dir, asan_build_dir, flavour):
    path = os.path.join(asan_build_dir if flavour == "asan" else build_dir, "podprof-testdrv")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} missing: run `make all asan`")
    return path


def s3_flags(srv, spool, secret=None, tmp=None):
    """Storage flags for srv; credentials go through files, as a mounted Secret would."""
    ak = os.path.join(tmp or spool + ".keys", "access")
    sk = os.path.join(tmp or spool + ".keys", "secret")
    os.makedirs(os.path.dirname(ak), exist_ok=True)
    with open(ak, "w") as f:
        f.write(srv.access_key + "\n")
    with open(sk, "w") as f:
        f.write((secret or srv.secret_key) + "\n")
    return ["--storage=s3", f"--s3-endpoint={srv.endpoint}", f"--s3-bucket={srv.bucket}",
            f"--s3-region={srv.region}", f"--s3-access-key-file={ak}", f"--s3-secret-key-file={sk}",
            f"--spool-dir={spool}", "--s3-retry-max-ms=400"]


def clean_env():
    env = dict(os.environ)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        env.pop(k, None)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
    return env


def run(binary, *args, timeout=120):
    return subprocess.run([binary, "debug-upload", *args], capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


def spool_entries(spool):
    try:
        return sorted(n for n in os.listdir(spool) if n.endswith(".json"))
    except FileNotFoundError:
        return []


def new_key(prefix="e2e"):
    return f"{prefix}/ns/target/{secrets.token_hex(4)}/20261127T101500Z.pb.gz"


def upload_across_outage(srv, binary, args, check_while_down=lambda: True):
    """Start `debug-upload --wait` while srv is down, read its first event line, assert
    check_while_down(), bring srv back and wait for the upload. -> (first line, rc, rest of stdout, stderr)."""
    srv.down()
    proc = subprocess.Popen([binary, "debug-upload", "--wait", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        first = proc.stdout.readline()
        assert check_while_down(), first
        srv.up()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return first, proc.returncode, out, err


class Restartable(stack_mod.S3Server):
    """MinIO that can be stopped and started again on the same port and data."""

    down = stack_mod.S3Server.pause
    up = stack_mod.S3Server.resume


@pytest.fixture
def restartable_s3():
    yield from _serve(Restartable(bucket="spooltest"))


class TlsS3(Restartable):
    """MinIO serving https with a certificate from a throwaway CA."""

    def start_tls(self):
        self.start()
        os.makedirs(os.path.join(self.dir, "pki"), exist_ok=True)
        ca = stack_mod.CA(os.path.join(self.dir, "pki"))
        crt, key = ca.issue("minio", "127.0.0.1", sans=["IP:127.0.0.1"], server=True)
        certs = os.path.join(self.dir, "certs")
        os.makedirs(certs, exist_ok=True)
        shutil.copy(crt, os.path.join(certs, "public.crt"))
        shutil.copy(key, os.path.join(certs, "private.key"))
        self.ca_cert = ca.cert
        self.down()
        self._paused_args = [*self._paused_args, "--certs-dir", certs]
        self.endpoint = self.endpoint.replace("http://", "https://")
        self.up()
        return self

    def _ready(self):
        ctx = ssl.create_default_context(cafile=getattr(self, "ca_cert", None)) \
            if self.endpoint.startswith("https") else None
        with urllib.request.urlopen(self.endpoint + "/minio/health/ready", timeout=5, context=ctx) as r:
            return r.status == 200


def test_https_endpoint_trusts_only_the_given_ca(build_dir, tmp_path):
    """An https endpoint is verified against --s3-ca-file; an unknown CA is a clear, permanent error."""
    binary = driver_bin(build_dir, None, "plain")
    srv = TlsS3(bucket="podprof")
    try:
        srv.start_tls()
        data = os.urandom(5000)
        src = tmp_path / "in"
        src.write_bytes(data)
        flags = s3_flags(srv, str(tmp_path / "spool"), tmp=str(tmp_path / "keys"))
        key = new_key("tls")
        r = run(binary, *flags, str(src), key)
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stdout.startswith(f"failed {key} PUT https://") and "certificate" in r.stdout
        r = run(binary, *flags, f"--s3-ca-file={srv.ca_cert}", "--drain")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith(f"uploaded {key} https://")
        back = tmp_path / "back"
        r = run(binary, *flags, "--s3-insecure", "--get", key, "-o", str(back))
        assert r.returncode == 0, r.stderr
        assert back.read_bytes() == data
    finally:
        srv.stop()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_upload_reads_back_identical(s3, build_dir, asan_build_dir, tmp_path, flavour):
    """An uploaded profile is in the bucket, byte for byte, at the URL the operator reports."""
    binary = driver_bin(build_dir, asan_build_dir, flavour)
    data = os.urandom(300_000)
    src = tmp_path / "in.pb.gz"
    src.write_bytes(data)
    key = new_key()
    flags = s3_flags(s3, str(tmp_path / "spool"))
    r = run(binary, *flags, "--content-type", "application/gzip", str(src), key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["uploaded", key, s3.url(s3.bucket, key), str(len(data))]
    assert s3.get(key) == data  # independent signer reads it back
    back = tmp_path / "back"
    r = run(binary, *flags, "--get", key, "-o", str(back))
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == data
    assert spool_entries(tmp_path / "spool") == []


def test_wrong_secret_is_rejected_with_clear_error(s3, build_dir, tmp_path):
    """A wrong secret key fails loudly with the server's reason (proves requests are really signed)."""
    binary = driver_bin(build_dir, None, "plain")
    src = tmp_path / "in"
    src.write_bytes(b"profile")
    key = new_key()
    bad_secret = "wrong" + secrets.token_hex(8)
    r = run(binary, *s3_flags(s3, str(tmp_path / "spool"), secret=bad_secret), str(src), key)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith(f"failed {key} PUT ")
    assert "HTTP 403 SignatureDoesNotMatch" in r.stdout
    assert bad_secret not in r.stdout + r.stderr and s3.secret_key not in r.stdout + r.stderr
    with pytest.raises(stack_mod.S3Error) as e:
        s3.get(key)
    assert e.value.status == 404
    # Not dropped: kept in the spool for a restart with the right key.
    assert len(spool_entries(tmp_path / "spool")) == 1
    r = run(binary, *s3_flags(s3, str(tmp_path / "spool")), "--drain")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"uploaded {key} " in r.stdout
    assert s3.get(key) == b"profile"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_store_down_spools_then_uploads_when_back(restartable_s3, build_dir, asan_build_dir, tmp_path,
                                                   flavour):
    """While S3 is down the profile is spooled; when S3 returns it is uploaded without loss."""
    srv = restartable_s3
    binary = driver_bin(build_dir, asan_build_dir, flavour)
    data = os.urandom(123_457)
    src = tmp_path / "in"
    src.write_bytes(data)
    spool = tmp_path / "spool"
    key = new_key()
    first, rc, out, err = upload_across_outage(srv, binary, [*s3_flags(srv, str(spool)), str(src), key],
                                               lambda: len(spool_entries(spool)) == 1)
    assert first.startswith(f"spooled {key} PUT {srv.endpoint}/"), first + err
    assert "Couldn't connect" in first or "Connection refused" in first
    assert rc == 0, out + err
    assert out.split()[:2] == ["uploaded", key]
    assert srv.get(key) == data
    assert spool_entries(spool) == []


def test_spool_survives_operator_restart(restartable_s3, build_dir, tmp_path):
    """A profile spooled by one operator process is uploaded by the next one after S3 returns."""
    srv = restartable_s3
    binary = driver_bin(build_dir, None, "plain")
    spool = str(tmp_path / "spool")
    objs = {}
    srv.down()
    for i in range(3):
        src = tmp_path / f"in{i}"
        objs[new_key()] = os.urandom(1000 + i)
        key = list(objs)[-1]
        src.write_bytes(objs[key])
        r = run(binary, *s3_flags(srv, spool), str(src), key)
        assert r.returncode == 3, r.stdout + r.stderr  # 3: spooled, not waited for
        assert r.stdout.startswith(f"spooled {key} ")
    assert len(spool_entries(spool)) == 3
    srv.up()
    r = run(binary, *s3_flags(srv, spool), "--drain")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(line.split()[1] for line in r.stdout.splitlines()) == sorted(objs)
    for key, data in objs.items():
        assert srv.get(key) == data
    assert spool_entries(spool) == []
    assert os.listdir(spool) == []  # no debris either


def test_unwritable_spool_is_a_clear_error(build_dir, tmp_path):
    """With S3 down and a spool that cannot be written, the operator says so and does not crash."""
    binary = driver_bin(build_dir, None, "plain")
    blocker = tmp_path / "file"
    blocker.write_text("")
    port = stack_mod.free_port()  # nothing listens: connection refused, like a stopped server
    srv = type("Down", (), {"endpoint": f"http://127.0.0.1:{port}", "bucket": "b", "region": "us-east-1",
                            "access_key": "ak", "secret_key": "sk"})()
    src = tmp_path / "in"
    src.write_bytes(b"x" * 100)
    key = new_key()
    r = run(binary, *s3_flags(srv, str(blocker / "spool"), tmp=str(tmp_path / "keys")), "--timeout", "3",
            str(src), key)
    assert r.returncode == 4, r.stdout + r.stderr  # 4: gave up waiting, no crash
    assert r.stdout.startswith(f"retrying {key} ")
    assert "cannot write spool directory" in r.stdout and "Not a directory" in r.stdout
    assert "spool directory" in r.stderr and "is not writable" in r.stderr
    assert f"{key} (100 bytes) is lost" in r.stderr  # shutdown says what it could not keep


@pytest.fixture
def full_dir(tmp_path):
    """A 64 KiB tmpfs: writes past that fail with ENOSPC."""
    path = tmp_path / "full"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], check=True)
    yield path
    subprocess.run(["umount", str(path)], check=False)


def test_full_spool_keeps_retrying_in_memory(restartable_s3, build_dir, tmp_path, full_dir):
    """With S3 down and the spool disk full, the error is reported and the upload still lands later."""
    srv = restartable_s3
    binary = driver_bin(build_dir, None, "plain")
    data = os.urandom(200_000)  # larger than the 64 KiB spool
    src = tmp_path / "in"
    src.write_bytes(data)
    key = new_key()
    flags = s3_flags(srv, str(full_dir / "spool"), tmp=str(tmp_path / "keys"))
    first, rc, out, err = upload_across_outage(srv, binary, [*flags, str(src), key])
    assert first.startswith(f"retrying {key} "), first + err
    assert "No space left on device" in first and "held in memory only" in first
    assert rc == 0, out + err
    assert out.startswith(f"uploaded {key} ")
    assert srv.get(key) == data
    assert spool_entries(full_dir / "spool") == []


# --- flame graph ------------------------------------------------------------------


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num, value):
    """One protobuf field: int -> varint, bytes/str -> length-delimited."""
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def make_pprof(stacks):
    """A minimal gzip'd pprof from {(root, ..., leaf): count}, with the public field numbers."""
    import gzip

    strings, funcs, locs = [""], {}, {}

    def s(x):
        if x not in strings:
            strings.append(x)
        return strings.index(x)

    body = b""
    for t in ("samples", "count"):
        s(t)
    body += _field(1, _field(1, s("samples")) + _field(2, s("count")))
    for stack, count in stacks.items():
        ids = []
        for name in reversed(stack):  # pprof: leaf first
            if name not in funcs:
                funcs[name] = len(funcs) + 1
                locs[name] = len(locs) + 1
            ids.append(locs[name])
        body += _field(2, b"".join(_field(1, i) for i in ids) + _field(2, count))
    for name, fid in funcs.items():
        body += _field(4, _field(1, locs[name]) + _field(3, 0x1000 + fid) + _field(4, _field(1, fid)))
        body += _field(5, _field(1, fid) + _field(2, s(name)))
    body += b"".join(_field(6, x) for x in strings)
    return gzip.compress(body)


def test_flame_graph_uploaded_next_to_profile(s3, build_dir, tmp_path):
    """The profile's flame graph lands next to it (.svg): well-formed XML, widths = sample shares."""
    import xml.etree.ElementTree as ET

    binary = driver_bin(build_dir, None, "plain")
    hostile = 'render<T>(&"x") </text><script>alert(1)</script>'
    pprof = make_pprof({("main", "work", "hot_loop"): 600, ("main", "work"): 100,
                        ("main", hostile): 300})
    src = tmp_path / "p.pb.gz"
    src.write_bytes(pprof)
    key = new_key("fg")
    r = run(binary, *s3_flags(s3, str(tmp_path / "spool")), "--with-svg", "--content-type",
            "application/gzip", str(src), key)
    assert r.returncode == 0, r.stdout + r.stderr
    svg_key = key[: -len(".pb.gz")] + ".svg"
    assert sorted(line.split()[1] for line in r.stdout.splitlines()) == sorted([key, svg_key])
    assert s3.get(key) == pprof
    svg = s3.get(svg_key)
    root = ET.fromstring(svg)  # raises on malformed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    scripts = list(root.iter(ns + "script"))  # only the constant zoom/search script
    assert len(scripts) == 1 and "alert(1)" not in scripts[0].text
    frames = {}
    for g in root.iter(ns + "g"):
        title = g.find(ns + "title").text
        frames[title.rsplit(" (", 1)[0]] = float(g.find(ns + "rect").get("width"))
    full = frames["all"]
    assert frames["main"] == full
    assert abs(frames["work"] - 0.7 * full) < 0.01
    assert abs(frames["hot_loop"] - 0.6 * full) < 0.01
    assert abs(frames[hostile] - 0.3 * full) < 0.01  # the name survives escaping intact
