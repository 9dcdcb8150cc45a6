"""The data lake: articles as Parquet files, Hive-partitioned by publication date.

``schema`` holds the explicit Arrow schema, ``exporter`` the ``parquet`` feed format,
``feeds`` the feed exporter that gives each ``dt=`` partition its own feed slot, and
``addon`` turns the lake on from one setting (``CHINANEWS_LAKE``). See ``docs/lake.md``.
"""
