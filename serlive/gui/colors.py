"""One colour per emotion, defined once and used by every plot, bar and label.

Hues are far apart so the eight curves of a timeline stay distinguishable on
the dark plot background; neutral and calm are the quiet (grey / pale blue) ones.
"""

from __future__ import annotations

EMOTION_COLORS: dict[str, str] = {
    "neutral": "#a0a0a0",
    "calm": "#74c0fc",
    "happy": "#ffd43b",
    "sad": "#3b5bdb",
    "angry": "#f03e3e",
    "fearful": "#be4bdb",
    "disgust": "#40c057",
    "surprised": "#fd7e14",
}
NO_SPEECH_COLOR = "#707070"
CLIP_COLOR = "#ff3030"
#: fixed dB levels of the log-mel images, so brightness means the same level everywhere
SPECTROGRAM_LEVELS: tuple[float, float] = (-90.0, 20.0)
COLORMAP = "inferno"


def emotion_color(label: str) -> str:
    """Colour of ``label``; an unknown label (a model with other classes) gets a stable fallback."""
    if label in EMOTION_COLORS:
        return EMOTION_COLORS[label]
    fallback = ("#e64980", "#15aabf", "#82c91e", "#fab005", "#7950f2", "#12b886")
    return fallback[sum(map(ord, label)) % len(fallback)]
