"""Every user-facing sentence kb says, in both languages, in one place."""

MESSAGES = {
    "refused": {
        "zh": "抱歉，知识库中没有关于这个问题的内容。",
        "en": "Sorry, the knowledge base does not cover this question.",
    },
    "other_versions": {
        "zh": "文档只给出了 {have} 的相关内容，没有 {asked} 的。",
        "en": "The documents cover this for {have}, not for {asked}.",
    },
    "related": {"zh": "可能相关的段落：", "en": "Passages that may be related:"},
    "see_also": {"zh": "另见", "en": "See also"},          # an answer's further reading
    "empty_kb": {
        "zh": "知识库是空的：请先在语料文件夹中添加文档。",
        "en": "The knowledge base is empty: add documents to the corpus folder first.",
    },
    "empty_question": {"zh": "请输入一个问题。", "en": "Please enter a question."},
    "bad_k": {"zh": "k 必须是 1 到 50 之间的整数（收到 {k}）。", "en": "k must be a whole number from 1 to 50 (got {k})."},
    "question_too_long": {
        "zh": "问题太长了（{n} 个字符，上限 {limit}），请缩短后再问。",
        "en": "The question is too long ({n} characters, limit {limit}); please shorten it.",
    },
    # --- serving limits (kb/guard.py); said in both languages, since the asker's is not known yet
    "too_many_requests": {"zh": "请求太频繁，请 {s} 秒后再试。", "en": "Too many requests: please try again in {s} s."},
    "body_too_large": {"zh": "请求内容太大（上限 {limit} 字节）。", "en": "The request body is too large (limit {limit} bytes)."},
    "timed_out": {"zh": "回答超时，请稍后再试。", "en": "The answer took too long; please try again later."},
    "internal_error": {"zh": "服务器内部错误，请稍后再试。", "en": "Internal error; please try again later."},
    "busy": {"zh": "服务器正忙，请 {s} 秒后再试。", "en": "The server is busy: please try again in {s} s."},
    "feedback_unavailable": {"zh": "反馈暂时无法保存，请稍后再试。", "en": "Feedback cannot be saved right now; please try again later."},
    "feedback_too_large": {"zh": "反馈内容太大（上限 {limit} 字节）。", "en": "The feedback is too large (limit {limit} bytes)."},
    # --- the web UI (kb/ui.py, kb/render.py)
    "ui_title": {"zh": "知识库问答", "en": "Knowledge base Q&A"},
    "ui_subtitle": {
        "zh": "用中文或英文提问，每个回答都标明出自哪篇文档的哪一句。",
        "en": "Ask in Chinese or English; every answer shows the sentence it comes from.",
    },
    "ui_welcome": {
        "zh": "你好！我只根据知识库中的文档回答，并给出原文出处。",
        "en": "Hi! I answer only from the documents in this knowledge base, and show where each answer comes from.",
    },
    "ui_placeholder": {"zh": "输入问题，按回车发送…", "en": "Ask a question and press Enter…"},
    "ui_question": {"zh": "问题", "en": "Question"},
    "ui_send": {"zh": "发送", "en": "Send"},
    "ui_new_chat": {"zh": "新对话", "en": "New chat"},
    "ui_language": {"zh": "界面语言", "en": "Language"},
    "ui_footer": {
        "zh": "回答摘自知识库原文，点击 [1] 等编号查看出处。也可以通过 REST API（/docs）提问。",
        "en": "Answers quote the documents; click a marker like [1] to see its source. Also available as a REST API (/docs).",
    },
    "ui_thinking": {"zh": "正在查找资料…", "en": "Looking it up…"},
    "ui_sources": {"zh": "出处", "en": "Sources"},
    "ui_original": {"zh": "原文", "en": "Original text"},
    "ui_thanks": {"zh": "感谢反馈！", "en": "Thanks for the feedback!"},
    "read_as": {"zh": "按“{question}”理解", "en": "Read as “{question}”"},
    "ui_fallback": {
        "zh": "以上摘自原文；生成的回答未能通过出处核对，没有采用。",
        "en": "Quoted from the sources; the generated answer did not pass the source check, so it was not used.",
    },
    # --- the web UI's branding, state and votes (kb/ui.py, kb/data/ui-head.html)
    "ui_title_topic": {"zh": "{topic} 知识库", "en": "{topic} knowledge base"},
    "ui_subtitle_one": {
        "zh": "回答出自《{title}》。用中文或英文提问，每个回答都标明出处。",
        "en": "Answers from “{title}”. Ask in Chinese or English; every answer shows the sentence it comes from.",
    },
    "ui_subtitle_many": {
        "zh": "回答出自 {n} 篇文档，如《{title}》。用中文或英文提问，每个回答都标明出处。",
        "en": "Answers from {n} documents, such as “{title}”. Ask in Chinese or English; every answer shows its source.",
    },
    "ui_thanks_up": {"zh": "已记录：有帮助。感谢反馈！", "en": "Recorded as helpful. Thanks for the feedback!"},
    "ui_thanks_down": {"zh": "已记录：没有帮助。感谢反馈，我们会改进。", "en": "Recorded as not helpful. Thanks, this helps us improve."},
    "ui_indexing_title": {"zh": "正在建立索引…", "en": "Indexing…"},
    "ui_indexing": {
        "zh": "知识库正在读取并嵌入文档，完成后本页会自动打开问答。",
        "en": "The knowledge base is reading and embedding its documents; this page opens the chat by itself when it is done.",
    },
    # --- while vectors are still being made (kb/progressive.py): said with answers, by /healthz and on the page
    "indexing_note": {"zh": "索引仍在建立中（已完成 {pct}%），回答可能还会改进。",
                      "en": "Indexing {pct}% done: answers may improve."},
    "indexing_refused": {
        "zh": "知识库仍在建立索引（已完成 {pct}%），暂时还不能判断它是否涵盖这个问题，请稍后再问。",
        "en": "The knowledge base is still being indexed ({pct}% done), so it cannot tell yet whether it covers "
              "this question; please ask again later.",
    },
    "ui_rate_limited": {"zh": "提问太频繁了，请 {s} 秒后再问。", "en": "Too many questions at once: please ask again in {s} s."},
    "ui_overloaded": {"zh": "服务器正忙，请稍后再问。", "en": "The server is busy right now: please ask again in a minute."},
}


def message(key: str, lang: str, **kwargs) -> str:
    """The message `key` in `lang` ("zh" or "en"; anything else gets English)."""
    texts = MESSAGES[key]
    return texts.get(lang, texts["en"]).format(**kwargs)
