"""The chat's Gradio events as an attacker calls them: only the queue reaches the engine, nothing else is callable."""
import dataclasses
import logging

import pytest
from fastapi.testclient import TestClient

from conftest import Recorder
from kb.web import create_app

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


@pytest.fixture
def chat(kb, tmp_path):
    """(client, recorder, dependencies of the page's /config)."""
    rec = Recorder(kb)
    client = TestClient(create_app(rec, config=dataclasses.replace(kb.config, data_dir=tmp_path)),
                        raise_server_exceptions=False)
    return client, rec, client.get("/config").json()["dependencies"]


def test_the_page_load_event_does_not_answer_outside_the_queue(chat):
    client, rec, deps = chat
    load = next(d for d in deps if any(t[1] == "load" for t in d["targets"]))
    replies = [client.post("/gradio_api/run/predict?q=What%20is%20cgroupfs%3F",
                           json={"data": ["en"], "fn_index": load["id"], "session_hash": f"s{i}"}) for i in range(30)]
    assert {r.status_code for r in replies} == {200}
    assert "cgroupfs" in str(replies[0].json()["data"])     # the opening question is handed on ...
    assert "container resource view" not in str(replies[0].json())   # ... to the queued "ask", which answers it
    assert rec.asked == []


def test_no_unqueued_event_reaches_the_engine_and_queued_ones_only_join_the_queue(chat):
    client, rec, deps = chat
    for d in deps:
        r = client.post("/gradio_api/run/predict?q=What%20is%20cgroupfs%3F",
                        json={"data": ["What is cgroupfs?"] * len(d["inputs"]), "fn_index": d["id"],
                              "session_hash": "probe"})
        if d["queue"]:
            assert r.status_code == 404, (d["api_name"], r.status_code)
    assert rec.asked == []


@pytest.mark.parametrize("route", ["/gradio_api/run/predict", "/gradio_api/queue/join"])
def test_an_unknown_or_invalid_fn_index_gets_404_and_one_log_line(chat, caplog, capfd, route):
    client, rec, _ = chat
    for fn_index in [99, -1, 1e9, None, "0", True]:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            r = client.post(route, json={"data": ["What is cgroupfs?"], "fn_index": fn_index, "session_hash": "x"})
        assert r.status_code == 404 and r.json() == {"detail": "No such event."}, (fn_index, r.text[:200])
        assert len(caplog.records) == 1 and "no such event" in caplog.records[0].getMessage(), caplog.text
        assert not any(r.exc_info for r in caplog.records)
    assert rec.asked == [] and "Traceback" not in capfd.readouterr().err


def test_quick_events_refuse_values_they_cannot_take_without_a_traceback(chat, capfd):
    """Wrong values for the page's unqueued steps (a string for the chat history, a language that is not a choice,
    a selection without its event data) get a 4xx, never Gradio's 500 and a traceback in the log."""
    client, rec, deps = chat
    codes = {}
    for d in deps:
        if not d["queue"]:
            r = client.post("/gradio_api/run/predict", json={"data": ["xx"] * len(d["inputs"]), "fn_index": d["id"],
                                                             "session_hash": "probe"})
            codes[d["id"]] = r.status_code
    assert codes and all(400 <= c < 500 or c == 200 for c in codes.values()), codes
    assert 422 in codes.values()
    assert rec.asked == [] and "Traceback" not in capfd.readouterr().err


def test_private_events_cannot_be_called_by_name(chat):
    client, rec, deps = chat
    private = [d["api_name"] for d in deps if d["api_visibility"] != "public"]
    assert "ask_1" in private and "relabel" in private
    for name in private:
        assert client.post(f"/gradio_api/call/{name}", json={"data": ["What is cgroupfs?", None]}).status_code == 404
        assert client.post(f"/gradio_api/run/{name}", json={"data": ["zh"]}).status_code == 404
    assert rec.asked == []
    # The public one still joins the queue (gradio_client's way in).
    assert "event_id" in client.post("/gradio_api/call/ask", json={"data": ["What is cgroupfs?", None]}).json()


def test_a_late_answer_goes_to_its_own_bubble_and_never_into_a_new_conversation(kb):
    from kb.ui import Chat
    ans = kb.ask("What is cgroupfs?")
    q, wait = {"role": "user", "content": "q"}, {"role": "assistant", "content": "…"}
    session = {"history": [], "answered": {}, "chat": 0, "open": 1}
    drawn, after = Chat.redraw({"chat": 0, "at": 1, "phase": "done", "answer": ans}, [q, wait], session)
    assert "cgroupfs" in drawn[1]["content"] and after["answered"][1]["question"] == "What is cgroupfs?"
    assert after["open"] is None
    # New chat was clicked while it was being answered: the new conversation's bubble at the same place stays.
    new = {"history": [], "answered": {}, "chat": 1, "open": 1}
    assert Chat.redraw({"chat": 0, "at": 1, "phase": "done", "answer": ans}, [q, wait], new) == (
        Chat.redraw(None, [], new))
    # A growing draft never overwrites an answer that is already there.
    skip = Chat.redraw(None, [], after)
    assert Chat.redraw({"chat": 0, "at": 1, "phase": "writing", "text": "x", "lang": "en"}, drawn, after) == skip
