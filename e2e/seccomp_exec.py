# SPDX-License-Identifier: Apache-2.0
"""seccomp_exec.py PROFILE.json -- COMMAND...: run COMMAND under an OCI seccomp profile.

What a container runtime does with worker.seccompProfile=Localhost, without a
runtime: load the profile's allow-list with libseccomp (python3-seccomp, so
this runs under the system /usr/bin/python3) and exec the command. Only the
profile shape the chart ships is understood: a default errno action and
unconditional SCMP_ACT_ALLOW rules.
"""
import json
import os
import sys

import seccomp


def main():
    path, sep, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    if sep != "--" or not argv:
        sys.exit("usage: seccomp_exec.py PROFILE.json -- COMMAND...")
    with open(path) as f:
        prof = json.load(f)
    if prof["defaultAction"] != "SCMP_ACT_ERRNO":
        sys.exit("only defaultAction SCMP_ACT_ERRNO is supported")
    filt = seccomp.SyscallFilter(defaction=seccomp.ERRNO(prof.get("defaultErrnoRet", 1)))
    for rule in prof["syscalls"]:
        if rule["action"] != "SCMP_ACT_ALLOW" or rule.get("args"):
            sys.exit("only unconditional SCMP_ACT_ALLOW rules are supported")
        for name in rule["names"]:
            try:
                filt.add_rule(seccomp.ALLOW, name)
            except (RuntimeError, ValueError):
                pass  # not a call on this architecture (runtimes skip these too)
    filt.load()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
