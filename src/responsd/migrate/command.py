"""`responsd migrate PATH…`: show (or write) the rewrite of every Python file under PATHs.

The diff goes to stdout (so it can be piped to `git apply`), the summary to stderr.
"""

import difflib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import libcst as cst

from responsd.migrate.codemod import CallReport, migrate_source

SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "site-packages", ".tox"}


@dataclass
class Summary:
    files: int = 0
    changed: list[Path] = field(default_factory=list)
    calls: dict[Path, list[CallReport]] = field(default_factory=dict)
    unreadable: dict[Path, str] = field(default_factory=dict)

    def migrated(self) -> int:
        return sum(r.migrated for reports in self.calls.values() for r in reports)

    def left(self) -> list[tuple[Path, CallReport]]:
        return [(p, r) for p, reports in self.calls.items() for r in reports if not r.migrated]


def python_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*.py"))
                if not SKIPPED_DIRS & set(p.relative_to(path).parts[:-1])
            )
        else:
            found.append(path)
    return found


def migrate_paths(
    paths: list[Path], write: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> Summary:
    summary = Summary()
    files = python_files(paths)
    summary.files = len(files)
    for path, outcome in zip(files, _migrate_all(files), strict=True):
        if isinstance(outcome, str):
            summary.unreadable[path] = outcome
            continue
        old, new, reports = outcome
        if reports:
            summary.calls[path] = reports
        if new == old:
            continue
        summary.changed.append(path)
        if write:
            path.write_text(new, encoding="utf-8")
        else:
            out.writelines(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    str(path) if path.is_absolute() else f"a/{path}",
                    str(path) if path.is_absolute() else f"b/{path}",
                )
            )
    print_summary(summary, write, err)
    return summary


Outcome = tuple[str, str, list[CallReport]] | str
"""(old code, new code, reports), or why the file could not be read or parsed."""
PARALLEL_FROM = 16
"""Files at which the work is spread over processes (parsing is CPU-bound Python)."""


def _migrate_file(path: Path) -> Outcome:
    try:
        old = path.read_text(encoding="utf-8")
        return (old, *migrate_source(old))
    except (OSError, UnicodeDecodeError, cst.ParserSyntaxError) as exc:
        return str(exc).splitlines()[0]


def _migrate_all(files: list[Path]) -> list[Outcome]:
    workers = os.cpu_count() or 1
    if len(files) < PARALLEL_FROM or workers == 1:
        return [_migrate_file(path) for path in files]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_migrate_file, files, chunksize=8))


def print_summary(summary: Summary, write: bool, err: TextIO) -> None:
    rows = [
        (str(path), sum(r.migrated for r in reports), sum(not r.migrated for r in reports))
        for path, reports in summary.calls.items()
    ]
    if rows:
        width = max(len("file"), *(len(name) for name, _, _ in rows))
        print(f"{'file':<{width}}  migrated  left", file=err)
        for name, migrated, kept in rows:
            print(f"{name:<{width}}  {migrated:>8}  {kept:>4}", file=err)
    left = summary.left()
    if left:
        print("\nCalls left as Chat Completions (marked `# responsd-migrate:`):", file=err)
        for path, report in left:
            print(f"  {path}:{report.line}  {report.method}: {report.reason}", file=err)
    for path, problem in summary.unreadable.items():
        print(f"  {path}: not migrated, could not parse it: {problem}", file=err)
    verb = "rewritten" if write else "would change"
    print(
        f"\n{summary.files} files scanned, {len(summary.changed)} {verb}; "
        f"{summary.migrated()} calls migrated, {len(left)} left.",
        file=err,
    )


def main(paths: list[str], write: bool, check: bool) -> int:
    summary = migrate_paths([Path(p) for p in paths], write=write)
    if summary.unreadable:
        return 2
    return 1 if check and summary.changed else 0
