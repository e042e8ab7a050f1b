"""Checking a zoo: every entry's weights (existence, size, sha256) and card,
and the files no entry owns; `clean` removes the latter.

A publish that is killed half-way can leave an entry's weights or card
without an index entry ("orphans": the next publish of that name refuses to
overwrite them) and temporary files or directories of interrupted writes
(`.publish-*`, `.*.tmp`). `verify` lists both as failures, and `clean`
removes them under the zoo's lock, never touching a file the index names.
"""

import builtins
import dataclasses
import re
import shutil

from dais_keras.deploy.zoo.entry import NAME_PATTERN
from dais_keras.deploy.zoo.errors import ZooDownloadError
from dais_keras.deploy.zoo.errors import ZooIntegrityError
from dais_keras.deploy.zoo.index import INDEX_FILE
from dais_keras.deploy.zoo.index import list_entries
from dais_keras.deploy.zoo.index import locked
from dais_keras.deploy.zoo.index import read_index
from dais_keras.deploy.zoo.index import resolve_zoo_dir
from dais_keras.deploy.zoo.store import cache_path
from dais_keras.deploy.zoo.store import download
from dais_keras.deploy.zoo.store import file_digest

# Files an entry would own, per sub-directory (as `publish` names them).
_ENTRY_FILES = {
    "weights": re.compile(rf"{NAME_PATTERN.pattern}@[0-9]+\.keras"),
    "cards": re.compile(rf"{NAME_PATTERN.pattern}@[0-9]+\.md"),
}
_CLEAN_HINT = "no index entry owns it; dais_keras.zoo.clean() (`dais zoo clean`) removes it"
_TEMPORARY_HINT = "a temporary file of an interrupted write; " + _CLEAN_HINT


@dataclasses.dataclass
class EntryCheck:
    """The verification of one entry, or of one file no entry owns.

    Attributes:
        key: `name@version`, or the path (relative to the zoo directory) of
            a file no entry owns.
        status: `"ok"`, `"not downloaded"` (a URL entry not in the cache;
            not a failure unless `download=True`), `"missing"`,
            `"size mismatch"`, `"sha256 mismatch"`, `"card missing"`,
            `"download failed"`, `"orphan"` (weights or a card of no entry)
            or `"leftover"` (a temporary file of an interrupted write).
        path: The file checked (or URL).
        detail: Expected vs found, in words.
    """

    key: str
    status: str
    path: str
    detail: str = ""

    @property
    def ok(self):
        return self.status in ("ok", "not downloaded")


@dataclasses.dataclass
class VerifyReport:
    """The result of `verify()`: one `EntryCheck` per entry, then one per
    file no entry owns."""

    zoo_dir: str
    checks: builtins.list

    @property
    def ok(self):
        """Whether every entry passed and nothing is left over."""
        return all(c.ok for c in self.checks)

    @property
    def failures(self):
        """The failed `EntryCheck`s."""
        return [c for c in self.checks if not c.ok]

    def __str__(self):
        lines = [f"zoo {self.zoo_dir}: {len(self.checks)} entries, {len(self.failures)} failed"]
        for c in self.checks:
            lines.append(f"  {c.status:15s} {c.key}  {c.path}" + (f"  ({c.detail})" if c.detail else ""))
        return "\n".join(lines)


def _check_entry(entry, cache_dir, fetch_missing):
    if entry.file is not None:
        path = entry.weights_path
    else:
        path = cache_path(entry, cache_dir)
        if not path.is_file():
            if not fetch_missing:
                return EntryCheck(entry.key, "not downloaded", entry.url)
            try:
                download(entry, path)
            except (ZooDownloadError, ZooIntegrityError, OSError, ValueError) as e:
                return EntryCheck(entry.key, "download failed", entry.url, str(e))
    if not path.is_file():
        return EntryCheck(entry.key, "missing", str(path), f"expected {entry.size} bytes")
    actual, size = file_digest(path)
    if size != entry.size:
        return EntryCheck(entry.key, "size mismatch", str(path), f"expected {entry.size} bytes, found {size}")
    if actual != entry.sha256:
        return EntryCheck(entry.key, "sha256 mismatch", str(path), f"expected {entry.sha256}, found {actual}")
    if not entry.card_path.is_file():
        return EntryCheck(entry.key, "card missing", str(entry.card_path))
    return EntryCheck(entry.key, "ok", str(path))


