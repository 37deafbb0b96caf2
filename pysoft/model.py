"""The softness model: standardized structure functions and a linear SVM.

:class:`SoftnessModel` follows scikit-learn's estimator conventions (``__init__`` stores
hyperparameters, ``fit`` returns ``self`` and sets the fitted ``*_`` attributes).  Softness is
the signed distance from the SVM hyperplane in standardized feature space,

    S = (coef . ((x - mean) / scale) + intercept) / |coef|,

positive on the rearranging side.  ``save`` writes the JSON model file that
``compute softness`` reads inside LAMMPS, always next to a joblib of the fitted pipeline.
"""

import json
import os
import tempfile

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

MODEL_FORMAT = "pysoft-softness-model"
MODEL_VERSION = 1


class FlooredScaler(StandardScaler):
    """StandardScaler whose per-feature scale is at least ``min_scale`` (see SoftnessModel)."""

    def __init__(self, *, min_scale=1e-3, copy=True):
        super().__init__(copy=copy)
        self.min_scale = min_scale

    def fit(self, X, y=None, sample_weight=None):
        super().fit(X, y, sample_weight)
        self.scale_ = np.maximum(self.scale_, self.min_scale)
        return self


class SoftnessModel(ClassifierMixin, BaseEstimator):
    """Linear SVM on standardized features; labels 1 = rearranging, 0 = not.

    Parameters
    ----------
    C : float, default 1.0
        SVM regularization (the paper's value; accuracy is insensitive above 0.1).
    loss : {"squared_hinge", "hinge"}, default "squared_hinge"
        "squared_hinge" (L2-loss SVM) is solved in the primal by liblinear's Newton method in
        well under a second for the paper's 16,000 events; "hinge" is the objective of
        LIBSVM's linear C-SVC, which the paper used, solved in the dual, tens to hundreds of
        times slower at the same accuracy (bench/bench_train.py measures both).
    max_iter : int, default 50000
    tol : float, default 1e-5
    random_state : int, default 0
        Seed of liblinear's coordinate-descent order: fixed, so that training is reproducible.
    min_scale : float, default 1e-3
        Floor of the standardization's per-feature spread.  Structure functions are
        dimensionless (the default spec's median spread is about 1); some are Gaussian tails
        that no training atom reaches (G_Al at 0.6 Å has a spread of 1e-34 in a glass).
        Divided by such a spread, one unusually short pair distance in a strained glass gives
        a softness of 1e10 (seen in the small example before this floor).  Features with a
        spread below the floor are divided by the floor instead: they then weigh little, as
        the little they vary deserves.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        FlooredScaler (a StandardScaler with the spread floored at ``min_scale``) then LinearSVC.
    mean_, scale_ : ndarray of shape (n_features,)
    coef_ : ndarray of shape (n_features,)
        Hyperplane normal in standardized space.
    intercept_ : float
    classes_ : ndarray, [0, 1]
    """

    def __init__(self, C=1.0, loss="squared_hinge", max_iter=50000, tol=1e-5, random_state=0, min_scale=1e-3):
        self.C = C
        self.loss = loss
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.min_scale = min_scale

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if set(np.unique(y)) - {0, 1} or len(np.unique(y)) != 2:
            raise ValueError("labels must contain both classes, 0 (non-rearranging) and 1 (rearranging)")
        svc = LinearSVC(C=self.C, loss=self.loss, dual=self.loss == "hinge", max_iter=self.max_iter,
                        tol=self.tol, intercept_scaling=10.0, random_state=self.random_state)
        self.pipeline_ = make_pipeline(FlooredScaler(min_scale=self.min_scale), svc)
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            # the hinge-loss dual converges slowly near its optimum; the decision boundary is
            # settled long before the tolerance is met, and accuracy is what we report
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.pipeline_.fit(X, y)
        scaler = self.pipeline_[0]
        self.mean_ = scaler.mean_.copy()
        self.scale_ = scaler.scale_.copy()
        self.coef_ = svc.coef_[0].copy()
        self.intercept_ = float(svc.intercept_[0])
        self.classes_ = svc.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X):
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.decision_function(np.asarray(X, dtype=np.float64))

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)

    def softness(self, X):
        """Signed distance from the hyperplane in standardized space (positive: soft)."""
        return self.decision_function(X) / np.linalg.norm(self.coef_)

    # -- files -----------------------------------------------------------------------

    def to_dict(self, spec, metrics=None, provenance=None, feature_labels=None):
        check_is_fitted(self, "pipeline_")
        return {
            "format": MODEL_FORMAT, "version": MODEL_VERSION,
            "spec": spec,
            "feature_labels": list(feature_labels) if feature_labels is not None else None,
            "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(), "intercept": self.intercept_,
            "hyperparameters": self.get_params(),
            "metrics": metrics or {}, "provenance": provenance or {},
        }

    def save(self, path, spec, metrics=None, provenance=None, feature_labels=None):
        """Write PATH (JSON, read by ``compute softness``) and PATH's .joblib beside it.

        Both files are written to temporary names and renamed into place, the joblib first,
        so an interrupted save leaves no partial model behind.
        """
        import joblib

        d = self.to_dict(spec, metrics, provenance, feature_labels)
        jpath = joblib_path(path)
        _atomic_write(jpath, lambda fh: joblib.dump(self, fh), binary=True)
        _atomic_write(path, lambda fh: json.dump(d, fh, indent=1), binary=False)
        return path

    @staticmethod
    def load(path):
        """The fitted SoftnessModel of a model file (from its joblib), and the JSON dict."""
        import joblib

        with open(path) as fh:
            d = json.load(fh)
        if d.get("format") != MODEL_FORMAT:
            raise ValueError(f"{path} is not a pysoft softness model (format {d.get('format')!r})")
        model = joblib.load(joblib_path(path))
        return model, d


def joblib_path(path):
    root, ext = os.path.splitext(path)
    return (root if ext == ".json" else path) + ".joblib"


def _atomic_write(path, write, binary):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
        # mkstemp creates the file 0600; a model is shared like any other output file
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask():
    # the only portable way to read the umask is to set it; set it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
