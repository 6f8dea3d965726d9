"""Run the benchmark suite and write its report.

    python -m benchmarks            # full run, updates README's table
    python -m benchmarks --quick    # CI smoke run: few rounds, under 2 minutes
    python -m benchmarks -k w4      # a subset (pytest -k), reported apart

Writes benchmarks/results/latest.json (every measurement, the machine, the
library versions and thread settings), latest.md (tables of medians and of
ratios to fastad and to the hand-written limit, plus the targets) and
ratios.png (log-scale bar chart; needs matplotlib); quick and subset runs
write latest-quick.* and latest-subset.* instead.  A run in which any
benchmark fails writes no report and exits non-zero.
"""
import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
README = os.path.join(ROOT, "README.md")
MARK_START, MARK_END = "<!-- benchmark-table:start -->", "<!-- benchmark-table:end -->"
PEERS = ["numpy", "scipy", "autograd", "torch", "jax", "jaxlib", "numba", "Cython", "casadi"]


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def versions():
    out = {}
    for name in ["fastad"] + PEERS:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def run_pytest(quick, threads, select, native_blas):
    env = dict(os.environ)
    if native_blas:
        # Some machines pin OpenBLAS to an older kernel (for old builds that
        # misbehave on their processors); it slows NumPy's BLAS but not
        # PyTorch's or JAX's. A full run measures NumPy with its own choice.
        for var in BLAS_OVERRIDES:
            env.pop(var, None)
    env.update({"FASTAD_BENCH_THREADS": str(threads), "FASTAD_BENCH_QUICK": "1" if quick else "0"})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    # Each workload runs in a process of its own: the peers one workload
    # loads (PyTorch's and JAX's runtimes, numba, Dask) must not slow the
    # next workload's measurements.  Within a module the hand-written limit
    # and fastad run first, the peers after them.
    modules = sorted(name for name in os.listdir(HERE)
                     if name.startswith("test_") and name.endswith(".py"))
    merged, worst = None, 5
    with tempfile.TemporaryDirectory() as tmp:
        for module in modules:
            out = os.path.join(tmp, module + ".json")
            cmd = [sys.executable, "-m", "pytest", os.path.join(HERE, module), "-p",
                   "no:cacheprovider", "-q", "--benchmark-enable", "--benchmark-json", out,
                   "-o", "addopts=", "--benchmark-columns=median,min,max"]
            if select:
                cmd += ["-k", select]
            code = subprocess.call(cmd, cwd=ROOT, env=env)
            if code == 5:  # (nothing selected in this module)
                continue
            worst = code if worst in (0, 5) else worst
            if not os.path.exists(out):
                raise SystemExit("%s produced no results (pytest exit %d)" % (module, code))
            with open(out) as f:
                data = json.load(f)
            if merged is None:
                merged = data
            else:
                merged["benchmarks"].extend(data["benchmarks"])
    return worst, merged or {"benchmarks": []}


def collect(raw):
    groups = {}
    for b in raw["benchmarks"]:
        info = b.get("extra_info", {})
        stats = b["stats"]
        groups.setdefault(b["group"], []).append({
            "impl": info.get("impl", b["name"]), "role": info.get("role", "peer"),
            "median": stats["median"], "min": stats["min"], "max": stats["max"],
            "rounds": stats["rounds"], "extra": {k: v for k, v in info.items()
                                                 if k not in ("impl", "role")}})
    for rows in groups.values():
        subject = next((r["median"] for r in rows if r["role"] == "subject"), None)
        limit = next((r["median"] for r in rows if r["role"] == "limit"), None)
        for r in rows:
            r["vs_fastad"] = r["median"] / subject if subject else None
            r["vs_limit"] = r["median"] / limit if limit else None
        rows.sort(key=lambda r: r["median"])
    return dict(sorted(groups.items()))


def _find(groups, prefix, impl):
    """The row of `impl` in the group named `prefix` or starting with it
    and a separator ("W1" finds "W1 scalar chain, ...", not "W15 ...")."""
    for name, rows in groups.items():
        if name.startswith(prefix) and not name[len(prefix):len(prefix) + 1].isalnum():
            for r in rows:
                if r["impl"] == impl:
                    return r
    return None


