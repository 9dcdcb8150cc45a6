"""The lake as an Apache Iceberg table (``CHINANEWS_LAKE``, the default format).

``-s CHINANEWS_LAKE=<directory or s3://bucket/prefix>`` is the table's warehouse; the table
is ``chinanews.articles`` (``CHINANEWS_LAKE_TABLE``) in the catalog ``CHINANEWS_LAKE_CATALOG``:

- unset: an embedded SQLite SQL catalog in the data directory
  (``<CHINANEWS_DATA_DIR>/lake-catalog.sqlite3``), so that one setting is enough;
- ``sqlite:///path``: a SQLite SQL catalog there;
- ``postgresql://…``: a PostgreSQL SQL catalog (the same kind of URL as ``DATABASE_URL``);
- ``rest+https://host/path`` (or ``rest+http://``): a REST catalog (Polaris, Nessie,
  Lakekeeper, Glue's REST endpoint), its URI without the ``rest+``.

One row per emitted article version, with the explicit schema of
``chinanews.lake.schema`` (times as ``timestamptz``, lists as lists, related links as
structs), plus ``dt``: the publication date in Beijing time, by which the table is
partitioned (``CHINANEWS_LAKE_PARTITION=beijing_day``, the default; ``utc_day`` partitions
by Iceberg's ``day(published_at)``, a UTC day, instead).

Commits follow the crawl's lifecycle (``chinanews.lifecycle``): articles wait in memory
until a checkpoint, which makes them one Iceberg commit (an append whose snapshot summary
holds ``chinanews.run-id``); the index moves on only after it. A commit never adds a row
for an (``url``, ``version``) the table holds already: it reads those of the partitions it
touches first and leaves them out, so a recovery or a re-emission is idempotent. A commit
that fails on a conflict (another writer committed first) is retried on the refreshed
table; a catalog or object store that stays away for ``CHINANEWS_LAKE_RETRY_SECONDS`` sends
the batch to a spool file (``<data dir>/spool/lake-<run_id>.jsonl``, fsynced), which the
next checkpoint or run commits. ``chinanews lake maintain`` compacts, expires snapshots and
removes orphan files (``chinanews.lake.maintain``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from chinanews.lake.times import SITE_ZONE
from chinanews.lifecycle import OutputFailed, RunRecord, crawl_run

T = TypeVar("T")

try:  # the lake extra: pip install 'chinanews[lake]'
    import pyarrow as pa

    from chinanews.lake.schema import ARTICLE_SCHEMA, to_row
except ImportError:  # without it, a lake stops the crawl at start (check_settings)
    pa = None

logger = logging.getLogger(__name__)

STAT = "chinanews/lake"
DEFAULT_TABLE = "chinanews.articles"
PARTITIONS = ("beijing_day", "utc_day")
FORMATS = ("iceberg", "parquet")
RUN_PROPERTY = "chinanews.run-id"


class LakeSettingError(ValueError):
    """A lake setting that cannot be used; the message says what to fix."""


def lake_format(settings: Any) -> str:
    return str(settings.get("CHINANEWS_LAKE_FORMAT") or "iceberg").strip().lower()


@dataclass(frozen=True)
class LakeConfig:
    """Where the table lives and how it is laid out, from the settings."""

    warehouse: str
    catalog_kind: str  # "sql" or "rest"
    catalog_uri: str
    table: str
    partition: str
    properties: dict[str, str] = field(default_factory=dict)
    #: More catalog properties (``CHINANEWS_LAKE_CATALOG_PROPERTIES``): a REST catalog's
    #: ``credential``, ``token``, ``scope``, ``warehouse`` name, SigV4 options …
    catalog_properties: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.table.rsplit(".", 1)[0]

    @classmethod
    def from_settings(cls, settings: Any) -> LakeConfig:
        lake = (settings.get("CHINANEWS_LAKE") or "").strip()
        if not lake:
            raise LakeSettingError("CHINANEWS_LAKE: not set")
        parsed = urlparse(lake)
        if parsed.username or parsed.password:
            raise LakeSettingError(
                "CHINANEWS_LAKE must not hold credentials; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (settings or environment) instead"
            )
        if parsed.scheme in ("s3", "s3a"):
            warehouse = lake.rstrip("/")
        elif len(parsed.scheme) <= 1 or parsed.scheme == "file":
            path = Path(lake.removeprefix("file://")).resolve()
            warehouse = path.as_uri()
        else:
            raise LakeSettingError(
                f"CHINANEWS_LAKE: {lake!r} is not a directory or an s3:// URL; e.g. "
                "-s CHINANEWS_LAKE=data/lake or s3://bucket/chinanews"
            )
        table = str(settings.get("CHINANEWS_LAKE_TABLE") or DEFAULT_TABLE).strip()
        if table.count(".") < 1 or any(not part for part in table.split(".")):
            raise LakeSettingError(
                f"CHINANEWS_LAKE_TABLE: {table!r} is not namespace.table; e.g. "
                f"-s CHINANEWS_LAKE_TABLE={DEFAULT_TABLE}"
            )
        partition = str(settings.get("CHINANEWS_LAKE_PARTITION") or "beijing_day").strip()
        if partition not in PARTITIONS:
            raise LakeSettingError(
                f"CHINANEWS_LAKE_PARTITION: {partition!r} is not beijing_day or utc_day; "
                "e.g. -s CHINANEWS_LAKE_PARTITION=beijing_day"
            )
        kind, uri = catalog_of(settings)
        extra = (
            settings.getdict("CHINANEWS_LAKE_CATALOG_PROPERTIES")
            if hasattr(settings, "getdict")
            else dict(settings.get("CHINANEWS_LAKE_CATALOG_PROPERTIES") or {})
        )
        properties = {str(k): str(v) for k, v in (extra or {}).items()}
        return cls(warehouse, kind, uri, table, partition, s3_properties(settings), properties)


def catalog_of(settings: Any) -> tuple[str, str]:
    """(kind, URI) of the catalog ``CHINANEWS_LAKE_CATALOG`` names (module docstring)."""
    value = str(settings.get("CHINANEWS_LAKE_CATALOG") or "").strip()
    if not value:
        data_dir = Path(settings.get("CHINANEWS_DATA_DIR") or "data").resolve()
        return "sql", f"sqlite:///{data_dir / 'lake-catalog.sqlite3'}"
    scheme = urlparse(value).scheme.lower()
    if scheme == "sqlite":
        return "sql", value
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return "sql", "postgresql+psycopg://" + value.split("://", 1)[1]
    if scheme in ("rest+http", "rest+https"):
        return "rest", value.removeprefix("rest+")
    raise LakeSettingError(
        f"CHINANEWS_LAKE_CATALOG: {redact(value)!r} is not a catalog URL; give "
        "sqlite:///path, postgresql://user@host/db or rest+https://host/path (or leave it "
        "unset for a SQLite catalog in the data directory)"
    )


def redact(url: str) -> str:
    from chinanews.index import redact as redact_url

    return redact_url(url)


def s3_properties(settings: Any) -> dict[str, str]:
    """pyiceberg's S3 properties from Scrapy's ``AWS_*`` settings (or the environment)."""
    names = {
        "s3.endpoint": ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"),
        "s3.access-key-id": ("AWS_ACCESS_KEY_ID",),
        "s3.secret-access-key": ("AWS_SECRET_ACCESS_KEY",),
        "s3.session-token": ("AWS_SESSION_TOKEN",),
        "s3.region": ("AWS_REGION_NAME", "AWS_DEFAULT_REGION", "AWS_REGION"),
    }
    props: dict[str, str] = {}
    for prop, keys in names.items():
        for key in keys:
            value = settings.get(key) or os.environ.get(key)
            if value:
                props[prop] = str(value)
                break
    return props


#: Attempts at a step that several writers starting at once may race on (``_racing``).
RACE_ATTEMPTS = 5


def _racing(step: Callable[[], T]) -> T:
    """``step()``, again (after a short pause) when it lost a race with another writer doing
    the same at the same moment: workers of a distributed crawl starting together on a new
    SQL catalog each create its tables (``CREATE TABLE iceberg_tables``) and the namespace's
    rows, and all but one meet the database's unique constraint (SQLAlchemy's
    ``IntegrityError``) or PostgreSQL's "type … already exists" (a ``ProgrammingError``).
    The next attempt finds them made."""
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            return step()
        except Exception as exc:
            lost = type(exc).__name__ == "IntegrityError" or "already exists" in str(exc)
            if not lost or attempt == RACE_ATTEMPTS:
                raise
            logger.debug("Lake catalog: lost a race with another writer (%s); again", exc)
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def open_catalog(config: LakeConfig) -> Any:
    """The catalog (raises on an unreachable one)."""
    props = {"warehouse": config.warehouse, **config.properties, **config.catalog_properties}
    if config.catalog_kind == "rest":
        from pyiceberg.catalog.rest import RestCatalog

        return RestCatalog("chinanews", uri=config.catalog_uri, **props)
    from pyiceberg.catalog.sql import SqlCatalog

    if config.catalog_uri.startswith("sqlite:///"):
        Path(config.catalog_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    return _racing(lambda: SqlCatalog("chinanews", uri=config.catalog_uri, **props))


def _utc(t: pa.DataType) -> pa.DataType:
    """``t`` with every timestamp in UTC (Iceberg's ``timestamptz`` keeps instants)."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_list(t):
        value = t.value_field
        return pa.list_(pa.field(value.name, _utc(value.type), value.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _utc(f.type), f.nullable) for f in t])
    return t


