import sys

from dockyard.runner.cli import main

sys.exit(main())
