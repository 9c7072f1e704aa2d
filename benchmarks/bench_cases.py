"""The benchmark cases at one N: reference, polmlip PME/Ewald, torch-pme Ewald/PME/P3M, matched.

:class:`Bench` runs them size by size and keeps the results table (``rows``), the per-N
bookkeeping the summary tables and verdicts read (``summary``) and notes on skipped cases.
"""

import pathlib
import sys

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.electrostatics.ewald import half_space_indices

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_runners import (  # noqa: E402
    measure,
    polmlip_runner,
    rel_errors,
    timed,
    torchpme_runner,
    tp_ewald_calculator,
    tp_ewald_kvectors,
    tp_mesh_calculator,
)
from bench_settings import (  # noqa: E402
    ACCURACY,
    EWALD_BYTES_PER_PAIR,
    EWALD_MAX_S,
    EWALD_REF_MAX_N,
    QUICK_EWALD_MAX_S,
    SIGMA,
    SPLINE_ORDER,
    TP_EWALD_BYTES_PER_PAIR,
    TP_EWALD_MAX_BYTES,
    TP_MESH_BYTES_PER_POINT,
    TP_P3M_NODES,
    TP_PME_NODES,
    TP_START_SPACING,
)
from bench_systems import loadavg, mem_available, water_box  # noqa: E402
from bench_tables import fmt_mesh  # noqa: E402

STEPS_PER_SIZE = 8  # progress-bar steps of one :meth:`Bench.run_size`


