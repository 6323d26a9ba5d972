"""python -m data_tools.synthetic: the generator's command line (data_tools.synthetic.cli)."""
import sys

from data_tools.synthetic.cli import main

if __name__ == "__main__":
    sys.exit(main())