def targets(groups):
    """The figures the issues set, measured in this run."""
    out = []

    def add(label, value, bound, better="lower", unit="x"):
        if value is not None:
            met = value <= bound if better == "lower" else value >= bound
            out.append({"figure": label, "value": value, "target": bound,
                        "better": better, "unit": unit, "met": met})

    f1 = _find(groups, "W1", "fastad")
    if f1:
        ops = f1["extra"].get("ops") or 10_000
        add("W1 record+backward, ns per scalar op", f1["median"] / ops * 1e9, 120, unit="ns")
        plain = _find(groups, "W1", "python floats (function only)")
        if plain:
            add("W1 fastad / plain floats", f1["median"] / plain["median"], 2.0)
        for impl, bound in (("pytorch", 50), ("autograd", 300)):
            peer_row = _find(groups, "W1", impl)
            if peer_row:
                add("W1 %s / fastad" % impl, peer_row["median"] / f1["median"], bound, "higher")
    f1r = _find(groups, "W1 scalar chain, 10k ops: replayed", "fastad replayed")
    if f1r:
        ops = f1r["extra"].get("ops") or 10_000
        add("W1 replayed gradient, ns per scalar op", f1r["median"] / ops * 1e9, 10, unit="ns")
        limit = _find(groups, "W1 scalar chain, 10k ops: replayed", "numba hand-written forward+reverse")
        if limit:
            add("W1 replayed / numba hand-written", f1r["median"] / limit["median"], 2.0)
    f2 = _find(groups, "W2", "fastad replayed")
    if f2:
        limit = _find(groups, "W2", "scipy rosen_der (hand-written, vectorised)")
        if limit:
            add("W2 replayed gradient / rosen_der", f2["median"] / limit["median"], 2.0)
        for impl in ("autograd", "pytorch"):
            peer_row = _find(groups, "W2", impl)
            if peer_row:
                add("W2 %s / fastad replayed" % impl, peer_row["median"] / f2["median"], 100.0, "higher")
        jit = _find(groups, "W2", "jax (jit, steady state)")
        if jit:
            add("W2 jax.jit(grad) steady state / fastad replayed", jit["median"] / f2["median"], 1.0,
                "higher")
    for method in ("L-BFGS-B", "Newton-CG"):
        f9 = _find(groups, "W9 scipy.optimize.minimize, Rosenbrock n=1000, %s" % method, "fastad.optimize")
        l9 = _find(groups, "W9 scipy.optimize.minimize, Rosenbrock n=1000, %s" % method,
                   "scipy + rosen_der (hand-written)")
        if f9 and l9:
            add("W9 %s fastad.optimize / scipy + rosen_der" % method, f9["median"] / l9["median"], 1.5)
    f3 = _find(groups, "W3", "fastad")
    if f3:
        fun = _find(groups, "W3", "numpy function (rosen)")
        der = _find(groups, "W3", "scipy rosen_der (hand-written)")
        if fun:
            add("W3 gradient / function", f3["median"] / fun["median"], 3.0)
        if der:
            add("W3 fastad / rosen_der", f3["median"] / der["median"], 1.2)
    for dtype in ("float64", "float32"):
        f4 = next((r for name, rows in groups.items() if name.startswith("W4") and dtype in name
                   for r in rows if r["role"] == "subject"), None)
        if f4:
            add("W4 %s fastad / NumPy by hand" % dtype, f4["vs_limit"], 1.15)
    f5g = _find(groups, "W5 logistic regression 1000x100: gradient", "fastad")
    f5h = _find(groups, "W5 logistic regression 1000x100: Hessian", "fastad")
    if f5g and f5h:
        add("W5 fastad hvp / fastad grad", f5h["median"] / f5g["median"], 3.0)
        for impl in ("autograd make_hvp", "pytorch double backward", "jax jvp(grad) (no jit)"):
            peer_row = _find(groups, "W5 logistic regression 1000x100: Hessian", impl)
            if peer_row:
                add("W5 %s / fastad hvp" % impl, peer_row["median"] / f5h["median"], 1.0, "higher")
    f6 = _find(groups, "W6", "fastad jacobian")
    if f6:
        for impl in ("autograd jacobian", "pytorch functional.jacobian (vectorized)",
                     "jax jacfwd (no jit)", "jax jacrev (no jit)"):
            peer_row = _find(groups, "W6", impl)
            if peer_row:
                add("W6 %s / fastad jacobian" % impl, peer_row["median"] / f6["median"], 1.0, "higher")
        jit = _find(groups, "W6", "jax jacfwd (jit, steady state)")
        if jit:
            add("W6 fastad jacobian / jax.jit(jacfwd)", f6["median"] / jit["median"], 1.5)
    f8 = _find(groups, "W8", "fastad")
    if f8:
        limit = _find(groups, "W8", "numpy forward only")
        if limit:
            add("W8 fastad record+backward / numpy forward, per op", f8["median"] / limit["median"], 3.0)
        for impl in ("autograd", "pytorch"):
            peer_row = _find(groups, "W8", impl)
            if peer_row:
                add("W8 %s / fastad" % impl, peer_row["median"] / f8["median"], 3.0, "higher")
    # the array issue's figures: recorded tapes against the hand-written
    # limit and jax.jit's steady state
    w5g, w5h = "W5 logistic regression 1000x100: gradient", "W5 logistic regression 1000x100: Hessian"
    hand5g, hand5h = _find(groups, w5g, "numpy by hand"), _find(groups, w5h, "numpy by hand")
    rec5g, rec5h = _find(groups, w5g, "fastad recorded"), _find(groups, w5h, "fastad recorded")
    if hand5g and f5g:
        add("W5 traced gradient / NumPy by hand", f5g["median"] / hand5g["median"], 1.3)
    if hand5g and rec5g:
        add("W5 recorded gradient / NumPy by hand", rec5g["median"] / hand5g["median"], 1.0)
    if hand5h and f5h:
        # (the nested issue's: forward-over-reverse traced, its reverse
        # sweep of the fused node recorded as one program)
        add("W5 traced hvp / NumPy by hand", f5h["median"] / hand5h["median"], 3.0)
    if hand5h and rec5h:
        add("W5 recorded hvp / NumPy by hand", rec5h["median"] / hand5h["median"], 1.5)
        jit = _find(groups, w5h, "jax jvp(grad) (jit, steady state)")
        if jit:
            add("W5 recorded hvp / jax.jit steady state", rec5h["median"] / jit["median"], 1.0)
    rec8 = _find(groups, "W8", "fastad recorded")
    limit8 = _find(groups, "W8", "numpy forward only")
    if rec8 and limit8:
        add("W8 recorded gradient / numpy forward", rec8["median"] / limit8["median"], 0.5)
    if f8 and limit8:
        add("W8 traced record+backward / numpy forward", f8["median"] / limit8["median"], 1.5)
    jit3 = _find(groups, "W3", "jax (jit, steady state)")
    if f3 and jit3:
        add("W3 gradient / jax.jit(grad) steady state", f3["median"] / jit3["median"], 1.2)
    for name in sorted(groups):
        if not (name.startswith("W12") or name.startswith("W13") or name.startswith("W14")):
            continue
        traced = next((r for r in groups[name] if r["role"] == "subject"
                       and "recorded" not in r["impl"]), None)
        recorded = next((r for r in groups[name] if "fastad recorded" in r["impl"]), None)
        torch_row = next((r for r in groups[name] if r["impl"].startswith("pytorch")), None)
        jit = next((r for r in groups[name] if "jit" in r["impl"] and "no jit" not in r["impl"]),
                   None)
        label = name.split(":")[0]
        if traced and torch_row:
            add("%s pytorch / fastad traced" % label, torch_row["median"] / traced["median"], 1.0,
                "higher")
        if recorded and jit:
            add("%s fastad recorded / jax.jit steady state" % label,
                recorded["median"] / jit["median"], 2.0)
    f10 = _find(groups, "W10 Taylor order 10 vs one gradient", "fastad taylor order 10")
    g10 = _find(groups, "W10 Taylor order 10 vs one gradient", "fastad grad")
    if f10 and g10:
        add("W10 taylor order 10 / one gradient (1,000 ops)", f10["median"] / g10["median"], 20.0)
    f11 = _find(groups, "W11", "fastad.distributed.tape_map, 2 workers")
    l11 = _find(groups, "W11", "one process (loop of tape.gradient)")
    if f11 and l11:
        add("W11 speed-up of tape_map on 2 workers over one process", l11["median"] / f11["median"],
            1.7, "higher")
        add("W11 bytes sent to each worker (the pickled tape)", f11["extra"].get("bytes_per_worker", 0),
            1e9, unit="B")
    # the nested issue's figures: the chain's second derivatives against one
    # gradient; per problem and mode pair, the peers against fastad traced
    # and fastad recorded against the loop on floats by hand
    chain = "W15 nested, 10k-op scalar chain"
    g15, gg15 = _find(groups, chain, "fastad grad"), _find(groups, chain, "fastad grad(grad)")
    g15v, h15 = (_find(groups, chain, "fastad grad, 10 inputs"),
                 _find(groups, chain, "fastad hvp, 10 inputs"))
    if g15 and gg15:
        add("W15 grad(grad(f)) / grad(f), 10k-op chain", gg15["median"] / g15["median"], 5.0)
    if g15v and h15:
        add("W15 hvp / grad, 10k-op chain over 10 inputs", h15["median"] / g15v["median"], 5.0)
    for name in sorted(groups):
        if not name.startswith("W15 ") or name.startswith(chain):
            continue
        label = name.split(":")[0]
        traced = _find(groups, name, "fastad")
        recorded = _find(groups, name, "fastad recorded")
        limit = _find(groups, name, "python floats, derivatives by hand")
        ceiling = _find(groups, name, "fastad outer, inner derivative by hand (no inner operator)")
        for impl in ("autograd", "pytorch"):
            peer_row = _find(groups, name, impl)
            if traced and peer_row:
                add("%s %s / fastad traced" % (label, impl), peer_row["median"] / traced["median"],
                    100.0, "higher")
            if ceiling and peer_row:
                # (the most any inner operator allows: none at all)
                add("%s %s / fastad with no inner operator (ceiling)" % (label, impl),
                    peer_row["median"] / ceiling["median"], 100.0, "higher")
        if recorded and limit:
            add("%s fastad recorded / floats by hand" % label,
                recorded["median"] / limit["median"], 10.0)
    f7 = _find(groups, "W7", "fastad")
    if f7 and "tape_bytes_per_op" in f7["extra"]:
        add("W7 tape bytes per scalar op", f7["extra"]["tape_bytes_per_op"], 40, unit="B")
        add("W7 RSS growth over repeated grad calls, %", 100 * f7["extra"]["rss_growth"], 1.0, unit="%")
        fastad_peak = f7["extra"].get("peak_bytes_per_op")
        if fastad_peak is not None:
            for impl in ("autograd", "pytorch"):
                peer_row = _find(groups, "W7", impl)
                if peer_row and peer_row["extra"].get("peak_bytes_per_op") is not None:
                    add("W7 %s / fastad peak memory per op" % impl,
                        peer_row["extra"]["peak_bytes_per_op"] / max(fastad_peak, 1.0), 1.0, "higher")
    # the sparse issue's: evaluation against CasADi SX (loops <= 2x, vectorised
    # <= 1x from n = 1e4, <= 2x below), set-up at n = 1e5, and IPOPT's solve
    # by the ratio of solves taken side by side (run(..., paired=))
    for name in sorted(groups):
        if not name.startswith("W16 "):
            continue
        n = int(name.rsplit("n=", 1)[1])
        subject = next((r for r in groups[name] if r["role"] == "subject"), None)
        if subject is None:
            continue
        if name.startswith("W16 IPOPT"):
            if "paired_ratio" in subject["extra"]:
                add("W16 IPOPT solve n=%d fastad.ipopt / CasADi SX nlpsol (paired)" % n,
                    subject["extra"]["paired_ratio"], 2.0 if n < 5000 else 1.2)
            continue
        label = name[len("W16 sparse "):]
        loop = ", loop" in name
        sx, mx = _find(groups, name, "casadi SX Function"), _find(groups, name, "casadi MX Function")
        if sx:
            add("W16 %s: fastad / CasADi SX" % label, subject["median"] / sx["median"],
                2.0 if loop or n < 5000 else 1.0)
        setup = subject["extra"].get("setup_seconds")
        if n >= 50000 and setup is not None:
            if sx and sx["extra"].get("setup_seconds"):
                add("W16 %s: set-up / CasADi SX's" % label, setup / sx["extra"]["setup_seconds"],
                    0.05 if loop else 0.2)
            if mx and mx["extra"].get("setup_seconds"):
                add("W16 %s: set-up / CasADi MX's" % label, setup / mx["extra"]["setup_seconds"],
                    1.0)
    return out