def _temporary(path):
    name = path.name
    return name.startswith(".publish-") or (name.startswith(".") and name.endswith(".tmp"))


def _unowned(zoo_dir, entries):
    """`EntryCheck`s of the files of `zoo_dir` that no entry owns."""
    owned = {e.file for e in entries.values()} | {e.card for e in entries.values()}
    places = [("", None)] + [(f"{sub}/", pattern) for sub, pattern in _ENTRY_FILES.items()]
    found = []
    for prefix, pattern in places:
        directory = zoo_dir / prefix
        for p in sorted(directory.iterdir()) if directory.is_dir() else []:
            rel = prefix + p.name
            if rel in owned:
                continue
            if _temporary(p):
                found.append(EntryCheck(rel, "leftover", str(p), _TEMPORARY_HINT))
            elif pattern is not None and pattern.fullmatch(p.name) and not p.is_dir():
                found.append(EntryCheck(rel, "orphan", str(p), _CLEAN_HINT))
    return found


def verify(zoo_dir=None, *, strict=True, download=False, cache_dir=None):
    """Checks every entry's weights (existence, size, sha256) and card, and
    lists the files no entry owns.

    Args:
        zoo_dir: The zoo directory (see `resolve_zoo_dir`).
        strict: If `True` (default), raise on any failure; if `False`,
            return the report and let the caller read `report.failures`.
        download: Download (into the cache) and check URL entries that are
            not cached yet; by default they are listed as `"not downloaded"`.
            Cached copies are always checked.
        cache_dir: The download cache.

    Returns:
        A `VerifyReport` (`report.ok`, `report.failures`, `str(report)`).
        Weights or cards of no entry (`"orphan"`) and temporary files of
        interrupted writes (`"leftover"`) are failures; `clean()` removes
        them.

    Raises:
        ZooSchemaError: If the index is malformed.
        ZooIntegrityError: With `strict=True`, if an entry fails or a file
            is left over; its `report` attribute holds the full report.

    Example:

    ```python
    report = dais_keras.zoo.verify(strict=False)
    for check in report.failures:
        print(check.key, check.status, check.detail)
    ```
    """
    zoo_dir = resolve_zoo_dir(zoo_dir)
    checks = [_check_entry(e, cache_dir, download) for e in list_entries(zoo_dir)]
    with locked(zoo_dir):  # Not the temporary files of a publish under way.
        checks += _unowned(zoo_dir, read_index(zoo_dir))
    report = VerifyReport(zoo_dir=str(zoo_dir), checks=checks)
    if strict and not report.ok:
        raise ZooIntegrityError(
            f"Zoo verification failed for {len(report.failures)} of "
            f"{len(checks)} entries:\n{report}",
            report=report,
        )
    return report


def clean(zoo_dir=None, *, dry_run=False):
    """Removes the files of a zoo that no entry owns.

    These are the weights and cards of no index entry (named like an
    entry's, e.g. `weights/m@1.keras`, left by a publish that was killed
    half-way, which would make the next publish of `m` fail) and the
    temporary files and directories of interrupted writes (`.publish-*`,
    `.*.tmp`). It holds the zoo's lock, so it never races a publish, and
    never touches a file the index names or any other file.

    Args:
        zoo_dir: The zoo directory (see `resolve_zoo_dir`).
        dry_run: Only list what would be removed.

    Returns:
        The `EntryCheck`s of the removed (or, with `dry_run`, removable)
        files, as `verify()` lists them.

    Raises:
        FileNotFoundError: If the directory has no `index.json` (without
            it every weights file would look unowned, so nothing is removed).

    Example:

    ```python
    for item in dais_keras.zoo.clean():
        print("removed", item.path)
    ```
    """
    zoo_dir = resolve_zoo_dir(zoo_dir)
    if not (zoo_dir / INDEX_FILE).is_file():
        raise FileNotFoundError(
            f"No zoo index at '{zoo_dir / INDEX_FILE}': without it every file "
            "would look unowned, so clean() removes nothing. Restore the index "
            "(e.g. from git), or remove the directory's leftovers by hand."
        )
    with locked(zoo_dir):
        found = _unowned(zoo_dir, read_index(zoo_dir))
        for item in [] if dry_run else found:
            path = zoo_dir / item.key
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    return found
