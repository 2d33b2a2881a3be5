#!/usr/bin/env bash
# Install (into the cached environment) and run the main job: GRACE on the built-in
# synthetic graph (no download), ending with a linear-probe score. Extra arguments go to
# `graphcl train`, e.g. `bash scripts/run.sh --dataset cora`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
graphcl train "$@"
