import sys

from dass.cli import main

sys.exit(main())
