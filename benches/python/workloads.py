#!/usr/bin/env python3
"""CPython twin of benches/workloads.rs: the BENCHMARKS.md workloads written with
multiprocessing and concurrent.futures, standard library only.

Each case has the same key and returns the same figures, in the same order, as its Rust
twin in benches/workloads/cases.rs.

    python3 benches/python/workloads.py run [--quick] [--workload W1,W3]
        every case once, printed (the CPython side on its own)
    python3 benches/python/workloads.py serve
        the protocol `cargo xtask bench` speaks: it prints `ready<TAB>version<TAB>start
        method`, then answers each line `KEY<TAB>QUICK(0|1)` with `ok<TAB>v1<TAB>v2...`
        or `err<TAB>message`
    python3 benches/python/workloads.py child w5|w10|w11 ...
        internal: the fresh processes W5, W10 and W11 need

Two worker processes unless stated; the default start method of this Python
(`fork` before 3.14).
"""

import concurrent.futures as cf
import multiprocessing as mp
import os
import re
import signal
import statistics
import subprocess
import sys
import time

MIB = 1 << 20
MASK = (1 << 64) - 1


# ---- tasks (module level, so every start method can find them) ----------------------


def square(x):
    return x * x


def noop(x):
    return x


def proc_noop():
    pass


def sleep_ms(ms):
    time.sleep(ms / 1000)
    return ms


def payload_len(buf):
    return len(buf)


def payload_echo(buf):
    return buf


def spin(n):
    """The W8 multiply loop: ~0.25 s once calibrated."""
    x = 1
    for i in range(n):
        x = (x * 6364136223846793005 + i) & MASK
    return x


def die_on_3(arg):
    """W11: item 3 ends its own worker (`exit(1)` or SIGKILL); the others square."""
    i, how = arg
    if i == 3:
        if how == "exit":
            sys.exit(1)
        os.kill(os.getpid(), signal.SIGKILL)
    return i * i


W13_MS = [
    int(n)
    for line in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "w13_task_ms.txt"))
    if not line.startswith("#")
    for n in line.strip().split(",")
    if n
]


def w13_task(i):
    """W13: task `i` sleeps its length (a fixed lognormal draw), returns `i`."""
    time.sleep(W13_MS[i] / 1000)
    return i


def fault(i):
    """W14: what task `i` of the fault mix does (the Rust side's rule)."""
    k = (i * 0x9E3779B97F4A7C15) % (1 << 64) % 1000
    if k < 5:
        return "abort"
    if k < 10:
        return "exit"
    if k < 20:
        return "raise"
    if k < 25:
        return "sleep"
    return "value"


def fault_mix(i):
    """W14: i * 7, or abort, _exit, raise, or sleep a minute."""
    what = fault(i)
    if what == "abort":
        os.abort()
    if what == "exit":
        os._exit(3 + i % 60)
    if what == "raise":
        raise RuntimeError(f"task {i} raises")
    if what == "sleep":
        time.sleep(60)
    return i * 7


def fail(i):
    """W12: a task that raises."""
    raise ValueError(f"boom {i}")


# ---- helpers -------------------------------------------------------------------------


def warm_pool(processes, **kwargs):
    """A pool whose workers have all run a task."""
    pool = mp.Pool(processes, **kwargs)
    pool.map(noop, range(processes * 4), chunksize=1)
    return pool


def warm_executor(workers):
    ex = cf.ProcessPoolExecutor(workers)
    list(ex.map(noop, range(workers * 4)))
    return ex


def vmhwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def percentile(sorted_values, p):
    index = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def one_line(text):
    return " ".join(str(text).split())


# ---- the cases -----------------------------------------------------------------------


def items(quick):
    return 100_000 if quick else 1_000_000


def w1(make, run):
    """Items per second of `run(pool, n)` on a warm pool or executor from `make(2)`."""

    def case(quick):
        n = items(quick)
        with make(2) as pool:
            t = time.perf_counter()
            out = run(pool, n)
            dt = time.perf_counter() - t
        assert len(out) == n
        return [n / dt]

    return case


w1_map_default = w1(warm_pool, lambda pool, n: pool.map(square, range(n)))
w1_map_chunked = w1(warm_pool, lambda pool, n: pool.map(square, range(n), chunksize=10_000))
w1_executor_map = w1(
    warm_executor, lambda ex, n: list(ex.map(square, range(n), chunksize=10_000))
)


def w2_imap_unordered(quick):
    n = items(quick)
    with warm_pool(2) as pool:
        t = time.perf_counter()
        count = sum(1 for _ in pool.imap_unordered(square, range(n), chunksize=1000))
        dt = time.perf_counter() - t
    assert count == n
    return [n / dt]


