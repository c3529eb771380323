"""The chat in a real browser: Debian's Chromium (with fonts-noto-cjk) driven by Playwright.

Screenshots go to test-output/ (KB_TEST_OUTPUT moves them); look at them after a UI change.
"""
import json
import os
import time
from pathlib import Path

import pytest

from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium fonts-noto-cjk"),
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]
OUT = Path(os.environ.get("KB_TEST_OUTPUT", REPO / "test-output"))
WAIT = 20_000   # ms; the first answer also loads the page's scripts


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=WAIT)
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """open_page(url, locale=..., width=...) -> a fresh page that has loaded url; closed after the test."""
    contexts = []

    def opener(url, locale="en-US", width=1100, height=900):
        ctx = browser.new_context(locale=locale, viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.kblog = []    # what the page said to the server, printed when an answer never comes
        page.on("console", lambda m: m.type == "error" and page.kblog.append(f"console: {m.text[:200]}"))
        page.on("request", lambda r: "/gradio_api/" in r.url and page.kblog.append(
            f"{r.method} {r.url.split('/gradio_api/')[1][:40]} {(r.post_data or '')[:120]}"))
        page.on("requestfailed", lambda r: page.kblog.append(f"failed: {r.url[-60:]} {r.failure}"))
        page.set_default_timeout(WAIT)
        page.goto(url)
        return page

    yield opener
    for ctx in contexts:
        ctx.close()


def ask(scope, question):
    """Type a question into the chat in `scope` (a page or frame) and return the locator of its answer."""
    from playwright.sync_api import expect
    answers = scope.locator(".kb-answer")
    before = answers.count()
    box = scope.locator("#kb-question textarea")
    box.fill(question)
    box.press("Enter")
    try:
        expect(answers).to_have_count(before + 1)
    except AssertionError:
        print("\n".join(getattr(getattr(scope, "page", scope), "kblog", [])))
        raise
    return answers.nth(before)


def test_chinese_and_english_questions_get_cited_answers(live, kb, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url)
    # A newcomer clicks an example question.
    page.locator("#kb-chat .example", has_text="What is cgroupfs?").click()
    en = page.locator(".kb-answer").first
    expect(en).to_contain_text("container resource view isolation (cgroupfs)")
    expect(en.locator("a.kb-ref", has_text="[1]")).to_be_visible()
    expect(en.locator(".kb-card mark").first).to_have_text(kb.ask("What is cgroupfs?").citations[0].quote)
    expect(en.locator(".kb-original").first).to_contain_text("容器资源视图隔离")   # the Chinese the passage translates

    question = "OpenCloudOS 9 什么时候发布？"
    zh = ask(page, question)
    expect(zh).to_contain_text("2023")
    expect(zh.locator("a.kb-ref", has_text="[1]")).to_be_visible()
    expect(zh.locator(".kb-card mark").first).to_have_text(kb.ask(question).citations[0].quote)
    expect(zh.locator(".kb-sources-title").first).to_have_text("出处")
    further = kb.ask(question).related      # sources retrieved nearly as high as the one quoted: "see also"
    assert further
    expect(zh.locator(".kb-related .kb-sources-title")).to_have_text("另见")
    expect(zh.locator(".kb-related .kb-card")).to_have_count(len(further))
    page.screenshot(path=OUT / "chat-desktop.png", full_page=True)

    # [1] takes the reader to its card without leaving the page.
    url = page.url
    zh.locator("a.kb-ref").first.click()
    expect(zh.locator(".kb-card").first).to_have_class("kb-card kb-flash")
    assert page.url == url


def test_thumbs_up_comes_first_says_it_was_recorded_and_is_logged(live, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url)
    answer = ask(page, "OpenCloudOS 8.5 与 CentOS8 兼容吗？")
    buttons = answer.locator("xpath=ancestor::*[contains(@class,'message-row')]/following-sibling::*[1]")
    up, down = buttons.locator('button[aria-label="Like"]'), buttons.locator('button[aria-label="Dislike"]')
    assert up.bounding_box()["x"] < down.bounding_box()["x"]          # 👍 before 👎
    up.click()
    expect(page.locator(".toast-body", has_text="Recorded as helpful")).to_be_visible()
    expect(buttons.locator('button[aria-label="Liked"]')).to_be_visible()   # the filled 👍 stays
    page.screenshot(path=OUT / "vote-1280.png")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = [json.loads(x) for x in live.feedback.read_text("utf-8").splitlines()] if live.feedback.exists() else []
        mine = [r for r in rows if r["question"] == "OpenCloudOS 8.5 与 CentOS8 兼容吗？" and r["source"] == "ui"]
        if mine:
            break
        time.sleep(0.2)
    assert mine and mine[0]["rating"] == "up" and "CentOS8" in mine[0]["answer"] and mine[0]["citations"]


def test_a_question_read_with_a_slip_mended_says_how_above_the_answer(live, open_page):
    """At phone width: "suport" was mended, and the answer says so first, in its own line above the text."""
    from playwright.sync_api import expect
    page = open_page(live.url, width=390, height=844)
    answer = ask(page, "Does OpenCloudOS suport hot patching on ARM64?")
    note = answer.locator(".kb-read-as")
    expect(note).to_have_text("Read as “Does OpenCloudOS support hot patching on ARM64?”")
    box, text = note.bounding_box(), answer.locator(".kb-text").bounding_box()
    assert box["y"] + box["height"] <= text["y"] and box["x"] + box["width"] <= 390, (box, text)
    note.scroll_into_view_if_needed()
    page.screenshot(path=OUT / "read-as-phone.png")


def test_an_out_of_scope_question_is_refused_with_related_passages(live, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url)
    answer = ask(page, "What is the capital of France?")
    expect(answer).to_have_class("kb-answer kb-refused")
    expect(answer.locator(".kb-text")).to_have_text("?Sorry, the knowledge base does not cover this question.")
    expect(answer.locator(".kb-sources-title")).to_have_text("Passages that may be related:")
    assert answer.locator(".kb-card").count() >= 1 and answer.locator("a.kb-ref").count() == 0
    expect(ask(page, "今天天气怎么样？")).to_contain_text("抱歉，知识库中没有关于这个问题的内容。")
    page.screenshot(path=OUT / "refusal.png", full_page=True)


def test_questions_show_as_text_and_never_run(live, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url)
    evil = '<img src=x onerror="window.kbXss=1"><script>window.kbXss=2</script> What is cgroupfs?'
    ask(page, evil)
    expect(page.locator(".kb-question").last).to_have_text(evil)
    assert page.evaluate("window.kbXss") is None


def test_a_question_kb_cannot_take_gets_its_message_and_stays_editable(live, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url)
    box = page.locator("#kb-question textarea")
    # "？？？" first: its bubbles appear and go, so the page is settled before the next question.
    for question, says in [("？？？", "Please enter a question."),
                           ("x" * 1001, "The question is too long (1001 characters, limit 1000)")]:
        box.fill(question)
        box.press("Enter")
        expect(page.locator(".toast-body", has_text=says)).to_be_visible()
        expect(box).to_have_value(question)
        expect(page.locator(".kb-question")).to_have_count(0)


def test_the_interface_follows_the_browser_language_and_switches(live, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url, locale="zh-CN")
    examples = page.locator("#kb-chat .example")
    expect(page.locator(".kb-title")).to_have_text("OpenCloudOS 8.5 知识库")
    expect(page.locator("#kb-question textarea")).to_have_attribute("placeholder", "输入问题，按回车发送…")
    expect(examples.first).to_have_text("OpenCloudOS 9 什么时候发布？")
    page.locator("#kb-lang label", has_text="English").click()
    expect(page.locator(".kb-title")).to_have_text("OpenCloudOS 8.5 knowledge base")
    expect(page.locator("#kb-question textarea")).to_have_attribute("placeholder", "Ask a question and press Enter…")
    expect(page.locator("#kb-new-chat")).to_have_text("New chat")
    expect(examples.first).to_have_text("What is cgroupfs?")          # the examples follow the switch
    assert all(t.isascii() for t in examples.all_inner_texts())


def test_the_portal_page_embeds_kb_by_iframe_bubble_and_web_component(live, open_page):
    from playwright.sync_api import expect
    page = open_page(f"{live.portal}/portal.html?kb={live.url}", locale="zh-CN", width=1280, height=1400)
    frame = page.frame_locator("#kb-frame")
    answer = ask(frame, "OpenCloudOS 8.5 与 CentOS8 兼容吗？")
    expect(answer).to_contain_text("CentOS8")
    expect(answer.locator(".kb-card mark").first).to_be_visible()
    expect(frame.locator(".kb-header")).to_be_hidden()                 # embed mode drops the page chrome
    expect(ask(page.locator("#kb-app"), "What is cgroupfs?")).to_contain_text("cgroupfs")   # <gradio-app>
    page.locator("#kb-bubble").click()
    expect(page.frame_locator("#kb-panel").locator("#kb-chat .example").first).to_be_visible()
    page.screenshot(path=OUT / "portal.png", full_page=True)


def test_embed_opens_with_the_host_pages_question(live, open_page):
    from playwright.sync_api import expect
    page = open_page(f"{live.url}/embed?lang=zh&q=What%20is%20cgroupfs%3F", width=400, height=640)
    expect(page.locator(".kb-answer")).to_contain_text("cgroupfs")
    expect(page.locator(".kb-header")).to_be_hidden()
    page.screenshot(path=OUT / "embed.png")


def test_a_site_that_is_not_allowed_cannot_embed_kb(live, open_page):
    """The same portal page from another origin (localhost instead of 127.0.0.1): the browser refuses both embeds."""
    page = open_page(f"http://localhost:{live.portal_port}/portal.html?kb={live.url}")
    page.wait_for_load_state("load")
    time.sleep(3)
    kb_frames = [f for f in page.frames if f.url.startswith(live.url)]
    assert all(f.locator("#kb-chat").count() == 0 for f in kb_frames)
    assert page.frame_locator("#kb-frame").locator("#kb-chat").count() == 0
    assert page.locator("#kb-app #kb-chat").count() == 0


def test_a_phone_width_screen_has_no_sideways_scrolling(live, open_page):
    from playwright.sync_api import expect
    page = open_page(live.url, locale="zh-CN", width=375, height=812)
    answer = ask(page, "OpenCloudOS 8.5 与 CentOS8 兼容吗？")
    expect(answer.locator(".kb-card mark").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = answer.locator(".kb-card").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    page.screenshot(path=OUT / "phone-375.png", full_page=True)


def test_a_generated_answer_streams_into_its_bubble_then_becomes_the_cited_answer(live_llm, kb, open_page):
    from playwright.sync_api import expect
    question = "What is cgroupfs?"
    n = next(i for i, h in enumerate(kb.search(question)[:4], 1) if "cgroupfs" in h.text)
    reply = f"cgroupfs is container resource view isolation, a typical kernel feature of OpenCloudOS [{n}]."
    live_llm.llm.replies.append(reply)
    live_llm.llm.delay = 0.12                        # about 3 s to write: slow enough to watch it grow
    page = open_page(live_llm.url)
    box = page.locator("#kb-question textarea")
    box.fill(question)
    box.press("Enter")
    seen, shot, deadline = [], False, time.monotonic() + WAIT / 1000
    while page.locator(".kb-answer").count() == 0 and time.monotonic() < deadline:
        text = page.evaluate("() => document.querySelector('.kb-draft .kb-text')?.textContent")
        if text and text not in seen:
            seen.append(text)
            if len(text) > 40 and not shot:
                page.screenshot(path=OUT / "streaming.png")
                shot = True
        time.sleep(0.05)
    live_llm.llm.delay = 0.01
    assert len(seen) >= 3, seen                      # the bubble grew, piece by piece ...
    assert all(reply.startswith(t) for t in seen) and len(seen[0]) < len(reply)   # ... with the model's own words
    answer = page.locator(".kb-answer").first        # ... then became the checked answer with its source card
    expect(answer.locator(".kb-text")).to_have_text("cgroupfs is container resource view isolation, a typical kernel "
                                                    "feature of OpenCloudOS. [1]")
    expect(answer.locator("a.kb-ref", has_text="[1]")).to_be_visible()
    expect(answer.locator(".kb-card mark").first).to_be_visible()
    assert page.locator(".kb-draft").count() == 0 and answer.locator(".kb-note").count() == 0
    page.screenshot(path=OUT / "streamed.png", full_page=True)


def test_a_hostile_corpus_document_is_cited_as_text_and_nothing_runs(open_page, tmp_path):
    """tests/data/hostile: <script>, onerror= and javascript: links in the text, the title and the source url."""
    import dataclasses

    from playwright.sync_api import expect

    from conftest import DATA, ServerThread
    from kb import KnowledgeBase
    from kb.web import create_app
    kb = KnowledgeBase.open(corpus=DATA / "hostile", index_dir=tmp_path / "index", progress=False)
    with ServerThread(create_app(kb, config=dataclasses.replace(kb.config, data_dir=tmp_path / "data"))) as server:
        page = open_page(server.url)
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        answer = ask(page, "What did the comment field accept?")
        expect(answer.locator(".kb-text")).to_contain_text("accepted <script>window.__pwned=7</script> and stored")
        expect(answer.locator(".kb-passage").first).to_contain_text("<script>window.__pwned=7</script>")
        title = answer.locator(".kb-doc").first
        expect(title).to_have_text('<img src=x onerror="window.__pwned=5">Cross-site scripting advisory')
        # Its url carries markup: not a safe web address, so the title is not a link and nothing leaks out of it.
        # (A javascript: url makes the whole file a bad document, skipped at build: tests/test_corpus_untrusted.py.)
        assert answer.locator("a.kb-source").count() == 0
        title.click()
        links = ask(page, "What ran code when clicked?")
        expect(links.locator(".kb-passage").first).to_contain_text("[the homepage](javascript:window.__pwned=9)")
        links.locator(".kb-passage").first.click()
        expect(ask(page, "How do I enable zram swap?")).to_contain_text("load the module and set its size")
        page.wait_for_timeout(500)
        chat = page.locator("#kb-chat")
        assert chat.locator("script, img[src='x'], [onerror], a[href^='javascript']").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined" and dialogs == []
        page.screenshot(path=OUT / "hostile.png", full_page=True)


FIVE = ["What is cgroupfs?", "OpenCloudOS 9 什么时候发布？", "OpenCloudOS 8.5 与 CentOS8 兼容吗？",
        "How reliable is OpenCloudOS 8.5?", "What is the capital of France?"]


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_after_five_answers_the_input_is_still_on_screen_and_the_column_kept_its_width(live, open_page, width, height):
    from playwright.sync_api import expect
    page = open_page(live.url, width=width, height=height)
    chat = page.locator("#kb-chat")
    expect(chat.locator(".example").first).to_be_visible()
    first_width = chat.bounding_box()["width"]
    page.screenshot(path=OUT / f"first-screen-{width}.png")
    assert page.get_by_text("Built with Gradio").count() == 0 or not page.get_by_text("Built with Gradio").is_visible()
    for q in FIVE:
        ask(page, q)
    page.wait_for_timeout(300)
    box = page.locator("#kb-question textarea").bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= height        # visible without scrolling
    assert page.evaluate("window.scrollY") == 0 and page.evaluate("document.documentElement.scrollHeight") <= height
    assert chat.bounding_box()["width"] == first_width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=OUT / f"five-answers-{width}.png")


def test_embed_mode_keeps_one_column_width_from_the_first_screen(live, open_page):
    from playwright.sync_api import expect
    page = open_page(f"{live.url}/embed?lang=en", width=1280, height=900)
    chat = page.locator("#kb-chat")
    expect(chat.locator(".example").first).to_be_visible()
    first_width = chat.bounding_box()["width"]
    assert first_width > 1100                       # the whole frame, not a column that widens as answers come
    ask(page, "What is cgroupfs?")
    assert chat.bounding_box()["width"] == first_width
    box = page.locator("#kb-question textarea").bounding_box()
    assert box["y"] + box["height"] <= 900
    page.screenshot(path=OUT / "embed-1280.png")


def test_a_branded_knowledge_base_links_its_sources(open_page, tmp_path):
    """KB_TITLE/KB_LOGO/KB_EXAMPLES set; a document with a url in its front matter and a web address in its text."""
    import dataclasses

    from playwright.sync_api import expect

    from conftest import ServerThread
    from kb import KnowledgeBase
    from kb.web import create_app
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "zram.md").write_text(
        "---\ntitle: Acme Linux 3 Guide - zram\nurl: https://docs.acme.example/guide/zram/\n---\n\n"
        "To enable zram swap, load the zram module and set its size; the full steps are at "
        "https://docs.acme.example/zram?step=1&lang=en. Never follow javascript:alert(1) links.\n", encoding="utf-8")
    (corpus / "net.md").write_text("---\ntitle: Acme Linux 3 Guide - networking\n---\n\n"
                                   "The network is configured with NetworkManager and nmcli.\n", encoding="utf-8")
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
                                       '<rect width="40" height="40" rx="8" fill="#4f46e5"/></svg>')
    (tmp_path / "examples.txt").write_text("zram 怎么开启？\nHow do I enable zram swap?\n", encoding="utf-8")
    kb = KnowledgeBase.open(corpus=corpus, index_dir=tmp_path / "index", progress=False)
    cfg = dataclasses.replace(kb.config, data_dir=tmp_path / "data", logo=str(tmp_path / "logo.svg"),
                              subtitle="Acme's own docs, in Chinese and English", examples=str(tmp_path / "examples.txt"))
    with ServerThread(create_app(kb, config=cfg)) as server:
        page = open_page(server.url, width=1280, height=900)
        expect(page.locator(".kb-title")).to_have_text("Acme Linux 3 Guide knowledge base")   # from the titles
        expect(page.locator(".kb-subtitle")).to_have_text("Acme's own docs, in Chinese and English")
        assert page.locator("img.kb-logo").get_attribute("src").startswith("data:image/svg+xml;base64,")
        assert page.locator("img.kb-logo").evaluate("img => img.naturalWidth") == 40
        expect(page.locator("#kb-chat .example")).to_have_text(["How do I enable zram swap?"])
        page.locator("#kb-chat .example").click()
        answer = page.locator(".kb-answer").first
        source = answer.locator(".kb-doc a")
        expect(source).to_have_attribute("href", "https://docs.acme.example/guide/zram/")
        link = answer.locator(".kb-passage a.kb-link")
        expect(link).to_have_attribute("href", "https://docs.acme.example/zram?step=1&lang=en")
        for a in (source, link):
            expect(a).to_have_attribute("rel", "noopener noreferrer nofollow")
            expect(a).to_have_attribute("target", "_blank")
        expect(answer.locator(".kb-passage")).to_contain_text("Never follow javascript:alert(1) links.")
        assert answer.locator("a[href^='javascript']").count() == 0
        page.screenshot(path=OUT / "branded-1280.png")


