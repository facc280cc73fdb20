"""`python -m matdiff` is the `matdiff` command."""
from .cli import main

raise SystemExit(main())
