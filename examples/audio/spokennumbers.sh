#!/usr/bin/env bash
# The keywords model of keywords.sh on one real human voice (spokennumbers: the ten digits, 44.1 kHz
# stereo): out-of-distribution transfer from synthetic voices. Run keywords.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/justfit evaluate runs/example-keywords --data spokennumbers "$@"
