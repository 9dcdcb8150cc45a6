"""``chinanews lake maintain``: compaction, snapshot expiry and orphan removal for the
Iceberg table (``chinanews.lake.iceberg``), one command for cron.

Every crawl checkpoint is one append commit, so a crawl every 30 minutes leaves many small
files per partition and many snapshots. One run of the command, in this order:

1. **Compaction.** Each partition (of the table's current partition spec) that holds more
   than one data file smaller than the target size (``--target-file-size``, 64 MB) is read
   and written again as few files, sorted by ``url`` and ``version``, by
   ``table.overwrite(rows, overwrite_filter=<that partition>)``: one catalog commit per
   partition, so a reader sees the partition before or after, never between, and the rows
   are the same rows (no more, no fewer). A crawl that commits into the same partition
   meanwhile makes pyiceberg's validation refuse the rewrite; it is tried again on the
   refreshed table, and left for the next run after a few attempts (a line says so).
2. **Snapshot expiry.** Snapshots older than ``CHINANEWS_LAKE_SNAPSHOT_RETENTION`` (7d) are
   removed from the table's metadata (``table.maintenance.expire_snapshots()``); the
   current snapshot, and any branch or tag head, always stays.
3. **Orphan removal.** Files under the table's ``data/`` and ``metadata/`` that nothing in
   its metadata still references (the current metadata file and those of its log, every
   kept snapshot's manifest list, their manifests, the data and delete files those list,
   statistics files), and older than a grace period (``--orphan-grace``, 1d, so that the
   files of a commit still in flight are never touched), are deleted: among them the small
   files a compaction replaced, once the snapshots that still read them have expired.
   Listed through the table's own FileIO (pyarrow's local or S3 filesystem, with the S3
   endpoint and credentials of the table's properties), so a directory and ``s3://`` work
   alike.

``--dry-run`` prints what would be done and changes nothing. Exit codes: 0 done, 2 bad
settings or options, a catalog that cannot be reached or a table that is not there (one
line on stderr), 1 a failure on the way (what was done before it stays done).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

#: Snapshots older than this are expired, by default (``CHINANEWS_LAKE_SNAPSHOT_RETENTION``).
DEFAULT_RETENTION = "7d"
DEFAULT_ORPHAN_GRACE = "1d"
DEFAULT_TARGET_FILE_SIZE = "64MB"
#: In the summary of the snapshots a compaction commits.
MAINTENANCE_PROPERTY = "chinanews.maintenance"
#: Tries per partition when concurrent commits refuse a rewrite.
ATTEMPTS = 4

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(|b|kb|mb|gb|kib|mib|gib)\s*$", re.IGNORECASE)
_BYTES = {"": 1, "b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}

EXIT_FAILED = 1
EXIT_USAGE = 2


class MaintainError(RuntimeError):
    """Maintenance cannot start (exit code 2); the message says why, on one line."""


def parse_duration(text: Any) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``90s`` as a positive duration; ValueError otherwise."""
    match = _DURATION.match(str(text))
    if match is None or float(match[1]) <= 0:
        raise ValueError(
            f"{str(text)!r} is not a duration such as 30m, 12h or 7d (units s, m, h, d)"
        )
    return timedelta(seconds=float(match[1]) * _SECONDS[match[2]])


def parse_size(text: str) -> int:
    """``64MB``, ``512KB``, ``1GB`` or a number of bytes (KB = 1024 bytes); ValueError."""
    match = _SIZE.match(text)
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a size such as 64MB, 512KB or 1GB")
    unit = match[2].lower().replace("i", "")
    return max(1, int(float(match[1]) * _BYTES[unit]))


