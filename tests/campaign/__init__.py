"""Hostile-input campaign: schemathesis against the app in-process, and the OpenAPI document."""
