"""Checking a zoo: every entry's weights (existence, size, sha256) and card."""

import builtins
import dataclasses

from dais_keras.deploy.zoo.errors import ZooIntegrityError
from dais_keras.deploy.zoo.index import list_entries
from dais_keras.deploy.zoo.index import resolve_zoo_dir
from dais_keras.deploy.zoo.store import cache_path
from dais_keras.deploy.zoo.store import download
from dais_keras.deploy.zoo.store import file_digest


@dataclasses.dataclass
class EntryCheck:
    """The verification of one entry.

    Attributes:
        key: `name@version`.
        status: `"ok"`, `"not downloaded"` (a URL entry not in the cache;
            not a failure unless `download=True`), `"missing"`,
            `"size mismatch"`, `"sha256 mismatch"`, `"card missing"`,
            `"download failed"`.
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
    """The result of `verify()`: one `EntryCheck` per entry."""

    zoo_dir: str
    checks: builtins.list

    @property
    def ok(self):
        """Whether every entry passed."""
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
            except (OSError, ZooIntegrityError, ValueError) as e:
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


def verify(zoo_dir=None, *, strict=True, download=False, cache_dir=None):
    """Checks every entry's weights (existence, size, sha256) and card.

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

    Raises:
        ZooSchemaError: If the index is malformed.
        ZooIntegrityError: With `strict=True`, if an entry fails; its
            `report` attribute holds the full report.

    Example:

    ```python
    report = dais_keras.zoo.verify(strict=False)
    for check in report.failures:
        print(check.key, check.status, check.detail)
    ```
    """
    zoo_dir = resolve_zoo_dir(zoo_dir)
    checks = [_check_entry(e, cache_dir, download) for e in list_entries(zoo_dir)]
    report = VerifyReport(zoo_dir=str(zoo_dir), checks=checks)
    if strict and not report.ok:
        raise ZooIntegrityError(
            f"Zoo verification failed for {len(report.failures)} of "
            f"{len(checks)} entries:\n{report}",
            report=report,
        )
    return report
