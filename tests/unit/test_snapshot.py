"""DescribeOnce: one describe per endpoint and config until reset; writes forget the endpoint."""

from __future__ import annotations

from chalicelib.models import Strategy
from chalicelib.services.snapshot import DescribeOnce
from tests.fakes import FakeEndpoint, FakeSageMaker


def test_describes_are_remembered_until_reset_and_writes_forget_them() -> None:
    inner = FakeSageMaker()
    inner.endpoints["e"] = FakeEndpoint("InService", "c1")
    view = DescribeOnce(inner)
    assert view.describe_endpoint("e").config_name == "c1"
    inner.endpoints["e"].config = "c2"
    assert view.describe_endpoint("e").config_name == "c1"
    assert inner.calls.count("DescribeEndpoint") == 1
    view.reset()
    assert view.describe_endpoint("e").config_name == "c2"
    view.update_endpoint("e", "c3", Strategy())
    assert view.describe_endpoint("e").status == "Updating"
    assert inner.calls.count("DescribeEndpoint") == 3
