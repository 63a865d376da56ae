"""Test-wide setup: fake AWS credentials before any boto3 session, moto imported first, and
hypothesis without wall-clock limits."""

from __future__ import annotations

import os

import moto  # noqa: F401  (imported before the first boto3 session, as moto requires)
from hypothesis import HealthCheck, settings

# A slow example on a busy machine is no failure: no deadline per example, no health check that
# times generation. Loaded before the test modules, so their own `@settings` inherit it.
settings.register_profile("sagewire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sagewire")

for _name in [n for n in os.environ if n.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE"))]:
    del os.environ[_name]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)
