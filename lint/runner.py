"""files -> parse -> semantic model -> rules -> findings (-> fixes); cache; one worker pool.

The parent process discovers files, reads them and looks each up in the cache (content hash);
only misses are sent to workers (with an empty cache, or none, the workers read the files
themselves) (a ``fork`` pool of ``--jobs`` processes, never nested, used
only when there are enough files to pay for it). In fix mode a worker fixes and writes its
file itself (atomic write) or returns the unified diff. A progress bar goes to stderr only
when it is a terminal and the run has hundreds of files.
"""

from __future__ import annotations

import difflib
import gc
import multiprocessing
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from .cache import Cache, content_key
from .engine import ParseError, RuleCrash, check_source
from .files import FileError, Matcher, decode, discover, read_file_bytes, write_atomic
from .findings import FileProblem, Finding
from .fix.loop import applicable, fix_source
from .rules.registry import configured
from .semantic import module_name_for
from .settings import Settings
from .target import Target

#: Fewer files than this are processed in this process (a pool costs more than it saves).
POOL_THRESHOLD = 24
#: Progress bar from this many files on (and only on a terminal).
PROGRESS_THRESHOLD = 200


@dataclass
class Options:
    fix: bool = False  # run the fix loop
    write: bool = True  # write fixed files (False for --diff / --check)
    unsafe_fixes: bool = False
    jobs: int | None = None
    use_cache: bool = True
    progress: bool | None = None  # None: decide (terminal + many files)
    #: the report prints fix edits (JSON, SARIF); else a check may leave expensive edits
    #: uncomputed (``Fix.deferred``). Fix mode computes those of the fixes it may apply.
    edits: bool = True


@dataclass
class FileOutcome:
    filename: str
    findings: list[Finding] = field(default_factory=list)  # remaining findings
    problem: FileProblem | None = None
    fixed: list[Finding] = field(default_factory=list)
    diff: str = ""
    fixed_text: str | None = None  # fix mode: the new text (stdin)
    cache_key: str | None = None
    rel: str | None = None


@dataclass
class RunResult:
    outcomes: list[FileOutcome] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for o in self.outcomes for f in o.findings), key=Finding.sort_key)

    @property
    def problems(self) -> list[FileProblem]:
        return [o.problem for o in self.outcomes if o.problem is not None]

    @property
    def fixed(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.fixed]

    @property
    def changed_files(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.fixed]

    @property
    def files(self) -> int:
        return len(self.outcomes)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _display(path: Path) -> str:
    s = str(path)
    return s[2:] if s.startswith("./") else s


# ------------------------------------------------------------------------------ per file
@dataclass(frozen=True)
class _Task:
    display: str
    path: str | None  # None for stdin
    data: bytes | None  # None: the worker reads ``path`` (nothing to look up in the cache first)
    rule_codes: tuple[str, ...]
    target: tuple[str | None, str | None, str | None]  # version, span, from-version
    module: str | None
    is_package: bool
    fix: bool
    write: bool
    unsafe: bool
    rule_options: tuple[tuple[str, str, object], ...] = ()  # (code, attribute, value): settings.rule_options()
    edits: bool = True  # see Options.edits
    size: int = 0  # bytes, for scheduling the largest files first


