"""Scrapy settings for chinanews: polite defaults for the real site.

Per-environment values (output location, data directory) come from ``-s NAME=VALUE``,
environment variables or Scrapyd job settings, never from edited source. Every setting of
our own is documented in ``docs/settings.md``; Scrapy's are at
https://docs.scrapy.org/en/latest/topics/settings.html
"""

from __future__ import annotations

import os

BOT_NAME = "chinanews"

SPIDER_MODULES = ["chinanews.spiders"]
NEWSPIDER_MODULE = "chinanews.spiders"
COMMANDS_MODULE = "chinanews.commands"

ADDONS: dict[str, int] = {
    # Secrets of the settings (DATABASE_URL, REDIS_URL, AWS_*, …) never reach the log.
    "chinanews.logredact.RedactSecrets": 0,
    # The User-Agent: the product token and the operator's contact (CHINANEWS_CONTACT).
    "chinanews.identity.Identity": 0,
    # -s CHINANEWS_LAKE=<directory or s3://bucket/prefix> adds the Parquet lake feed (docs/lake.md).
    "chinanews.lake.addon.Lake": 0,
    # Headless Chromium through scrapy-playwright, unless -a render=never (docs/rendering.md).
    "chinanews.rendering.RenderAddon": 10,
    # With -s JOBDIR=…: one run id across attempts, recovery after kill -9 (docs/scheduling.md).
    "chinanews.jobdir.JobDir": 20,
    # -s CHINANEWS_DISTRIBUTED=1 with REDIS_URL: workers share the crawl in Redis (docs/distributed.md).
    "chinanews.distributed.Distributed": 30,
}

# Crawl responsibly: say who we are, obey robots.txt, stay gentle per host.
# USER_AGENT: set by the chinanews.identity.Identity add-on from CHINANEWS_CONTACT (the
# operator's URL or e-mail); -s USER_AGENT=… is sent as it is.
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.5
DOWNLOAD_TIMEOUT = 30
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

# Items processed at once per response. Scrapy starts this many worker tasks for every
# response's output; a page yields one article, so 8 spare it 92 tasks a page (about 10% of
# the crawl's CPU at Scrapy's default of 100; benchmarks/crawl.py's profile showed them).
CONCURRENT_ITEMS = 8

# Retries on 5xx, 408, 429 and timeouts (Scrapy's RETRY_HTTP_CODES default), three times.
RETRY_ENABLED = True
RETRY_TIMES = 3

# Progress every minute (LogStats) and the end-of-crawl summary at INFO; DEBUG logs every item.
LOG_LEVEL = "INFO"

COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5",
}

DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt (100): an out-of-scope request is never sent, not even for robots.
    "chinanews.middlewares.ScopeMiddleware": 50,
    # Scrapy's, fixed: every request waiting for a host's robots.txt obeys it.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "chinanews.middlewares.RobotsTxtMiddleware": 100,
    # Counts each download by what it is for, makes re-checks of known articles conditional
    # and ends them at a 304 (chinanews/recheck.py). Before the redirects (600) and after
    # the retries (550) in the response's way: it sees what the server answered.
    "chinanews.recheck.Revalidate": 580,
}

SPIDER_MIDDLEWARES = {
    # With JOBDIR: which requests are done, for the frontier journal (chinanews/jobdir.py).
    # Outermost, so that a callback's output has reached the engine when it says so.
    "chinanews.jobdir.JournalMiddleware": 10,
    # In distributed mode: which claimed requests are done, for their leases (chinanews/lease.py).
    "chinanews.lease.LeaseMiddleware": 11,
    # What the crawl follows: scope, channels, since, known articles, mobile mirrors,
    # recovery (chinanews/follow.py). The spider only routes. Innermost (after Scrapy's
    # DepthMiddleware, 900): the links it refuses never go through the other middlewares.
    "chinanews.follow.FollowRules": 950,
}

ITEM_PIPELINES = {
    "chinanews.pipelines.clean.CleanPipeline": 100,
    "chinanews.pipelines.validate.ValidatePipeline": 200,
    "chinanews.pipelines.dedup.IdentityPipeline": 300,
    "chinanews.pipelines.dedup.ContentPipeline": 400,
    "chinanews.pipelines.dedup.NearDuplicatePipeline": 500,
    "chinanews.pipelines.dedup.RecordPipeline": 900,
    "chinanews.pipelines.store.DatabasePipeline": 950,
}

