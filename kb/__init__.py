"""kb: a Chinese/English knowledge-base chatbot that answers with cited source passages.

    from kb import KnowledgeBase
    kb = KnowledgeBase.open()
    print(kb.ask("OpenCloudOS 9 什么时候发布？").text)

Heavy libraries (FAISS, jieba, the embedding model) load on first use, so `import kb` is fast.
"""
from .base import KnowledgeBase
from .config import Config
from .errors import KbError
from .types import Answer, Chunk, Citation, Document, Hit

__version__ = "0.1.0"
__all__ = ["KnowledgeBase", "Config", "Answer", "Citation", "Hit", "Document", "Chunk", "KbError", "__version__"]
