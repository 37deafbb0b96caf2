"""The training dataset of the in-run sampler (:mod:`pysoft.sampler`): format, writer, reader.

One file per sample (trajectory).  Layout::

    pysoft-samples 1\\n              magic line
    {JSON header}\\n                 types, centre, spec, tR, dt, frame spacing, h, thresholds,
                                    calm fraction, first timestep, feature columns
    block*                          binary, little-endian

Every block is a 40-byte head ``<4sB3xqqIQI``: ``b"PSB1"``, kind, timestep, frame index, number
of rows, payload bytes, CRC-32 of the payload; then the payload.  Kinds:

* ``IDS`` (once, first): the sorted ids of the centre atoms (int64), the atom rows of the labels;
* ``FRAME``: what the sampler learnt at one frame (rows below), and the cumulative histogram
  of phop over :data:`pysoft.train.PHOP_BINS` (int64) up to it;
* ``TAIL``: what closing the phop peaks still open would add (the dump path closes them at the
  trajectory's last frame); counted only when it is the file's last block, so a run that goes on
  after it (a second ``run``, a restart) makes it void.

Rows of FRAME and TAIL blocks, as columns: kind (int8), atom id (int64), frame (int64), phop
(float64, Å^2), then the features (float64, ``ncols`` each; zeros for CLOSE):

* ``CALM`` a non-rearranging candidate pair (phop below the calm threshold for tR around the
  frame, kept by :func:`pysoft.phop.keep_calm`);
* ``HOP`` a rearranging event (the maximum of a run of phop above the hop threshold);
* ``PENDING`` the features of the largest phop so far of a run still open, written when its frame
  leaves the sampler's ring of positions; a later ``CLOSE`` with the same atom and frame makes it
  an event, otherwise it is void.

Crash safety: a block is one ``write`` on an ``O_APPEND`` descriptor followed by ``fsync``; a
reader stops at a last block that is short or fails its CRC (a killed run's torn tail), so
every complete frame before it counts.  A damaged block with more blocks after it is no killed
run's: the file is refused.
"""

import json
import os
import struct
import sys
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"pysoft-samples 1\n"
FORMAT = "pysoft-samples"
BLOCK = struct.Struct("<4sB3xqqIQI")
BLOCK_MAGIC = b"PSB1"
IDS, FRAME, TAIL = 1, 2, 3
CALM, HOP, PENDING, CLOSE = 0, 1, 2, 3


class SamplesError(ValueError):
    """A dataset file that cannot be used; the message is one line for the user."""


@dataclass
class Rows:
    """Rows of one block, as columns."""

    kind: np.ndarray       # int8
    ids: np.ndarray        # int64
    frame: np.ndarray      # int64
    phop: np.ndarray       # float64
    features: np.ndarray   # float64 (n, ncols)

    @classmethod
    def empty(cls, ncols):
        return cls(np.zeros(0, np.int8), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                   np.zeros((0, ncols)))

    @classmethod
    def concatenate(cls, parts, ncols):
        parts = [p for p in parts if len(p.ids)]
        if not parts:
            return cls.empty(ncols)
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("kind", "ids", "frame", "phop",
                                                                                  "features")))

    def sorted(self):
        """In the order kind, frame, id: the same bytes whatever the number of ranks."""
        order = np.lexsort((self.ids, self.frame, self.kind))
        return Rows(self.kind[order], self.ids[order], self.frame[order], self.phop[order], self.features[order])

    def __len__(self):
        return len(self.ids)


def _block(kind, timestep, frame, nrows, payload):
    return BLOCK.pack(BLOCK_MAGIC, kind, int(timestep), int(frame), int(nrows), len(payload),
                      zlib.crc32(payload)) + payload


def _rows_payload(rows, hist):
    return b"".join([np.ascontiguousarray(rows.kind, np.int8).tobytes(),
                     np.ascontiguousarray(rows.ids, "<i8").tobytes(),
                     np.ascontiguousarray(rows.frame, "<i8").tobytes(),
                     np.ascontiguousarray(rows.phop, "<f8").tobytes(),
                     np.ascontiguousarray(rows.features, "<f8").tobytes(),
                     np.ascontiguousarray(hist, "<i8").tobytes()])


