"""``python -m advlab.cli`` (and ``torchrun -m advlab.cli``): the advlab command line."""

from advlab.cli import main

if __name__ == "__main__":
    main()
