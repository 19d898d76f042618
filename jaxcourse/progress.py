"""Progress bars for long loops (tqdm), shown on interactive terminals unless asked otherwise."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress_bar(total: int, mode: str = "auto", desc: str = "") -> tqdm:
    """A tqdm bar over `total` units; `mode` is 'auto' (only on a TTY), 'on' or 'off'."""
    disable = mode == "off" or (mode == "auto" and not sys.stderr.isatty())
    return tqdm(
        total=total, desc=desc, unit="step", disable=disable, dynamic_ncols=True, smoothing=0.1
    )
