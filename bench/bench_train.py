"""Benchmark: SVM training of the softness model (issue: pysoft train, Speed).

16,000 samples x 150 features (the default spec's column count), two classes drawn as
overlapping Gaussians so that a linear SVM reaches ~83 % like the paper; 3,200 "atoms" with 5
events each, so grouped folds are meaningful.  Times, in one run on one machine:
  * pysoft's SoftnessModel (StandardScaler + LinearSVC, L2 loss in the primal), 5-fold
    GroupKFold CV at C = 1 plus the final fit: the work `pysoft train` does per C value;
  * the same CV folds with LIBSVM's linear kernel (pip libsvm-official, the paper's tool), C = 1.
Prints medians of --repeat runs and the ratio; writes bench/out/train.json.

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


def time_pysoft(X, y, groups):
    from sklearn.model_selection import GroupKFold

    from pysoft.model import SoftnessModel

    t = time.perf_counter()
    acc = [SoftnessModel(C=1.0).fit(X[tr], y[tr]).score(X[te], y[te])
           for tr, te in GroupKFold(5).split(X, y, groups)]
    SoftnessModel(C=1.0).fit(X, y)
    return time.perf_counter() - t, float(np.mean(acc))


def time_libsvm(X, y, groups):
    from libsvm.svmutil import svm_predict, svm_train
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    t = time.perf_counter()
    acc = []
    for tr, te in GroupKFold(5).split(X, y, groups):
        sc = StandardScaler().fit(X[tr])
        m = svm_train(y[tr].tolist(), sc.transform(X[tr]).tolist(), "-t 0 -c 1 -q")
        _, (a, _, _), _ = svm_predict(y[te].tolist(), sc.transform(X[te]).tolist(), m, "-q")
        acc.append(a / 100)
    return time.perf_counter() - t, float(np.mean(acc))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--libsvm-repeat", type=int, default=1)
    args = ap.parse_args()
    X, y, groups = make_data()
    ours = [time_pysoft(X, y, groups) for _ in range(args.repeat)]
    theirs = [time_libsvm(X, y, groups) for _ in range(args.libsvm_repeat)]
    t_ours = float(np.median([t for t, _ in ours]))
    t_libsvm = float(np.median([t for t, _ in theirs]))
    res = {"samples": len(y), "features": X.shape[1], "folds": 5,
           "pysoft_seconds_median": t_ours, "pysoft_cv_accuracy": ours[0][1],
           "libsvm_seconds_median": t_libsvm, "libsvm_cv_accuracy": theirs[0][1],
           "ratio_libsvm_over_pysoft": t_libsvm / t_ours,
           "repeats": {"pysoft": args.repeat, "libsvm": args.libsvm_repeat}}
    print(f"5-fold grouped CV + final fit, 16,000 x 150: pysoft {t_ours:.2f} s (accuracy {ours[0][1]:.3f})")
    print(f"same folds, LIBSVM linear kernel:          {t_libsvm:.2f} s (accuracy {theirs[0][1]:.3f})")
    print(f"ratio LIBSVM / pysoft: {t_libsvm / t_ours:.1f}")
    os.makedirs(os.path.join(os.path.dirname(__file__), "out"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "out", "train.json"), "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