EXTENSIONS = {
    "chinanews.extensions.CrawlReport": 500,
    # The run: its record, checkpoints (outputs durable, then the index), recovery of a
    # run that did not finish (chinanews/lifecycle.py). After the feeds and the report.
    # -s CHINANEWS_LAKE=…: the Iceberg table (chinanews/lake/iceberg.py). Before the
    # lifecycle, so that it joins the checkpoints before a dead run's recovery replays.
    "chinanews.lake.iceberg.IcebergLake": 690,
    "chinanews.lifecycle.CrawlRun": 700,
    # With JOBDIR: the frontier journal, committed with the index at each checkpoint.
    "chinanews.jobdir.Journal": 710,
    # In distributed mode: the leases on the requests this worker took (chinanews/lease.py).
    "chinanews.lease.Leases": 720,
    # Scrapy's feed exports, plus feeds partitioned per item by %(dt)s (docs/lake.md).
    "scrapy.extensions.feedexport.FeedExporter": None,
    "chinanews.lake.feeds.PartitionedFeedExporter": 0,
}

# Where outputs go when no -o/-O is given: <CHINANEWS_DATA_DIR>/jsonl/<spider>/<spider>-<run_id>.jsonl
# and the crawl report beside it (<...>.report.json), unless CHINANEWS_REPORT_FILE is set.
CHINANEWS_DATA_DIR = os.environ.get("CHINANEWS_DATA_DIR", "data")
CHINANEWS_REPORT_FILE = ""

# Quality checks at the end of a crawl (docs/report.md): a failed one is logged loudly and
# `scrapy crawl` exits with 3. Coverage limits not named keep their defaults (title 0.98,
# body 0.9, published_at 0.9); 0 turns a check off.
CHINANEWS_MIN_ARTICLES = 1
CHINANEWS_MIN_COVERAGE: dict[str, float] = {}
# The cross-run article index; default <CHINANEWS_DATA_DIR>/index/<spider>.sqlite3, ":memory:" for none.
CHINANEWS_INDEX_PATH = ""
# One crawl at a time per SQLite index: a second one exits with code 4 (chinanews/runlock.py).
CHINANEWS_RUN_LOCK = True
# Checkpoints (chinanews/lifecycle.py): make every output durable, then commit the article
# index, every N items, every T seconds (0: not by count / not by time) and at the end.
CHINANEWS_CHECKPOINT_ITEMS = 500
CHINANEWS_CHECKPOINT_SECONDS = 30.0
# Test hook: kill the crawl at a chosen point (chinanews.config.FAULT_POINTS); never set it.
CHINANEWS_FAULT = ""

# Where articles are stored besides the feed (docs/storage.md): empty for the default,
# sqlite:///<CHINANEWS_DATA_DIR>/chinanews.sqlite3; sqlite:///path, postgresql://..., or none.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
CHINANEWS_DB_BATCH_SIZE = 500

FEED_EXPORT_ENCODING = "utf-8"
# Local feed files; parquet ones (the lake) written under a hidden name, then renamed.
FEED_STORAGES = {
    "": "chinanews.lake.storage.FileFeedStorage",
    "file": "chinanews.lake.storage.FileFeedStorage",
}
FEED_EXPORTERS = {"parquet": "chinanews.lake.exporter.ParquetItemExporter"}
# Adds %(job)s (Scrapyd job id, else the spider's run_id) to the feed URI parameters.
FEED_URI_PARAMS = "chinanews.lake.feeds.uri_params"
# The data lake (docs/lake.md): "" for none, a directory, or s3://bucket/prefix.
CHINANEWS_LAKE = os.environ.get("CHINANEWS_LAKE", "")
# Articles per lake file at most (per partition and job); 0: FEED_EXPORT_BATCH_ITEM_COUNT.
CHINANEWS_LAKE_BATCH_ITEM_COUNT = 10_000

# JavaScript rendering (docs/rendering.md): the Chromium binary (empty: Playwright's own if
# installed, else /usr/bin/chromium) and how long to wait for a script-filled block, seconds.
CHINANEWS_BROWSER_PATH = os.environ.get("CHINANEWS_BROWSER_PATH", "")
CHINANEWS_RENDER_TIMEOUT = 10.0

# Distributed crawls (docs/distributed.md): scrapy-redis' scheduler and dupefilter and the
# article indexes in Redis at REDIS_URL, keys under CHINANEWS_REDIS_PREFIX (default
# chinanews:<spider>); a worker stops when the frontier has been empty this many seconds.
# The workers keep to one politeness budget per host, in Redis (chinanews/politeness.py).
CHINANEWS_DISTRIBUTED = False
REDIS_URL = os.environ.get("REDIS_URL", "")
CHINANEWS_IDLE_TIMEOUT = 60.0
CHINANEWS_SHARED_POLITENESS = True