def _time(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return "%.3g %s" % (seconds / scale, unit)
    return "%.3g ns" % (seconds / 1e-9)


def _ratio(x):
    return "—" if x is None else ("%.3g" % x)


def markdown(report):
    m, v = report["machine"], report["versions"]
    lines = ["Measured %s on %s (%s cores), Python %s, %d thread(s) for every library%s."
             % (report["date"], m["cpu"], m["cores"], m["python"], report["threads"],
                " — quick run (few rounds)" if report["quick"] else ""),
             "Versions: " + ", ".join("%s %s" % (k, val) for k, val in v.items() if val) + ".",
             "OpenBLAS kernel: %s." % (", ".join("%s=%s" % kv for kv in report["blas_env"].items()
                                                 if kv[1]) or "OpenBLAS's own choice"),
             "Reproduce: `pip install \".[bench]\" && python -m benchmarks`.", ""]
    if report["targets"]:
        lines += ["| target | measured | bound | met |", "|---|---|---|---|"]
        for t in report["targets"]:
            sign = "≤" if t["better"] == "lower" else "≥"
            lines.append("| %s | %.3g %s | %s %g %s | %s |" % (
                t["figure"], t["value"], t["unit"], sign, t["target"], t["unit"],
                "yes" if t["met"] else "**no**"))
        lines.append("")
    for name, rows in report["groups"].items():
        lines += ["**%s**" % name, "",
                  "| implementation | median | min | max | / fastad | / limit |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            impl = "**%s**" % r["impl"] if r["role"] == "subject" else r["impl"]
            if r["role"] == "limit":
                impl += " (limit)"
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                impl, _time(r["median"]), _time(r["min"]), _time(r["max"]),
                _ratio(r["vs_fastad"]), _ratio(r["vs_limit"])))
        compiles = ["%s %s" % (r["impl"], _time(r["extra"]["compile_seconds"])) for r in rows
                    if r["extra"].get("compile_seconds") is not None]
        if compiles:
            lines += ["", "Compilation (the first call, not in the timings): " + "; ".join(compiles)
                      + "."]
        lines.append("")
    return "\n".join(lines)


