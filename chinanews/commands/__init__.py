"""Project commands: ``scrapy crawl`` with spider arguments checked before anything starts."""