def human(size: float) -> str:
    """``512 B``, ``95.3 KB``, ``64.0 MB``, ``1.2 GB``."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KB", "MB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GB"


_TARGET_FILE_SIZE = parse_size(DEFAULT_TARGET_FILE_SIZE)
_RETENTION = parse_duration(DEFAULT_RETENTION)
_ORPHAN_GRACE = parse_duration(DEFAULT_ORPHAN_GRACE)


@dataclass(frozen=True)
class Options:
    """How one run goes (the command's options and ``CHINANEWS_LAKE_SNAPSHOT_RETENTION``)."""

    target_file_size: int = _TARGET_FILE_SIZE
    retention: timedelta = _RETENTION
    orphan_grace: timedelta = _ORPHAN_GRACE
    dry_run: bool = False


@dataclass
class Report:
    """What one run did (or, dry, would do)."""

    #: (partition, files before, files after; after is None in a dry run)
    compacted: list[tuple[str, int, int | None]] = field(default_factory=list)
    #: partitions whose rewrite concurrent commits kept refusing
    skipped: list[str] = field(default_factory=list)
    expired: int = 0
    orphans: int = 0
    orphan_bytes: int = 0


# -- compaction ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """One partition of the current spec: its path (``dt=2025-11-24``), the filter that
    selects exactly its rows, and its data files (path, bytes)."""

    label: str
    row_filter: Any
    files: tuple[tuple[str, int], ...]
    has_deletes: bool

    def small(self, target: int) -> list[tuple[str, int]]:
        return [f for f in self.files if f[1] < target]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _day_start(days: int) -> str:
    """The first instant of day ``days`` (Iceberg's ``day`` transform: days since 1970)."""
    return (_EPOCH + timedelta(days=days)).isoformat()


def partition_filter(table: Any, values: Sequence[Any]) -> Any:
    """The row filter of the partition with ``values`` in the table's current spec; None
    when a transform is neither identity nor day (not compacted)."""
    import pyiceberg.expressions
    from pyiceberg.transforms import DayTransform, IdentityTransform

    # Any: the expressions' pydantic models hide their positional __init__ from mypy
    ex: Any = pyiceberg.expressions
    schema = table.schema()
    row_filter: Any = ex.AlwaysTrue()
    for spec_field, value in zip(table.spec().fields, values, strict=True):
        column = schema.find_column_name(spec_field.source_id)
        if value is None:
            clause = ex.IsNull(column)
        elif isinstance(spec_field.transform, IdentityTransform):
            clause = ex.EqualTo(column, value)
        elif isinstance(spec_field.transform, DayTransform):
            clause = ex.And(
                ex.GreaterThanOrEqual(column, _day_start(value)),
                ex.LessThan(column, _day_start(value + 1)),
            )
        else:
            return None
        row_filter = ex.And(row_filter, clause)
    return row_filter


def partitions(table: Any) -> list[Partition]:
    """The partitions of the current spec that hold data, in partition order."""
    spec = table.spec()
    schema = table.schema()
    grouped: dict[tuple[Any, ...], list[Any]] = {}
    for task in table.scan().plan_files():
        if task.file.spec_id != spec.spec_id:
            continue  # written under an earlier spec: not compacted
        values = tuple(task.file.partition[i] for i in range(len(spec.fields)))
        grouped.setdefault(values, []).append(task)
    found = []
    for values, tasks in grouped.items():
        row_filter = partition_filter(table, values)
        if row_filter is None:
            continue
        found.append(
            Partition(
                spec.partition_to_path(tasks[0].file.partition, schema),
                row_filter,
                tuple(sorted((t.file.file_path, t.file.file_size_in_bytes) for t in tasks)),
                any(t.delete_files for t in tasks),
            )
        )
    return sorted(found, key=lambda p: p.label)


def compact_partition(
    catalog: Any, name: str, label: str, target: int, echo: Callable[[str], None]
) -> tuple[int, int] | None:
    """Rewrite the partition ``label`` as one commit: (files before, files after), or None
    when it no longer needs it; ``ATTEMPTS`` tries against concurrent commits, after which
    the last refusal is raised."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    for attempt in range(1, ATTEMPTS + 1):
        table = catalog.load_table(name)
        partition = next((p for p in partitions(table) if p.label == label), None)
        if partition is None or len(partition.small(target)) < 2:
            return None
        rows = table.scan(row_filter=partition.row_filter).to_arrow()
        rows = rows.sort_by([("url", "ascending"), ("version", "ascending")])
        try:
            table.overwrite(
                rows,
                overwrite_filter=partition.row_filter,
                snapshot_properties={MAINTENANCE_PROPERTY: "compaction"},
            )
        except (CommitFailedException, ValidationException) as exc:
            if attempt == ATTEMPTS:
                raise
            echo(f"{label}: a concurrent commit refused the rewrite ({exc}); trying again")
            continue
        after = next(p for p in partitions(catalog.load_table(name)) if p.label == label)
        return len(partition.files), len(after.files)
    raise AssertionError("unreachable")


def compact(
    catalog: Any, name: str, options: Options, report: Report, echo: Callable[[str], None]
) -> None:
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    target = options.target_file_size
    for partition in partitions(catalog.load_table(name)):
        small = partition.small(target)
        if len(small) < 2:
            continue
        if partition.has_deletes:
            echo(f"{partition.label}: has delete files; not compacted")
            continue
        if options.dry_run:
            size = sum(size for _, size in partition.files)
            echo(
                f"{partition.label}: would compact {len(partition.files)} files "
                f"({len(small)} below {human(target)}, {human(size)} in all)"
            )
            report.compacted.append((partition.label, len(partition.files), None))
            continue
        try:
            done = compact_partition(catalog, name, partition.label, target, echo)
        except (CommitFailedException, ValidationException) as exc:
            echo(f"{partition.label}: not compacted, concurrent commits kept refusing ({exc})")
            report.skipped.append(partition.label)
            continue
        if done is not None:
            echo(f"{partition.label}: compacted {done[0]} files into {done[1]}")
            report.compacted.append((partition.label, *done))


# -- snapshot expiry ----------------------------------------------------------------------


def expirable(table: Any, cutoff: datetime) -> list[Any]:
    """The snapshots older than ``cutoff`` that are no branch or tag head (the current
    snapshot is the head of ``main``): what ``expire_snapshots().older_than`` removes."""
    protected = {ref.snapshot_id for ref in table.refs().values()}
    limit = cutoff.timestamp() * 1000
    return [
        s for s in table.snapshots() if s.timestamp_ms < limit and s.snapshot_id not in protected
    ]


def expire(
    catalog: Any,
    name: str,
    options: Options,
    now: datetime,
    report: Report,
    echo: Callable[[str], None],
) -> set[int]:
    """Expire; the ids of the snapshots expired (or, dry, that would be)."""
    from pyiceberg.exceptions import CommitFailedException

    cutoff = now - options.retention
    for attempt in range(1, ATTEMPTS + 1):
        table = catalog.load_table(name)
        old = expirable(table, cutoff)
        kept = len(table.snapshots()) - len(old)
        if old and not options.dry_run:
            try:
                table.maintenance.expire_snapshots().older_than(cutoff).commit()
            except CommitFailedException as exc:
                if attempt == ATTEMPTS:
                    raise
                echo(f"snapshots: a concurrent commit came first ({exc}); trying again")
                continue
        verb = "would expire" if options.dry_run else "expired"
        echo(
            f"snapshots: {verb} {len(old)} older than {_age(options.retention)} "
            f"({kept} kept, the current one among them)"
        )
        report.expired = len(old)
        return {s.snapshot_id for s in old}
    raise AssertionError("unreachable")


def _age(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _SECONDS[unit] and seconds % _SECONDS[unit] == 0:
            return f"{seconds / _SECONDS[unit]:.0f}{unit}"
    return f"{seconds:g}s"


# -- orphan files -------------------------------------------------------------------------


def filesystem(table: Any) -> tuple[Any, Callable[[str], str]]:
    """The pyarrow filesystem of the table's FileIO, and a function from a location (URI)
    to that filesystem's path."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = table.io
    if not isinstance(io, PyArrowFileIO):
        raise MaintainError(
            f"orphan files are listed through pyiceberg's PyArrowFileIO; the table uses "
            f"{type(io).__name__} (py-io-impl)"
        )

    def path_of(location: str) -> str:
        return str(io.parse_location(location, io.properties)[2])

    scheme, netloc, _ = io.parse_location(table.location(), io.properties)
    return io.fs_by_scheme(scheme, netloc), path_of


def referenced(table: Any, dropped: Iterable[int] = ()) -> set[str]:
    """Every location the table's metadata references (less the snapshots ``dropped``)."""
    io = table.io
    metadata = table.metadata
    found = {table.metadata_location}
    found.update(entry.metadata_file for entry in metadata.metadata_log)
    found.update(s.statistics_path for s in metadata.statistics)
    found.update(s.statistics_path for s in metadata.partition_statistics)
    gone = set(dropped)
    manifests: set[str] = set()
    for snapshot in table.snapshots():
        if snapshot.snapshot_id in gone:
            continue
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            if manifest.manifest_path in manifests:
                continue
            manifests.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                found.add(entry.data_file.file_path)
    return found | manifests


def orphans(table: Any, cutoff: datetime, dropped: Iterable[int] = ()) -> list[Any]:
    """Files (pyarrow ``FileInfo``) under the table's ``data/`` and ``metadata/`` that its
    metadata does not reference, last modified before ``cutoff``."""
    from pyarrow.fs import FileSelector, FileType

    fs, path_of = filesystem(table)
    keep = {path_of(location) for location in referenced(table, dropped)}
    root = path_of(table.location()).rstrip("/")
    found = []
    for folder in ("data", "metadata"):
        selector = FileSelector(f"{root}/{folder}", recursive=True, allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type != FileType.File or info.path in keep:
                continue
            if info.mtime is not None and info.mtime < cutoff:
                found.append(info)
    return sorted(found, key=lambda info: info.path)


def remove_orphans(
    catalog: Any,
    name: str,
    options: Options,
    now: datetime,
    dropped: Iterable[int],
    report: Report,
    echo: Callable[[str], None],
) -> None:
    table = catalog.load_table(name)
    found = orphans(table, now - options.orphan_grace, dropped if options.dry_run else ())
    size = sum(info.size or 0 for info in found)
    if not options.dry_run:
        fs, _ = filesystem(table)
        for info in found:
            fs.delete_file(info.path)
    verb = "would remove" if options.dry_run else "removed"
    echo(
        f"orphan files: {verb} {len(found)} ({human(size)}, {size} bytes) older than "
        f"{_age(options.orphan_grace)}"
    )
    report.orphans, report.orphan_bytes = len(found), size


# -- the whole run ------------------------------------------------------------------------


def maintain(
    catalog: Any,
    name: str,
    options: Options,
    *,
    now: datetime | None = None,
    echo: Callable[[str], None] = print,
) -> Report:
    """Compact, expire, remove orphans (module docstring); prints a line per step."""
    now = now or datetime.now(timezone.utc)
    report = Report()
    compact(catalog, name, options, report, echo)
    dropped = expire(catalog, name, options, now, report, echo)
    remove_orphans(catalog, name, options, now, dropped, report, echo)
    return report


# -- the command --------------------------------------------------------------------------


def load_settings(pairs: dict[str, str]) -> Any:
    """The crawl's settings: the project's module (``SCRAPY_SETTINGS_MODULE``, else
    ``chinanews.settings``, which reads ``CHINANEWS_LAKE`` and ``CHINANEWS_DATA_DIR`` from
    the environment), then ``-s`` on top, as ``scrapy crawl`` gives them."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule(os.environ.get("SCRAPY_SETTINGS_MODULE") or "chinanews.settings", "project")
    settings.setdict(pairs, priority="cmdline")
    return settings


def open_lake(settings: Any) -> tuple[Any, str]:
    """The catalog and the table's name, from settings ``chinanews.config`` has checked;
    ``MaintainError`` (one line) when either is not there."""
    from chinanews.lake import iceberg

    try:
        if iceberg.lake_format(settings) != "iceberg":
            raise MaintainError(
                "CHINANEWS_LAKE_FORMAT: the parquet lake has no table to maintain "
                "(chinanews lake maintain is for the Iceberg table)"
            )
        lake = iceberg.LakeConfig.from_settings(settings)
        if lake.catalog_uri.startswith("sqlite:///"):
            path = Path(lake.catalog_uri.removeprefix("sqlite:///"))
            if not path.is_file():
                raise MaintainError(
                    f"CHINANEWS_LAKE_CATALOG: no catalog at {path} (no crawl has written the "
                    "lake with these settings; check CHINANEWS_DATA_DIR)"
                )
        iceberg.check_settings(settings)  # the catalog answers
    except ValueError as exc:  # LakeSettingError
        raise MaintainError(str(exc)) from None
    catalog = iceberg.open_catalog(lake)
    if not catalog.table_exists(lake.table):
        raise MaintainError(
            f"CHINANEWS_LAKE_TABLE: no table {lake.table} in the catalog "
            f"{iceberg.redact(lake.catalog_uri)}"
        )
    return catalog, lake.table


def cmd_maintain(args: Any) -> int:
    from chinanews import config
    from chinanews.scheduling import parse_pairs

    try:
        settings = load_settings(parse_pairs(args.settings, "-s"))
        config.check_settings(settings)
        options = Options(
            target_file_size=_option(parse_size, "--target-file-size", args.target_file_size),
            retention=parse_duration(
                settings.get("CHINANEWS_LAKE_SNAPSHOT_RETENTION") or DEFAULT_RETENTION
            ),
            orphan_grace=_option(parse_duration, "--orphan-grace", args.orphan_grace),
            dry_run=args.dry_run,
        )
        catalog, name = open_lake(settings)
    except (MaintainError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        maintain(catalog, name, options)
    except MaintainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the catalog, the object store: said, and the code says it failed
        message = " ".join(str(exc).split())[:300]
        print(
            f"error: maintenance of {name} failed: {type(exc).__name__}: {message}", file=sys.stderr
        )
        return EXIT_FAILED
    return 0


def _option(parse: Callable[[str], Any], option: str, value: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None


def add_parser(sub: Any) -> None:
    """Register ``chinanews lake maintain`` on the ``chinanews`` command's subparsers."""
    lake = sub.add_parser("lake", help="the Iceberg lake table (docs/lake.md)")
    commands = lake.add_subparsers(dest="lake_command", required=True)
    parser = commands.add_parser(
        "maintain",
        help="compact small files, expire old snapshots, remove orphan files",
        description="Compact each partition's small files (one commit per partition), expire "
        "snapshots older than CHINANEWS_LAKE_SNAPSHOT_RETENTION (7d), and remove files no "
        "snapshot references that are older than --orphan-grace. For cron; reads the crawl's "
        "settings (the project's, the environment's, -s). Exit code 0 done, 1 a failure on "
        "the way, 2 bad settings or a catalog that cannot be reached.",
    )
    parser.add_argument(
        "-s", dest="settings", action="append", default=[], metavar="NAME=VALUE",
        help="a setting, as for scrapy crawl (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--target-file-size",
        default=DEFAULT_TARGET_FILE_SIZE,
        metavar="SIZE",
        help="files below this size are small; a partition with two or more is compacted "
        f"(default {DEFAULT_TARGET_FILE_SIZE})",
    )
    parser.add_argument(
        "--orphan-grace",
        default=DEFAULT_ORPHAN_GRACE,
        metavar="AGE",
        help="unreferenced files younger than this stay, for commits in flight "
        f"(default {DEFAULT_ORPHAN_GRACE}; units s, m, h, d)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be done; change nothing"
    )
    parser.set_defaults(func=cmd_maintain)


__all__ = [
    "DEFAULT_RETENTION",
    "MaintainError",
    "Options",
    "Report",
    "maintain",
    "orphans",
    "parse_duration",
    "parse_size",
    "partitions",
    "referenced",
]
