"""Whole-file replacement that a kill cannot leave half-written.

Every output that pysoft rewrites in place (a trimmed stress-strain file, a key frame, a
checkpoint's done.json) goes through :func:`replace_atomically`: the new content is written to a
temporary file beside the target, flushed to disk, then renamed over it, so a reader (or a
continuation after kill -9) sees either the old file or the new one, never a mix.
"""

import os


def replace_atomically(path, data):
    """Replace `path` by `data` (str or bytes) through a fsync'ed temporary file and a rename."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
