"""The client's version: one place for the package metadata, `--version` and the User-Agent."""

__version__ = "0.1.0"
