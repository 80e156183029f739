#!/usr/bin/env python3
"""mpi4py.futures twin of crates/mpi/benches/mpi_workloads.rs: W1, W3 and W7 of
BENCHMARKS.md with the ranks of an MPI job as the workers (MPIPoolExecutor, statically
launched: rank 0 runs this script, the other ranks serve tasks).

    mpirun -n 3 python3 -m mpi4py.futures benches/python/mpi_workloads.py [--quick] [--workload W1,W7]

It prints one line per figure, `fig<TAB>VARIANT<TAB>VALUE`, VARIANT being the Rust
bench's variant text, then `done`. `cargo xtask bench` runs it through the Rust bench,
which prints both side by side; where mpi4py is not installed it says so and goes on.
"""

import math
import statistics
import sys
import time

from mpi4py.futures import MPIPoolExecutor

MIB = 1 << 20
MASK = (1 << 64) - 1


def square(x):
    return (x * x) & MASK


def payload_len(buf):
    return len(buf)


def payload_echo(buf):
    return buf


def w1(ex, quick, chunksize, workers):
    n = 100_000 if quick else 1_000_000
    if chunksize is None:
        # multiprocessing.Pool's default; MPIPoolExecutor.map's own default is 1.
        chunksize = math.ceil(n / (4 * workers))
    t = time.perf_counter()
    out = list(ex.map(square, range(n), chunksize=chunksize))
    took = time.perf_counter() - t
    assert len(out) == n and out[3] == 9, "W1: wrong results"
    return n / took


def w3(ex, quick, _chunksize, _workers):
    micros = []
    for i in range(500 if quick else 5_000):
        t = time.perf_counter()
        got = ex.submit(square, i).result()
        micros.append((time.perf_counter() - t) * 1e6)
        assert got == i * i, "W3: wrong result"
    return statistics.median(micros)


def w7(ex, quick, echo, _workers):
    size = 16 * MIB
    calls = 1 if quick else 4
    buffers = [bytes([7]) * size for _ in range(calls)]
    t = time.perf_counter()
    for buf in buffers:
        if echo:
            ok = len(ex.submit(payload_echo, buf).result()) == size
        else:
            ok = ex.submit(payload_len, buf).result() == size
        assert ok, "W7: wrong result"
    moved = (2 if echo else 1) * size * calls
    return moved / (time.perf_counter() - t) / 1e9


# (workload, variant as the Rust bench names it, function, its argument)
CASES = [
    ("W1", "map, default chunksize", w1, None),
    ("W1", "map, chunksize 10000", w1, 10_000),
    ("W3", "apply round trip, median", w3, None),
    ("W7", "16 MiB -> len, apply", w7, False),
    ("W7", "16 MiB echo, apply", w7, True),
]


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    wanted = []
    if "--workload" in args:
        wanted = [w.strip().upper() for w in args[args.index("--workload") + 1].split(",")]
    cases = [c for c in CASES if not wanted or c[0] in wanted]
    with MPIPoolExecutor() as ex:
        workers = ex.num_workers
        list(ex.map(square, range(4 * workers)))  # warm
        reps = 1 if quick else 5
        figures = {c[1]: [] for c in cases}
        for _ in range(reps):
            for _, variant, f, arg in cases:
                figures[variant].append(f(ex, quick, arg, workers))
    for _, variant, _, _ in cases:
        print(f"fig\t{variant}\t{statistics.median(figures[variant])}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
