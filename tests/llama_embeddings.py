"""llama-cpp-python's OpenAI-compatible server with mean-pooled embeddings: `python tests/llama_embeddings.py
--model X --embedding true ...` takes llama_cpp.server's options.

Its settings have no pooling option, and the Gemma GGUF the test extra installs names none, so the plain
server answers one vector per token; llama.cpp's own `llama-server --embedding --pooling mean` does this.
"""
import functools

import llama_cpp
from llama_cpp.server.__main__ import main

_init = llama_cpp.Llama.__init__


@functools.wraps(_init)
def _pooled(self, *args, **kwargs):
    kwargs.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    _init(self, *args, **kwargs)


llama_cpp.Llama.__init__ = _pooled

if __name__ == "__main__":
    main()