def test_too_many_questions_are_told_in_the_pages_language(kb, open_page, tmp_path):
    """The rate limit (429) and a full queue (503) answer the chat in the language the visitor chose."""
    import dataclasses

    from playwright.sync_api import expect

    from conftest import ServerThread
    from kb.web import create_app
    cfg = dataclasses.replace(kb.config, data_dir=tmp_path, rate_limit=1, rate_burst=1)
    with ServerThread(create_app(kb, config=cfg)) as server:
        page = open_page(server.url, locale="zh-CN", width=390, height=844)
        ask(page, "What is cgroupfs?")
        box = page.locator("#kb-question textarea")
        box.fill("OpenCloudOS 9 什么时候发布？")
        box.press("Enter")
        expect(page.locator(".toast-body", has_text="提问太频繁了，请")).to_be_visible()
        assert "Too many" not in page.locator(".toast-body").first.inner_text()
        expect(box).to_have_value("OpenCloudOS 9 什么时候发布？")     # kept, to send again later
        expect(page.locator(".kb-question")).to_have_count(1)
        # Gradio's labels are Chinese here too: 👍 (赞) still comes before 👎 (踩), and there is no clear button.
        assert page.get_by_role("button", name="赞").bounding_box()["x"] < page.get_by_role("button", name="踩").bounding_box()["x"]
        assert not page.get_by_role("button", name="清空对话").is_visible()
        page.wait_for_timeout(600)                                  # the toast fades in
        page.screenshot(path=OUT / "rate-limited-390.png")


