"""`python -m matdiff` is the `matdiff` command."""
from matdiff.cli import main

raise SystemExit(main())
