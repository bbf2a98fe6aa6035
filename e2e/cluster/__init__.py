# SPDX-License-Identifier: Apache-2.0
"""The real single-node cluster of the e2e suite (node.py, dns.py, images.sh)."""
