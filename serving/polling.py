"""Background polling, as TF Serving does it: the model folders for new and removed
versions, and the model config file for changes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from serving.config import ServerConfig, model_configs
from serving.dataplane import DataPlane
from serving.errors import ServingError

logger = logging.getLogger(__name__)


async def poll_versions(dataplane: DataPlane, seconds: float) -> None:
    """Re-scans every model's folder each `seconds` (runs until cancelled); a poll
    that fails is logged and the next one runs as usual."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await dataplane.repository.poll_off_loop()
        except Exception:  # noqa: BLE001 - polling must outlive any one failure
            logger.exception("polling the model folders failed; retrying in %.0f s", seconds)


async def watch_config_file(dataplane: DataPlane, config: ServerConfig) -> None:
    """Applies the model config file again whenever it changes; a file that does not
    parse is logged and the running config stays in force."""
    path = Path(config.model_config_file)
    seen = path.stat().st_mtime_ns
    while True:
        await asyncio.sleep(config.model_config_file_poll_wait_seconds)
        try:
            changed = path.stat().st_mtime_ns
        except OSError as e:
            logger.error("model config file %s unreadable, keeping the current one: %s", path, e)
            continue
        if changed == seen:
            continue
        seen = changed
        try:
            await dataplane.reload(model_configs(config))
            logger.info("applied the changed model config file %s", path)
        except (ValueError, ServingError) as e:
            logger.error("model config file %s rejected, keeping the current one: %s", path, e)
        except Exception:  # noqa: BLE001 - watching must outlive any one failure
            logger.exception("applying the model config file %s failed", path)
