"""Before and after a change: the throughput and frozen-cache ratios of two source trees, one invocation.

``throughput.py``'s and ``frozen.py``'s justfit workers run once from each tree (``--before``: the
``src`` folder of a checkout of the older commit; after: this checkout's), their peers (Hugging
Face ``Trainer``; the seed's head-only loop) once per round, in the order peer, before, after, so
the three share the machine's state as closely as one invocation allows. ``--rounds`` repeats the
whole sequence; the table gives each round and the ratio of ratios (after / before, 1.00 = no
change; above 1 is faster).

    git worktree add /tmp/before <commit>
    python bench/compare_trees.py --before /tmp/before/src
    python bench/compare_trees.py --before /tmp/before/src --only throughput --rounds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
HERE = os.path.dirname(os.path.abspath(__file__))


def env_for(src: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def main() -> None:
    from _common import run_job

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="src folder of the older tree")
    ap.add_argument("--after", default=os.path.join(os.path.dirname(HERE), "src"), help="src folder of the newer tree")
    ap.add_argument("--only", nargs="+", choices=["throughput", "frozen"], default=["throughput", "frozen"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--rows", type=int, default=2000, help="throughput.py training rows")
    ap.add_argument("--frozen-rows", type=int, default=1000, help="frozen.py training rows")
    ap.add_argument("--frozen-epochs", type=int, default=5)
    args = ap.parse_args()
    from justfit.training.runtime import resolve_bf16

    bf16 = resolve_bf16("auto")
    prec = "bf16" if bf16 else "fp32"
    trees = {"before": env_for(os.path.abspath(args.before)), "after": env_for(os.path.abspath(args.after))}
    py = sys.executable
    out = []
    for rnd in range(args.rounds):
        if "throughput" in args.only:
            for strategy in ("full", "lora"):
                cmd = [py, os.path.join(HERE, "throughput.py"), "--rows", str(args.rows), "--precision", prec,
                       "--strategy", strategy]
                res = {"peer": run_job(cmd + ["--worker", "hf"], f"hf {strategy}", trees["after"])}
                for tree, env in trees.items():
                    res[tree] = run_job(cmd + ["--worker", "justfit"], f"justfit {tree} {strategy}", env)
                rate = {k: v["samples_per_s"] for k, v in res.items()}
                out.append((rnd, f"throughput {strategy}", rate["peer"], rate["before"], rate["after"],
                            rate["before"] / rate["peer"], rate["after"] / rate["peer"],
                            {k: round(v["load"], 1) for k, v in res.items()}))
                print(out[-1], file=sys.stderr, flush=True)
        if "frozen" in args.only:
            cmd = [py, os.path.join(HERE, "frozen.py"), "--rows", str(args.frozen_rows), "--epochs",
                   str(args.frozen_epochs)] + (["--bf16"] if bf16 else [])
            res = {"peer": run_job(cmd + ["--worker", "peer"], "peer", trees["after"])}
            for tree, env in trees.items():
                with tempfile.TemporaryDirectory() as cache:  # a fresh cache: computing the features is timed
                    res[tree] = run_job(cmd + ["--worker", "justfit", "--cache-dir", cache], f"justfit {tree}", env)
            sec = {k: v["seconds"] for k, v in res.items()}
            out.append((rnd, "frozen (fresh cache)", sec["peer"], sec["before"], sec["after"],
                        sec["peer"] / sec["before"], sec["peer"] / sec["after"],
                        {k: round(v["load"], 1) for k, v in res.items()}))
            print(out[-1], file=sys.stderr, flush=True)

    print(f"\nprecision {prec}; throughput: {args.rows} rows, 1 epoch (samples/s); frozen: {args.frozen_rows} rows, "
          f"{args.frozen_epochs} epochs (seconds); ratio = justfit's advantage over the peer\n")
    print(f"{'round':>5s} {'benchmark':22s} {'peer':>9s} {'before':>9s} {'after':>9s} {'ratio before':>13s} "
          f"{'ratio after':>12s} {'after/before':>13s}  load (peer, before, after)")
    for rnd, name, peer, before, after, rb, ra, load in out:
        print(f"{rnd:5d} {name:22s} {peer:9.2f} {before:9.2f} {after:9.2f} {rb:13.3f} {ra:12.3f} {ra / rb:13.3f}  "
              f"{load['peer']}, {load['before']}, {load['after']}")


if __name__ == "__main__":
    main()
