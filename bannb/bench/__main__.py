import sys

from bannb.bench.cpu import main

sys.exit(main())
