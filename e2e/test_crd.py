# SPDX-License-Identifier: Apache-2.0
"""test_crd.py -- the ProfilingTarget CRD against a real kube-apiserver.

The CRD is applied with the pinned kubectl; every check goes through the API
server, so what passes here is what a user of `kubectl apply` sees.
"""

import json
import os
import re

import pytest
import yaml

from conftest import CRD_PATH, REPO

EXAMPLES = os.path.join(REPO, "examples")


def pt(name, spec):
    return {"apiVersion": "podprof.dev/v1alpha1", "kind": "ProfilingTarget", "metadata": {"name": name},
            "spec": spec}


def get_pt(stack, namespace, name):
    return json.loads(stack.kubectl("get", "pt", name, "-n", namespace, "-o", "json").stdout)


def table(text):
    """kubectl's table output -> list of rows, each a list of cells."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_crd_is_established_with_short_name(stack, crd):
    """`kubectl apply -f crds/` installs the CRD and `pt` names it."""
    obj = json.loads(stack.kubectl("get", "crd", crd, "-o", "json").stdout)
    assert obj["spec"]["names"]["shortNames"] == ["pt"]
    assert obj["spec"]["scope"] == "Namespaced"
    conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conds.get("Established") == "True"
    assert conds.get("NamesAccepted") == "True"
    resources = stack.kubectl("api-resources", "--api-group=podprof.dev", "-o", "wide").stdout
    assert re.search(r"^profilingtargets\s+pt\s+podprof.dev/v1alpha1\s+true\s+ProfilingTarget", resources, re.M)


def test_minimal_example_gets_defaults(stack, crd, namespace):
    """A target giving only a selector is accepted and reads back with the defaults."""
    stack.kubectl("apply", "-n", namespace, "-f", os.path.join(EXAMPLES, "profilingtarget-minimal.yaml"))
    spec = get_pt(stack, namespace, "checkout")["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "checkout"}}
    assert spec["duration"] == "30s"
    assert spec["frequencyHz"] == 99
    assert spec["kernelStacks"] is True
    assert spec["unwinder"] == "auto"
    assert spec["profile"] == "cpu"
    assert "schedule" not in spec and "output" not in spec


@pytest.mark.parametrize("example", ["profilingtarget-expressions.yaml", "profilingtarget-schedule.yaml",
                                     "profilingtarget-offcpu.yaml"])
def test_examples_are_accepted_as_written(stack, crd, namespace, example):
    """Every shipped example is valid and the server keeps each field as written."""
    path = os.path.join(EXAMPLES, example)
    with open(path) as f:
        want = yaml.safe_load(f)
    stack.kubectl("apply", "--validate=strict", "-n", namespace, "-f", path)
    got = get_pt(stack, namespace, want["metadata"]["name"])["spec"]
    for key, value in want["spec"].items():
        assert got[key] == value, key


def test_edge_values_are_accepted(stack, crd, namespace):
    """The bounds themselves (1 and 1000 Hz, 1s and 1h, prefixed keys) are valid."""
    cases = {
        "low": {"selector": {"matchLabels": {"example.com/app": "x"}}, "frequencyHz": 1, "duration": "1s"},
        "high": {"selector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                 "frequencyHz": 1000, "duration": "1h"},
        "mixed": {"selector": {"matchLabels": {"a.b-c/D_e.f": ""}}, "duration": "1m30s",
                  "schedule": {"every": "1m30s"}, "containers": ["app", "sidecar-1"]},
    }
    for name, spec in cases.items():
        stack.apply(pt(name, spec), "-n", namespace, "--validate=strict")
        assert get_pt(stack, namespace, name)["spec"]["selector"] == spec["selector"]


SEL = {"matchLabels": {"app": "x"}}

# (case id, spec, strings the API server's refusal must contain: the bad
# field's path first, then what is wrong with it)
INVALID = [
    ("no-selector", {"duration": "30s"}, ["spec.selector", "Required value"]),
    ("empty-selector", {"selector": {}}, ["spec.selector", "must not be empty"]),
    ("empty-selector-lists", {"selector": {"matchLabels": {}, "matchExpressions": []}},
     ["spec.selector", "must not be empty"]),
    ("frequency-0", {"selector": SEL, "frequencyHz": 0},
     ["spec.frequencyHz", "greater than or equal to 1"]),
    ("frequency-5000", {"selector": SEL, "frequencyHz": 5000},
     ["spec.frequencyHz", "less than or equal to 1000"]),
    ("duration-not-a-duration", {"selector": SEL, "duration": "soon"}, ["spec.duration", "should match"]),
    ("duration-too-long", {"selector": SEL, "duration": "2h"}, ["spec.duration", "between 1s and 1h"]),
    ("duration-too-short", {"selector": SEL, "duration": "500ms"}, ["spec.duration", "between 1s and 1h"]),
    ("bad-label-key", {"selector": {"matchLabels": {"-bad key": "x"}}},
     ["spec.selector.matchLabels", "qualified name"]),
    ("bad-label-value", {"selector": {"matchLabels": {"app": "no spaces"}}},
     ["spec.selector.matchLabels.app", "should match"]),
    ("bad-expression-key", {"selector": {"matchExpressions": [{"key": "Upper.Case/x", "operator": "Exists"}]}},
     ["spec.selector.matchExpressions[0].key", "should match"]),
    ("bad-operator", {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
     ["spec.selector.matchExpressions[0].operator", "Unsupported value"]),
    ("in-without-values", {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     ["spec.selector.matchExpressions[0].values", "must be non-empty"]),
    ("unknown-field", {"selector": SEL, "sampleRate": 5}, ['unknown field "spec.sampleRate"']),
    ("schedule-shorter-than-window", {"selector": SEL, "duration": "1m", "schedule": {"every": "30s"}},
     ["spec.schedule.every", "must not be shorter than duration"]),
    ("bad-container-name", {"selector": SEL, "containers": ["Not_A_Name"]},
     ["spec.containers[0]", "should match"]),
    ("bad-unwinder", {"selector": SEL, "unwinder": "dwarf"},
     ["spec.unwinder", "Unsupported value"]),
    ("bad-profile", {"selector": SEL, "profile": "memory"}, ["spec.profile", "Unsupported value"]),
    ("min-block-not-a-duration", {"selector": SEL, "profile": "offcpu", "offcpu": {"minBlock": "5"}},
     ["spec.offcpu.minBlock", "should match"]),
    ("min-block-too-long", {"selector": SEL, "profile": "offcpu", "offcpu": {"minBlock": "11s"}},
     ["spec.offcpu.minBlock", "at most 10s"]),
]


@pytest.mark.parametrize("case,spec,expect", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_spec_is_refused_naming_the_field(stack, crd, namespace, case, spec, expect):
    """The API server refuses a bad ProfilingTarget and says which field is wrong."""
    name = "bad-" + case
    r = stack.apply(pt(name, spec), "-n", namespace, "--validate=strict", check=False)
    assert r.returncode != 0, f"{case} was accepted: {r.stdout}"
    for text in expect:
        assert text in r.stderr, f"{case}: {text!r} not in {r.stderr!r}"
    gone = stack.kubectl("get", "pt", name, "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_explain_documents_the_selector(stack, crd):
    """`kubectl explain pt.spec.selector` shows what the selector is and its fields."""
    out = stack.kubectl("explain", "pt.spec.selector").stdout
    flat = " ".join(out.split())
    assert "Label selector" in flat
    assert "must not be empty" in flat
    assert re.search(r"matchLabels\s+<map\[string\]string>", out)
    assert re.search(r"matchExpressions\s+<\[\]Object>", out)
    spec = stack.kubectl("explain", "pt.spec").stdout
    assert re.search(r"selector\s+<Object> -required-", spec)
    freq = " ".join(stack.kubectl("explain", "pt.spec.frequencyHz").stdout.split())
    assert "FIELD: frequencyHz <integer>" in freq and "Defaults to 99" in freq
    ops = stack.kubectl("explain", "pt.spec.selector.matchExpressions.operator").stdout
    assert "DoesNotExist" in ops


def _walk(schema, path):
    yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


def test_every_schema_field_has_a_description():
    """Every field in the CRD schema is documented, so `kubectl explain` never comes up empty."""
    with open(CRD_PATH) as f:
        crd = yaml.safe_load(f)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = [p for p, s in _walk(schema, "") if p != ".metadata" and not s.get("description")]
    assert not missing, f"fields without a description: {missing}"


def test_get_shows_printer_columns(stack, crd, namespace):
    """`kubectl get pt` shows phase, matched pods, samples, the top function and the profile
    kind (cpu unless spec.profile says offcpu)."""
    stack.apply(pt("cols", {"selector": SEL}), "-n", namespace)
    status = {"phase": "Succeeded", "matchedPods": 3, "samples": 1234,
              "topFunctions": [{"function": "crc32_update", "selfPercent": 41.5, "totalPercent": 60.0,
                                "samples": 512},
                               {"function": "memcpy", "selfPercent": 10.0, "totalPercent": 10.0, "samples": 123}]}
    stack.kubectl("patch", "pt", "cols", "-n", namespace, "--subresource=status", "--type=merge",
                  "-p", json.dumps({"status": status}))
    rows = table(stack.kubectl("get", "pt", "cols", "-n", namespace).stdout)
    assert rows[0] == ["NAME", "PHASE", "PODS", "SAMPLES", "TOP", "PROFILE", "AGE"]
    assert rows[1][:6] == ["cols", "Succeeded", "3", "1234", "crc32_update", "cpu"]
    wide = table(stack.kubectl("get", "pt", "cols", "-n", namespace, "-o", "wide").stdout)
    assert wide[0][-2:] == ["DURATION", "AGE"] and wide[1][-2] == "30s"
    stack.apply(pt("offcols", {"selector": SEL, "profile": "offcpu"}), "-n", namespace)
    rows = table(stack.kubectl("get", "pt", "offcols", "-n", namespace).stdout)
    assert "offcpu" in rows[1], rows  # the status columns are still empty
    stack.apply(pt("offdef", {"selector": SEL, "profile": "offcpu", "offcpu": {}}), "-n", namespace)
    assert get_pt(stack, namespace, "offdef")["spec"]["offcpu"]["minBlock"] == "1ms"


def test_status_is_a_subresource(stack, crd, namespace):
    """Status is written only through /status and is validated there too."""
    stack.apply(pt("sub", {"selector": SEL}), "-n", namespace)
    before = get_pt(stack, namespace, "sub")
    # A write of status through the main resource is ignored...
    stack.kubectl("patch", "pt", "sub", "-n", namespace, "--type=merge", "-p", '{"status":{"phase":"Failed"}}')
    after = get_pt(stack, namespace, "sub")
    assert "status" not in after or after["status"].get("phase") != "Failed"
    # ...a status write does not bump the spec generation...
    stack.kubectl("patch", "pt", "sub", "-n", namespace, "--subresource=status", "--type=merge",
                  "-p", '{"status":{"phase":"Running","observedGeneration":1}}')
    after = get_pt(stack, namespace, "sub")
    assert after["status"]["phase"] == "Running"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    # ...and a phase outside the enum is refused.
    r = stack.kubectl("patch", "pt", "sub", "-n", namespace, "--subresource=status", "--type=merge",
                      "-p", '{"status":{"phase":"Exploded"}}', check=False)
    assert r.returncode != 0 and "status.phase" in r.stderr and "Unsupported value" in r.stderr
