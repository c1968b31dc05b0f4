"""``mcore-lint`` and ``mcore-fix`` command lines (click), following ruff's conventions.

``mcore-lint [OPTIONS] [PATHS]...`` checks; ``mcore-fix [OPTIONS] [PATHS]...`` fixes.
``mcore-lint <subcommand>`` runs a subcommand from :mod:`mcore_lint.commands` when the FIRST
argument names one (``rules``, ``explain``, ...): subcommands win over paths of the same name;
write ``./rules`` for a folder called ``rules``. A subcommand word after options
(``mcore-lint --select MC101 rules``) is a usage error (exit 2) saying so, never a path.

Exit codes: 0 clean; 1 findings remain (after fixing, for ``mcore-fix``; ``--diff``/``--check``:
something would change); 2 usage or configuration error, or a file that could not be
processed. 2 wins over 1; ``--exit-zero`` turns only 1 into 0. stdout carries only the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .report import FORMATS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UsageProblem(Exception):
    """Configuration or option error: exit 2 with this message."""


class PathNotSubcommand(click.Path):
    """A PATHS argument that refuses a bare subcommand word (``mcore-lint --select MC101 rules``):
    a subcommand is only recognised as the FIRST argument, and silently linting a folder called
    ``rules`` (or reporting it missing) would hide the mistake. ``./rules`` is a path."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            from .commands import available

            if value in available():
                self.fail(f"{value!r} is a subcommand: give it first (`mcore-lint {value} ...`, its options "
                          f"after it); for a path named {value!r} write './{value}'", param, ctx)
        return super().convert(value, param, ctx)


def _common(f, *, subcommands: bool = False):
    path_type = (PathNotSubcommand if subcommands else click.Path)(path_type=Path, allow_dash=True)
    options = [
        click.argument("paths", nargs=-1, type=path_type),
        click.option("--select", "select", metavar="CODES", help="Rules to enable: comma-separated codes or prefixes, ALL for every rule (replaces the configured selection)."),
        click.option("--ignore", "ignore", metavar="CODES", help="Rules to disable (added to the configured ignore)."),
        click.option("--extend-select", "extend_select", metavar="CODES", help="Rules to enable on top of the selection."),
        click.option("--target-version", "target_version", metavar="VERSION", help="megatron-core release the code runs on, e.g. 0.16.1 (default: [tool.mcore-compat], else the project's megatron-core requirement, else the installed release, else the newest known)."),
        click.option("--from-version", "from_version", metavar="VERSION", help="megatron-core release the code was written for: MC203/MC204 compare against it instead of the low end of the supported span."),
        click.option("--output-format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True, help="Report format on stdout."),
        click.option("--statistics", is_flag=True, help="Show counts per rule instead of each finding."),
        click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain (errors still exit 2)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write .mcore_lint_cache/."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: number of cores)."),
        click.option("--stdin-filename", metavar="PATH", help="Name of the file read from stdin ('-'): for config, per-file-ignores and the report."),
        click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False), help="Use this pyproject.toml instead of searching upward."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _split(value: str | None) -> list[str] | None:
    from .rules.registry import split_codes

    return None if value is None else split_codes(value)