def latencies(call, n):
    out = []
    for i in range(n):
        t = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t) * 1e6)
    out.sort()
    return [statistics.median(out), percentile(out, 99)]


def w3_apply(quick):
    with warm_pool(1) as pool:
        return latencies(lambda i: pool.apply(noop, (i,)), 1000 if quick else 10_000)


def w3_submit(quick):
    with warm_executor(1) as ex:
        return latencies(lambda i: ex.submit(noop, i).result(), 1000 if quick else 10_000)


def w4_apply_async(quick):
    n = 10_000 if quick else 100_000
    with warm_pool(2) as pool:
        t = time.perf_counter()
        handles = [pool.apply_async(noop, (i,)) for i in range(n)]
        total = sum(1 for h in handles if h.get() is not None)
        dt = time.perf_counter() - t
    assert total == n
    return [n / dt]


def w4_submit(quick):
    n = 10_000 if quick else 100_000
    with warm_executor(2) as ex:
        t = time.perf_counter()
        futures = [ex.submit(noop, i) for i in range(n)]
        total = sum(1 for f in cf.as_completed(futures) if f.result() is not None)
        dt = time.perf_counter() - t
    assert total == n
    return [n / dt]


def w5(method):
    """In a fresh interpreter, as the Rust twin does in a fresh process: what a fork costs
    grows with the parent's memory, which the workloads run before would otherwise set."""

    def case(quick):
        out, timed_out = run_child(["w5", method, str(20 if quick else 200)], 600)
        if timed_out or not out:
            raise RuntimeError(f"W5 child ({method}) gave no figure")
        return [float(out)]

    return case


def w6_pool(quick):
    t = time.perf_counter()
    pool = mp.Pool(2)
    out = pool.map(noop, [0, 1])
    first = time.perf_counter() - t
    pool.close()
    pool.join()
    down = time.perf_counter() - t
    assert out == [0, 1]
    return [first * 1e3, down * 1e3]


