#!/usr/bin/env bash
# Install (into the cached environment) and run the test suite.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$repo_root"
# A private cache so tests never touch ~/.cache/graphcl's processed datasets.
GRAPHCL_CACHE="$(mktemp -d)"
export GRAPHCL_CACHE
trap 'rm -rf "$GRAPHCL_CACHE"' EXIT
# pytest exits 5 when it collects nothing; set -e turns that into a failure too.
python -m pytest -q "$@"
