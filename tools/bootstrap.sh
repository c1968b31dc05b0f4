#!/usr/bin/env bash
# Sets up everything the quick-start commands need, idempotently, on a fresh machine:
# a virtualenv in .venv with the CPU build of torch (the local torch==2.13.0 wheel; never an
# unpinned torch, which would pull GBs of CUDA), this project with its test extra, and the
# megatron-core releases the tests run against, downloaded once into the shared cache folder
# ($MCORE_COMPAT_CACHE, default ~/.cache/mcore-compat) and unpacked there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export MCORE_COMPAT_CACHE=${MCORE_COMPAT_CACHE:-$HOME/.cache/mcore-compat}
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$MCORE_COMPAT_CACHE/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.bootstrap-$(cat pyproject.toml tools/bootstrap.sh | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test,bench]"
  rm -f .venv/.bootstrap-*
  touch "$stamp"
fi
# megatron-core releases for the multi-process shim tests (cached; a rerun downloads nothing).
.venv/bin/python -m tools.downloads >/dev/null
