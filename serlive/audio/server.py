"""The sound server's names for its capture sources (PulseAudio, or PipeWire's pulse server).

Why: through PortAudio's ALSA back end a sound server's sources are all one device, "pulse" or
"default", which tells a user nothing about which microphone is recorded.  ``pactl`` knows the
server's descriptions ("Monitor of Built-in Audio", "USB headset Mono") and which source is the
default, the one those devices capture from.  No pactl, an old pactl without ``-f json``, or no
server: nothing is known, and the device list keeps PortAudio's names.

``pactl`` is a subprocess (tens of ms): call :func:`list_server_sources` off the GUI thread.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: PortAudio (ALSA) devices that capture from the sound server's default source
SERVER_DEVICE_NAMES = ("pulse", "default", "pipewire")


@dataclass(frozen=True)
class ServerSource:
    """One capture source of the sound server."""

    name: str  #: e.g. "alsa_input.usb-...mono-fallback" or "vmic16.monitor"
    description: str  #: what a user reads, e.g. "Monitor of Virtual_mic"
    rate: int | None  #: the source's own sample rate, when pactl says
    channels: int | None


@dataclass(frozen=True)
class ServerInfo:
    """What the sound server says about its sources."""

    server: str  #: "pulseaudio", "PulseAudio (on PipeWire 1.0.5)", ...
    default_source: str | None
    sources: tuple[ServerSource, ...] = field(default_factory=tuple)

    @property
    def default(self) -> ServerSource | None:
        """The default source (what "pulse" and "default" record), if the server named one."""
        return next((s for s in self.sources if s.name == self.default_source), None)


def _spec(text: str) -> tuple[int | None, int | None]:
    """``"s16le 1ch 16000Hz"`` -> (16000, 1)."""
    rate = re.search(r"(\d+)\s*Hz", text or "")
    ch = re.search(r"(\d+)\s*ch", text or "")
    return (int(rate.group(1)) if rate else None, int(ch.group(1)) if ch else None)


def parse_pactl(sources_json: str, info_json: str) -> ServerInfo:
    """Parse ``pactl -f json list sources`` and ``pactl -f json info``."""
    info: dict[str, Any] = json.loads(info_json) if info_json.strip() else {}
    found = []
    for s in json.loads(sources_json or "[]"):
        rate, ch = _spec(str(s.get("sample_specification", "")))
        desc = s.get("description") or (s.get("properties") or {}).get("device.description") or s.get("name")
        found.append(ServerSource(str(s.get("name", "")), str(desc), rate, ch))
    server = str(info.get("server_name", "sound server"))
    return ServerInfo(server, info.get("default_source_name"), tuple(found))


def list_server_sources(run: Callable[..., Any] = subprocess.run, timeout: float = 2.0) -> ServerInfo | None:
    """The sound server's sources via ``pactl``; None when there is no pactl, no server or no JSON."""
    if shutil.which("pactl") is None:
        return None
    try:
        kw = {"capture_output": True, "text": True, "timeout": timeout, "check": True}
        out = [run(["pactl", "-f", "json", *a], **kw).stdout for a in (("list", "sources"), ("info",))]
        return parse_pactl(out[0], out[1])
    except (OSError, subprocess.SubprocessError, ValueError, TypeError, AttributeError):
        return None


def device_label(name: str, hostapi: str, info: ServerInfo | None) -> str:
    """What the device list shows for a PortAudio input: the server's description where it has one.

    "pulse" and "default" through ALSA record the server's default source: they read
    "Monitor of Virtual_mic via pulse"; other devices (hw:0,0, a JACK port) keep their names.
    """
    if info is not None and info.default is not None and name in SERVER_DEVICE_NAMES and "ALSA" in hostapi:
        return f"{info.default.description} via {name}"
    return name
