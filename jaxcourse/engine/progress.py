"""Progress bars for long loops (tqdm), shown on interactive terminals unless asked otherwise."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress_bar(total: int, show: bool | str = "auto", desc: str = "") -> tqdm:
    """A tqdm bar over `total` units; `show` is True, False or 'auto' (only on a TTY)."""
    disable = not sys.stderr.isatty() if show == "auto" else not show
    return tqdm(
        total=total, desc=desc, unit="step", disable=disable, dynamic_ncols=True, smoothing=0.1
    )
