"""`python -m sandlot.cli`: the same as the `sandlot` command."""

import sys

from sandlot.cli import main

sys.exit(main())
