#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh -- `make demo`: podprof end to end on the local stack (see e2e/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 e2e/demo.py "$@"
