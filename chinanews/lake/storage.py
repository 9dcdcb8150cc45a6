"""Lake files that readers never see half-written, and what a run left in the lake.

``FileFeedStorage`` replaces Scrapy's storage for local paths (``FEED_STORAGES`` for ``""``
and ``file``). A feed whose option ``atomic`` is true (the default for ``parquet``) is
written under a hidden temporary name beside its final one (``.<name>.tmp``), fsynced and
published by an atomic rename once it is complete: a reader's glob over ``*.parquet`` sees
whole files only, during a crawl and after any crash. Other feeds (the JSONL run files) are
written in place, as Scrapy does.

``published_rows`` reads back, for recovery, which (url, version) pairs the published lake
files of one run hold, locally or in S3 (an S3 object only appears once its upload has
completed); ``remove_temporary`` deletes the temporary files a killed run left.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import os
import re
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from scrapy.extensions.feedexport import FileFeedStorage as ScrapyFileFeedStorage

#: A feed URI parameter: ``%(name)s``, ``%(batch_id)05d``.
_PARAM = re.compile(r"%\((\w+)\)[-#0 +]*\d*[sd]")


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


class FileFeedStorage(ScrapyFileFeedStorage):
    """Scrapy's local file storage; with the feed option ``atomic``, published by rename."""

    def __init__(self, uri: str, *, feed_options: dict[str, Any] | None = None) -> None:
        super().__init__(uri, feed_options=feed_options)
        options = feed_options or {}
        self.atomic = bool(options.get("atomic", options.get("format") == "parquet"))
        self.final = Path(self.path)
        self.temporary = temporary_name(self.final)

    def open(self, spider: Any) -> IO[bytes]:
        if not self.atomic:
            return super().open(spider)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        return self.temporary.open("wb")

    def store(self, file: IO[bytes]) -> None:
        if not self.atomic:
            super().store(file)
            return None
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(self.temporary, self.final)
        directory = os.open(self.final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
        return None


def file_pattern(uri_template: str, values: dict[str, str]) -> str:
    """``uri_template`` with the parameters in ``values`` filled in and the others ``*``."""
    return _PARAM.sub(lambda m: glob.escape(values[m[1]]) if m[1] in values else "*", uri_template)


def _s3_client(settings: Any) -> Any:
    import boto3

    return boto3.session.Session().client(
        "s3",
        aws_access_key_id=settings.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=settings.get("AWS_SESSION_TOKEN") or None,
        endpoint_url=settings.get("AWS_ENDPOINT_URL") or None,
        region_name=settings.get("AWS_REGION_NAME") or None,
    )


def _rows(source: Any) -> set[tuple[str, int]]:
    import pyarrow.parquet as pq

    table = pq.read_table(source, columns=["url", "version"])
    return set(
        zip(table.column("url").to_pylist(), table.column("version").to_pylist(), strict=True)
    )


def published_rows(pattern: str, settings: Any) -> set[tuple[str, int]] | None:
    """The (url, version) pairs in the published files matching ``pattern`` (a local glob
    or ``s3://bucket/glob``), or None when the lake's storage cannot be listed."""
    parsed = urlparse(pattern)
    if len(parsed.scheme) <= 1 or parsed.scheme == "file":
        rows: set[tuple[str, int]] = set()
        for path in glob.glob(pattern.removeprefix("file://")):
            rows |= _rows(path)
        return rows
    if parsed.scheme != "s3":
        return None
    client = _s3_client(settings)
    key_pattern = parsed.path.lstrip("/")
    prefix = key_pattern.split("*", 1)[0]
    rows = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=parsed.netloc, Prefix=prefix
    ):
        for entry in page.get("Contents", []):
            if fnmatch.fnmatchcase(entry["Key"], key_pattern):
                body = client.get_object(Bucket=parsed.netloc, Key=entry["Key"])["Body"].read()
                rows |= _rows(io.BytesIO(body))
    return rows


def remove_temporary(pattern: str) -> list[str]:
    """Delete the temporary files of a local ``pattern``'s feed files (a killed run's)."""
    parsed = urlparse(pattern)
    if not (len(parsed.scheme) <= 1 or parsed.scheme == "file"):
        return []
    path = Path(pattern.removeprefix("file://"))
    removed = []
    for name in glob.glob(str(temporary_name(path))):
        os.unlink(name)
        removed.append(name)
    return removed
