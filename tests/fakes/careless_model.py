"""A fake model for the fake OpenAI server that answers like a careful model most of the time and like
the small models we have seen the rest of the time: prompt echoes ("2-3 sentences of knowledge
needed to read", "empty list if none"), self-referential or file-property questions, answers cut at
max_tokens (finish_reason "length"), answers that invent facts, selection stems wrapped around a
sentence. Which answer a request gets depends only on its text, so builds are reproducible.

    server = FakeOpenAIServer(fault_for=fault_for)
    server.responder = truncate_cut_answers(responder_for(server))

Used by bench/gate_labels/make_rows.py (the rows the gate labels read) and by the test that reads
a demo build's kept rows.
"""

from __future__ import annotations

import hashlib
import json
import re

def pick(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % n


def user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


def line(text: str, label: str) -> str:
    m = re.search(rf"^{label}: (.*)$", text, re.M)
    return m.group(1).strip() if m else ""


def first_sentence(text: str, words: int = 18) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip())[0]
    return " ".join(sentence.split()[:words]).rstrip(",;:") or "The figure."


def qa_answer(key: str, text: str) -> dict:
    """A question/answer pair: mostly faithful, sometimes one of the failure modes seen in real builds."""
    focus = re.search(r"Write one question about \"?(.+?)\"? that", text)
    topic = focus.group(1) if focus else "the panels"
    source = (line(text, "Caption") or line(text, "Image caption") or line(text, "Image-1") or line(text, "Summary")
              or line(text, "What the figure shows") or "the figure")
    kind = pick(key, 12)
    if kind == 0:
        return {"question": "What is the answer to the question?", "answer": " ".join(source.split()[:2])}
    if kind == 1:
        return {"question": "What is the image's title?", "answer": first_sentence(source, 6)}
    if kind == 2:
        return {"question": f"What does the figure show about {topic}?", "answer": "2-3 sentences of knowledge needed to read"}
    if kind == 3:
        return {"question": f"What is reported about {topic}?",
                "answer": "The treatment doubled survival in elderly patients after twelve months of therapy."}
    if kind == 4:
        return {"question": "What does this image show?", "answer": first_sentence(source, 8)}
    return {"question": f"What does the figure show about {topic}?", "answer": first_sentence(source)}


def responder_for(server):
    def respond(body: dict, record) -> str:
        name = (record.template or "").split("/")[0]
        text = user_text(body)
        key = hashlib.sha256(text.encode()).hexdigest()
        caption = line(text, "Figure caption") or line(text, "Caption") or line(text, "Image caption")
        if name == "summary":
            echo = pick(key, 4) == 0
            return json.dumps({"summary": first_sentence(caption, 30), "modalities": ["image or plot types"] if echo else ["micrograph"],
                               "anatomy": ["empty list if none"] if echo else [], "key_findings": [first_sentence(caption, 10)]})
        if name == "knowledge":
            bg = ["2-3 sentences of knowledge needed to read", "{", first_sentence(caption, 25), first_sentence(caption, 25)][pick(key, 4)]
            words = [w.strip(".,;()") for w in caption.split() if len(w) > 6][:5] or ["figure"]
            return json.dumps({"keywords": words, "background": bg,
                               "terms": [{"term": words[0], "explanation": f"{words[0]} as used in the caption."}]})
        if name.startswith("perception"):
            facts = re.findall(r"^- (.*)$", text, re.M)
            return json.dumps({"description": f"{'; '.join(facts[:2])}. {first_sentence(caption, 15)}",
                               "observations": facts[:3]})
        if name in ("text_qa", "compound_qa", "single_panel_qa", "multi_panel_qa"):
            return json.dumps(qa_answer(key + name, text))
        if name == "bbox_qa":
            a, b = re.findall(r'"(Panel \w+)"', text)[:2]
            return json.dumps({"question": f"How is {a} positioned with respect to {b}?"})
        if name == "mcq_selection":
            desc = line(text, "What the image shows")
            words = (desc.split(". ")[-1] if pick(key, 3) else "this image shows " + desc).split()[:10]
            return json.dumps({"description": " ".join(words)})
        if name == "deleak_context":
            context = line(text, "Context")
            return json.dumps({"context": context if pick(key, 2) else "This figure comes from a biomedical study."})
        return server.default_responder(body, record)

    return respond


def fault_for(body: dict, template: str | None) -> str | None:
    """About one QA answer in ten comes back cut at max_tokens (finish_reason "length")."""
    name = (template or "").split("/")[0]
    if name in ("text_qa", "compound_qa", "single_panel_qa", "multi_panel_qa"):
        return "length" if pick(user_text(body) + "cut", 10) == 0 else None
    return None


def truncate_cut_answers(responder):
    def respond(body: dict, record) -> str:
        answer = responder(body, record)
        if record.fault == "length":  # what a server cut at max_tokens sends: the text so far, then closed
            data = json.loads(answer)
            data["answer"] = data["answer"][: max(8, len(data["answer"]) // 2)]
            return json.dumps(data)
        return answer

    return respond