def chart(report, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install '.[bench]')")
        return False
    groups = [(name, rows) for name, rows in report["groups"].items()
              if any(r["vs_fastad"] for r in rows)]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 1.1 + 0.45 * sum(len(r) for _, r in groups)),
                             squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], groups):
        labels = [r["impl"] for r in rows]
        values = [r["vs_fastad"] for r in rows]
        colors = ["tab:red" if r["role"] == "subject" else
                  "tab:green" if r["role"] in ("limit", "function") else "tab:blue" for r in rows]
        ax.barh(labels, values, color=colors)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=8)
        for i, value in enumerate(values):
            ax.text(value, i, " %.3gx" % value, va="center", fontsize=7)
    axes[-1, 0].set_xlabel("time relative to fastad (log scale; lower is faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _median_seconds(fun, *args, budget=2.0, max_repeats=15):
    import time
    fun(*args)  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < 3 or time.perf_counter() - start < budget):
        t = time.perf_counter()
        fun(*args)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def _scaling_w1(quick):
    """Seconds per W1 gradient against the number of operations."""
    import math
    from benchmarks.test_w1_scalar_chain import X, Y, chain
    sizes = [10 ** k for k in range(2, 5 if quick else 7)]
    impls = {}
    try:
        import fastad
        import fastad.numpy as fnp
        impls["fastad"] = (lambda n: (lambda: fastad.grad(
            lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh, n), (0, 1))(X, Y)), 10 ** 6)

        def replayed(n):
            from benchmarks.common import alternating
            tape = fastad.record(lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh, n), X, Y)
            return alternating(tape.gradient, (X, Y), (X + 0.1, Y))  # a replay per call
        impls["fastad replayed"] = (replayed, 10 ** 6)
    except ImportError:
        pass
    impls["python floats (function only)"] = (
        lambda n: (lambda: chain(X, Y, math.sin, math.exp, math.log, math.tanh, n)), 10 ** 6)
    try:
        import autograd
        import autograd.numpy as anp
        impls["autograd"] = (lambda n: (lambda: autograd.grad(
            lambda v: chain(v[0], v[1], anp.sin, anp.exp, anp.log, anp.tanh, n))((X, Y))), 10 ** 4)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(1)

        def torch_grad(n):
            def call():
                x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
                y = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
                chain(x, y, torch.sin, torch.exp, torch.log, torch.tanh, n).backward()
            return call
        impls["pytorch"] = (torch_grad, 10 ** 5)
    except ImportError:
        pass
    return "W1 gradient of an n-operation scalar loop", "operations", sizes, {
        name: [(_median_seconds(make(n)) if n <= limit else None) for n in sizes]
        for name, (make, limit) in impls.items()}


