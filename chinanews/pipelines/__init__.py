"""Item pipelines, one job each, in this order (see ``ITEM_PIPELINES`` in settings):

1. ``clean.CleanPipeline`` (100): Unicode and whitespace, title suffixes, source/author
   prefixes, editor ids, keywords, dates to ISO 8601 ``+08:00``, canonical URLs.
2. ``validate.ValidatePipeline`` (200): the article JSON Schema; invalid items are dropped
   with their reason and written to the rejects output.
3. ``dedup.IdentityPipeline`` (300): the same article id (or canonical URL) again, in this
   run or, unchanged, from an earlier run; a changed article gets ``version`` + 1.
4. ``dedup.ContentPipeline`` (400): the same normalised body under another id.
5. ``dedup.NearDuplicatePipeline`` (500): a syndicated copy with small edits.
6. ``dedup.RecordPipeline`` (900): remembers what passed in the cross-run index.

Duplicates are dropped from the main output and written, with ``duplicate_of``, to the
duplicates output; nothing disappears silently.
"""
