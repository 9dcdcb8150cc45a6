"""Lets ``scrapyd-deploy`` build the project's egg (``python setup.py bdist_egg``).

Everything (name, version, packages, package data, the ``scrapy`` entry point that names
``chinanews.settings``) is declared in ``pyproject.toml``. Without this file scrapyd-deploy
writes its own, whose ``scrapy`` entry point the pyproject metadata overrides: the egg
would then lack it and Scrapyd could not load the project. See ``docs/deploy.md``.
"""

from setuptools import setup

setup()
