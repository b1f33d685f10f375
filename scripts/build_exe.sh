#!/usr/bin/env bash
# Build the standalone serlive executable with PyInstaller (serlive.spec), in a build venv of its own.
#
#   scripts/build_exe.sh              # one folder: dist/serlive/serlive (run it from anywhere)
#   scripts/build_exe.sh --onefile    # one file:   dist/serlive
#
# Options: --distpath DIR, --workpath DIR (default dist/ and build/pyinstaller/ in the checkout).
# Environment: PYTHON (default python3, 3.11+), SERLIVE_BUILD_VENV (default .venv-build in the checkout).
#
# The build venv gets `pip install '.[build]'` (the app and PyInstaller, never the training extra, so
# TensorFlow and librosa cannot end up in the bundle); it is reused by the next build, and the app is
# reinstalled from the checkout each time.  Linux needs Debian's libportaudio2 at build time (bundled).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

ONEFILE=()
DISTPATH=$ROOT/dist
WORKPATH=$ROOT/build/pyinstaller
while [[ $# -gt 0 ]]; do
  case "$1" in
    --onefile) ONEFILE=(-- --onefile) ;;
    --distpath) DISTPATH=$2; shift ;;
    --workpath) WORKPATH=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_exe.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

PYTHON=${PYTHON:-python3}
VENV=${SERLIVE_BUILD_VENV:-$ROOT/.venv-build}
say() { printf 'build_exe.sh: %s\n' "$*" >&2; }

t0=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating the build venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
say "installing the app and PyInstaller into $VENV"
# --force-reinstall --no-deps for the app itself: the bundle must hold the checkout's code
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ROOT[build]"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$ROOT"
rm -rf "$ROOT/build/lib" "$ROOT/build/bdist."*  # setuptools' leftovers from building the wheel
t1=$(date +%s)

say "running PyInstaller ${ONEFILE[*]:-(one folder)}"
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath "$DISTPATH" --workpath "$WORKPATH" "$ROOT/serlive.spec" "${ONEFILE[@]}"
t2=$(date +%s)

if [[ ${#ONEFILE[@]} -gt 0 ]]; then
  exe=$DISTPATH/serlive
else
  exe=$DISTPATH/serlive/serlive
fi
"$exe" --version >/dev/null
size=$(du -sm "$DISTPATH/serlive" | cut -f1)
say "built $exe (${size} MB; venv $((t1 - t0)) s, PyInstaller $((t2 - t1)) s)"
echo "$exe"
