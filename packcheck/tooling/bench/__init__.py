"""The benchmarks behind ``packcheck bench``: accuracy, speed, audit throughput, station latency.

Each module's ``run`` measures and returns a JSON-ready report and ``format_*``
prints it; the click commands are in :mod:`packcheck.cli.bench`. Accuracy scores
pairs through :mod:`packcheck.tooling.evaluate`, the API calibration shares.
"""
