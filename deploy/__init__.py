"""Packaging sagewire for AWS: the stage's template, its least-privilege policy and their checks."""
