"""Progress bars of long library loops: shown in a terminal, off inside notebooks executed by the runner.

``pctlib run`` executes notebooks with ``PCTLIB_PROGRESS=0`` (and ``TQDM_DISABLE=1`` for other libraries' bars)
in the kernel's environment, so that executed notebooks and the book hold text, tables and figures, not hundreds of
progress-bar updates. A library call asked for a bar (``progress=True``) shows one unless that variable says no.
"""

from __future__ import annotations

import os

from tqdm import tqdm


def progress_enabled(requested: bool = True) -> bool:
    """``requested``, unless the environment switches progress bars off (``PCTLIB_PROGRESS=0``)."""
    return bool(requested) and os.environ.get("PCTLIB_PROGRESS", "1") != "0"


def progress_bar(*args, enabled: bool = True, **kwargs) -> tqdm:
    """``tqdm(*args, **kwargs)``, disabled when ``enabled`` is false or the environment says so."""
    return tqdm(*args, disable=not progress_enabled(enabled), **kwargs)
