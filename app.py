"""Serve kb: the chat at http://127.0.0.1:7860/, the REST API under /api/v1, its docs at /docs.

    python app.py [--host HOST] [--port PORT] [--corpus DIR] ...   # the same as `kb serve ...`; KB_* settings apply
"""
from kb.cli import serve

if __name__ == "__main__":
    serve.main(prog_name="python app.py")
