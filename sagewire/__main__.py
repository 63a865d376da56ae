"""`python -m sagewire`: the `sagewire` command."""

import sys

from sagewire.cli import main

sys.exit(main())
