#!/usr/bin/env bash
# Build the standalone serlive executable with PyInstaller (serlive.spec), in a build venv of its own.
#
#   scripts/build_exe.sh              # one folder: dist/serlive/serlive (run it from anywhere)
#   scripts/build_exe.sh --onefile    # one file:   dist/onefile/serlive
#
# Options: --distpath DIR, --workpath DIR (default dist/ or dist/onefile/, and build/pyinstaller/).
# Environment: PYTHON (default python3, 3.11+), SERLIVE_BUILD_VENV (default .venv-build in the checkout).
# Exit codes: 0 built (the last stdout line is the executable's path), 3 the build venv could not be set up,
# anything else a failed build.
#
# The build venv gets `pip install '.[build]'` (the app and PyInstaller, never the training extra, so
# TensorFlow and librosa cannot end up in the bundle); it is reused by the next build, and the app is
# reinstalled from the checkout each time.  Linux needs Debian's libportaudio2 at build time (bundled).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

ONEFILE=()
DISTPATH=
WORKPATH=$ROOT/build/pyinstaller
while [[ $# -gt 0 ]]; do
  case "$1" in
    --onefile) ONEFILE=(-- --onefile) ;;
    --distpath) DISTPATH=$2; shift ;;
    --workpath) WORKPATH=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_exe.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ -z "$DISTPATH" ]]; then
  DISTPATH=$ROOT/dist${ONEFILE[*]:+/onefile}  # the one-folder build is the folder dist/serlive
fi
PYTHON=${PYTHON:-python3}
VENV=${SERLIVE_BUILD_VENV:-$ROOT/.venv-build}
say() { printf 'build_exe.sh: %s\n' "$*" >&2; }

# one build at a time per build venv (two test runs in one checkout would pip-install into it at once)
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV.lock"
  flock 9
fi

t0=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating the build venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
say "installing the app and PyInstaller into $VENV"
# --force-reinstall --no-deps for the app itself: the bundle must hold the checkout's code.
# Exit code 3 when this step fails (offline, no PyPI): tests/test_executable.py tells it from a failed build.
{
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ROOT[build]" &&
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$ROOT"
} || { say "could not install the app and PyInstaller into $VENV"; exit 3; }
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
size=$(( $(du -sb "$DISTPATH/serlive" | cut -f1) / 1000000 ))  # MB = 10^6 bytes
say "built $exe (${size} MB; venv $((t1 - t0)) s, PyInstaller $((t2 - t1)) s)"
echo "$exe"
