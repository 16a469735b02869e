"""`python -m serving`: run the embedded server without the `tfstack` command."""

import sys

from serving.cli import main

sys.exit(main())
