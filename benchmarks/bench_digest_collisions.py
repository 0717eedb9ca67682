"""False positives of the key digest used by ``_core/keyset.py`` (Python's ``hash`` of the key).

Two different keys whose digests are equal make a *candidate* repeat: harmless (the input is read
again and the keys themselves compared) but it costs that read. For ``n`` keys and a ``b``-bit
digest the expected number of colliding pairs is ``n * (n - 1) / 2 / 2**b``: at 64 bits and 19
million keys about 1e-5, too rare to observe. So the digest is measured where collisions are
common, on its low ``--bits`` bits (default 32), and compared with the same formula: a digest that
spreads keys like a random function matches it there, and the 64-bit rate follows.

    .venv/bin/python benchmarks/bench_digest_collisions.py [--keys 2000000] [--bits 32]

The keys are the benchmark's worst case (``req-000000001`` ...: short, differing in a few digits).
"""

from __future__ import annotations

import argparse
import collections
import time


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=2_000_000)
    parser.add_argument("--bits", type=int, default=32)
    args = parser.parse_args()
    n, bits = args.keys, args.bits
    mask = (1 << bits) - 1
    started = time.perf_counter()
    counts = collections.Counter(hash(f"req-{i:09d}") & mask for i in range(n))
    pairs = sum(c * (c - 1) // 2 for c in counts.values() if c > 1)
    full = len({hash(f"req-{i:09d}") for i in range(n)})
    expected = n * (n - 1) / 2 / 2**bits
    print(
        f"{n} keys: {pairs} colliding pairs on the low {bits} bits (expected {expected:.1f} for a random "
        f"function); {n - full} on all 64 bits (expected {n * (n - 1) / 2 / 2**64:.1e}); "
        f"{time.perf_counter() - started:.1f} s"
    )
    for keys in (1_000_000, 19_000_000):
        print(f"  expected 64-bit colliding pairs at {keys} keys: {keys * (keys - 1) / 2 / 2**64:.1e}")


if __name__ == "__main__":
    main()
