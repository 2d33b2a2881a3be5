#!/bin/bash
# MEOW on ACM: the official code and ours alternating in one window, 2 threads, glibc's
# default allocator on both sides (timings on this shared 2-core machine drift by up to 25%
# between minutes, so only pairs taken back to back are compared).
#
#   OFFICIAL_DIR=/tmp/official_meow/code_meow OFFICIAL_PYTHON=/tmp/meowvenv/bin/python \
#       bash benchmarks/meow_side_by_side.sh [rounds] [k-means backend: torch | faiss | both]
#
# OFFICIAL_DIR: a CPU-patched checkout of jianxiangyu/MEOW code_meow/ holding the timing
# harness time_meow.py described in benchmarks/README.md (not part of graphcl);
# OFFICIAL_PYTHON: a Python with faiss-cpu and torch. Each round writes the official per-epoch
# CSV next to the harness and benchmarks/results/meow_speed_meow_acm[_faiss].json (last round
# kept).
set -euo pipefail
rounds=${1:-2}
backend=${2:-torch}
here=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=2
unset MALLOC_MMAP_MAX_ MALLOC_TRIM_THRESHOLD_
for round in $(seq "$rounds"); do
  csv="$OFFICIAL_DIR/../meow_acm_side$round.csv"
  (cd "$OFFICIAL_DIR" && MAX_EPOCHS=14 CSV="$csv" "$OFFICIAL_PYTHON" time_meow.py acm 2>&1 \
     | grep "\[timing\] threads")
  for ours in $([ "$backend" = both ] && echo torch faiss || echo "$backend"); do
    (cd "$here" && python benchmarks/meow_speed.py --methods meow --datasets acm --epochs 10 \
       $([ "$ours" = faiss ] && echo --kmeans-backend faiss) --warmup 2 \
       --official-csv "$csv" --official-rss-mb 1259.3 --official-label meow:acm 2>&1 \
       | grep "s/epoch" | sed "s/^/[$ours k-means] /")
  done
done
