import sys

from locker_flash.cli import main

sys.exit(main())
