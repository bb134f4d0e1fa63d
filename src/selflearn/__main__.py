"""`python -m selflearn` runs the command line."""

from selflearn.cli import main

main()
