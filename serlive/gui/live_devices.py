"""The Live tab's input devices: PortAudio's list, the sound server's names, Refresh; a mixin of LiveView.

Split from ``live_view.py`` (issue 20, the house).  The view provides the widgets (``device_combo``,
``refresh_button``, ``start_button``), the signals ``_devices_scanned`` and ``_server_listed`` (the
helper threads report through them) and the notice.  PortAudio re-initialisation and pactl run on
helper threads; nothing here blocks the GUI thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from serlive.audio.server import ServerInfo, device_label
from serlive.audio.sources import AudioDeviceError, AudioSource, InputDevice


class DeviceListMixin:
    """Listing, refreshing and naming input devices for :class:`serlive.gui.live_view.LiveView`."""

    devices: list[InputDevice]
    server: ServerInfo | None
    scanning: bool
    engine: Any
    device_combo: Any
    refresh_button: Any
    start_button: Any
    before_rescan: Callable[[], None] | None
    _rescan: Callable[[], None] | None
    _list_devices: Callable[[], list[InputDevice]]
    _server_sources: Callable[[], ServerInfo | None] | None
    _devices_scanned: Any
    _server_listed: Any
    _source: AudioSource | None
    _source_label: str | None

    show_notice: Callable[[str], None]  # the view's
    hide_notice: Callable[[], None]  # the view's

    def refresh_devices(self, rescan: bool = False) -> None:
        """List the input devices; ``rescan`` (the Refresh button) first re-initialises PortAudio.

        Why re-initialise: PortAudio scans devices only when it is initialised, so without it a
        microphone plugged in or a sound server started after launch never appears, and a
        device whose server has gone stays listed.  Not while listening (Refresh is disabled).
        The re-initialisation takes 60-210 ms (ALSA probes every PCM), so it runs on a helper
        thread and the list is filled in when it is done (:attr:`scanning` meanwhile).
        """
        if rescan and self._rescan is not None and not (self.engine is not None and self.engine.running):
            if self.scanning:
                return
            if self.before_rescan is not None:
                self.before_rescan()
            self.scanning = True
            for w in (self.refresh_button, self.start_button):
                w.setEnabled(False)
            threading.Thread(target=self._scan, name="serlive-device-scan", daemon=True).start()
            return
        try:
            devices, error = list(self._list_devices()), None
        except AudioDeviceError as exc:
            devices, error = [], str(exc)
        self._show_devices(devices, error)

    def _scan(self) -> None:
        """Helper thread: re-initialise PortAudio and list; the result goes to the GUI thread by signal."""
        assert self._rescan is not None
        try:
            self._rescan()
            devices, error = list(self._list_devices()), None
        except AudioDeviceError as exc:
            devices, error = [], str(exc)
        except Exception as exc:  # a broken PortAudio must not leave the tab "scanning" for ever
            devices, error = [], f"looking for devices failed: {type(exc).__name__}: {exc}"
        info = self._server_sources() if self._server_sources is not None else None
        with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
            self._server_listed.emit(info)
            self._devices_scanned.emit(devices, error)

    def _ask_server(self) -> None:
        """Ask the sound server for its source names on a helper thread (pactl is a subprocess)."""
        if self._server_sources is None:
            return
        ask = self._server_sources

        def run() -> None:
            try:
                info = ask()
            except Exception:  # no descriptions: the PortAudio names stay
                info = None
            with contextlib.suppress(RuntimeError):  # the window was closed meanwhile
                self._server_listed.emit(info)

        threading.Thread(target=run, name="serlive-sound-server", daemon=True).start()

    def _on_server_listed(self, info: ServerInfo | None) -> None:
        self.server = info
        for i, d in enumerate(self.devices):
            self.device_combo.setItemText(i, self._device_item(d))
        self._add_server_sources()
        self.device_combo.setToolTip(self.device_combo.currentText())

    def device_label(self, d: InputDevice) -> str:
        """The device as a user knows it: the sound server's description for "pulse"/"default"."""
        return device_label(d.name, d.hostapi, self.server)

    def make_source(self) -> Any:
        """A microphone source on the selected input, not yet started (AudioDeviceError if none).

        For recordings apart from the live engine ("Teach it my voice"), on the device the user chose.
        """
        from serlive.audio.sources import AudioDeviceError, MicrophoneSource

        if not self.devices:
            raise AudioDeviceError("There is no audio input device to record from.")
        chosen = self.device_combo.currentData()
        if isinstance(chosen, str):
            via = self._server_device()
            if via is None:
                raise AudioDeviceError("The sound server's device is gone: press Refresh.")
            return ServerSourceStart(MicrophoneSource(via.index), chosen)
        return MicrophoneSource(chosen)

    def _server_device(self) -> InputDevice | None:
        """The PortAudio device through which any of the server's sources can be recorded ("pulse")."""
        return next((d for d in self.devices if d.name == "pulse" and "ALSA" in d.hostapi), None)

    def _add_server_sources(self, keep: object = None) -> None:
        """List the server's other sources after the devices (item data: the source's name, a str).

        "pulse" and "default" record the server's default source only; the others are recorded through
        "pulse" with PULSE_SOURCE naming them while the stream opens (:meth:`start`).
        """
        combo = self.device_combo
        keep = combo.currentData() if keep is None else keep
        while combo.count() > len(self.devices) and self.devices:
            combo.removeItem(combo.count() - 1)
        via = self._server_device()
        if self.server is None or via is None:
            return
        for src in self.server.sources:
            if src.name != self.server.default_source:
                rate = f" — {src.rate:g} Hz" if src.rate else ""
                combo.addItem(f"{src.description} via {via.name}{rate}", src.name)
        if isinstance(keep, str):
            idx = combo.findData(keep)
            if idx >= 0:
                combo.setCurrentIndex(idx)
        combo.setToolTip(combo.currentText())

    def _device_item(self, d: InputDevice) -> str:
        mark = " (default)" if d.is_default else ""
        return f"{self.device_label(d)}{mark} — {d.default_rate:g} Hz"

    def _on_scanned(self, devices: list[InputDevice], error: str | None) -> None:
        self.scanning = False
        self.refresh_button.setEnabled(not (self.engine is not None and self.engine.running))
        self._show_devices(devices, error)

    def _show_devices(self, devices: list[InputDevice], error: str | None) -> None:
        self.devices = devices
        keep = self.device_combo.currentData()
        self.device_combo.clear()
        for d in self.devices:
            self.device_combo.addItem(self._device_item(d), d.index)
        default = next((i for i, d in enumerate(self.devices) if d.is_default), 0)
        idx = self.device_combo.findData(keep) if keep is not None else -1
        self.device_combo.setCurrentIndex(idx if idx >= 0 else default)
        if not self.devices:
            self.device_combo.addItem("no input device")
            self.device_combo.setEnabled(False)
            self.start_button.setEnabled(self.engine is not None and self.engine.running)
            why = f" ({error})" if error else ""
            self.show_notice(
                "No audio input device found" + why + ". Connect a microphone or start a sound server, "
                "then press Refresh. The file viewer (File ▸ Open) works without one."
            )
        else:
            self.device_combo.setEnabled(True)
            self.start_button.setEnabled(True)
            self.hide_notice()
            self._add_server_sources(keep)  # a server source chosen before Refresh stays chosen

    def select_device(self, index_or_name: int | str) -> bool:
        """Select a device by PortAudio index or (part of) its name; True when found."""
        for i, d in enumerate(self.devices):
            if index_or_name == d.index or (isinstance(index_or_name, str) and index_or_name in d.name):
                self.device_combo.setCurrentIndex(i)
                return True
        return False

    def _device_text(self) -> str:
        """The open device as the status bar names it: "Monitor of Virtual_mic via pulse @ 16000 Hz".

        Named at each status update, not once at Start: the server's descriptions may arrive after it.
        """
        source = self._source
        if source is None:
            return ""
        dev = getattr(source, "device", None)
        if self._source_label:
            name = self._source_label
        elif isinstance(dev, InputDevice):
            name = self.device_label(dev)
        else:
            name = str(getattr(source, "name", "input"))
        return f"{name} @ {getattr(source, 'sample_rate', 0)} Hz"


@contextlib.contextmanager
def pulse_source(name: str | None) -> Iterator[None]:
    """While the stream opens, make ``name`` the sound server's source for this process (PULSE_SOURCE).

    libpulse reads PULSE_SOURCE when ALSA's pulse plugin connects, i.e. when PortAudio opens the
    stream; an open stream keeps its source, so the variable is put back at once.  ``None``: no change.
    """
    if name is None:
        yield
        return
    old = os.environ.get("PULSE_SOURCE")
    os.environ["PULSE_SOURCE"] = name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = old


class ServerSourceStart:
    """A microphone source whose stream opens with the sound server's ``name`` as its source.

    For a take outside the live engine ("Teach it my voice"): :meth:`DeviceListMixin.make_source`
    returns one for a server source, so opening it picks that source as the live view's Start does.
    """

    def __init__(self, source: Any, name: str) -> None:
        self.source = source
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.source, attr)

    def start(self, ring: Any) -> None:
        with pulse_source(self.name):
            self.source.start(ring)
