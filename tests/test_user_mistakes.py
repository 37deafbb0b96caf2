"""User mistakes and hostile environments that must end in one clean line, never a crash,
a traceback or lost data (issue 9): a read-only install, and corrupted input files of every
kind fed to their readers."""

import os
import shutil
import subprocess
import sys

import pytest

def _without_root_file_powers():
    """In the child, before exec: drop the capabilities that let root write through file modes
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) from the bounding set, so the program
    it runs meets read-only folders as any other user would."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:        # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_numba_modules_import_with_a_read_only_install_and_home(tmp_path):
    # numba's cache=True raises at decoration time when neither the package's __pycache__ nor
    # the user-wide cache (under HOME) can be written. Root writes through any chmod, so when
    # the tests run as root the import runs without root's power over file modes.
    import pysoft

    root = tmp_path / "ro"
    shutil.copytree(os.path.dirname(pysoft.__file__), root / "pkgs" / "pysoft",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    (root / "home").mkdir()
    for d, dirs, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(d, name), 0o444 | (0o111 if name.endswith(".so") else 0))
        os.chmod(d, 0o555)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "PYTHON"))}
    env.update(HOME=str(root / "home"), PYTHONPATH=str(root / "pkgs"), PYTHONDONTWRITEBYTECODE="1")
    code = ("import pysoft, pysoft.dump, pysoft.phop, pysoft.hooks, numpy as np; "
            "assert pysoft.__file__.startswith(%r), pysoft.__file__; "
            "print(pysoft.hooks.cluster_sizes(np.zeros((2, 3)), np.eye(3) * 10, 1.0).tolist())"
            % str(root / "pkgs"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=str(root), preexec_fn=_without_root_file_powers if os.geteuid() == 0 else None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[2]"
    assert not os.listdir(root / "home")
    assert not os.path.exists(root / "pkgs" / "pysoft" / "__pycache__")
