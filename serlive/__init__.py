"""serlive: real-time speech emotion recognition.

The public Python API (:mod:`serlive.api`) is reached from here, imported only when first used
(``__getattr__``), so ``import serlive`` (which the command line and the app do first) stays as
light as it was: no model runtime, no numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: the public names, each re-exported from serlive.api on first use (tests/test_api.py keeps them)
__all__ = ["FileResult", "analyse_file", "analyse_files", "load_model"]

if TYPE_CHECKING:
    from serlive.api import FileResult, analyse_file, analyse_files, load_model


def __getattr__(name: str) -> Any:
    if name in __all__:
        from serlive import api

        return getattr(api, name)
    raise AttributeError(f"module 'serlive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