def _execute(*, fix: bool, paths, select, ignore, extend_select, target_version, output_format, statistics, exit_zero,
             no_cache, jobs, stdin_filename, config, diff=False, check=False, unsafe_fixes=False,
             from_version=None) -> int:
    from .report import render
    from .rules.registry import RuleError
    from .runner import Options, run
    from .settings import ConfigError, resolve_settings
    from .target import TargetError

    paths = list(paths)
    use_stdin = any(str(p) == "-" for p in paths)
    if use_stdin and len(paths) > 1:
        raise UsageProblem("'-' (stdin) cannot be combined with other paths")
    if not paths:
        paths = [Path(".")]
    anchor = [Path(stdin_filename)] if use_stdin and stdin_filename else ([] if use_stdin else paths)
    try:
        settings = resolve_settings(
            [p if p.exists() else p.parent for p in anchor], target_version=target_version, select=_split(select),
            extend_select=_split(extend_select) or (), ignore=_split(ignore) or (), config=config,
            use_cache=not no_cache, from_version=from_version)
    except (ConfigError, RuleError, TargetError) as e:
        raise UsageProblem(str(e)) from None
    target = settings.describe_target()
    sys.stderr.write(f"mcore-lint: target {target}\n")  # always one line: findings depend on it
    options = Options(fix=fix, write=fix and not (diff or check), unsafe_fixes=unsafe_fixes, jobs=jobs,
                      use_cache=not no_cache,
                      edits=output_format in ("json", "sarif") and not statistics)  # reports printing edits
    stdin = sys.stdin.buffer.read() if use_stdin else None
    from .files import FileError

    try:
        result = run(paths if not use_stdin else [], settings, options, stdin=stdin, stdin_filename=stdin_filename)
    except FileError as e:
        raise UsageProblem(str(e)) from None
    findings = result.findings
    problems = result.problems
    out = sys.stdout
    err = sys.stderr
    for p in problems:
        err.write(f"mcore-lint: error: {p.filename}: {p.reason}\n")
    rules = settings.rules() if output_format == "sarif" else []
    would_change = False
    if fix and use_stdin:
        o = result.outcomes[0]
        if diff:
            out.write(o.diff)
        elif check:
            pass
        elif o.fixed_text is not None:
            out.write(o.fixed_text)
        else:  # nothing fixed (or not decodable): echo the input unchanged, as ruff does
            out.flush()
            if hasattr(out, "buffer"):
                out.buffer.write(stdin or b"")
                out.buffer.flush()
            else:
                out.write((stdin or b"").decode("utf-8", "replace"))
        would_change = bool(o.fixed) and (diff or check)
        err.write(render("text", findings, fixed=result.fixed, fix_mode=True, unsafe_fixes=unsafe_fixes, target=target))
    elif fix and diff:
        for o in result.changed_files:
            out.write(o.diff)
        n_fixed, n_files = len(result.fixed), len(result.changed_files)
        would_change = n_fixed > 0
        if n_fixed:
            err.write(f"Would fix {n_fixed} error{'s' if n_fixed != 1 else ''} in {n_files} file{'s' if n_files != 1 else ''}.\n")
        else:
            err.write("No errors would be fixed.\n")
    elif fix and check:
        for o in result.changed_files:
            err.write(f"Would fix {len(o.fixed)} error{'s' if len(o.fixed) != 1 else ''} in {o.filename}\n")
        would_change = bool(result.fixed)
        out.write(render(output_format, findings, rules=rules, problems=problems, statistics=statistics, target=target))
    else:
        out.write(render(output_format, findings, rules=rules, problems=problems, statistics=statistics,
                         fixed=result.fixed, fix_mode=fix, unsafe_fixes=unsafe_fixes, files=result.files,
                         target=target))
    out.flush()
    if problems:
        return 2
    remaining = bool(findings) and not diff
    failing = would_change or remaining
    return 0 if (not failing or exit_zero) else 1


def _run(**kwargs) -> None:
    try:
        code = _execute(**kwargs)
    except UsageProblem as e:
        click.echo(f"mcore-lint: error: {e}", err=True)
        code = 2
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        code = 0
    sys.exit(code)


@click.command("mcore-lint", context_settings=CONTEXT, epilog="Subcommands (first argument): {subcommands}. "
               "Run `mcore-lint SUBCOMMAND --help` for theirs.")
@lambda f: _common(f, subcommands=True)  # a bare subcommand word in PATHS is a usage error
@click.version_option(__version__, "--version", prog_name="mcore-lint")
def lint_command(**kwargs) -> None:
    """Check megatron-core API uses in PATHS (files or folders; '-' reads stdin; default '.')."""
    _run(fix=False, **kwargs)


@click.command("mcore-fix", context_settings=CONTEXT)
@_common
@click.option("--diff", is_flag=True, help="Print the changes as a unified diff instead of writing; exit 1 if there are any.")
@click.option("--check", is_flag=True, help="Write nothing; report; exit 1 if anything would change or findings remain.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply fixes marked unsafe (may change behaviour).")
@click.version_option(__version__, "--version", prog_name="mcore-fix")
def fix_command(**kwargs) -> None:
    """Fix megatron-core API uses in PATHS (files or folders; '-' reads stdin, writes stdout)."""
    if kwargs.get("diff") and kwargs.get("check"):
        click.echo("mcore-fix: error: --diff and --check cannot be combined", err=True)
        sys.exit(2)
    _run(fix=True, **kwargs)


def lint_main(argv: list[str] | None = None) -> None:
    """Entry point of ``mcore-lint``: a subcommand when the first argument names one."""
    from .commands import available, load

    args = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if args and args[0] in names:
        cmd = load(args[0])
        cmd.main(args=args[1:], prog_name=f"mcore-lint {args[0]}", standalone_mode=True)
        return
    from . import runner

    runner.OWN_PROCESS = True  # a process that exits after this run (see runner._freeze_setup)
    lint_command.epilog = lint_command.epilog.replace("{subcommands}", ", ".join(sorted(names)))  # type: ignore[union-attr]
    try:
        lint_command.main(args=args, prog_name="mcore-lint", standalone_mode=True)
    finally:
        runner.OWN_PROCESS = False  # called in-process (tests, embedding): later library runs do not freeze


def fix_main(argv: list[str] | None = None) -> None:
    """Entry point of ``mcore-fix``."""
    from . import runner

    runner.OWN_PROCESS = True
    try:
        fix_command.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="mcore-fix", standalone_mode=True)
    finally:
        runner.OWN_PROCESS = False
