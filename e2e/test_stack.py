# SPDX-License-Identifier: Apache-2.0
"""test_stack.py -- the local control plane and S3 server are the real thing.

Other suites lean on these promises: the API server checks credentials and
issues/reviews service-account tokens, and the S3 server checks SigV4
signatures (so an uploader with a signing bug fails here, not in production).
"""

import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

import stack as stack_mod

HERE = os.path.dirname(os.path.abspath(__file__))


def _status(url, ctx, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_apiserver_checks_credentials(stack):
    """Anonymous and unknown tokens get 401; the admin token and client cert get in."""
    ctx = stack.ssl_context()
    url = stack.server + "/api/v1/namespaces"
    assert _status(url, ctx) in (401, 403)
    assert _status(url, ctx, {"Authorization": "Bearer not-a-token"}) == 401
    assert _status(url, ctx, {"Authorization": f"Bearer {stack.token}"}) == 200
    cert_ctx = ssl.create_default_context(cafile=stack.ca_cert)
    cert_ctx.load_cert_chain(stack.admin_cert, stack.admin_key)
    assert _status(url, cert_ctx) == 200


def test_service_account_tokens_are_issued_and_reviewed(stack):
    """A TokenRequest token passes TokenReview for its audience and fails for another."""
    token = stack.sa_token("podprof-system", "podprof-worker", audiences=["podprof"])
    review = stack.token_review(token, audiences=["podprof"])
    assert review["authenticated"] is True
    assert review["user"]["username"] == "system:serviceaccount:podprof-system:podprof-worker"
    assert review["audiences"] == ["podprof"]
    other = stack.token_review(token, audiences=["someone-else"])
    assert not other.get("authenticated")


def test_s3_round_trip_and_listing(s3):
    """Objects written with a good signature read back byte for byte and are listed."""
    data = os.urandom(70000)
    s3.put("stack-test/a/b.bin", data)
    s3.put("stack-test/c.txt", b"hello")
    assert s3.get("stack-test/a/b.bin") == data
    assert s3.list("stack-test/") == {"stack-test/a/b.bin": len(data), "stack-test/c.txt": 5}


def test_s3_rejects_bad_signatures(s3):
    """Wrong secret and unsigned requests are refused: the server really checks SigV4."""
    s3.put("stack-test/secret.txt", b"x")
    with pytest.raises(stack_mod.S3Error) as e:
        s3.request("GET", s3.url(s3.bucket, "stack-test/secret.txt"), secret_key="wrong" + s3.secret_key)
    assert e.value.status == 403 and b"SignatureDoesNotMatch" in e.value.body
    with pytest.raises(stack_mod.S3Error) as e:
        s3.request("PUT", s3.url(s3.bucket, "stack-test/evil.txt"), b"y", secret_key="wrong")
    assert e.value.status == 403
    assert _status(s3.url(s3.bucket, "stack-test/secret.txt"), None) == 403
    assert "stack-test/evil.txt" not in s3.list("stack-test/")


def test_cli_up_prints_exports_and_down_stops(tmp_path):
    """`stack.py up --s3` leaves a usable cluster and S3 running; `down` stops both."""
    state = tmp_path / "state"
    up = subprocess.run([sys.executable, os.path.join(HERE, "stack.py"), "up", "--state-dir", str(state), "--s3"],
                        capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        env = dict(os.environ)
        for line in up.stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        assert {"KUBECONFIG", "PODPROF_S3_ENDPOINT", "PODPROF_S3_ACCESS_KEY", "PODPROF_S3_SECRET_KEY",
                "PODPROF_S3_BUCKET", "PODPROF_S3_REGION"} <= env.keys()
        ns = subprocess.run([stack_mod.tool("kubectl"), "get", "ns", "default", "-o", "name"], env=env,
                            capture_output=True, text=True, timeout=60)
        assert ns.stdout.strip() == "namespace/default", ns.stderr
        assert _status(env["PODPROF_S3_ENDPOINT"] + "/minio/health/ready", None) == 200
    finally:
        down = subprocess.run([sys.executable, os.path.join(HERE, "stack.py"), "down", "--state-dir", str(state)],
                              capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(env["PODPROF_S3_ENDPOINT"] + "/minio/health/ready", timeout=5)
    assert subprocess.run([stack_mod.tool("kubectl"), "get", "ns", "--request-timeout=5s"], env=env,
                          capture_output=True, timeout=60).returncode != 0
