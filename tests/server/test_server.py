#!/usr/bin/env python3
"""kvlink-server through the real `openai` client (and raw HTTP where a client would not send it):
plain chat, chat over stored, retrieved and inline documents, streaming, stop strings, the document
routes, errors, the API key, a client leaving mid-stream, concurrent answers equal to lone ones,
SIGTERM and SIGKILL. Run: tests/server/test_server.py BIN_DIR (build/bin)."""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_process import MODEL, ROOT, Server  # noqa: E402

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
DOCS = os.path.join(ROOT, "examples", "docs")
QUESTION = "The Halden Lighthouse was built by a company. Who founded that company?"
PAIR = ["halden_lighthouse.md", "history/norrvik_iron_company.md"]


def client_of(server, key="unused"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=300)


def raw_post(server, path, body, headers=None):
    """(status, parsed JSON or text) of a POST with a body the client would not send."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    data = r.read().decode()
    conn.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(BIN, DOCS, ["-t", "2", "--parallel", "4", "--max-body", "65536"])
        cls.client = client_of(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def chat(self, content, **kw):
        return self.client.chat.completions.create(model="kvlink", messages=[{"role": "user", "content": content}], **kw)

    def test_plain_chat(self):
        r = self.chat("Say hello in one word.", max_tokens=16)
        self.assertTrue(r.choices[0].message.content)
        self.assertIn(r.choices[0].finish_reason, ("stop", "length"))
        u = r.usage.model_dump()
        self.assertEqual(u["mode"], "full")
        self.assertEqual(u["prompt_tokens_reused"], 0)
        self.assertGreater(u["ttft_ms"], 0)
        self.assertLessEqual(u["completion_tokens"], 16)

    def test_documents_answer_as_kvlink_query_does(self):
        r = self.chat(QUESTION, max_tokens=40, extra_body={"documents": PAIR})
        u = r.usage.model_dump()
        self.assertEqual(u["mode"], "epic")
        self.assertGreater(u["prompt_tokens_reused"], u["prompt_tokens_computed"])
        cli = subprocess.run([os.path.join(BIN, "kvlink-query"), "-m", MODEL, "--cache", self.server.cache, "-t", "2",
                              "--docs", ",".join(os.path.join(self.server.docs, d) for d in PAIR), "-p", QUESTION,
                              "-n", "40", "--json"], capture_output=True, text=True, check=True)
        self.assertEqual(r.choices[0].message.content, json.loads(cli.stdout)["text"])
        self.assertEqual(u["prompt_tokens"], json.loads(cli.stdout)["n_prompt_tokens"])

    def test_top_k_and_modes(self):
        for mode in ("kvlink", "full", "cacheblend"):
            r = self.chat(QUESTION, max_tokens=8, extra_body={"top_k": 2, "kvlink": {"mode": mode}})
            u = r.usage.model_dump()
            self.assertEqual(u["mode"], mode)
            self.assertEqual(len(u["documents"]), 2)
            self.assertIn("history/norrvik_iron_company.md", u["documents"])

    def test_inline_documents(self):
        doc = {"title": "Moon Base", "text": "Moon Base Alpha was founded in 2091 by Ida Berg. It houses 40 scientists."}
        r = self.chat("Who founded Moon Base Alpha?", max_tokens=24, extra_body={"documents": [doc]})
        self.assertEqual(r.usage.model_dump()["documents"], ["inline: Moon Base"])
        self.assertIn("Ida Berg", r.choices[0].message.content)

    def test_stream_equals_whole_answer(self):
        whole = self.chat(QUESTION, max_tokens=30, extra_body={"top_k": 2}).choices[0].message.content
        pieces, finish = [], None
        stream = self.chat(QUESTION, max_tokens=30, stream=True, stream_options={"include_usage": True},
                           extra_body={"top_k": 2})
        usage = None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for c in chunk.choices:
                pieces.append(c.delta.content or "")
                finish = c.finish_reason or finish
        self.assertGreater(len([p for p in pieces if p]), 3)
        self.assertEqual("".join(pieces), whole)
        self.assertIn(finish, ("stop", "length"))
        self.assertIsNotNone(usage)

    def test_stop_string(self):
        whole = self.chat(QUESTION, max_tokens=30, extra_body={"top_k": 2}).choices[0].message.content
        words = whole.split(" ")
        self.assertGreater(len(words), 4)
        stop = " " + words[3]
        r = self.chat(QUESTION, max_tokens=30, stop=[stop], extra_body={"top_k": 2})
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].message.content, whole[: whole.index(stop)])

    def test_document_routes(self):
        status, added = raw_post(self.server, "/v1/documents",
                                 json.dumps({"title": "Glass Bridge", "text": "The Glass Bridge of Orsa was designed by Lena Holm in 1911."}))
        self.assertEqual(status, 200)
        doc_id = added["data"][0]["id"]
        self.assertIn(doc_id, [d["id"] for d in json.loads(self.server.get("/v1/documents"))["data"]])
        self.assertTrue(os.path.exists(os.path.join(self.server.docs, doc_id)))
        r = self.chat("Who designed the Glass Bridge of Orsa?", max_tokens=24, extra_body={"documents": [doc_id]})
        self.assertIn("Lena Holm", r.choices[0].message.content)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        conn.request("DELETE", "/v1/documents/" + doc_id)
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.assertNotIn(doc_id, self.server.get("/v1/documents"))
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        conn.request("DELETE", "/v1/documents/" + doc_id)
        self.assertEqual(conn.getresponse().status, 404)
        conn.close()

    def test_bad_requests(self):
        cases = [
            ("{not json", 400),
            ("[1, 2]", 400),
            (json.dumps({"messages": []}), 400),
            (json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}), 400),
            (json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}), 400),
            (json.dumps({"messages": [{"role": "user", "content": "x"}], "documents": ["no-such-doc.md"]}), 400),
            (json.dumps({"messages": [{"role": "user", "content": "x"}], "top_k": 2, "kvlink": {"mode": "bogus"}}), 400),
            (json.dumps({"messages": [{"role": "user", "content": "x"}], "top_k": 2, "kvlink": {"ape_temperature": 0}}), 400),
            (json.dumps({"messages": [{"role": "user", "content": "word " * 6000}]}), 400),  # over the context
            (json.dumps({"messages": [{"role": "user", "content": "x" * 70000}]}), 413),  # over --max-body
        ]
        for body, status in cases:
            got, err = raw_post(self.server, "/v1/chat/completions", body)
            self.assertEqual(got, status, body[:60])
            self.assertIn("message", err["error"], body[:60])
        with self.assertRaises(openai.BadRequestError):
            self.chat("x", extra_body={"documents": ["no-such-doc.md"]})
        self.assertEqual(json.loads(self.server.get("/health"))["status"], "ok")  # still serving

    def test_models_and_metrics(self):
        self.assertEqual(self.client.models.list().data[0].id, os.path.basename(MODEL))
        metrics = self.server.get("/metrics")
        for name in ("kvlink_requests_total", "kvlink_ttft_seconds_bucket", "kvlink_prompt_tokens_reused_total",
                     "kvlink_queue_waiting", "kvlink_cache_bytes"):
            self.assertIn(name, metrics)

    def test_concurrent_answers_equal_lone_answers(self):
        questions = [QUESTION, "Where is the Halden Lighthouse?", "When did the Northern Railway open?",
                     "What is sold at the Tromsdal market?", "Who was Agnes Lund?", "Say something about iron."]
        alone = [self.chat(q, max_tokens=24, extra_body={"top_k": 2}).choices[0].message.content for q in questions]
        together = [None] * len(questions)

        def ask(i):
            together[i] = self.chat(questions[i], max_tokens=24, extra_body={"top_k": 2}).choices[0].message.content

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(together, alone)


class LifecycleTest(unittest.TestCase):
    def test_api_key(self):
        s = Server(BIN, DOCS, ["-t", "1", "--api-key", "secret"])
        try:
            self.assertEqual(json.loads(s.get("/health"))["status"], "ok")
            with self.assertRaises(openai.AuthenticationError):
                client_of(s, "wrong").models.list()
            self.assertEqual(len(client_of(s, "secret").models.list().data), 1)
        finally:
            s.stop()

    def test_client_leaving_mid_stream_frees_its_slot(self):
        s = Server(BIN, DOCS, ["-t", "2", "--parallel", "1"])
        try:
            client = client_of(s)
            stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Tell a very long story."}],
                                                    max_tokens=3000, stream=True)
            for i, _ in enumerate(stream):
                if i == 3:
                    break
            stream.close()
            t0 = time.time()
            r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
            self.assertTrue(r.choices[0].message.content)
            self.assertLess(time.time() - t0, 60)  # 3,000 tokens would take minutes
            self.assertRegex(s.get("/metrics"), r'kvlink_requests_total\{outcome="cancelled"\} [1-9]')
        finally:
            s.stop()

    def test_sigterm_finishes_the_answer_in_flight_and_exits_0(self):
        s = Server(BIN, DOCS, ["-t", "2", "--grace", "60"])
        try:
            stream = client_of(s).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Count to fifty."}], max_tokens=48, stream=True)
            finish = None
            for i, chunk in enumerate(stream):
                if i == 2:
                    s.signal(signal.SIGTERM)
                for c in chunk.choices:
                    finish = c.finish_reason or finish
            self.assertIn(finish, ("stop", "length"))
            self.assertEqual(s.wait(60), 0)
        finally:
            s.stop()

    def test_sigkill_loses_nothing_in_the_cache_directory(self):
        s = Server(BIN, DOCS, ["-t", "2"])
        try:
            before = json.loads(s.get("/v1/documents"))["data"]
            body = json.dumps({"documents": [{"title": f"Note {i}", "text": f"Note {i}. " + "The harbour froze. " * 150}
                                             for i in range(6)]})
            threading.Thread(target=lambda: raw_post_quietly(s, body), daemon=True).start()
            time.sleep(1.0)
            s.proc.kill()
            s.proc.wait()
            s.log.close()
            s.start()  # the same cache and documents
            after = json.loads(s.get("/v1/documents"))["data"]
            self.assertTrue({d["id"] for d in before} <= {d["id"] for d in after})
            r = client_of(s).chat.completions.create(
                model="m", messages=[{"role": "user", "content": QUESTION}], max_tokens=8, extra_body={"documents": PAIR})
            self.assertTrue(r.choices[0].message.content)
            self.assertEqual(r.usage.model_dump()["prompt_tokens_reused"] > 0, True)
        finally:
            s.stop()


def raw_post_quietly(server, body):
    try:
        raw_post(server, "/v1/documents", body)
    except OSError:
        pass


if __name__ == "__main__":
    unittest.main(verbosity=2)
