"""The softness model: standardized structure functions and a linear SVM.

:class:`SoftnessModel` follows scikit-learn's estimator conventions (``__init__`` stores
hyperparameters, ``fit`` returns ``self`` and sets the fitted ``*_`` attributes).  Softness is
the signed distance from the SVM hyperplane in standardized feature space,

    S = (coef . ((x - mean) / scale) + intercept) / |coef|,

positive on the rearranging side.  ``save`` writes the JSON model file that
``compute softness`` reads inside LAMMPS; ``load`` builds the fitted model from that file alone.

A model file is data only: loading it never runs code from it (a pickle, joblib's format, can
run any code when loaded; pysoft writes none and reads none here).  The file carries a checksum
of the numbers that decide the softness; the plugin's own reader (``libpysoft_math.so``, the
code of ``compute softness``, through ctypes) checks every field and that checksum before the
file is used here, so a model that Python accepts is one the plugin accepts, with the same
one-line messages.
"""

import ctypes
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
# 2: the file carries a checksum of its numbers, and no joblib is written beside it
MODEL_VERSION = 2


class ModelError(ValueError):
    """A model file that pysoft refuses: one line naming the file and what is wrong."""


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
        svc = self._svc()
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

    def _svc(self):
        return LinearSVC(C=self.C, loss=self.loss, dual=self.loss == "hinge", max_iter=self.max_iter,
                         tol=self.tol, intercept_scaling=10.0, random_state=self.random_state)

    def _fitted_from(self, mean, scale, coef, intercept):
        """Set the fitted state from a model file's numbers: the same pipeline objects that
        ``fit`` makes, holding the same values, so that decision_function runs the same code on
        the same numbers (equal to the trained model to the last bit)."""
        n = len(coef)
        scaler = FlooredScaler(min_scale=self.min_scale)
        scaler.mean_, scaler.scale_ = np.array(mean, np.float64), np.array(scale, np.float64)
        scaler.n_features_in_ = n
        svc = self._svc()
        svc.coef_ = np.array([coef], np.float64)
        svc.intercept_ = np.array([intercept], np.float64)
        svc.classes_ = np.array([0, 1])
        svc.n_features_in_ = n
        self.pipeline_ = make_pipeline(scaler, svc)
        self.mean_, self.scale_ = scaler.mean_.copy(), scaler.scale_.copy()
        self.coef_ = svc.coef_[0].copy()
        self.intercept_ = float(intercept)
        self.classes_ = svc.classes_
        self.n_features_in_ = n
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
        """The model file's content, with its checksum."""
        check_is_fitted(self, "pipeline_")
        d = {
            "format": MODEL_FORMAT, "version": MODEL_VERSION,
            "spec": spec,
            "feature_labels": list(feature_labels) if feature_labels is not None else None,
            "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(), "intercept": self.intercept_,
            "hyperparameters": self.get_params(),
            "metrics": metrics or {}, "provenance": provenance or {},
        }
        d["checksum"] = model_checksum(json.dumps(d))
        return d

    def save(self, path, spec, metrics=None, provenance=None, feature_labels=None):
        """Write PATH, the JSON model file (read by ``compute softness`` and :meth:`load`).

        The text is checked by the plugin's reader first (ModelError if it would refuse it), then
        written to a temporary name and renamed into place, so a failed save leaves no partial
        model behind.
        """
        text = json.dumps(self.to_dict(spec, metrics, provenance, feature_labels), indent=1)
        check_model_text(text.encode(), path)
        _atomic_write(path, lambda fh: fh.write(text), binary=False)
        return path

    @classmethod
    def load(cls, path):
        """The fitted SoftnessModel of the model file PATH (JSON only), and the file's dict.

        Safe on any file: nothing in it is executed.  Raises ModelError (one line) for a file
        that ``compute softness`` would refuse, for the same reasons: a missing or malformed
        field, a spec that does not match the number of coefficients, or a checksum that does
        not match the numbers.
        """
        return cls.from_json(read_model_bytes(path), path)

    @classmethod
    def from_json(cls, text, name="model"):
        """As :meth:`load`, from a model file's text (bytes or str); `name` goes into errors."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        check_model_text(text, name)
        d = json.loads(text.decode("utf-8"))
        if d.get("format") != MODEL_FORMAT:
            raise ModelError(f"model file {name} is not a pysoft softness model (format {d.get('format')!r})")
        hyper = d.get("hyperparameters") or {}
        known = cls().get_params()
        if not isinstance(hyper, dict) or set(hyper) - set(known):
            raise ModelError(f"model file {name}: field 'hyperparameters' must be an object with keys among "
                             f"{', '.join(sorted(known))}")
        model = cls(**hyper)
        return model._fitted_from(d["mean"], d["scale"], d["coef"], d["intercept"]), d


def read_model_bytes(path):
    """The bytes of a model file; ModelError (one line) if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror or e}")


def _library():
    from pysoft.spec import _math

    lib = _math()
    for name in ("pysoft_model_ncols", "pysoft_model_checksum"):
        f = getattr(lib, name)
        f.restype = ctypes.c_int
        f.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    return lib


def _c_text(text, name):
    nul = text.find(b"\0")
    if nul >= 0:                   # C would read only the text before it
        raise ModelError(f"model file {name} holds a NUL byte at offset {nul}: not JSON text")
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"model file {name} is not UTF-8 text (byte 0x{text[e.start]:02x} at offset {e.start})")
    return text


def check_model_text(text, name="model"):
    """Check a model file's text (bytes) with the reader of ``compute softness``: every field
    and the checksum.  Returns the number of feature columns; ModelError with its message."""
    err = ctypes.create_string_buffer(1024)
    n = _library().pysoft_model_ncols(_c_text(text, name), err, len(err))
    if n < 0:
        raise ModelError(f"model file {name}: {err.value.decode('utf-8', 'replace')}")
    return n


def model_checksum(text, name="model"):
    """The checksum a model file's text (str or bytes) should hold, as the plugin computes it:
    FNV-1a (64 bit) over the IEEE-754 bits of the parsed values of spec, feature_labels, mean,
    scale, coef and intercept (the rule: doc/compute_softness.md, "The model file")."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    out = ctypes.create_string_buffer(1024)
    if _library().pysoft_model_checksum(_c_text(text, name), out, len(out)) < 0:
        raise ModelError(f"model file {name}: {out.value.decode('utf-8', 'replace')}")
    return out.value.decode()


def add_checksum(path):
    """Give a model file written before model version 2 its checksum, in place (atomically);
    returns the checksum.  For a file whose numbers you trust: the checksum certifies that
    they are the numbers the file held when it was added, not that they are right."""
    text = read_model_bytes(path)
    try:
        d = json.loads(_c_text(text, path).decode("utf-8"))
    except ValueError as e:
        raise ModelError(f"model file {path} is not valid JSON: {e}")
    if not isinstance(d, dict) or d.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path} is not a pysoft softness model")
    if "checksum" in d:
        raise ModelError(f"model file {path} already has a checksum; a model whose numbers do not match "
                         f"it is not repaired by a new one: re-train it")
    d["checksum"] = model_checksum(text, path)
    d["version"] = MODEL_VERSION
    new = json.dumps(d, indent=1)
    check_model_text(new.encode(), path)
    _atomic_write(path, lambda fh: fh.write(new), binary=False)
    return d["checksum"]


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
