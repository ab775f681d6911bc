"""One `rtw bench run`: byte-compile, interleaved blocks, approvals, scaling, results."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.bench.harness import run_block
from services.bench.profiles import Profile
from services.bench.receiver import OtlpReceiver
from services.bench.results import shape_check, summarize, write_results
from services.bench.scaling import payments_scaling
from services.bench.variants import Variant, all_variants
from services.runtime.bytecode import compile_services


def machine() -> str:
    """CPU model, cores and Python, for the report."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


async def run_bench(
    profile: Profile,
    *,
    command: str,
    out_dir: Path,
    work_dir: Path,
    variants: Sequence[Variant] | None = None,
    show_progress: bool = True,
    keep_work_dir: bool = False,
) -> tuple[Path, Path, dict[str, Any]]:
    """Run `profile`; write `bench-<profile>-<time>.{json,md}` and `latest.json`."""
    started = datetime.now(UTC)
    chosen = (
        list(variants)
        if variants is not None
        else all_variants(sandbox_off=profile.sandbox_off, encrypted=profile.encryption)
    )
    bytecode = compile_services()
    stem = f"bench-{profile.name}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    meta = {
        "profile": profile.name,
        "report": f"{stem}.md",
        "started_at": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "cpus": os.cpu_count(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "blocks": profile.blocks,
        "bytecode": bytecode,
        "profile_sizes": {k: v for k, v in vars(profile).items() if k != "name"},
    }
    blocks: list[dict[str, Any]] = []
    scaling: dict[str, Any] | None = None
    total = profile.blocks * len(chosen) + len(profile.scaling)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
    ) as bar:
        task = bar.add_task("starting", total=total)
        steps = 0

        def progress(what: str) -> None:
            nonlocal steps
            bar.update(task, description=what, completed=steps)
            steps += 1

        async with OtlpReceiver(keep=False) as receiver:
            for index in range(profile.blocks):
                blocks.append(
                    await run_block(
                        index,
                        chosen,
                        profile=profile,
                        work_dir=work_dir,
                        receiver=receiver,
                        progress=progress,
                        keep_work_dir=keep_work_dir,
                    )
                )
        if profile.scaling:
            scaling = await payments_scaling(
                counts=profile.scaling,
                sagas=profile.scaling_sagas,
                work_dir=work_dir,
                progress=progress,
            )
        bar.update(task, description="done", completed=total)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary = summarize(blocks, scaling)
    result = {
        "ratios": summary["ratios"],
        "figures": summary["figures"],
        "meta": meta,
        "summary": summary,
        "shape_check": shape_check(blocks),
        "scaling": scaling,
        "blocks": blocks,
    }
    json_path, md_path = write_results(result, out_dir=out_dir, stem=stem)
    return json_path, md_path, result
