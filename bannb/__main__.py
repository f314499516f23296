import sys

from bannb.cli import main

sys.exit(main())