class Bench:
    """Runs all cases; ``rows`` is the results table, ``summary[N]`` the per-N bookkeeping."""

    def __init__(self, args, bar):
        self.args = args
        self.bar = bar
        self.rows = []
        self.summary = {}
        self.notes = []
        self.last_ewald = {}  # method -> (N, seconds)
        self.tp_ewald_lr = 1.0
        self.ewald_max_s = QUICK_EWALD_MAX_S if args.quick else EWALD_MAX_S
        self.ref_check = None
        self.scaling = None  # set by electrostatics.scaling_pass

    def step(self, n, what):
        self.bar.set_postfix_str(f"N={n} {what}")

    def done(self):
        self.bar.update(1)

    def add(self, n, method, settings, m, ref, **extra):
        """Append a results row for measurement ``m`` (errors against ``ref``) and return it."""
        e_err, f_err = rel_errors(m["out"], ref)
        row = dict(
            n=n,
            method=method,
            settings=settings,
            t=m["t"],
            t_min=m["t_min"],
            reps=m["reps"],
            other=m["other"],
            retimed=m["retimed"],
            e_err=e_err,
            f_err=f_err,
            **extra,
        )
        self.rows.append(row)
        return row

    def ewald_allowed(self, key, n):
        """Whether an Ewald case fits the time limit, from the last N it ran at (t ∝ N²)."""
        if key not in self.last_ewald:
            return True, 0.0
        n0, t0 = self.last_ewald[key]
        pred = t0 * (n / n0) ** 2
        return pred <= self.ewald_max_s, pred

    def run_size(self, n):
        """All cases at N = n, in progress-bar steps of :data:`STEPS_PER_SIZE`."""
        reps = self.args.repeats
        s = self.summary.setdefault(n, {})
        s["load"] = loadavg()
        pos, cell, q = water_box(n)
        length = float(cell[0, 0])
        mags = [float((q * q).sum()), 0.0, 0.0]

        self.step(n, "reference")
        if n <= EWALD_REF_MAX_N:
            ref_solver = MultipoleElectrostatics(sigma=SIGMA, method="ewald", accuracy=1e-9)
            s["ref"] = "polmlip Ewald, accuracy 1e-9"
        else:
            ref_solver = MultipoleElectrostatics(sigma=SIGMA, accuracy=1e-9, spline_order=8)
            s["ref"] = (
                f"polmlip PME, accuracy 1e-9, order 8, mesh "
                f"{fmt_mesh(ref_solver.mesh_shape(cell, mags))}"
            )
        ref, s["t_ref"] = timed(polmlip_runner(ref_solver, pos, cell, q))
        if n == EWALD_REF_MAX_N:  # how good is the PME reference used above this size?
            alt = MultipoleElectrostatics(sigma=SIGMA, accuracy=1e-9, spline_order=8)
            self.ref_check = (n, rel_errors(polmlip_runner(alt, pos, cell, q)(), ref))
        self.done()

        self.step(n, "polmlip PME")
        solver = MultipoleElectrostatics(sigma=SIGMA, accuracy=ACCURACY, spline_order=SPLINE_ORDER)
        s["mesh"] = solver.mesh_shape(cell, mags)
        settings = f"acc {ACCURACY:g}, order {SPLINE_ORDER}, mesh {fmt_mesh(s['mesh'])}"
        m = measure(polmlip_runner(solver, pos, cell, q), reps)
        s["pme"] = self.add(n, "polmlip PME", settings, m, ref)
        target = s["pme"]["f_err"]
        self.done()

        self.step(n, "polmlip PME fp32")
        m = measure(polmlip_runner(solver, pos.float(), cell.float(), q.float()), reps)
        s["pme32"] = self.add(n, "polmlip PME float32", settings, m, ref)
        self.done()

        self.step(n, "polmlip Ewald")
        self.run_polmlip_ewald(n, pos, cell, q, ref, mags)
        self.done()

        self.step(n, "torch-pme Ewald")
        self.run_tp_ewald(n, pos, cell, q, ref, target, length)
        self.done()

        for kind, nodes, label in (
            ("pme", TP_PME_NODES, "torch-pme PME"),
            ("p3m", TP_P3M_NODES, "torch-pme P3M"),
        ):
            self.step(n, label)
            self.run_tp_mesh(n, kind, nodes, label, pos, cell, q, ref, target, length)
            self.done()

        self.step(n, "polmlip PME matched")
        self.run_matched(n, pos, cell, q, ref, mags)
        self.done()

    def run_polmlip_ewald(self, n, pos, cell, q, ref, mags):
        """polmlip Ewald at the default accuracy, unless too slow or too large for memory."""
        ok, pred = self.ewald_allowed("polmlip", n)
        ew = MultipoleElectrostatics(sigma=SIGMA, method="ewald", accuracy=ACCURACY)
        kc = ew.kspace_cutoff(mags)
        n_k = int(half_space_indices(cell, kc).shape[0])
        need = EWALD_BYTES_PER_PAIR * n * n_k
        limit = 0.6 * mem_available()
        if ok and need > limit:
            ok = False
            self.notes.append(
                f"N={n}: polmlip Ewald skipped: its autograd graph keeps {n} × {n_k} "
                f"site × k-vector tables, ≈ {need / 2**30:.0f} GiB (> {limit / 2**30:.0f} GiB "
                f"free)."
            )
        elif not ok:
            self.notes.append(
                f"N={n}: polmlip Ewald skipped (predicted {pred:.0f} s > {self.ewald_max_s:.0f} s)."
            )
        if ok:
            settings = f"acc {ACCURACY:g}, k_c {kc:.2f}/Å ({n_k} k-vectors, half space)"
            m = measure(polmlip_runner(ew, pos, cell, q), self.args.repeats)
            self.summary[n]["ewald"] = self.add(n, "polmlip Ewald", settings, m, ref)
            self.last_ewald["polmlip"] = (n, m["t"])

    def run_tp_ewald(self, n, pos, cell, q, ref, target, length):
        """torch-pme Ewald, ``lr_wavelength`` lowered by 10% until its F error ≤ ``target``."""
        ok, pred = self.ewald_allowed("torch-pme", n)
        if not ok:
            self.notes.append(
                f"N={n}: torch-pme Ewald skipped (predicted {pred:.0f} s "
                f"> {self.ewald_max_s:.0f} s)."
            )
            return
        lr = self.tp_ewald_lr
        limit = min(0.6 * mem_available(), TP_EWALD_MAX_BYTES)
        while lr > 0.2:
            kvec = tp_ewald_kvectors(length, lr)
            need = TP_EWALD_BYTES_PER_PAIR * kvec * n
            if need > limit:
                self.notes.append(
                    f"N={n}: torch-pme Ewald skipped: lr_wavelength {lr:.3f} Å means {kvec} "
                    f"k-vectors × {n} sites, ≈ {need / 2**30:.0f} GiB "
                    f"(> {limit / 2**30:.0f} GiB allowed)."
                )
                return
            run = torchpme_runner(tp_ewald_calculator(lr, pos.dtype), pos, cell, q)
            warm = timed(run)
            if rel_errors(warm[0], ref)[1] <= target:
                m = measure(run, self.args.repeats, warm)
                settings = f"lr_wavelength {lr:.3f} Å ({kvec} k-vectors)"
                self.summary[n]["tp_ewald"] = self.add(n, "torch-pme Ewald", settings, m, ref)
                self.tp_ewald_lr = lr
                self.last_ewald["torch-pme"] = (n, m["t"])
                return
            lr *= 0.9
        self.notes.append(f"N={n}: torch-pme Ewald did not reach the target error.")

    def run_tp_mesh(self, n, kind, nodes, label, pos, cell, q, ref, target, length):
        """torch-pme PME or P3M on power-of-two meshes, doubled until F error ≤ ``target``."""
        s = self.summary[n]
        ns = 8
        while length / ns > TP_START_SPACING:
            ns *= 2
        limit = 0.8 * mem_available()
        s[kind + "_strict"] = None
        s[kind + "_coarse"] = None
        while True:
            need = TP_MESH_BYTES_PER_POINT * ns**3
            if need > limit:
                s[kind + "_missing"] = (
                    f"needs {ns}³ mesh, ≈{need / 2**30:.0f} GiB > {limit / 2**30:.0f} GiB free"
                )
                self.notes.append(
                    f"N={n}: {label} cannot reach polmlip's force error "
                    f"{target:.1e} here: the next mesh, {ns}³, would need "
                    f"≈ {need / 2**30:.0f} GiB (> {limit / 2**30:.0f} GiB "
                    f"available)."
                )
                return
            run = torchpme_runner(
                tp_mesh_calculator(kind, nodes, length, ns, pos.dtype), pos, cell, q
            )
            warm = timed(run)
            passed = rel_errors(warm[0], ref)[1] <= target
            settings = f"{nodes} nodes, mesh {ns}³ (h {length / ns:.3f} Å)"
            row = self.add(
                n, label, settings, measure(run, self.args.repeats, warm), ref, passes=passed
            )
            if passed:
                s[kind + "_strict"] = row
                return
            s[kind + "_coarse"] = row
            ns *= 2

    def run_matched(self, n, pos, cell, q, ref, mags):
        """polmlip PME at the loosest accuracy (×½ ladder) with F error ≤ each torch-pme row."""
        s = self.summary[n]
        ratio_model = s["pme"]["f_err"] / ACCURACY  # achieved / requested at the default
        cache = {}
        s["matched"] = []
        for kind in ("pme", "p3m"):
            for which in ("coarse", "strict"):
                row = s.get(f"{kind}_{which}")
                if row is None:
                    continue
                acc = min(0.5, row["f_err"] / ratio_model)
                while True:
                    key = float(f"{acc:.3g}")
                    if key not in cache:
                        solver = MultipoleElectrostatics(
                            sigma=SIGMA, accuracy=key, spline_order=SPLINE_ORDER
                        )
                        run = polmlip_runner(solver, pos, cell, q)
                        warm = timed(run)
                        cache[key] = dict(
                            run=run,
                            warm=warm,
                            row=None,
                            shape=solver.mesh_shape(cell, mags),
                            f_err=rel_errors(warm[0], ref)[1],
                        )
                    if cache[key]["f_err"] <= row["f_err"] or key < 1e-9:
                        break
                    acc = key * 0.5
                entry = cache[key]
                if entry["row"] is None:
                    m = measure(entry["run"], self.args.repeats, entry["warm"])
                    settings = (
                        f"acc {key:.3g}, order {SPLINE_ORDER}, mesh {fmt_mesh(entry['shape'])}"
                    )
                    entry["row"] = self.add(n, "polmlip PME matched", settings, m, ref)
                s["matched"].append((row, entry["row"]))
