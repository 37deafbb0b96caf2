"""Whether pysoft can write in a folder: the one test, for ``pysoft run`` and ``pysoft train``.

A module of its own, below everything that writes: the run-folder reader and the trainer both
need it, and neither should import the other for it.
"""

import os


def write_problem(d):
    """Why pysoft cannot write in the folder `d`, or None.  A file is created and removed there:
    os.access answers yes for root even on a read-only file system or a folder under /proc."""
    import tempfile

    try:
        fd, path = tempfile.mkstemp(dir=d, prefix=".pysoft-probe-")
        os.close(fd)
        os.unlink(path)
    except OSError as e:
        return e.strerror or str(e)
    return None
