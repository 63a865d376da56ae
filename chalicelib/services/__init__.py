"""Use cases that depend on small ports and never on AWS SDKs."""
