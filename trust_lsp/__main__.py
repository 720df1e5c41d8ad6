"""`python -m trust_lsp`: the language server (same as `trust-lsp`)."""

import sys

from trust_lsp.server.__main__ import main

sys.exit(main())
