"""Benchmarks of the platform (`rtw bench …`); light to import, the work lives in submodules."""

from services.bench.cli import bench_app

__all__ = ["bench_app"]
