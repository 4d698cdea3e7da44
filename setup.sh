#!/usr/bin/env bash
# Set up everything the pipeline and the tests need, on a fresh Debian machine.
# Idempotent: a second run only checks. Usage: ./setup.sh
#   TORCH_SPEC   torch requirement to install first (default: torch==2.13.0, the CPU build).
#                GPU users: TORCH_SPEC="torch==2.11.0" TORCH_INDEX=https://download.pytorch.org/whl/cu128 ./setup.sh
#   SKIP_APT=1   do not install Debian packages (TeX for the paper, npm for the corpus).
#   UNLOCKED=1   install the newest dependencies pyproject.toml allows, not requirements.lock's.
set -euo pipefail
cd "$(dirname "$0")"

TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
PY="${PYTHON:-python3}"

# Debian packages: TeX for the paper stage, poppler for its tests, npm for the corpus fetch.
APT_PKGS="texlive-latex-recommended texlive-fonts-recommended texlive-science lmodern latexmk poppler-utils npm"
if [ "${SKIP_APT:-0}" != "1" ]; then
  missing=""
  for p in $APT_PKGS; do
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
if [ -n "${TORCH_INDEX:-}" ]; then
  python -m pip install -q "$TORCH_SPEC" --index-url "$TORCH_INDEX"
else
  python -m pip install -q "$TORCH_SPEC"
fi
# every other dependency at the exact version tested (requirements.lock); UNLOCKED=1 takes the
# newest versions pyproject.toml's ranges allow instead (e.g. another Python or a GPU box)
if [ "${UNLOCKED:-0}" = "1" ]; then
  python -m pip install -q -e ".[test]"
else
  python -m pip install -q -c requirements.lock -e ".[test]"
fi
# DVC in this repo never phones home.
dvc config --local core.analytics false >/dev/null 2>&1 || true
echo "setup: done ($(python -c 'import torch; print("torch", torch.__version__)'))"
