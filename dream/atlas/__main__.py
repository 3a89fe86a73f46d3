"""`python -m dream.atlas --layer mixed4c`: precompute atlas tiles into the shared cache.

A package's `__main__`, so that `dream/__init__.py` may import `dream.atlas` without
`python -m` running a second copy of it.
"""

import sys

from dream.atlas import main

sys.exit(main())
