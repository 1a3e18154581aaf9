#!/usr/bin/env python3
"""kvlink beside llama.cpp on the same GGUF, interleaved (bench/peer/run_peer.sh builds llama-bench).

Default mode: for each round, for 1 and 2 threads, for 512 and 2,048 tokens of context: one
bench-generation run (prefill of the context, then 64 decoded tokens) and one llama-bench run of the
same (prefill of the context; 64 tokens generated after it, llama-bench -d). Medians over the rounds,
both engines' tokens/s and the ratio, as a markdown table.

--shared: two processes of the same engine at once (2 threads each, 128 tokens decoded after 512 of
context), their summed decode rate against one process alone, per engine, median over the rounds.

--write FILE replaces the table between this mode's markers in FILE (temp file, then rename).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CONTEXTS = (512, 2048)
THREADS = (1, 2)


def run(cmd):
    """The command's stdout; a failed command ends the benchmark with one line naming it and how it ended."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        how = f"signal {-r.returncode}" if r.returncode < 0 else f"exit {r.returncode}"
        last = (r.stderr.strip().splitlines() or [""])[-1]
        sys.exit(f"peer: {' '.join(cmd)} failed ({how}){': ' + last if last else ''}")
    return r.stdout


def ours_cmd(args, context, threads, decode):
    return [args.bench_generation, "-m", args.model, "-p", str(context), "-d", str(decode), "-r", "1", "-t", str(threads)]


def ours_result(out):
    return json.loads(out.strip().splitlines()[-1])


def peer_cmd(args, threads, tests):
    return [args.llama_bench, "-m", args.model, "-t", str(threads), "-r", "1", "-o", "jsonl"] + tests


def peer_rate(out):
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if len(rows) != 1:
        sys.exit(f"peer: expected one llama-bench result, got {len(rows)}")
    return rows[0]["avg_ts"]


def ours(args, context, threads, decode):
    j = ours_result(run(ours_cmd(args, context, threads, decode)))
    return j["prefill_tokens_per_s"], j["decode_tokens_per_s"]


def peer(args, context, threads, decode):
    # -p N -n 0: prefill of N tokens; -p 0 -n D -d N: D tokens generated after N tokens of context
    # (one invocation each: llama-bench applies -d to every test it runs).
    prefill = peer_rate(run(peer_cmd(args, threads, ["-p", str(context), "-n", "0"])))
    gen = peer_rate(run(peer_cmd(args, threads, ["-p", "0", "-n", str(decode), "-d", str(context)])))
    return prefill, gen


def side_by_side(args):
    rows = {}
    for r in range(args.rounds):
        for threads in THREADS:
            for context in CONTEXTS:
                a = ours(args, context, threads, 64)
                b = peer(args, context, threads, 64)
                rows.setdefault((threads, context), []).append((a, b))
                print(f"round {r + 1}: {threads} threads, {context} tokens: ours {a[0]:.0f}/{a[1]:.1f} "
                      f"llama.cpp {b[0]:.0f}/{b[1]:.1f} tok/s (prefill/decode)", file=sys.stderr)
    lines = ["| threads | context | prefill ours | prefill llama.cpp | ratio | decode 64 ours | decode 64 llama.cpp | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for (threads, context), runs in sorted(rows.items()):
        med = [statistics.median(x) for x in zip(*[(a[0], b[0], a[1], b[1]) for a, b in runs])]
        lines.append(f"| {threads} | {context} | {med[0]:.0f} | {med[1]:.0f} | {med[0] / med[1]:.2f}x | "
                     f"{med[2]:.1f} | {med[3]:.1f} | {med[2] / med[3]:.2f}x |")
    return lines


def shared_pair(cmd, parse):
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(2)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode != 0 for p in procs):
        sys.exit(f"peer: {cmd[0]} failed in the shared run")
    return sum(parse(o) for o in outs)


def shared(args):
    decode, context, threads = 128, 512, 2
    engines = (("kvlink", ours_cmd(args, context, threads, decode), lambda out: ours_result(out)["decode_tokens_per_s"]),
               ("llama.cpp", peer_cmd(args, threads, ["-p", "0", "-n", str(decode), "-d", str(context)]), peer_rate))
    res = {"kvlink": ([], []), "llama.cpp": ([], [])}
    for r in range(args.rounds):
        for name, cmd, parse in engines:
            alone, both = parse(run(cmd)), shared_pair(cmd, parse)
            res[name][0].append(alone)
            res[name][1].append(both)
            print(f"round {r + 1}: {name} alone {alone:.1f}, two at once {both:.1f} tok/s", file=sys.stderr)
    lines = ["| engine | one process, decode tok/s | two processes at once, summed | ratio |", "|---|---|---|---|"]
    for name, (alone, both) in res.items():
        a, b = statistics.median(alone), statistics.median(both)
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")
    return lines


def write_section(path, marker, body):
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    text = open(path).read()
    if begin not in text or end not in text:
        sys.exit(f"peer: {path} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "w") as f:
        f.write(head + begin + "\n" + "\n".join(body) + "\n" + end + tail)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--bench-generation", required=True)
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--shared", action="store_true")
    ap.add_argument("--write", help="markdown file with the peer's marker section to replace")
    ap.add_argument("--note", default="", help="line placed above the table (machine, command)")
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("peer: --rounds must be at least 1")
    for f in (args.model, args.bench_generation, args.llama_bench):
        if not os.path.isfile(f):
            sys.exit(f"peer: no such file: {f}")
    start = time.time()
    lines = shared(args) if args.shared else side_by_side(args)
    note = [args.note] if args.note else []
    note.append(f"Median of {args.rounds} interleaved rounds, {time.time() - start:.0f} s in all, "
                f"{time.strftime('%Y-%m-%d')}.")
    body = note + [""] + lines
    print("\n".join(body))
    if args.write:
        write_section(args.write, "peer-shared" if args.shared else "peer", body)


if __name__ == "__main__":
    main()
