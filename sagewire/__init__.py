"""The sagewire API's Python client and `sagewire` command (installed alone by `pip install .`)."""

from sagewire.client import Client, Report
from sagewire.errors import SagewireError
from sagewire.version import __version__

__all__ = ["Client", "Report", "SagewireError", "__version__"]