def _scaling_w4(quick):
    """Seconds per W4 loss-and-gradients call against the batch size."""
    from benchmarks.test_w4_mlp import hand_written, loss, problem
    sizes = [16, 64] if quick else [16, 64, 256, 1024]
    impls = {"numpy by hand": lambda b: (lambda p=problem("float64", b): hand_written(*p))}
    try:
        import fastad
        import fastad.numpy as fnp
        import fastad.scipy.special as fsp
        vg = fastad.value_and_grad(lambda p, X, T: loss(fnp, fsp.logsumexp, p, X, T))
        impls["fastad"] = lambda b: (lambda p=problem("float64", b): vg(*p))
    except ImportError:
        pass
    try:
        import autograd
        import autograd.numpy as anp
        import autograd.scipy.special as asp

        def autograd_call(b):
            params, X, T = problem("float64", b)
            f = autograd.value_and_grad(lambda p: loss(anp, asp.logsumexp, p, X, T))
            return lambda: f(params)
        impls["autograd"] = autograd_call
    except ImportError:
        pass
    try:
        import torch

        def torch_call(b):
            params, X, T = problem("float64", b)
            tp = [torch.from_numpy(p).requires_grad_(True) for p in params]
            tX, tT = torch.from_numpy(X), torch.from_numpy(T)

            def call():
                for p in tp:
                    p.grad = None
                loss(torch, torch.logsumexp, tp, tX, tT, relu=torch.relu).backward()
            return call
        impls["pytorch"] = torch_call
    except ImportError:
        pass
    return "W4 MLP loss and gradients against the batch size (float64)", "batch", sizes, {
        name: [_median_seconds(make(b)) for b in sizes] for name, make in impls.items()}