def _process(task: _Task) -> FileOutcome:
    """Check (and in fix mode fix) one file. Never raises for bad input: returns a problem.

    The cyclic garbage collector is paused while a file is processed: ``ast.parse`` and the
    semantic model allocate hundreds of thousands of objects that all survive until the file is
    done, and collections triggered meanwhile (each promoting them and, every so often, walking
    the whole heap) made parsing 2.5x slower than the same ``ast.parse`` in a bare loop (7.1 s vs
    2.8 s CPU on the benchmark corpus). Once the file is done its objects are garbage and the
    young-generation collection run here frees the cycles among them in one pass, so memory
    stays bounded by the largest file, not the run. (It has to be explicit: between two files
    nothing may allocate, so an automatic collection would never get its turn.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _process_one(task)
    finally:
        if enabled:
            gc.enable()
            gc.collect(0)


_SETUP: dict[tuple, tuple[list, Target]] = {}


def _setup(codes: tuple[str, ...], options: tuple, target: tuple) -> tuple[list, Target]:
    """The configured rule classes and target of a task: the same for (nearly) every file of a
    run, so built once per worker instead of once per file (34,000 lookups on the corpus)."""
    try:
        key = (codes, options, target)
        hit = _SETUP.get(key)
    except TypeError:  # an option value that cannot be hashed: no caching
        key, hit = None, None
    if hit is None:
        hit = ([configured(c, options) for c in codes], Target.parse(*target))
        if key is not None:
            _SETUP[key] = hit
        _freeze_setup()
    return hit


#: True in processes this module owns (pool workers, and the command-line entry points, which
#: exit after one run): there :func:`_freeze_setup` may freeze the collector's view of
#: everything alive. A library caller's process is left as it was.
OWN_PROCESS = False


def _freeze_setup() -> None:
    """In a process of our own, move the rule modules just imported (and everything else alive
    now) out of the collector's way: ``gc.freeze()`` puts them in the permanent generation, so
    the young-generation collection after each file walks only that file's objects. Called once
    per process and rule set, before any file's objects exist.

    The API index is not loaded here: it is read when a file first asks it something, and its
    undecoded lines are plain strings the collector does not track (format 2; format 1 decoded
    into ~300,000 objects that had to be loaded and frozen up front)."""
    if OWN_PROCESS:
        gc.freeze()


def _process_one(task: _Task) -> FileOutcome:
    out = FileOutcome(task.display)
    data = task.data
    try:
        if data is None:
            data = read_file_bytes(Path(task.path))  # type: ignore[arg-type]
            out.cache_key = content_key(data, task.rule_codes, task.module)
        src = decode(data)
    except FileError as e:
        out.problem = FileProblem(task.display, str(e))
        return out
    rules, target = _setup(task.rule_codes, task.rule_options, task.target)
    try:
        if not task.fix:
            out.findings = check_source(src.text, task.display, rules, target, module=task.module,
                                        is_package=task.is_package, edits=task.edits)
            return out
        result = fix_source(src.text, task.display, rules, target, unsafe=task.unsafe, module=task.module,
                            is_package=task.is_package, edits=task.edits)
    except (ParseError, RuleCrash) as e:
        out.problem = FileProblem(task.display, str(e))
        return out
    except RecursionError:
        out.problem = FileProblem(task.display, "too deeply nested to analyse")
        return out
    out.findings = result.remaining
    if result.error:
        out.problem = FileProblem(task.display, result.error)
        return out
    if not result.converged:
        out.problem = FileProblem(task.display, "fixes did not converge; file left as after the last pass")
    if result.fixed:
        out.fixed = result.fixed
        out.fixed_text = result.text
        if not task.write or task.path is None:
            out.diff = "".join(difflib.unified_diff(
                src.text.splitlines(keepends=True), result.text.splitlines(keepends=True),
                fromfile=f"a/{task.display}", tofile=f"b/{task.display}"))
        if task.write and task.path is not None:
            try:
                write_atomic(Path(task.path), src.encode(result.text), expected=data)
            except FileError as e:  # not written (read-only, changed meanwhile): nothing was fixed
                out.problem = FileProblem(task.display, str(e))
                out.fixed, out.fixed_text = [], None
                out.findings = check_source(src.text, task.display, rules, target, module=task.module,
                                            is_package=task.is_package)
            except UnicodeEncodeError as e:
                out.problem = FileProblem(task.display, f"fixed text cannot be encoded as {src.encoding}: {e.reason}")
    return out


# ------------------------------------------------------------------------------ the run
def collect_files(paths: Sequence[Path], settings: Settings) -> list[tuple[Path, bool]]:
    matcher = Matcher(settings.root, settings.exclude, settings.respect_gitignore)
    return list(discover(paths, matcher))


def run(paths: Sequence[Path], settings: Settings, options: Options, *, stdin: bytes | None = None,
        stdin_filename: str | None = None) -> RunResult:
    """Check or fix ``paths`` (or the ``stdin`` bytes named ``stdin_filename``)."""
    target = settings.target
    tgt = (str(target.version) if target.version else None, str(target.span) or None,
           str(target.from_version) if target.from_version else None)
    rule_options = settings.rule_options()
    result = RunResult()
    if stdin is not None:
        name = stdin_filename or "-"
        module, is_pkg = module_name_for(name) if stdin_filename else (None, False)
        codes = tuple(settings.codes_for(name))
        task = _Task(name, None, stdin, codes, tgt, module, is_pkg, options.fix, False, options.unsafe_fixes,
                     rule_options, options.edits)
        result.outcomes.append(_process(task))
        return result

    files = collect_files(paths, settings)
    cache = Cache(settings.root, settings.fingerprint()) if options.use_cache else None
    # With nothing cached there is nothing to look up, so the workers read (and hash) the files
    # themselves, in parallel, instead of this process doing it before they start.
    lookup = cache is not None and bool(cache.entries)
    tasks: list[_Task] = []
    for path, _explicit in files:
        display = _display(path)
        module, is_pkg = module_name_for(path)
        codes = tuple(settings.codes_for(path))
        if not lookup:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = 0  # the worker's read reports what is wrong
            tasks.append(_Task(display, str(path), None, codes, tgt, module, is_pkg, options.fix, options.write,
                               options.unsafe_fixes, rule_options, options.edits, size))
            continue
        try:
            data = read_file_bytes(path)
        except FileError as e:
            result.outcomes.append(FileOutcome(display, problem=FileProblem(display, str(e))))
            continue
        if cache is not None:
            rel = _rel(path, settings.root)
            key = content_key(data, codes, module)
            hit = cache.get(rel, key)
            if hit is not None and _usable(hit, options):
                result.outcomes.append(FileOutcome(display, [replace(f, filename=display) for f in hit]))
                continue
        tasks.append(_Task(display, str(path), data, codes, tgt, module, is_pkg, options.fix, options.write,
                           options.unsafe_fixes, rule_options, options.edits, len(data)))
    outcomes = _execute(tasks, options)
    for task, out in zip(tasks, outcomes):
        if cache is not None and out.problem is None and not out.fixed:
            key = out.cache_key or content_key(task.data, task.rule_codes, task.module)  # type: ignore[arg-type]
            cache.put(_rel(Path(task.path), settings.root), key, out.findings)
    result.outcomes.extend(outcomes)
    result.outcomes.sort(key=lambda o: o.filename)
    if cache is not None:
        cache.save()
    return result


def _usable(hit: list[Finding], options: Options) -> bool:
    """A cached result answers this run unless fixes must be applied (fix mode re-checks files
    with applicable fixes) or printed while some were cached without their edits."""
    if options.fix and any(applicable(f.fix, options.unsafe_fixes) for f in hit):
        return False
    return not (options.edits and any(f.fix is not None and f.fix.deferred for f in hit))


def _rel(path: Path, root: Path) -> str:
    """Cache key of a file: its path below the project root (absolute when outside it)."""
    abspath = os.path.abspath(path)
    top = str(root)
    if abspath.startswith(top + os.sep):
        return abspath[len(top) + 1:]
    return abspath


def _execute(tasks: list[_Task], options: Options) -> list[FileOutcome]:
    jobs = options.jobs or default_jobs()
    show = options.progress if options.progress is not None else (
        len(tasks) >= PROGRESS_THRESHOLD and sys.stderr.isatty())
    if jobs <= 1 or len(tasks) < POOL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        return list(_with_progress(map(_process, tasks), len(tasks), show))
    ctx = multiprocessing.get_context("fork")
    # Largest files first, in small chunks: the cost of a file grows with its size, and a big
    # file dealt out last would leave the other workers idle at the end (the corpus's 200 kB
    # files took ~1 s each while the median file takes ~5 ms).
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].size)
    chunk = max(1, min(4, len(tasks) // (jobs * 32)))
    global _FORKED_TASKS
    _FORKED_TASKS = tasks  # the workers inherit the tasks (and the files' bytes) by fork: only
    # indices go down the pipe (pickling 33 MB of file contents to the workers cost ~0.3 s CPU)
    gc.freeze()  # the parent's objects: the workers' collections need not walk (and copy) them
    try:
        with ctx.Pool(jobs) as pool:
            # workers exist before any progress thread starts (fork + threads do not mix)
            it = pool.imap(_process_at, order, chunksize=chunk)
            done = list(_with_progress(it, len(tasks), show))
    finally:
        gc.unfreeze()
        _FORKED_TASKS = []
    outcomes: list[FileOutcome] = [None] * len(tasks)  # type: ignore[list-item]
    for i, out in zip(order, done):
        outcomes[i] = out
    return outcomes


_FORKED_TASKS: list[_Task] = []


def _process_at(index: int) -> FileOutcome:
    """A worker's entry: the task was built by the parent before the fork."""
    global OWN_PROCESS
    OWN_PROCESS = True
    return _process(_FORKED_TASKS[index])


def _with_progress(it: Iterable[FileOutcome], total: int, show: bool) -> Iterable[FileOutcome]:
    if not show:
        yield from it
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("mcore-lint"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True, force_terminal=True), transient=True) as progress:
        bar = progress.add_task("files", total=total)
        for item in it:
            progress.advance(bar)
            yield item
