import sys

from bannb.book.runner import main

sys.exit(main())