def w7(mib):
    def case(quick):
        size = mib * MIB
        calls = max(2, 64 // mib) if not quick else max(1, 8 // mib)
        with warm_pool(2) as pool:
            bufs = [b"\x07" * size for _ in range(calls)]
            # Untimed: steady state first, as on the Rust side (two payloads of this size
            # each way per worker).
            warm = pool.map(payload_echo, [bufs[0]] * 4, chunksize=1)
            assert [len(b) for b in warm] == [size] * 4
            t = time.perf_counter()
            for buf in bufs:
                assert pool.apply(payload_len, (buf,)) == size
            len_rate = size * calls / (time.perf_counter() - t) / 1e9
            t = time.perf_counter()
            for buf in bufs:
                assert len(pool.apply(payload_echo, (buf,))) == size
            echo_rate = 2 * size * calls / (time.perf_counter() - t) / 1e9
        return [len_rate, echo_rate]

    return case


_SPIN = {}


def spin_count(quick):
    """Loop count for one W8 task: ~0.25 s (0.03 s with --quick), calibrated once."""
    target = 0.03 if quick else 0.25
    if "per_iter" not in _SPIN:
        probe = 200_000
        best = min(timed(spin, probe) for _ in range(3))
        _SPIN["per_iter"] = best / probe
    return max(1, int(target / _SPIN["per_iter"]))


def timed(f, arg):
    t = time.perf_counter()
    f(arg)
    return time.perf_counter() - t


def w8_cpu(quick):
    n = spin_count(quick)
    tasks = [n] * 12
    t = time.perf_counter()
    for task in tasks:
        spin(task)
    serial = time.perf_counter() - t

    def run(workers, call):
        with warm_pool(workers) as pool:
            t = time.perf_counter()
            call(pool)
            return serial / (time.perf_counter() - t)

    mapped = run(2, lambda pool: pool.map(spin, tasks))
    unordered = run(2, lambda pool: list(pool.imap_unordered(spin, tasks, chunksize=4)))
    scaling = [run(w, lambda pool: pool.map(spin, tasks)) for w in (1, 3, 4)]
    return [mapped, unordered] + scaling


def w9(workers, ideal):
    def case(quick):
        unit = 100 if quick else 1000
        with warm_pool(workers) as pool:
            t = time.perf_counter()
            pool.map(sleep_ms, [unit, 2 * unit, 3 * unit, 4 * unit], chunksize=1)
            took = time.perf_counter() - t
        return [took - ideal * unit / 1000]

    return case


def w10(api):
    def case(quick):
        big = 200_000 if quick else 20_000_000
        large, small = [int(run_child(["w10", api, str(n)], 600)[0]) for n in (big, 1000)]
        return [(large - small) / 1024, large / small]

    return case


def run_child(args, timeout):
    """Runs this script as a fresh process; (stdout, timed_out). Kills its whole group."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "child"] + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return out.strip(), False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return out.strip(), True


def w11(api):
    def case(quick):
        timeout = 3 if quick else 20
        procs = {}
        for how in ("exit", "kill"):
            procs[how] = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "child", "w11", api, how],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        texts = []
        for how in ("exit", "kill"):
            proc = procs[how]
            try:
                out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
                texts.append(one_line(out) or f"child exited {proc.returncode}, no outcome")
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                texts.append(f"hang: no outcome within {timeout} s (killed)")
        return texts

    return case


def describe_failure(err):
    remote = getattr(err.__cause__, "tb", "") or ""
    where = re.findall(r'File "([^"]+)", line (\d+), in fail', remote)
    location = f"yes ({os.path.basename(where[-1][0])}:{where[-1][1]})" if where else "no"
    backtrace = f"yes ({remote.count('File ')} frames, as __cause__ text)" if remote else "no"
    return (
        f"{type(err).__name__} re-raised; message {str(err)!r}; location {location}; "
        f"remote traceback {backtrace}"
    )


def w12_apply(quick):
    with warm_pool(2) as pool:
        try:
            pool.apply(fail, (7,))
        except Exception as err:
            return [describe_failure(err)]
    return ["no error"]


def w12_submit(quick):
    with warm_executor(2) as ex:
        try:
            ex.submit(fail, 7).result()
        except Exception as err:
            return [describe_failure(err)]
    return ["no error"]


def w13_figures(done):
    return [max(done), sum(done) / len(done) * 1000]


def w13_imap_unordered(quick):
    with mp.Pool(2) as pool:
        t = time.perf_counter()
        done = [0.0] * len(W13_MS)
        for i in pool.imap_unordered(w13_task, range(len(W13_MS)), chunksize=1):
            done[i] = time.perf_counter() - t
    return w13_figures(done)


def w13_submit(quick):
    with cf.ProcessPoolExecutor(2) as ex:
        t = time.perf_counter()
        futures = [ex.submit(w13_task, i) for i in range(len(W13_MS))]
        done = [0.0] * len(W13_MS)
        for f in cf.as_completed(futures):
            done[f.result()] = time.perf_counter() - t
    return w13_figures(done)


def w14_map(quick):
    """The fault mix in a fresh process, given a minute (CPython has no per-task timeout)."""
    timeout = 10 if quick else 60
    n = 2000 if quick else 20000
    out, timed_out = run_child(["w14", str(n)], timeout)
    if timed_out:
        return [f"hang: no outcome within {timeout} s (killed)"]
    return [one_line(out) or "no outcome"]


# ---- W15 to W19: processes that talk ------------------------------------------------
# Measured from a `go` given to children that are already started and waiting, as the
# Rust twin does, with the forkserver context (multiproc's default start method).


def talk_ctx():
    return mp.get_context("forkserver")


def put_ints(q, go, n, batched):
    q.put(-1)  # ready
    go.wait()
    if batched:
        for start in range(0, n, 1000):
            q.put_many(list(range(start, min(start + 1000, n))))
    else:
        for i in range(n):
            q.put(i)


def w15(kind):
    """Items per second from a producer process: `mp.Queue` put/get, or faster_fifo's
    put_many/get_many (PyPI `faster-fifo`, when installed)."""

    def case(quick):
        n = 20_000 if quick else 200_000
        ctx = talk_ctx()
        if kind == "faster_fifo":
            import faster_fifo

            q = faster_fifo.Queue(max_size_bytes=64 * MIB)
        else:
            q = ctx.Queue()
        go = ctx.Event()
        p = ctx.Process(target=put_ints, args=(q, go, n, kind == "faster_fifo"))
        p.start()
        assert q.get() == -1
        t = time.perf_counter()
        go.set()
        total, got = 0, 0
        if kind == "faster_fifo":
            while got < n:
                items = q.get_many(max_messages_to_get=4096)
                total += sum(items)
                got += len(items)
        else:
            for _ in range(n):
                total += q.get()
            got = n
        dt = time.perf_counter() - t
        p.join()
        assert got == n and total == n * (n - 1) // 2
        return [n / dt]

    return case


def put_kib(q, go, n):
    payload = b"\x5a" * 1024
    q.put(b"")  # ready
    go.wait()
    for _ in range(n):
        q.put(payload)


def w16_queue_kib(quick):
    n = 5_000 if quick else 50_000
    ctx = talk_ctx()
    q, go = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=put_kib, args=(q, go, n))
    p.start()
    assert q.get() == b""
    t = time.perf_counter()
    go.set()
    total = 0
    for _ in range(n):
        total += len(q.get())
    dt = time.perf_counter() - t
    p.join()
    assert total == 1024 * n
    return [total / dt / 1e6]


def echo(conn):
    try:
        while True:
            conn.send(conn.recv())
    except EOFError:
        pass


def w17_pipe_rtt(quick):
    n = 500 if quick else 5_000
    ctx = talk_ctx()
    here, there = ctx.Pipe()
    p = ctx.Process(target=echo, args=(there,))
    p.start()
    there.close()
    for i in range(200):
        here.send(i)
        assert here.recv() == i
    micros = []
    for i in range(n):
        t = time.perf_counter()
        here.send(i)
        back = here.recv()
        micros.append((time.perf_counter() - t) * 1e6)
        assert back == i
    here.close()
    p.join()
    micros.sort()
    return [percentile(micros, 50)]


def increment(value, go, done, n):
    done.put(0)  # ready
    go.wait()
    for _ in range(n):
        with value.get_lock():
            value.value += 1
    done.put(1)


def w18_value_lock(quick):
    n = 10_000 if quick else 100_000
    ctx = talk_ctx()
    value, go, done = ctx.Value("q", 0), ctx.Event(), ctx.Queue()
    children = [ctx.Process(target=increment, args=(value, go, done, n)) for _ in range(2)]
    for p in children:
        p.start()
    for _ in range(2):
        assert done.get() == 0
    t = time.perf_counter()
    go.set()
    for _ in range(2):
        assert done.get() == 1
    dt = time.perf_counter() - t
    for p in children:
        p.join()
    assert value.value == 2 * n, "the final value is not exact"
    return [2 * n / dt]


def read_all(name):
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(name)
    total = sum(shm.buf[off : off + MIB].tobytes().count(0x5A) for off in range(0, shm.size, MIB))
    shm.close()
    return total


def read_all_child(name, out):
    out.put(read_all(name))


def w19_shared_memory(quick):
    from multiprocessing import shared_memory

    size = (8 if quick else 64) * MIB
    data = b"\x5a" * size
    t = time.perf_counter()
    shm = shared_memory.SharedMemory(create=True, size=size)
    shm.buf[:size] = data
    dt = time.perf_counter() - t
    ctx = talk_ctx()
    out = ctx.Queue()
    p = ctx.Process(target=read_all_child, args=(shm.name, out))
    p.start()
    counted = out.get()
    p.join()
    shm.close()
    shm.unlink()
    assert counted == size, "the child read other bytes"
    return [size / dt / 1e9]


# ---- W20: many workers ---------------------------------------------------------------


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss line")


def w20_pool64(quick):
    workers = 16 if quick else 64
    ctx = mp.get_context("forkserver")
    t = time.perf_counter()
    with ctx.Pool(workers) as pool:
        results = pool.imap(noop, range(256))
        first = next(results)
        first_ms = (time.perf_counter() - t) * 1e3
        assert first == 0 and len(list(results)) == 255
        t = time.perf_counter()
        slept = pool.map(sleep_ms, [200] * workers, chunksize=1)
        above = time.perf_counter() - t - 0.2
        assert len(slept) == workers
        pids = [p.pid for p in pool._pool]
        assert len(pids) == workers
        pss = sum(pss_kib(pid) for pid in pids) / workers
    return [first_ms, above, pss]


CASES = {
    "W1.map": w1_map_default,
    "W1.map_chunked": w1_map_chunked,
    "W1.executor_map": w1_executor_map,
    "W2.imap_unordered": w2_imap_unordered,
    "W3.apply": w3_apply,
    "W3.submit": w3_submit,
    "W4.apply_async": w4_apply_async,
    "W4.submit": w4_submit,
    "W5.fork": w5("fork"),
    "W5.spawn": w5("spawn"),
    "W5.forkserver": w5("forkserver"),
    "W6.pool": w6_pool,
    "W7.1": w7(1),
    "W7.16": w7(16),
    "W7.128": w7(128),
    "W8.cpu": w8_cpu,
    "W9.parallel": w9(4, 4),
    "W9.serial": w9(1, 10),
    "W10.imap": w10("imap"),
    "W10.executor_map": w10("executor"),
    "W11.map": w11("pool"),
    "W11.executor_map": w11("executor"),
    "W12.apply": w12_apply,
    "W12.submit": w12_submit,
    "W13.imap_unordered": w13_imap_unordered,
    "W13.submit": w13_submit,
    "W14.map": w14_map,
    "W15.queue": w15("queue"),
    "W15.queue_many": w15("queue"),
    "W15.faster_fifo": w15("faster_fifo"),
    "W16.queue_kib": w16_queue_kib,
    "W17.pipe_rtt": w17_pipe_rtt,
    "W18.value_lock": w18_value_lock,
    "W19.shared_memory": w19_shared_memory,
    "W20.pool64": w20_pool64,
}


# ---- children ------------------------------------------------------------------------


def child_w5(method, n):
    ctx = mp.get_context(method)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        p = ctx.Process(target=proc_noop)
        p.start()
        p.join()
        times.append((time.perf_counter() - t) * 1e3)
        assert p.exitcode == 0
    print(statistics.median(times), flush=True)


def child_w10(api, n):
    source = (i for i in range(n))  # lazy: nothing is materialised up front
    if api == "imap":
        owner = mp.Pool(2)
        results = owner.imap(square, source, chunksize=1000)
    else:
        owner = cf.ProcessPoolExecutor(2)
        results = owner.map(square, source, chunksize=1000)
    next(results)
    time.sleep(0.5)
    count = 1 + sum(1 for _ in results)
    assert count == n, (count, n)
    print(vmhwm_kib(), flush=True)
    if api == "imap":
        owner.terminate()
    else:
        owner.shutdown()


def child_w11(api, how):
    args = [(i, how) for i in range(10)]
    t = time.perf_counter()
    if api == "pool":
        pool = mp.Pool(2)
        try:
            out = pool.map(die_on_3, args)
            text = f"{len(out)} of 10 results"
        except BaseException as err:
            text = f"0 of 10 results: {type(err).__name__}: {one_line(err)}"
        print(f"{text} after {time.perf_counter() - t:.2f} s", flush=True)
        pool.terminate()
    else:
        ex = cf.ProcessPoolExecutor(2)
        got = 0
        try:
            for _ in ex.map(die_on_3, args):
                got += 1
            text = f"{got} of 10 results"
        except BaseException as err:
            text = f"{got} of 10 results, then {type(err).__name__}: {one_line(err)}"
        print(f"{text} after {time.perf_counter() - t:.2f} s", flush=True)
        ex.shutdown(wait=False, cancel_futures=True)


def child_w14(n):
    t = time.perf_counter()
    with mp.Pool(2) as pool:
        try:
            out = pool.map(fault_mix, range(n), chunksize=1)
            text = f"{len(out)} of {n} results"
        except BaseException as err:
            text = f"no results: {type(err).__name__}: {one_line(err)}"
        print(f"{text} after {time.perf_counter() - t:.2f} s", flush=True)


# ---- modes ---------------------------------------------------------------------------


def version():
    return sys.version.split()[0]


def serve():
    print(f"ready\t{version()}\t{mp.get_start_method()}", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        key, _, quick = line.partition("\t")
        try:
            values = CASES[key](quick == "1")
            reply = "ok\t" + "\t".join(
                v if isinstance(v, str) else repr(float(v)) for v in values
            )
        except BaseException as err:  # report, keep serving
            reply = f"err\t{type(err).__name__}: {one_line(err)}"
        print(reply, flush=True)


def run(argv):
    quick = "--quick" in argv
    wanted = None
    if "--workload" in argv:
        wanted = {w.strip().upper() for w in argv[argv.index("--workload") + 1].split(",")}
    print(f"Python {version()} ({mp.get_start_method()}), quick={quick}")
    for key, case in CASES.items():
        if wanted and key.split(".")[0] not in wanted:
            continue
        if quick and key == "W7.128":
            continue
        t = time.perf_counter()
        values = case(quick)
        shown = ", ".join(v if isinstance(v, str) else f"{v:.4g}" for v in values)
        print(f"{key:<18} {shown}   ({time.perf_counter() - t:.1f} s)", flush=True)


def main():
    argv = sys.argv[1:]
    mode = argv[0] if argv else "run"
    if mode == "serve":
        serve()
    elif mode == "child" and argv[1] == "w5":
        child_w5(argv[2], int(argv[3]))
    elif mode == "child" and argv[1] == "w10":
        child_w10(argv[2], int(argv[3]))
    elif mode == "child" and argv[1] == "w11":
        child_w11(argv[2], argv[3])
    elif mode == "child" and argv[1] == "w14":
        child_w14(int(argv[2]))
    elif mode == "run":
        run(argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
