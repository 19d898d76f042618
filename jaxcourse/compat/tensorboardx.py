"""Import tensorboardX without PyTorch: its writer imports torch (seconds) only to accept
torch tensors, and the shim passes NumPy arrays."""

from __future__ import annotations

import sys


def ensure_imported() -> None:
    """Import tensorboardX; unless torch is already loaded, keep it from loading torch."""
    if "tensorboardX" in sys.modules:
        return
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
        import tensorboardX  # noqa: F401
        import tensorboardX.writer  # noqa: F401
    finally:
        if hide:
            del sys.modules["torch"]