def table_schema() -> pa.Schema:
    """The table's Arrow schema: the lake's, in UTC, plus ``dt`` (the Beijing date)."""
    return pa.schema(
        [pa.field(f.name, _utc(f.type), f.nullable) for f in ARTICLE_SCHEMA]
        + [pa.field("dt", pa.date32())],
        metadata=ARTICLE_SCHEMA.metadata,
    )


def beijing_date(published: Any) -> date | None:
    if not isinstance(published, datetime):
        return None
    return published.astimezone(SITE_ZONE).date()


def arrow_rows(items: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Items as a table of ``TABLE_SCHEMA``."""
    rows = []
    for item in items:
        row = to_row(item)
        row["dt"] = beijing_date(row.get("published_at"))
        rows.append(row)
    source = pa.schema([*list(ARTICLE_SCHEMA), pa.field("dt", pa.date32())])
    return pa.Table.from_pylist(rows, schema=source).cast(table_schema())


_warned_partition: dict[str, bool] = {}


def open_table(catalog: Any, config: LakeConfig, schema: pa.Schema | None = None) -> Any:
    """The table, created (with its partitioning) when missing, and its schema evolved to
    hold every column of ``schema`` (a later chinanews that adds a field adds a column: no
    rewrite)."""
    from pyiceberg.exceptions import NamespaceAlreadyExistsError
    from pyiceberg.transforms import DayTransform

    schema = schema if schema is not None else table_schema()
    # another writer may create it meanwhile: what we wanted
    with contextlib.suppress(NamespaceAlreadyExistsError):
        _racing(lambda: catalog.create_namespace_if_not_exists(config.namespace))
    try:
        table = catalog.load_table(config.table)
    except Exception as exc:  # pyiceberg's NoSuchTableError, or a REST catalog's variant
        if "NoSuchTable" not in type(exc).__name__:
            raise
        try:
            # one atomic creation, partitioning included: no reader ever sees it unpartitioned
            creation = catalog.create_table_transaction(
                config.table,
                schema=schema,
                properties={"write.parquet.compression-codec": "zstd", "format-version": "2"},
            )
            with creation.update_spec() as spec:
                if config.partition == "beijing_day":
                    spec.add_identity("dt")
                else:
                    spec.add_field("published_at", DayTransform(), "published_day")
            creation.commit_transaction()
        except Exception as failed:
            # Another writer may have created it meanwhile (which a catalog says as
            # TableAlreadyExistsError, as a failed commit, or as its database's
            # IntegrityError): what we wanted, if the table is there now.
            try:
                catalog.load_table(config.table)
            except Exception:
                raise failed from None
        table = catalog.load_table(config.table)
    wanted = "dt" if config.partition == "beijing_day" else "published_day"
    if wanted not in {f.name for f in table.spec().fields} and not _warned_partition.get(
        config.table
    ):
        _warned_partition[config.table] = True
        logger.warning(
            "Lake table %s is partitioned by %s, not as CHINANEWS_LAKE_PARTITION=%s says: an "
            "existing table keeps its partitioning",
            config.table,
            ", ".join(f.name for f in table.spec().fields) or "nothing",
            config.partition,
        )
    missing = [n for n in schema.names if n not in {f.name for f in table.schema().fields}]
    if missing:
        # A column added to a table with rows is optional: those rows hold no value for it
        # (Iceberg refuses a required column without a default).
        added = pa.schema([f.with_nullable(True) if f.name in missing else f for f in schema])
        with table.update_schema() as update:
            update.union_by_name(added)
        table = catalog.load_table(config.table)
        logger.info("Lake table %s: added columns %s", config.table, ", ".join(missing))
    return table


def existing_versions(table: Any, batch: pa.Table) -> set[tuple[str, int]]:
    """The (url, version) pairs of ``batch`` the table holds already (only the partitions
    the batch touches are read)."""
    from pyiceberg import expressions

    # pyiceberg's predicates are built through __new__, which its type hints do not show
    ex: Any = expressions

    if table.current_snapshot() is None or batch.num_rows == 0:
        return set()
    urls = sorted(set(batch.column("url").to_pylist()))
    row_filter: Any = ex.In("url", urls)
    days = {d for d in batch.column("dt").to_pylist()}
    if "dt" in {f.name for f in table.schema().fields}:
        dated = sorted(d for d in days if d is not None)
        day_filter: Any = ex.In("dt", [d.isoformat() for d in dated]) if dated else None
        if None in days:
            day_filter = (
                ex.Or(day_filter, ex.IsNull("dt")) if day_filter is not None else ex.IsNull("dt")
            )
        if day_filter is not None:
            row_filter = ex.And(day_filter, row_filter)
    found = table.scan(row_filter=row_filter, selected_fields=("url", "version")).to_arrow()
    return set(
        zip(found.column("url").to_pylist(), found.column("version").to_pylist(), strict=False)
    )


def commit_rows(
    catalog: Any,
    config: LakeConfig,
    batch: pa.Table,
    run_id: str,
    *,
    attempts: int = 8,
) -> tuple[int, int]:
    """Append ``batch`` as one commit, leaving out the versions the table holds; retried on
    a conflict. (rows written, rows the table held already)."""
    from pyiceberg.exceptions import CommitFailedException

    for attempt in range(1, attempts + 1):
        table = open_table(catalog, config)
        held = existing_versions(table, batch)
        if held:
            keep = [
                (url, version) not in held
                for url, version in zip(
                    batch.column("url").to_pylist(),
                    batch.column("version").to_pylist(),
                    strict=True,
                )
            ]
            fresh = batch.filter(pa.array(keep))
        else:
            fresh = batch
        fresh = _unique_versions(fresh)
        if fresh.num_rows == 0:
            return 0, batch.num_rows
        try:
            table.append(fresh, snapshot_properties={RUN_PROPERTY: run_id})
            return fresh.num_rows, batch.num_rows - fresh.num_rows
        except CommitFailedException as exc:
            if attempt == attempts:
                raise
            logger.info("Lake commit conflict (%s): retrying on the refreshed table", exc)
            time.sleep(random.uniform(0.05, 0.3) * attempt)
    raise AssertionError("unreachable")


def _unique_versions(batch: pa.Table) -> pa.Table:
    """One row per (url, version) within the batch (the last one given)."""
    seen: dict[tuple[str, int], int] = {}
    for i, key in enumerate(
        zip(batch.column("url").to_pylist(), batch.column("version").to_pylist(), strict=True)
    ):
        seen[key] = i
    if len(seen) == batch.num_rows:
        return batch
    return batch.take(pa.array(sorted(seen.values())))


class IcebergLake:
    """Extension: the articles of the crawl into the Iceberg table (module docstring)."""

    def __init__(self, crawler: Crawler, config: LakeConfig) -> None:
        self.crawler = crawler
        self.config = config
        settings = crawler.settings
        self.retry_seconds = settings.getfloat("CHINANEWS_LAKE_RETRY_SECONDS", 30.0)
        self.spool_dir = Path(settings.get("CHINANEWS_DATA_DIR") or "data") / "spool"
        self.catalog: Any = None
        self.pending: list[dict[str, Any]] = []
        self.down_since: float | None = None
        self.run_id = ""
        self._opening: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IcebergLake:
        settings = crawler.settings
        if not (settings.get("CHINANEWS_LAKE") or "").strip() or lake_format(settings) != "iceberg":
            raise NotConfigured("no Iceberg lake")
        lake = cls(crawler, LakeConfig.from_settings(settings))
        crawler.signals.connect(lake.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(lake.item_scraped, signal=signals.item_scraped)
        return lake

    def _inc(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"{STAT}/{key}", count)

    @property
    def spool_path(self) -> Path:
        return self.spool_dir / f"lake-{self.run_id}.jsonl"

    async def spider_opened(self) -> None:
        """Join the checkpoints at once (the recovery of a dead run, which starts in the same
        signal, may replay articles here), then open the table."""
        run = crawl_run(self.crawler)
        self.run_id = run.run_id
        run.register("lake", self.checkpoint, replay=self.replay)
        self._opening = deferToThread(self._open)
        await maybe_deferred_to_future(self._opening)
        logger.info(
            "Lake: Iceberg table %s in %s (catalog %s)",
            self.config.table,
            self.config.warehouse,
            redact(self.config.catalog_uri),
        )
        await self._load_spools(earlier_only=True)

    def _open(self) -> None:
        self.catalog = open_catalog(self.config)
        open_table(self.catalog, self.config)

    def item_scraped(self, item: Any) -> None:
        self.pending.append(ItemAdapter(item).asdict())

    def replay(self, dead: RunRecord, item: dict[str, Any]) -> bool:
        """An article a dead run emitted: written at the next commit unless the table holds
        its version (the commit's anti-join)."""
        self.pending.append(item)
        return True

    async def checkpoint(self) -> None:
        """One commit of what came since the last one (or a spool file, when the lake is
        away); ``OutputFailed`` only if neither worked."""
        if self._opening is not None and not self._opening.called:
            await maybe_deferred_to_future(self._opening)
        if self.catalog is None:
            raise OutputFailed(f"the lake table {self.config.table} could not be opened")
        items, self.pending = self.pending, []
        # this run's own spool first, once the lake may be back
        if (
            self.spool_path.exists()
            and self._may_try()
            and await maybe_deferred_to_future(deferToThread(self._commit_spool, self.spool_path))
        ):
            self.down_since = None
        if not items:
            return
        ok = await maybe_deferred_to_future(deferToThread(self._commit_or_spool, items))
        if not ok:
            raise OutputFailed(f"the lake could neither commit nor spool {len(items)} articles")

    def _may_try(self) -> bool:
        """Whether to try the lake again: it is up, or ``retry_seconds`` went by."""
        since = self.down_since
        return since is None or time.monotonic() - since >= self.retry_seconds

    def _commit_or_spool(self, items: list[dict[str, Any]]) -> bool:
        if not self._may_try():
            return self._spool(items, "the lake is away")
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.5
        while True:
            try:
                written, held = commit_rows(
                    self.catalog, self.config, arrow_rows(items), self.run_id
                )
            except Exception as exc:  # the catalog, the object store, the network
                if time.monotonic() + delay > deadline:
                    self.down_since = time.monotonic()
                    return self._spool(items, f"{type(exc).__name__}: {exc}")
                logger.warning("Lake commit failed (%s: %s); retrying", type(exc).__name__, exc)
                self._inc("commit_retries")
                time.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            self.down_since = None
            self._inc("commits")
            self._inc("rows", written)
            if held:
                self._inc("held_already", held)
            return True

    def _spool(self, items: list[dict[str, Any]], reason: str) -> bool:
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            with self.spool_path.open("a", encoding="utf-8") as f:
                for item in items:
                    f.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            logger.error("Lake: cannot spool %d articles either (%s)", len(items), exc)
            return False
        self._inc("spooled", len(items))
        logger.error(
            "Lake: %d articles NOT committed (%s); spooled to %s, committed by the next "
            "checkpoint or run",
            len(items),
            reason,
            self.spool_path,
        )
        return True

    async def _load_spools(self, *, earlier_only: bool) -> None:
        """The spool files earlier runs left, each claimed by a rename first (two runs that
        share a data directory never load one file twice)."""
        files = sorted(self.spool_dir.glob("lake-*.jsonl")) if self.spool_dir.exists() else []
        for path in files:
            if earlier_only and path == self.spool_path:
                continue
            claimed = path.with_name(f".{path.name}.loading-{self.run_id}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another run claimed it first
            ok = await maybe_deferred_to_future(deferToThread(self._commit_spool, claimed))
            if not ok:
                claimed.rename(path)  # still away: it stays for later
                return

    def _commit_spool(self, path: Path) -> bool:
        items = []
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    try:
                        items.append(json.loads(line))
                    except ValueError:
                        logger.warning("Lake spool %s: a torn line skipped", path)
        try:
            written, held = commit_rows(self.catalog, self.config, arrow_rows(items), self.run_id)
        except Exception as exc:  # still away: the file stays for later
            logger.warning("Lake spool %s not committed yet (%s)", path, exc)
            return False
        path.unlink()
        self._inc("spool_loaded", written)
        logger.info(
            "Lake: committed %d spooled articles from %s (%d there already)", written, path, held
        )
        return True


def check_settings(settings: Any) -> None:
    """Fail before the crawl starts when the lake cannot work: a bad setting, or a catalog
    that cannot be reached (``LakeSettingError``, one line)."""
    if settings.get("CHINANEWS_LAKE_CATALOG"):
        catalog_of(settings)  # a catalog set but not a catalog URL is wrong with or without a lake
    if not (settings.get("CHINANEWS_LAKE") or "").strip():
        if settings.get("CHINANEWS_LAKE_CATALOG"):
            _reach(
                LakeConfig(
                    "file:///nonexistent", *catalog_of(settings), DEFAULT_TABLE, "beijing_day"
                )
            )
        return
    fmt = lake_format(settings)
    if fmt not in FORMATS:
        raise LakeSettingError(
            f"CHINANEWS_LAKE_FORMAT: {fmt!r} is not iceberg or parquet; e.g. "
            "-s CHINANEWS_LAKE_FORMAT=iceberg"
        )
    if fmt != "iceberg":
        return
    config = LakeConfig.from_settings(settings)
    try:
        import pyarrow  # noqa: F401
        import pyiceberg  # noqa: F401
    except ImportError:
        raise LakeSettingError(
            "CHINANEWS_LAKE: the Iceberg lake needs pyiceberg: pip install 'chinanews[lake]' "
            "(or -s CHINANEWS_LAKE_FORMAT=parquet for plain Parquet files)"
        ) from None
    _reach(config)


def _reach(config: LakeConfig) -> None:
    """Raise ``LakeSettingError`` unless the catalog answers."""
    try:
        catalog = open_catalog(config)
        catalog.list_namespaces()
    except Exception as exc:  # whatever the catalog's client raises
        message = " ".join(str(exc).split())[:300]
        raise LakeSettingError(
            f"CHINANEWS_LAKE_CATALOG: cannot reach {redact(config.catalog_uri)} "
            f"({type(exc).__name__}: {redact(message)})"
        ) from None
