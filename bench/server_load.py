#!/usr/bin/env python3
"""Load test of kvlink-server on loopback (bounded; it stops by itself):

  bench/server_load.py [--bin build/bin] [--clients 32] [--requests 300] [--threads N] [--mode kvlink]

Starts the server with --parallel CLIENTS on a fresh cache, stores 10 generated documents through
POST /v1/documents, then asks DISTINCT different questions (each over 3 of the documents, by id) one at
a time: the lone answers, TTFTs and the single-stream decode rate. Then CLIENTS threads send REQUESTS
requests (the distinct ones repeated, shuffled with a fixed seed) at once, as fast as answers come
back. Reports requests/s, TTFT p50/p99 (the server's, from arrival to first token, queueing included)
and total decode tokens/s, against the lone figures; fails (exit 1) when a request fails or an answer
differs from the same request's lone answer (greedy). --write puts the table in bench/RESULTS.md."""
import argparse
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "server"))
from server_process import ROOT, Server  # noqa: E402

PLACES = ["Aldervik", "Brennholm", "Calderby", "Dunmore", "Eskerud", "Falkhaven", "Grimsta", "Hollowmere", "Ivarsund", "Jarnby"]
FOUNDERS = ["Maren Olsen", "Tobias Krell", "Signe Dahl", "Edvin Sauer", "Ingrid Vass", "Henrik Molde", "Astrid Lunde",
            "Oskar Brandt", "Liv Haugen", "Nils Ekberg"]
TRADES = ["salt", "timber", "wool", "copper", "glass", "herring", "paper", "rope", "silver", "clay"]


def documents():
    """10 made-up town histories of about 250 tokens each (deterministic)."""
    out = []
    for i, place in enumerate(PLACES):
        year = 1700 + 13 * i
        text = (f"{place} was founded in {year} by {FOUNDERS[i]}, who came from the coast with three families. "
                f"The town grew around its {TRADES[i]} trade, and by {year + 40} it had a harbour, a school and a market "
                f"held every Thursday. ")
        text += (f"The first mayor of {place} was {FOUNDERS[(i + 3) % 10]}. A fire in {year + 61} destroyed the old "
                 f"wooden church, which was rebuilt in stone within six years. The railway reached {place} in "
                 f"{year + 150}, and the {TRADES[i]} works closed soon after. ") * 3
        out.append({"title": f"History of {place}", "text": text})
    return out


def questions(ids, n):
    out = []
    for k in range(n):
        i = k % 10
        kind = k // 10 % 3
        q = [f"Who founded {PLACES[i]}?", f"What trade did {PLACES[i]} grow around?", f"Who was the first mayor of {PLACES[i]}?"][kind]
        docs = [ids[i], ids[(i + 1 + k) % 10], ids[(i + 4 + 2 * k) % 10]]
        docs = list(dict.fromkeys(docs))  # distinct, in order
        out.append({"question": q, "documents": docs})
    return out


def post(url, body, timeout=600):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def ask(server, q, args):
    body = {"model": "m", "messages": [{"role": "user", "content": q["question"]}], "max_tokens": args.max_tokens,
            "documents": q["documents"], "kvlink": {"mode": args.mode}}
    t0 = time.perf_counter()
    r = post(server.url + "/v1/chat/completions", body)
    wall = time.perf_counter() - t0
    u = r["usage"]
    return {"text": r["choices"][0]["message"]["content"], "ttft_ms": u["ttft_ms"], "wall_s": wall,
            "queue_ms": u["queue_ms"], "prefill_ms": u["prefill_ms"],
            "tokens": u["completion_tokens"], "decode_s": max(wall - u["ttft_ms"] / 1000, 1e-6)}


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--distinct", type=int, default=30)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--mode", default="kvlink")
    ap.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = ap.parse_args()

    server = Server(args.bin, None, ["-t", str(args.threads), "--parallel", str(args.clients), "-c", "2048"])
    try:
        ids = [d["id"] for d in post(server.url + "/v1/documents", {"documents": documents()})["data"]]
        qs = questions(ids, args.distinct)
        ask(server, qs[0], args)  # warm-up: caches of the opening and the first documents in memory
        alone = [ask(server, q, args) for q in qs]
        single_rate = sum(a["tokens"] for a in alone) / sum(a["decode_s"] for a in alone)
        plan = [i % len(qs) for i in range(args.requests)]
        random.Random(0).shuffle(plan)
        results, failures, lock = [None] * len(plan), [], threading.Lock()
        cursor = iter(range(len(plan)))

        def client():
            while True:
                with lock:
                    k = next(cursor, None)
                if k is None:
                    return
                try:
                    results[k] = ask(server, qs[plan[k]], args)
                except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        failures.append(f"request {k}: {e}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        metrics = urllib.request.urlopen(server.url + "/metrics", timeout=60).read().decode()
    finally:
        server.stop()

    done = [r for r in results if r]
    differ = [k for k, r in enumerate(results) if r and r["text"] != alone[plan[k]]["text"]]
    ttft_alone = statistics.median(a["ttft_ms"] for a in alone)
    ttft = [r["ttft_ms"] for r in done]
    total_rate = sum(r["tokens"] for r in done) / wall
    rows = [
        ("requests", f"{len(done)} of {len(plan)} answered, {len(failures)} failed, {len(differ)} differ from the lone answer"),
        ("requests/s", f"{len(done) / wall:.2f} ({wall:.1f} s)"),
        ("TTFT alone, median", f"{ttft_alone:.1f} ms"),
        ("TTFT under load, p50 / p99", f"{pct(ttft, 50):.1f} / {pct(ttft, 99):.1f} ms "
                                      f"({pct(ttft, 50) / ttft_alone:.2f}x / {pct(ttft, 99) / ttft_alone:.2f}x alone)"),
        ("TTFT under load: queueing / prefill, p50", f"{pct([r['queue_ms'] for r in done], 50):.1f} / "
                                                     f"{pct([r['prefill_ms'] for r in done], 50):.1f} ms (alone: "
                                                     f"{statistics.median(a['queue_ms'] for a in alone):.1f} / "
                                                     f"{statistics.median(a['prefill_ms'] for a in alone):.1f})"),
        ("decode tokens/s, one stream alone", f"{single_rate:.1f}"),
        ("decode tokens/s, total under load", f"{total_rate:.1f} ({total_rate / single_rate:.2f}x one stream)"),
    ]
    table = "\n".join(["| | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows])
    header = (f"`bench/server_load.py --clients {args.clients} --requests {args.requests} --threads {args.threads} "
              f"--mode {args.mode}` ({args.distinct} distinct questions over 3 of 10 stored documents each, "
              f"max_tokens {args.max_tokens}, greedy; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')})")
    print(header + "\n\n" + table)
    for f in failures[:5]:
        print("failure:", f)
    for k in differ[:5]:
        print(f"differs: request {k}: {results[k]['text']!r} vs alone {alone[plan[k]]['text']!r}")
    if args.write:
        path = os.path.join(ROOT, "bench", "RESULTS.md")
        text = open(path).read()
        block = f"<!-- server-load:begin -->\n{header}\n\n{table}\n<!-- server-load:end -->"
        if "<!-- server-load:begin -->" in text:
            text = re.sub(r"<!-- server-load:begin -->.*?<!-- server-load:end -->", lambda _: block, text, flags=re.S)
        else:
            text += "\n## kvlink-server under load\n\n" + block + "\n"
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    sys.exit(1 if failures or differ or not done else 0)


if __name__ == "__main__":
    main()
