"""What made a result: advlab version, git commit, Python, torch, CUDA and the device.

Every run folder's ``config.json`` and ``results.json`` carry :func:`environment`.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any

__version__ = "0.1.0"


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout advlab runs from, or None.

    None when advlab is installed outside a git checkout or git is missing.
    """
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                                cwd=here, capture_output=True, text=True, timeout=5,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())} if sha else None


def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions and hardware that produced a result (JSON-able).

    Args:
        device: the device the computation ran on (``cpu``, ``cuda``, ``cuda:1``).
    """
    import torch

    cuda = torch.cuda.is_available()
    name = platform.processor() or platform.machine()
    if device.startswith("cuda") and cuda:
        name = torch.cuda.get_device_name(torch.device(device))
    return {
        "advlab": __version__,
        "git": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": device,
        "device_name": name,
        "threads": torch.get_num_threads(),
    }


__all__ = ["__version__", "environment", "git_commit"]
