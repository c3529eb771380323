"""Serve kb: the chat at http://127.0.0.1:7860/, the REST API under /api/v1, its docs at /docs.

    python app.py [--host HOST] [--port PORT] [--corpus DIR] ...   # the same as `kb serve ...`; KB_* settings apply
"""
import sys

from kb.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]], prog_name="python app.py")
