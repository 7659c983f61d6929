"""The real fleet server as a separate process, for tests that kill or restart it.

``python fleet_proc.py DATA_DIR API_PORT AGENT_PORT`` prints one JSON line once serving:
``{"api_port": ..., "agent_port": ..., "admin_token": "...", "ca": "<ca.pem path>"}``
(admin_token is empty after the first start of a data dir). SIGTERM stops it gracefully.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from fleet.config import FleetSettings
from fleet.server import start_server


async def main(data_dir: Path, api_port: int, agent_port: int) -> None:
    settings = FleetSettings(
        data_dir=data_dir,
        listen=f"127.0.0.1:{api_port}",
        agent_listen=f"127.0.0.1:{agent_port}",
        metrics_listen="",
    )
    server = await start_server(settings)
    facts = {
        "api_port": server.api_port,
        "agent_port": server.agent_port,
        "admin_token": server.app.bootstrap_token,
        "ca": str(data_dir / "ca" / "ca.pem"),
    }
    print(json.dumps(facts), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1.0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
