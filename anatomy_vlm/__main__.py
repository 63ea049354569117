"""``python -m anatomy_vlm …`` runs the ``anatomy-vlm`` console script."""

import sys

from anatomy_vlm.cli import main

sys.exit(main())