class SampleWriter:
    """Appends blocks to a dataset file (one process: rank 0); ``centre_ids=None`` appends to
    an existing file (after :func:`resume`)."""

    def __init__(self, path, header, centre_ids, replace=False):
        self.path = path
        if centre_ids is None:
            return
        if os.path.exists(path) and not replace:
            raise SamplesError(f"dataset file {path} exists; add 'arg replace yes' to overwrite it")
        text = MAGIC + (json.dumps(dict(header, format=FORMAT)) + "\n").encode()
        ids = np.ascontiguousarray(np.sort(np.asarray(centre_ids, np.int64)), "<i8").tobytes()
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(text + _block(IDS, header["first_timestep"], -1, len(centre_ids), ids))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def append(self, kind, timestep, frame, rows, hist, sync=True):
        data = _block(kind, timestep, frame, len(rows), _rows_payload(rows, hist))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return len(data)


@dataclass
class Dataset:
    """A dataset file as read: header, centre ids, the FRAME rows and the valid TAIL rows."""

    path: str
    header: dict
    ids: np.ndarray
    rows: Rows
    nframes: int
    phop_hist: np.ndarray
    torn: bool


def read_header(path):
    try:
        with open(path, "rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                raise SamplesError(f"{path} is not a pysoft dataset (written by the in-run sampler)")
            line = fh.readline()
    except OSError as e:
        raise SamplesError(f"cannot read {path}: {e.strerror or e}")
    try:
        header = json.loads(line)
    except ValueError:
        raise SamplesError(f"{path}: the dataset header is damaged")
    return header, len(MAGIC) + len(line)


def _contents(path):
    """(header, file offset of the first block, the bytes of the blocks, feature columns)."""
    header, offset = read_header(path)
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    return header, offset, data, int(header["ncols"])


def read_dataset(path, nbins=None):
    """Read a dataset file: every complete block up to the first damaged one."""
    header, offset, data, ncols = _contents(path)
    pos, ids, torn, nblock = 0, None, False, 0
    frames, tail, last_frame, hist = [], None, -1, None
    while pos < len(data):
        if pos + BLOCK.size > len(data):
            torn = True
            break
        magic, kind, timestep, frame, nrows, nbytes, crc = BLOCK.unpack_from(data, pos)
        payload = data[pos + BLOCK.size:pos + BLOCK.size + nbytes]
        if magic != BLOCK_MAGIC or len(payload) != nbytes or zlib.crc32(payload) != crc:
            if _blocks_after(data, pos):
                raise SamplesError(f"{path}: block {nblock} (after frame {last_frame}) is damaged and complete "
                                   f"blocks follow it: the file is corrupt (not a killed run's torn end)")
            torn = True
            break
        pos += BLOCK.size + nbytes
        nblock += 1
        if kind == IDS:
            ids = np.frombuffer(payload, "<i8").astype(np.int64)
            continue
        rows, h = _parse_rows(payload, nrows, ncols)
        if kind == FRAME:
            if frame != last_frame + 1:
                raise SamplesError(f"{path}: frame {frame} follows frame {last_frame}: the file mixes runs")
            frames.append(rows)
            last_frame, hist, tail = frame, h, None
        elif kind == TAIL and frame == last_frame:
            tail = rows
    if ids is None:
        raise SamplesError(f"{path}: the dataset has no atom list (damaged at the start)")
    rows = Rows.concatenate(frames + ([tail] if tail is not None else []), ncols)
    if hist is None:
        hist = np.zeros(nbins or 0, np.int64)
    return Dataset(path, header, ids, rows, last_frame + 1, hist, torn)


def _blocks_after(data, pos):
    """Whether a complete, valid block starts anywhere after the damaged one at `pos`."""
    start = data.find(BLOCK_MAGIC, pos + 1)
    while start >= 0 and start + BLOCK.size <= len(data):
        nbytes, crc = BLOCK.unpack_from(data, start)[5:7]
        payload = data[start + BLOCK.size:start + BLOCK.size + nbytes]
        if len(payload) == nbytes and zlib.crc32(payload) == crc:
            return True
        start = data.find(BLOCK_MAGIC, start + 1)
    return False


def resume(path, timestep):
    """Cut a dataset back to its frames at or before `timestep` (the step of the restart file
    the run continues from) and return ``(header, next frame, last timestep, histogram)``.

    The blocks after that step (written before the run was stopped, from a state the restart
    file does not hold) and any TAIL are removed, by truncating the file.
    """
    header, offset, data, ncols = _contents(path)
    pos, keep, last = 0, None, None
    while pos + BLOCK.size <= len(data):
        magic, kind, ts, frame, nrows, nbytes, crc = BLOCK.unpack_from(data, pos)
        payload = data[pos + BLOCK.size:pos + BLOCK.size + nbytes]
        if magic != BLOCK_MAGIC or len(payload) != nbytes or zlib.crc32(payload) != crc:
            break
        pos += BLOCK.size + nbytes
        if kind == IDS:
            keep = pos
        elif kind == FRAME and ts <= timestep:
            keep, last = pos, (frame, ts, _parse_rows(payload, nrows, ncols)[1])
        elif kind == FRAME:
            break
    if last is None:
        raise SamplesError(f"{path} has no frame at or before timestep {timestep}: nothing to continue")
    with open(path, "r+b") as fh:
        fh.truncate(offset + keep)
        fh.flush()
        os.fsync(fh.fileno())
    frame, ts, hist = last
    return header, frame + 1, ts, hist


def _parse_rows(payload, n, ncols):
    o = 0
    kind = np.frombuffer(payload, np.int8, n, o)
    o += n
    ids = np.frombuffer(payload, "<i8", n, o).astype(np.int64)
    o += 8 * n
    frame = np.frombuffer(payload, "<i8", n, o).astype(np.int64)
    o += 8 * n
    phop = np.frombuffer(payload, "<f8", n, o).astype(np.float64)
    o += 8 * n
    feats = np.frombuffer(payload, "<f8", n * ncols, o).astype(np.float64).reshape(n, ncols)
    o += 8 * n * ncols
    hist = np.frombuffer(payload, "<i8", (len(payload) - o) // 8, o).astype(np.int64)
    return Rows(kind.astype(np.int8), ids, frame, phop, feats), hist


def labelled_pairs(ds, with_phop=False):
    """The events and the features of a dataset, in the order of :class:`pysoft.phop.Events`.

    Returns ``(events, hop_features, calm_features)``: an Events whose atom rows index
    ``ds.ids``, and the feature rows of its rearranging and calm pairs; with `with_phop`, also
    the phop peak of each rearranging event (Å^2), in the same order.
    """
    from pysoft.phop import Events

    r = ds.rows
    ncols = r.features.shape[1]
    hop = r.kind == HOP
    h_id, h_frame, h_feat, h_phop = r.ids[hop], r.frame[hop], r.features[hop], r.phop[hop]
    close = np.flatnonzero(r.kind == CLOSE)
    if len(close):
        pending = np.flatnonzero(r.kind == PENDING)
        # the last PENDING of each (id, frame) is the one a CLOSE refers to
        key = {(int(r.ids[k]), int(r.frame[k])): k for k in pending}
        try:
            src = np.array([key[(int(r.ids[k]), int(r.frame[k]))] for k in close], np.int64)
        except KeyError:
            raise SamplesError(f"{ds.path}: a closed phop peak has no stored features: the file is damaged")
        h_id = np.concatenate([h_id, r.ids[close]])
        h_frame = np.concatenate([h_frame, r.frame[close]])
        h_phop = np.concatenate([h_phop, r.phop[close]])
        h_feat = np.concatenate([h_feat, r.features[src]]) if len(h_feat) else r.features[src]
    calm = r.kind == CALM
    c_id, c_frame, c_feat = r.ids[calm], r.frame[calm], r.features[calm]
    h_atom = np.searchsorted(ds.ids, h_id)
    c_atom = np.searchsorted(ds.ids, c_id)
    for atoms, found in ((h_atom, h_id), (c_atom, c_id)):
        if len(found) and (atoms.max() >= len(ds.ids) or np.any(ds.ids[atoms] != found)):
            raise SamplesError(f"{ds.path}: a labelled atom is not in the file's atom list")
    ho = np.lexsort((h_atom, h_frame))
    co = np.lexsort((c_atom, c_frame))
    hd = ds.header
    ev = Events(h_frame[ho].astype(np.int32), h_atom[ho].astype(np.int32), c_frame[co].astype(np.int32),
                c_atom[co].astype(np.int32), float(hd["hop_threshold"]), float(hd["calm_threshold"]),
                int(hd["half_window"]))
    out = (ev, h_feat[ho].reshape(-1, ncols), c_feat[co].reshape(-1, ncols))
    return out + (h_phop[ho],) if with_phop else out


class SampleFiles:
    """The source of :func:`pysoft.train.train` for dataset files (``pysoft train --samples``).

    The labelling settings must be those the files were sampled with; they are checked, not
    taken from the files, so that a model's provenance says what was used.
    """

    def __init__(self):
        self._features = []

    def check(self, paths, types):
        from pysoft.train import TrainError

        for p in paths:
            try:
                header, _ = read_header(p)
            except SamplesError as e:
                raise TrainError(str(e))
            if tuple(header["types"]) != tuple(types):
                raise TrainError(f"{p} was sampled with types {' '.join(header['types'])}; "
                                 f"give --types {' '.join(header['types'])}")

    def samples(self, paths, settings, centre_types):
        from pysoft.spec import load_spec
        from pysoft.train import PHOP_BINS, Sample, TrainError

        out = []
        for p in paths:
            try:
                ds = read_dataset(p, nbins=len(PHOP_BINS) - 1)
            except SamplesError as e:
                raise TrainError(str(e))
            hd = ds.header
            centre = settings.centre or settings.types[0]
            wanted = [("--centre", centre, hd["centre"]), ("--tr", settings.t_r, hd["t_r"]),
                      ("--dt", settings.dt, hd["dt"]), ("--hop-threshold", settings.hop_threshold, hd["hop_threshold"]),
                      ("--calm-threshold", settings.calm_threshold, hd["calm_threshold"]),
                      ("--calm-fraction", settings.calm_fraction, hd["calm_fraction"])]
            for option, mine, theirs in wanted:
                if mine != theirs:
                    raise TrainError(f"{p} was sampled with {option} {theirs}, this training asks for {mine}: "
                                     f"give {option} {theirs}")
            if load_spec(settings.spec) != hd["spec"]:
                raise TrainError(f"{p} was sampled with another structure-function spec than --spec {settings.spec}")
            if ds.nframes < 4 * ds.header["half_window"] + 1:
                raise TrainError(f"{p}: {ds.nframes} frames sampled, labels need at least "
                                 f"{4 * ds.header['half_window'] + 1} (2 tR)")
            if ds.torn:
                # said even with --quiet: the dataset is shorter than its run
                print(f"pysoft train: {p}: a torn last block (a killed run) was skipped; {ds.nframes} frames used",
                      file=sys.stderr, flush=True)
            try:
                ev, hop_x, calm_x, hop_phop = labelled_pairs(ds, with_phop=True)
            except SamplesError as e:
                raise TrainError(str(e))
            self._features.append((hop_x, calm_x))
            out.append(Sample(p, ds.nframes, int(hd["half_window"]), ds.ids, np.arange(len(ds.ids)),
                              ds.phop_hist, ev, hop_phop))
        return out

    def features(self, samples, draw, types, spec_file, spec, settings):
        X = np.empty((len(draw.label), self._features[0][0].shape[1] if self._features else 0))
        for s, sample in enumerate(samples):
            ev = sample.events
            hop_x, calm_x = self._features[s]
            for label, frames, atoms, feats in ((1, ev.rearranging_frame, ev.rearranging_atom, hop_x),
                                                (0, ev.calm_frame, ev.calm_atom, calm_x)):
                mine = np.flatnonzero((draw.sample == s) & (draw.label == label))
                if not len(mine):
                    continue
                # the events are sorted by frame then atom: find each drawn pair by its key
                natoms = len(sample.ids)
                keys = frames.astype(np.int64) * natoms + atoms
                want = draw.frame[mine] * natoms + draw.atom[mine]
                X[mine] = feats[np.searchsorted(keys, want)]
        return X
