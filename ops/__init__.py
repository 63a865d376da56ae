"""Operator tools for a deployed sagewire stage (not part of the Lambda package)."""
