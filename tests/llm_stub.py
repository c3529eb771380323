"""A scripted OpenAI-compatible chat server on loopback that plays the model in tests (no network, no weights)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedLLM:
    """/v1/chat/completions that streams the next scripted reply ("NO_ANSWER" when none is left) and records requests.

    `delay` seconds between pieces makes the stream slow enough to watch it grow.
    """

    def __init__(self, delay: float = 0.0):
        self.replies, self.requests, self.delay = [], [], delay
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                reply = outer.replies.pop(0) if outer.replies else "NO_ANSWER"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i in range(0, len(reply), 4):          # stream in small pieces, like a real server
                    chunk = {"choices": [{"delta": {"content": reply[i:i + 4]}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    time.sleep(outer.delay)
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
