"""chinanews: a Scrapy project that crawls the news portal china.com (中华网)."""

__version__ = "0.1.0"
