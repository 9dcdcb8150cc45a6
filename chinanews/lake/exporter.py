"""The ``parquet`` feed format: Scrapy items into one Parquet file with the lake's schema.

Registered in ``FEED_EXPORTERS`` (``chinanews/settings.py``), so any ``FEEDS`` entry can say
``"format": "parquet"`` and use any of Scrapy's feed storages (local files, ``s3://``, …).
The file is written sequentially and closed by the storage, so the storage can upload it.

Options (``item_export_kwargs`` of the feed): ``compression`` (default ``"zstd"``) and
``row_group_size`` (rows buffered before a row group is written; default 10,000).
"""

from __future__ import annotations

from typing import IO, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured
from scrapy.exporters import BaseItemExporter

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as exc:  # FEED_EXPORTERS skips a format whose module is NotConfigured
    raise NotConfigured("the parquet format needs pyarrow: pip install 'chinanews[lake]'") from exc

from chinanews.lake.schema import project, to_row


class ParquetItemExporter(BaseItemExporter):
    """Buffers items as rows of the article schema and writes them as row groups."""

    def __init__(
        self,
        file: IO[bytes],
        *,
        compression: str = "zstd",
        row_group_size: int = 10_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(self.fields_to_export, dict):
            raise ValueError("the parquet format takes FEED_EXPORT_FIELDS as a list of names")
        self.file = file
        self.schema = project(list(self.fields_to_export) if self.fields_to_export else None)
        self.fields = tuple(self.schema.names)
        self.compression = compression
        self.row_group_size = max(1, int(row_group_size))
        self.rows: list[dict[str, Any]] = []
        self.count = 0
        self.writer: pq.ParquetWriter | None = None

    def start_exporting(self) -> None:
        try:
            position = self.file.tell()
        except (OSError, AttributeError, ValueError):
            position = 0
        if position:
            raise ValueError(
                "refusing to append to a non-empty Parquet file; give every feed file a "
                "unique name (%(job)s, %(batch_id)d) or set the feed's overwrite option"
            )
        self.writer = pq.ParquetWriter(self.file, self.schema, compression=self.compression)

    def export_item(self, item: Any) -> None:
        self.rows.append(to_row(ItemAdapter(item), self.fields))
        self.count += 1
        if len(self.rows) >= self.row_group_size:
            self._flush()

    def finish_exporting(self) -> None:
        if self.writer is None:
            return
        self._flush()
        self.writer.close()  # writes the footer; the file stays open for the storage
        self.writer = None

    def _flush(self) -> None:
        if not self.rows:
            return
        assert self.writer is not None, "export_item before start_exporting"
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows = []
