#!/usr/bin/env bash
# Screenshots of the real app under Xvfb: the file viewer on espeak-ng speech, and the live view
# listening to a PulseAudio virtual microphone (null sink monitor, see ../shared/virtual-mic.md).
# Writes docs/screenshot-file.png and docs/screenshot-live.png (a 1400x900 window) and
# docs/screenshot-file-small.png and docs/screenshot-live-small.png (1000x650).
# Needs: xvfb-run, espeak-ng, sox, pulseaudio, pulseaudio-utils, libasound2-plugins, and for Qt's xcb
# platform libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
TMP=$(mktemp -d)
PULSE_PID=""
# wait for the sound server to exit before removing its runtime directory (rm raced it: exit status 1)
cleanup() {
  if [ -n "$PULSE_PID" ]; then kill "$PULSE_PID" 2>/dev/null; wait "$PULSE_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
export OPENBLAS_NUM_THREADS=1 QT_QPA_PLATFORM=xcb
# Qt's xcb plugin needs libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1; without them draw offscreen
if ! xvfb-run -a "$PY" -c "from PySide6.QtWidgets import QApplication; QApplication([])" >/dev/null 2>&1; then
  echo "screenshots.sh: Qt cannot use xcb here (missing libxcb libraries?); drawing offscreen" >&2
  export QT_QPA_PLATFORM=offscreen
fi

# a speech clip with pauses: three sentences at different pitch and speed, 0.8 s silence between
espeak-ng -w "$TMP/a.wav" -p 70 -s 190 "I can't believe it, this is wonderful news, we won!"
espeak-ng -w "$TMP/b.wav" -p 30 -s 120 "I am so tired. Nothing ever works out the way I hoped."
espeak-ng -w "$TMP/c.wav" -p 50 -s 170 "Get out of here right now, I told you a hundred times!"
sox -n -r 22050 -c 1 "$TMP/pause.wav" trim 0 0.8
sox "$TMP/a.wav" "$TMP/pause.wav" "$TMP/b.wav" "$TMP/pause.wav" "$TMP/c.wav" "$TMP/pause.wav" \
    -r 16000 "$TMP/speech.wav"

for size in 1400x900 1000x650; do
  suffix=$([ "$size" = 1400x900 ] && echo "" || echo "-small")
  xvfb-run -a -s "-screen 0 1400x900x24" "$PY" scripts/screenshots.py file "$TMP/speech.wav" \
    "docs/screenshot-file$suffix.png" "$size"
done

# a 10-minute file: the span labels show only where they fit (issue 28, item 2)
sox "$TMP/speech.wav" "$TMP/long.wav" repeat 42 trim 0 600
xvfb-run -a -s "-screen 0 1400x900x24" "$PY" scripts/screenshots.py file "$TMP/long.wav" \
  docs/screenshot-file-10min.png 1400x900
xvfb-run -a -s "-screen 0 1400x900x24" "$PY" scripts/screenshots.py file "$TMP/long.wav" \
  docs/screenshot-file-10min-zoom.png 1400x900 40

export XDG_RUNTIME_DIR="$TMP/xdg"; mkdir -m 700 "$XDG_RUNTIME_DIR"
pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
  -L "module-native-protocol-unix auth-anonymous=1" \
  -L "module-null-sink sink_name=vmic16 rate=16000 channels=1 format=s16le sink_properties=device.description=Virtual_microphone" \
  >"$TMP/pulse.log" 2>&1 &
PULSE_PID=$!
for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
pactl set-default-source vmic16.monitor
for size in 1400x900 1000x650; do
  suffix=$([ "$size" = 1400x900 ] && echo "" || echo "-small")
  xvfb-run -a -s "-screen 0 1400x900x24" "$PY" scripts/screenshots.py live \
    "sleep 1; for i in 1 2 3; do paplay --device=vmic16 $TMP/speech.wav; done" \
    "docs/screenshot-live$suffix.png" "$size"
done
ls -l docs/screenshot-*.png
