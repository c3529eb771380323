"""Every user-facing sentence kb says, in both languages, in one place."""

MESSAGES = {
    "refused": {
        "zh": "抱歉，知识库中没有关于这个问题的内容。",
        "en": "Sorry, the knowledge base does not cover this question.",
    },
    "related": {"zh": "可能相关的段落：", "en": "Passages that may be related:"},
    "empty_kb": {
        "zh": "知识库是空的：请先在语料文件夹中添加文档。",
        "en": "The knowledge base is empty: add documents to the corpus folder first.",
    },
    "empty_question": {"zh": "请输入一个问题。", "en": "Please enter a question."},
    "question_too_long": {
        "zh": "问题太长了（{n} 个字符，上限 {limit}），请缩短后再问。",
        "en": "The question is too long ({n} characters, limit {limit}); please shorten it.",
    },
}


def message(key: str, lang: str, **kwargs) -> str:
    """The message `key` in `lang` ("zh" or "en"; anything else gets English)."""
    texts = MESSAGES[key]
    return texts.get(lang, texts["en"]).format(**kwargs)
