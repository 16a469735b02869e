"""The model repository layout TF Serving reads: `<root>/<model>/<version>/`.

Versions are positive integers; anything else in a model's folder (such as the
temporary folders used here) is ignored by TF Serving, so a version appears
complete or not at all.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def version_folders(model_root: str | Path) -> dict[int, Path]:
    """The version folders under `model_root` by number: names of ASCII digits, as
    TF Serving reads them ("007" is 7); "²" or "٣", which str.isdigit takes for
    digits, are no versions."""
    root = Path(model_root)
    if not root.is_dir():
        return {}
    return {int(p.name): p for p in root.iterdir()
            if p.name.isascii() and p.name.isdigit() and p.is_dir()}


def versions(model_root: str | Path) -> list[int]:
    """The integer version numbers under `model_root`, ascending."""
    return sorted(version_folders(model_root))


def has_version(model_root: str | Path) -> bool:
    """Whether `model_root` holds at least one version with a saved_model.pb."""
    return any((folder / "saved_model.pb").is_file()
               for folder in version_folders(model_root).values())


def write_version(model_root: str | Path, write: Callable[[Path], None]) -> tuple[int, Path]:
    """Calls `write(tmp_dir)` and renames the result to the next free version.

    The rename is atomic, so a server polling the folder never sees a
    half-written version; a failed `write` leaves nothing behind.
    """
    root = Path(model_root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        target = staging / "saved_model"
        write(target)
        while True:
            version = (versions(root) or [0])[-1] + 1
            final = root / str(version)
            try:
                target.rename(final)
                break
            except OSError:
                if not final.exists():
                    raise
                logger.info("version %d appeared meanwhile; trying the next", version)
        return version, final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