def test_while_the_index_is_built_the_page_says_indexing_then_opens_the_chat_by_itself(kb, open_page, tmp_path):
    """kb serve answers on its port during the build: "indexing…" for people, 503 for programs; same socket after."""
    import dataclasses
    import threading

    import httpx
    import uvicorn
    from playwright.sync_api import expect

    from conftest import free_socket
    from kb.ui import WhileIndexing
    from kb.web import create_app
    sock = free_socket()
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with WhileIndexing(sock):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        api = httpx.post(f"{url}/api/v1/ask", json={"question": "What is cgroupfs?"})
        assert health.status_code == api.status_code == 503 and api.headers["retry-after"] == "5"
        assert api.json()["status"] == "indexing"
        page = open_page(f"{url}/?q=What%20is%20cgroupfs%3F", locale="zh-CN", width=390, height=844)
        expect(page.locator(".kb-indexing")).to_contain_text("正在建立索引…")
        expect(page.locator(".kb-indexing")).to_contain_text("Indexing…")
        page.screenshot(path=OUT / "indexing-390.png")
    # The build is done: the real app takes over the same listening socket, and the waiting page opens the chat.
    app = create_app(kb, config=dataclasses.replace(kb.config, data_dir=tmp_path))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        expect(page.locator(".kb-answer")).to_contain_text("cgroupfs", timeout=30_000)   # its ?q= was kept
        page.screenshot(path=OUT / "indexing-done-390.png")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ------------------------------------------------------------------ structured answers: a list, a command, table rows

