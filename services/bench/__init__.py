"""Benchmarks of the platform (`rtw bench …`).

Kept empty: the bare-SDK baseline workflows live in this package and the workflow sandbox
imports their package on every run, so nothing heavy may load here (the command group is
`services.bench.cli.bench_app`).
"""