def scaling(quick, directory, suffix):
    """Time against problem size for W1 and W4, as PNG plots and JSON."""
    results = [_scaling_w1(quick), _scaling_w4(quick)]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    out = []
    for (title, xlabel, sizes, series), name in zip(results, ("w1", "w4")):
        out.append({"title": title, "x": xlabel, "sizes": sizes, "seconds": series})
        if plt is None:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for impl, times in series.items():
            points = [(n, t) for n, t in zip(sizes, times) if t is not None]
            ax.loglog([p[0] for p in points], [p[1] for p in points], marker="o", label=impl)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds per call (median)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(directory, "scaling_%s%s.png" % (name, suffix)), dpi=100)
        plt.close(fig)
    return out


def update_readme(text):
    if not os.path.exists(README):
        return False
    with open(README) as f:
        content = f.read()
    if MARK_START not in content or MARK_END not in content:
        return False
    head, rest = content.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    with open(README, "w") as f:
        f.write(head + MARK_START + "\n" + text + "\n" + MARK_END + tail)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, CI smoke run")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("-k", dest="select", help="pytest -k expression to run a subset")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE from the environment "
                             "(a full run clears them so that NumPy picks its own kernel; "
                             "--quick keeps them)")
    args = parser.parse_args(argv)

    native_blas = not args.quick and not args.keep_blas_env
    code, raw = run_pytest(args.quick, args.threads, args.select, native_blas)
    if code not in (0, 5):
        # (a broken run must not replace the report of the last good one)
        raise SystemExit("some benchmarks failed (pytest exit %d): see above; no report "
                         "written" % code)
    blas_env = {var: (None if native_blas else os.environ.get(var)) for var in BLAS_OVERRIDES}
    report = {"date": datetime.datetime.now().strftime("%Y-%m-%d"), "quick": args.quick,
              "threads": args.threads, "machine": machine(), "versions": versions(),
              "blas_env": blas_env}
    report["groups"] = collect(raw)
    report["targets"] = targets(report["groups"])
    os.makedirs(RESULTS, exist_ok=True)
    # quick and -k runs write reports of their own, beside the full run's
    suffix = "-quick" if args.quick else "-subset" if args.select else ""
    with open(os.path.join(RESULTS, "latest%s.json" % suffix), "w") as f:
        json.dump(report, f, indent=1)
    text = markdown(report)
    with open(os.path.join(RESULTS, "latest%s.md" % suffix), "w") as f:
        f.write(text + "\n")
    chart(report, os.path.join(RESULTS, "ratios%s.png" % suffix))
    if not args.select:
        report["scaling"] = scaling(args.quick, RESULTS, suffix)
        with open(os.path.join(RESULTS, "latest%s.json" % suffix), "w") as f:
            json.dump(report, f, indent=1)
    print(text)
    if not args.quick and not args.select and not args.no_readme and update_readme(text):
        print("README.md table updated")


if __name__ == "__main__":
    main()
