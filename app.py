"""Serve kb: the chat at http://127.0.0.1:7860/, the REST API under /api/v1, its docs at /docs.

    python app.py [--host HOST] [--port PORT]     # KB_HOST, KB_PORT and every other KB_* setting apply too
"""
import argparse
import sys

from kb.config import Config
from kb.errors import KbError
from kb.web import serve

if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Serve the kb chat UI (/), REST API (/api/v1) and API docs (/docs).")
    p.add_argument("--host", help="address to listen on [127.0.0.1, or KB_HOST]")
    p.add_argument("--port", type=int, help="port [7860, or KB_PORT]; 0 picks a free one")
    args = p.parse_args()
    try:
        serve(Config.from_env(host=args.host, port=args.port))
    except KbError as e:
        sys.exit(f"kb: error: {e}")
