"""Subcommands of ``mcore-lint`` (``rules``, ``explain``, later ``api``, ``supported-range``).

Adding one is a self-contained change: create ``lint/commands/<name>.py`` defining a
``click.Command`` named ``command`` (its ``name`` is the subcommand word). The CLI discovers
every module here; a subcommand word wins over a path of the same name (write ``./name``
for a folder called ``name``).
"""
