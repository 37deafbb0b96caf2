"""Benchmark: SVM training of the softness model (issue: pysoft train, Speed).

16,000 samples x 150 features (the default spec's column count), two classes drawn as
overlapping Gaussians so that a linear SVM reaches ~83 % like the paper; 3,200 "atoms" with 5
events each, so grouped folds are meaningful.  Times, in one run on one machine:
  * pysoft's SoftnessModel (StandardScaler + LinearSVC, L2 loss in the primal), 5-fold
    GroupKFold CV at C = 1 plus the final fit: the work `pysoft train` does per C value;
  * the same CV folds and final fit with LIBSVM's linear kernel (pip libsvm-official, the paper's
    tool), C = 1, with a line per fit.
Prints medians of --repeat runs and the ratio, from wall and from CPU seconds (pysoft's fit is
single-threaded; the libsvm-official wheel links libgomp and evaluates kernels on OpenMP
threads, so wall favours it on a free machine and CPU seconds compare the work); writes
bench/out/train.json.

    python bench/bench_train.py [--repeat 3] [--libsvm-repeat 1]
"""

import argparse
import json
import os
import time

import numpy as np


def make_data(n=16000, d=150, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    shift = np.zeros(d)
    shift[:20] = 0.44          # a signal spread over 20 features, as structure functions
    X = rng.normal(size=(n, d)) + np.outer(y, shift)
    # feature scales differ by orders of magnitude, as radial vs angular functions do
    X *= np.logspace(-2, 2, d)
    groups = rng.permutation(np.repeat(np.arange(n // 5), 5))
    return X, y, groups


def _clock():
    # CPU seconds of this process as well as wall seconds: CPU seconds compare the work (LIBSVM
    # may use OpenMP threads, pysoft's liblinear fit uses one) and survive a busy machine
    return time.perf_counter(), time.process_time()


def _since(t0):
    wall, cpu = _clock()
    return wall - t0[0], cpu - t0[1]


def time_pysoft(X, y, groups):
    from sklearn.model_selection import GroupKFold

    from pysoft.model import SoftnessModel

    t0 = _clock()
    acc = [SoftnessModel(C=1.0).fit(X[tr], y[tr]).score(X[te], y[te])
           for tr, te in GroupKFold(5).split(X, y, groups)]
    SoftnessModel(C=1.0).fit(X, y)
    wall, cpu = _since(t0)
    return {"wall_s": wall, "cpu_s": cpu, "cv_accuracy": float(np.mean(acc))}


def time_libsvm(X, y, groups):
    """The same 5 folds and final fit with LIBSVM's linear kernel (``-t 0 -c 1``, its defaults
    otherwise, as the paper would have run it), on the same standardized features."""
    from libsvm.svmutil import svm_predict, svm_train
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    t0 = _clock()
    acc, fits = [], []
    parts = list(GroupKFold(5).split(X, y, groups)) + [(np.arange(len(y)), None)]
    for k, (tr, te) in enumerate(parts):
        tf = _clock()
        sc = StandardScaler().fit(X[tr])
        m = svm_train(y[tr].tolist(), sc.transform(X[tr]).tolist(), "-t 0 -c 1 -q")
        if te is not None:
            _, (a, _, _), _ = svm_predict(y[te].tolist(), sc.transform(X[te]).tolist(), m, "-q")
            acc.append(a / 100)
        wall, cpu = _since(tf)
        fits.append({"wall_s": wall, "cpu_s": cpu})
        what = f"fold {k + 1}/5" if te is not None else "final fit"
        print(f"  LIBSVM {what}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    wall, cpu = _since(t0)
    return {"wall_s": wall, "cpu_s": cpu, "cv_accuracy": float(np.mean(acc)), "fits": fits}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--libsvm-repeat", type=int, default=1)
    args = ap.parse_args()
    X, y, groups = make_data()
    ours = [time_pysoft(X, y, groups) for _ in range(args.repeat)]
    med = {k: float(np.median([r[k] for r in ours])) for k in ("wall_s", "cpu_s")}
    print(f"5-fold grouped CV + final fit at C = 1, 16,000 x 150: pysoft {med['wall_s']:.2f} s wall, "
          f"{med['cpu_s']:.2f} s CPU (median of {args.repeat}; accuracy {ours[0]['cv_accuracy']:.3f})", flush=True)
    theirs = [time_libsvm(X, y, groups) for _ in range(args.libsvm_repeat)]
    lmed = {k: float(np.median([r[k] for r in theirs])) for k in ("wall_s", "cpu_s")}
    res = {"samples": len(y), "features": X.shape[1], "folds": 5, "C": 1.0,
           "pysoft": {"median": med, "runs": ours}, "libsvm": {"median": lmed, "runs": theirs},
           "ratio_libsvm_over_pysoft": {k: lmed[k] / med[k] for k in med},
           "repeats": {"pysoft": args.repeat, "libsvm": args.libsvm_repeat}}
    print(f"same folds and final fit, LIBSVM linear kernel: {lmed['wall_s']:.1f} s wall, {lmed['cpu_s']:.1f} s CPU "
          f"(accuracy {theirs[0]['cv_accuracy']:.3f})")
    print(f"ratio LIBSVM / pysoft: {lmed['wall_s'] / med['wall_s']:.0f} (wall), {lmed['cpu_s'] / med['cpu_s']:.0f} (CPU)")
    os.makedirs(os.path.join(os.path.dirname(__file__), "out"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "out", "train.json"), "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
