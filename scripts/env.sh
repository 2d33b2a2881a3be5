# Sourced by scripts/run.sh and scripts/test.sh: create or reuse graphcl's virtual environment.
#
# The environment lives outside the clone, keyed by a hash of pyproject.toml (the dependency
# list), so a rerun installs nothing and torch-scatter is built once (about 5 minutes).
# Override the location with GRAPHCL_VENV_ROOT.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# hash the files' contents only (sha256sum FILE prints the path too, which would give every
# clone location its own environment)
key="$(cat "$repo_root/pyproject.toml" "$repo_root/scripts/env.sh" | sha256sum | cut -c1-16)"
venv="${GRAPHCL_VENV_ROOT:-$HOME/.cache/graphcl/venvs}/py-$key"
python_bin="${PYTHON:-python3}"
mkdir -p "$(dirname "$venv")"
# One creator at a time: jobs started together would otherwise build (or re-link) the same
# environment concurrently and fail.
exec {graphcl_lock}>"$venv.lock"
command -v flock >/dev/null && flock "$graphcl_lock"
if [ ! -f "$venv/.complete" ]; then
  echo "graphcl: creating the environment $venv (first run only)" >&2
  rm -rf "$venv"
  "$python_bin" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  # torch first, pinned to the CPU wheel: later installs see it satisfied and pull no CUDA build.
  "$venv/bin/python" -m pip install -q "torch==2.13.0"
  # The optional accelerated backend; it builds against the installed torch, hence no isolation.
  if [ "${GRAPHCL_NO_SCATTER:-0}" != "1" ]; then
    "$venv/bin/python" -m pip install -q --no-build-isolation torch-scatter \
      || echo "graphcl: torch-scatter did not build; the pure-torch backend will be used" >&2
  fi
  "$venv/bin/python" -m pip install -q -e "$repo_root[dev]"
  touch "$venv/.complete"
fi
# Re-link the package when the environment points at another checkout (it may be shared by
# clones); find_spec locates the package without importing it (or torch).
if ! "$venv/bin/python" -c 'import importlib.util as u, os, sys
spec = u.find_spec("graphcl")
sys.exit(not (spec and spec.origin and os.path.realpath(spec.origin).startswith(
    os.path.realpath(sys.argv[1]) + os.sep)))' "$repo_root" 2>/dev/null; then
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$repo_root" >/dev/null
fi
exec {graphcl_lock}>&-
# shellcheck disable=SC1091
source "$venv/bin/activate"
if [ -z "${GRAPHCL_DATA:-}" ] && [ -d "$repo_root/../shared/datasets" ]; then
  GRAPHCL_DATA="$(cd "$repo_root/../shared/datasets" && pwd)"
  export GRAPHCL_DATA
fi