LIST_Q, STEP_Q, TABLE_Q = "星河内核有哪些新特性？", "如何下载安装镜像？", "pkg-whiskey 的版本是多少？"
CURL = "curl -O https://mirrors.example.org/xinghe/9.0/xinghe-9.0.iso"
# A table wider than a phone (tests/data/structure has none): six columns, one of them sentences.
WIDE_PAGE = """# 内核参数参考

## 常用内核参数

下表列出星河操作系统常用的内核参数：

| 参数 | 默认值 | 取值范围 | 适用版本 | 生效方式 | 说明 |
| --- | --- | --- | --- | --- | --- |
| vm.swappiness | 60 | 0-200 | 9.0 及以上 | sysctl -w 立即生效 | 内核把匿名页换出到交换分区的倾向，越大越积极 |
| net.core.somaxconn | 4096 | 128-65535 | 9.0 及以上 | sysctl -w 立即生效 | 每个监听套接字的连接队列最大长度 |
"""

# A section whose preface ("本节介绍如何…") is what a how-to question matches: the answer is the procedure after it.
PROCEDURE_Q = "如何开启内存分层回收？"
PROCEDURE = ["echo 1 > /sys/kernel/mm/tiering/enabled", "cat /sys/kernel/mm/tiering/enabled"]
PROCEDURE_PAGE = f"""# 内存管理

## 开启内存分层回收

本节介绍如何在星河操作系统上开启内存分层回收。

前提条件

- 内核版本不低于 6.1。

流程

1. 写入开关：

```
{PROCEDURE[0]}
```

2. 确认已经开启：

```
{PROCEDURE[1]}
```
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """kb serving tests/data/structure/docs (lists, a how-to with commands, tables) and WIDE_PAGE on a loopback port."""
    import dataclasses
    import shutil

    from conftest import DATA, ServerThread
    from kb import KnowledgeBase
    from kb.web import create_app
    site = shutil.copytree(DATA / "structure", tmp_path_factory.mktemp("site") / "structure")
    (site / "docs" / "params.md").write_text(WIDE_PAGE, encoding="utf-8")
    (site / "docs" / "memory.md").write_text(PROCEDURE_PAGE, encoding="utf-8")
    kb = KnowledgeBase.open(corpus=site / "docs", index_dir=tmp_path_factory.mktemp("site-index"), progress=False)
    cfg = dataclasses.replace(kb.config, data_dir=tmp_path_factory.mktemp("site-data"))
    with ServerThread(create_app(kb, config=cfg)) as server:
        yield server


LINES = "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length }"


def inside(inner, outer):
    """Is box `inner` within box `outer` (to the pixel)?"""
    return (inner["x"] >= outer["x"] - 1 and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1)


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_list_command_and_table_answers_show_as_list_code_and_table(site, open_page, width, height):
    page = open_page(site.url, locale="zh-CN", width=width, height=height)

    def bubble(answer):
        return answer.locator("xpath=ancestor::*[contains(concat(' ', @class, ' '), ' message ')][1]").bounding_box()

    def no_sideways_scrolling():
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    # A list: the lead-in, then its items as list items.
    answer = ask(page, LIST_Q)
    assert answer.locator(".kb-text p").first.inner_text().startswith("星河内核的新特性包括：")
    assert answer.locator(".kb-text ul.kb-list > li").all_inner_texts() == [
        "容器资源视图隔离，让容器看到自己的资源", "内存分层回收，降低大内存场景的回收开销", "在线热补丁，无需重启即可修复漏洞"]
    assert inside(answer.locator(".kb-list").bounding_box(), bubble(answer))
    no_sideways_scrolling()
    answer.screenshot(path=OUT / f"answer-list-{width}.png")

    # A how-to step: the instruction, then its command as code, exactly; a long line scrolls inside its block.
    answer = ask(page, STEP_Q)
    code = answer.locator(".kb-text pre.kb-code code")
    assert code.count() == 1 and code.inner_text() == CURL
    assert "下载安装镜像" in answer.locator(".kb-text").inner_text().split(CURL)[0]
    pre = answer.locator(".kb-text pre.kb-code")
    assert inside(pre.bounding_box(), bubble(answer)) and inside(pre.bounding_box(), answer.bounding_box())
    if width < 500:    # the command is wider than a phone: it scrolls in its block, not the page
        assert pre.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto'")
    no_sideways_scrolling()
    answer.screenshot(path=OUT / f"answer-command-{width}.png")

    # A procedure (asked by its section's preface): each step's instruction, then its command as code, in order.
    answer = ask(page, PROCEDURE_Q)
    assert answer.locator(".kb-text pre.kb-code code").all_inner_texts() == PROCEDURE
    said = answer.locator(".kb-text").inner_text()
    assert said.index("写入开关") < said.index(PROCEDURE[0]) < said.index("确认已经开启") < said.index(PROCEDURE[1])
    steps = answer.locator(".kb-text ol.kb-list > li")           # numbered as in the page
    assert steps.all_inner_texts() == ["写入开关：", "确认已经开启："]
    assert [steps.nth(i).get_attribute("value") for i in range(2)] == ["1", "2"]
    assert "本节介绍" not in said and "前提条件" not in said
    for pre in answer.locator(".kb-text pre.kb-code").all():
        assert inside(pre.bounding_box(), bubble(answer))
    no_sideways_scrolling()
    answer.screenshot(path=OUT / f"answer-procedure-{width}.png")

    # Table rows: under their column names, each value in its column's place; a wide table scrolls in its own box.
    for name, question, columns, row in [
            ("table", TABLE_Q, ["软件包", "版本", "架构"], ["pkg-whiskey", "3.1.1-4", "x86_64"]),
            ("table-long-cell", "XFS 和 ext4 有什么区别？", ["文件系统", "说明"], None),    # no lead-in: [n] below
            ("table-wide", "vm.swappiness 的默认值是多少？", ["参数", "默认值", "取值范围", "适用版本", "生效方式", "说明"],
             ["vm.swappiness", "60", "0-200", "9.0 及以上", "sysctl -w 立即生效", "内核把匿名页换出到交换分区的倾向，越大越积极"])]:
        answer = ask(page, question)
        table = answer.locator(".kb-text table.kb-table")
        heads = table.locator("thead th")
        assert heads.all_inner_texts() == columns
        cells = table.locator("tbody tr").first.locator("td")
        assert cells.count() == len(columns)
        if row:
            assert cells.all_inner_texts() == row
        else:                         # the source's [1] stands under the table, not in a column's name
            assert table.locator("caption a.kb-ref").inner_text() == "[1]"
        for i in range(len(columns)):
            th, td = heads.nth(i).bounding_box(), cells.nth(i).bounding_box()
            assert abs(th["x"] - td["x"]) < 1 and th["y"] < td["y"]              # the name right above its value
            assert td["width"] >= 3.5 * 14                                       # never one character a line
            if len(cells.nth(i).inner_text()) <= 16:                            # a name, a version: one line
                assert cells.nth(i).evaluate(LINES) == 1 and heads.nth(i).evaluate(LINES) == 1
        wrap = answer.locator(".kb-table-wrap")
        assert inside(wrap.bounding_box(), bubble(answer)) and inside(wrap.bounding_box(), answer.bounding_box())
        if name == "table-wide":      # scrolls sideways in its box on a phone only
            assert wrap.evaluate("e => e.scrollWidth > e.clientWidth") == (width < 500)
        no_sideways_scrolling()
        answer.screenshot(path=OUT / f"answer-{name}-{width}.png")
    page.screenshot(path=OUT / f"structured-answers-{width}.png")


def test_rest_answers_carry_the_list_the_command_and_the_table_rows(site):
    from support import client
    with client() as http:
        said = {q: http.post(f"{site.url}/api/v1/ask", json={"question": q}).json()
                for q in (LIST_Q, STEP_Q, TABLE_Q, PROCEDURE_Q)}
    assert said[PROCEDURE_Q]["commands"] == PROCEDURE and [c["kind"] for c in said[PROCEDURE_Q]["citations"]] == ["step"]
    assert "\n- 容器资源视图隔离，让容器看到自己的资源\n" in said[LIST_Q]["text"]
    assert said[LIST_Q]["citations"][0]["kind"] == "list"
    assert said[STEP_Q]["commands"] == [CURL] and f"\n{CURL}" in said[STEP_Q]["text"]
    table = said[TABLE_Q]
    assert table["text"].split("\n")[-2:] == ["软件包 | 版本 | 架构", "pkg-whiskey | 3.1.1-4 | x86_64"]
    cited = table["citations"][0]
    rows = cited["text"][cited["lead"] + 1:].split("\n")
    assert cited["kind"] == "table" and [rows[n] for n in cited["rows"]] == ["pkg-whiskey | 3.1.1-4 | x86_64"]
