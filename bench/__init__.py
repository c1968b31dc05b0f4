"""Benchmark of ``mcore-lint`` / ``mcore-fix`` against ``ast.parse``, ruff, torchfix and Fixit.

Why a package of its own: the speed targets of issue 11 are ratios measured in one run on the
same downloaded corpus (``tools.corpus``), not timed tests. ``python -m bench`` (``make bench``)
runs every row as a subprocess, takes medians of several repetitions and the peak memory of each
tool's process tree, and writes the table to ``bench/results/`` (git-ignored). ``--quick`` runs a
small sample once, which is what CI does to prove the benchmark works.

Modules: ``measure`` (run a command, wall time, peak RSS), ``floor`` (read / ``ast.parse`` every
file: the floor for any Python tool), ``peers`` (ruff config, the torchfix/Fixit environment),
``suite`` (the rows), ``table`` (ratios, targets, markdown), ``shim`` (runtime-shim
micro-benchmark), ``__main__`` (command line).
"""
