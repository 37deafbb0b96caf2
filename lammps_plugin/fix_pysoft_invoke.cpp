/* ----------------------------------------------------------------------
   pysoft: fix pysoft/invoke, see doc/fix_pysoft_invoke.md
------------------------------------------------------------------------- */

#include "fix_pysoft_invoke.h"

#include <Python.h>    // first of the system headers, as Python asks

#include "plugin_errors.h"

#include "comm.h"
#include "error.h"
#include "update.h"
#include "utils.h"

#include <cstring>
#include <dlfcn.h>

using namespace LAMMPS_NS;
using namespace FixConst;

namespace {

// The Python pysoft was built with must be the one that runs: a LAMMPS whose library links
// another libpython (its PYTHON package, or `import lammps` from another interpreter) has that
// one's symbols first in the process, and this plugin's calls would land in a different
// interpreter version.  Empty when it is the one, else the one-line reason.
std::string foreign_python()
{
  const std::string running = Py_GetVersion();
  const std::string built = PYSOFT_PYTHON_VERSION;
  // "3.11.7 (main, ...)" against "3.11": the same major.minor, not a longer one such as 3.110
  if (running.compare(0, built.size(), built) == 0 && running.size() > built.size() &&
      running[built.size()] == '.')
    return "";
  return "fix pysoft/invoke was built for Python " + built + " but this LAMMPS runs Python " +
      running.substr(0, running.find(' ')) + ": rebuild pysoft with that Python (doc/install.md)";
}

// Start an interpreter if this process has none (LAMMPS run by `lmp`): with the Python home
// of the interpreter pysoft was built with.  In either case put pysoft's own site-packages
// (found from this library's path) on sys.path, so that `import lammps, pysoft` and the packages
// installed beside pysoft work as in that environment, also where the interpreter was started
// by someone else (the PYTHON package of a LAMMPS built from source).  Returns the reason it
// cannot, or "".
std::string ensure_interpreter()
{
  static bool done = false;
  if (done) return "";
  // before any start: Py_GetVersion() needs no interpreter, and starting the wrong one with
  // this Python's home would fail on its standard library
  std::string problem = foreign_python();
  if (!problem.empty()) return problem;
  bool ours = false;
  if (!Py_IsInitialized()) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;    // LAMMPS and MPI keep their own signal handling
    PyConfig_SetBytesString(&config, &config.home, PYSOFT_PYTHON_HOME);
    Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    ours = true;
  }

  PyGILState_STATE state = PyGILState_UNLOCKED;
  if (!ours) state = PyGILState_Ensure();
  Dl_info info;
  if (dladdr((void *) &ensure_interpreter, &info) && info.dli_fname) {
    // <site-packages>/pysoft/lib/pysoftpythonplugin.so
    std::string site = info.dli_fname;
    for (int up = 0; up < 3; up++) site = site.substr(0, site.rfind('/'));
    // the working directory too, so hook modules beside the input script import; appended,
    // not put first as `python` run there would, so that a stray file in it named like an
    // installed package (a lammps.py, a numpy.py) cannot shadow that package
    std::string code = "import os, site, sys\nif r'" + site + "' not in sys.path: site.addsitedir(r'" +
        site + "')\nif os.getcwd() not in sys.path: sys.path.append(os.getcwd())\n";
    PyRun_SimpleString(code.c_str());
  }
  // hand the GIL back: every call below takes it with PyGILState_Ensure
  if (ours)
    PyEval_SaveThread();
  else
    PyGILState_Release(state);
  done = true;
  return "";
}

// The current Python exception as text (the traceback when there is one), and in `last` its
// last line ("ImportError: ..."); `collective` tells whether its class has a true attribute
// `collective` (the hook raised it alike on every rank).  Clears the exception.
std::string python_error(std::string *last = nullptr, bool *collective = nullptr)
{
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string text = "unknown Python error";
  if (collective) {
    *collective = false;
    PyObject *flag = type ? PyObject_GetAttrString(type, "collective") : nullptr;
    if (flag) *collective = PyObject_IsTrue(flag) == 1;
    Py_XDECREF(flag);
    PyErr_Clear();
  }
  if (last) {
    *last = text;
    PyObject *s = value ? PyObject_Str(value) : nullptr;
    PyObject *name = type ? PyObject_GetAttrString(type, "__name__") : nullptr;
    if (s && name && PyUnicode_Check(name)) {
      std::string msg = PyUnicode_AsUTF8(s);
      *last = std::string(PyUnicode_AsUTF8(name)) + (msg.empty() ? "" : ": " + msg);
    }
    for (auto &c : *last)
      if (c == '\n') c = ' ';
    Py_XDECREF(s);
    Py_XDECREF(name);
    PyErr_Clear();
  }
  PyObject *mod = PyImport_ImportModule("traceback");
  if (mod && type) {
    PyObject *lines = PyObject_CallMethod(mod, "format_exception", "OOO", type, value ? value : Py_None,
                                          tb ? tb : Py_None);
    if (lines) {
      PyObject *sep = PyUnicode_FromString("");
      PyObject *joined = PyUnicode_Join(sep, lines);
      if (joined) text = PyUnicode_AsUTF8(joined);
      Py_XDECREF(joined);
      Py_XDECREF(sep);
      Py_DECREF(lines);
    }
  }
  PyErr_Clear();
  Py_XDECREF(mod);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

class GIL {
 public:
  GIL() : state(PyGILState_Ensure()) {}
  ~GIL() { PyGILState_Release(state); }

 private:
  PyGILState_STATE state;
};

}    // namespace

/* ---------------------------------------------------------------------- */

FixPysoftInvoke::FixPysoftInvoke(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), every(0), at_run(false), only_run0(false), at_start(false), at_now(false), nruns(0), callable(nullptr), handle(nullptr),
    is_class(false), instantiated(false)
{
  if (narg < 5) utils::missing_cmd_args(FLERR, "fix pysoft/invoke", error);
  every = utils::inumeric(FLERR, arg[3], false, lmp);
  if (every <= 0) error->all(FLERR, "Fix pysoft/invoke N must be a positive integer, got {}", arg[3]);
  std::string target = arg[4];
  auto colon = target.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size())
    error->all(FLERR, "Fix pysoft/invoke callable must be module:function or module:Class, got {}", target);
  module_name = target.substr(0, colon);
  attr_name = target.substr(colon + 1);

  int iarg = 5;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "at") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "fix pysoft/invoke at", error);
      if (strcmp(arg[iarg + 1], "step") == 0) {
        at_run = false;
      } else if (strcmp(arg[iarg + 1], "run") == 0) {
        at_run = true;
        only_run0 = false;
      } else if (strcmp(arg[iarg + 1], "run0") == 0) {
        at_run = true;
        only_run0 = true;
      } else if (strcmp(arg[iarg + 1], "now") == 0) {
        at_now = true;
      } else {
        error->all(FLERR, "Fix pysoft/invoke 'at' takes step, run, run0 or now, got {}", arg[iarg + 1]);
      }
      iarg += 2;
    } else if (strcmp(arg[iarg], "start") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "fix pysoft/invoke start", error);
      at_start = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "arg") == 0) {
      if (iarg + 3 > narg) utils::missing_cmd_args(FLERR, "fix pysoft/invoke arg", error);
      kwargs.emplace_back(arg[iarg + 1], arg[iarg + 2]);
      iarg += 3;
    } else {
      error->all(FLERR, "Unknown fix pysoft/invoke keyword: {}", arg[iarg]);
    }
  }
  if (at_start && (at_run || at_now)) error->all(FLERR, "Fix pysoft/invoke start yes needs at step");
  if (!at_run && !at_now) nevery = every;
  load();
  // at now: a check or a bookkeeping step of the input script between commands (before any
  // run, or between runs), where a run 0 would already restore fix states after read_restart
  if (at_now) invoke();
}

FixPysoftInvoke::~FixPysoftInvoke()
{
  if (Py_IsInitialized() && (callable || handle)) {
    GIL gil;
    Py_XDECREF((PyObject *) callable);
    Py_XDECREF((PyObject *) handle);
  }
}

int FixPysoftInvoke::setmask()
{
  if (at_now) return 0;
  return at_run ? POST_RUN : END_OF_STEP;
}

/* ----------------------------------------------------------------------
   Import the module and look up the callable on every rank.  The import can fail on some
   ranks only (a module or a dependency missing on one node, a PYTHONPATH that differs per
   rank), and an error->all on those ranks alone would leave the others running into the next
   collective: a hang or an MPI internal error.  So every rank reports its status to all
   (MPI_Allreduce), the first failing rank sends its message to rank 0, and all ranks stop
   together with one ERROR line naming that rank; rank 0 logs its traceback first.
------------------------------------------------------------------------- */

void FixPysoftInvoke::load()
{
  // the same interpreter on every rank, so the same answer: error->all is safe here
  const std::string foreign = ensure_interpreter();
  if (!foreign.empty()) error->all(FLERR, foreign);
  std::string problem, trace;
  {
    GIL gil;
    std::string last;
    PyObject *mod = PyImport_ImportModule(module_name.c_str());
    if (!mod) {
      trace = python_error(&last);
      problem = fmt::format("cannot import module {}: {}", module_name, last);
    } else {
      PyObject *obj = PyObject_GetAttrString(mod, attr_name.c_str());
      if (!obj) {
        python_error();
        problem = fmt::format("module {} has no attribute {}", module_name, attr_name);
      } else if (!PyCallable_Check(obj)) {
        problem = fmt::format("{}:{} is not callable", module_name, attr_name);
        Py_DECREF(obj);
      } else {
        is_class = PyType_Check(obj);
        callable = obj;
      }
      Py_DECREF(mod);
    }
    if (problem.empty()) {
      // lammps.lammps(ptr=capsule): the library wraps this instance without owning it
      PyObject *lammps_mod = PyImport_ImportModule("lammps");
      PyObject *cls = lammps_mod ? PyObject_GetAttrString(lammps_mod, "lammps") : nullptr;
      PyObject *capsule = PyCapsule_New((void *) lmp, nullptr, nullptr);
      PyObject *kw = Py_BuildValue("{s:O}", "ptr", capsule);
      PyObject *noargs = PyTuple_New(0);
      handle = cls ? PyObject_Call(cls, noargs, kw) : nullptr;
      if (!handle) {
        trace = python_error(&last);
        problem = "cannot create the lammps.lammps handle: " + last;
      }
      Py_XDECREF(noargs);
      Py_XDECREF(kw);
      Py_XDECREF(capsule);
      Py_XDECREF(cls);
      Py_XDECREF(lammps_mod);
    }
  }

  int me = comm->me, nprocs = comm->nprocs;
  int mine[2] = {problem.empty() ? 0 : 1, problem.empty() ? nprocs : me};
  int failed = 0, first = nprocs;
  MPI_Allreduce(&mine[0], &failed, 1, MPI_INT, MPI_SUM, world);
  if (failed == 0) return;
  MPI_Allreduce(&mine[1], &first, 1, MPI_INT, MPI_MIN, world);
  if (first != 0) {
    if (me == first) {
      std::string both = problem + '\0' + trace;
      int len = (int) both.size();
      MPI_Send(&len, 1, MPI_INT, 0, 0, world);
      MPI_Send(both.data(), len, MPI_CHAR, 0, 0, world);
    } else if (me == 0) {
      int len = 0;
      MPI_Recv(&len, 1, MPI_INT, first, 0, world, MPI_STATUS_IGNORE);
      std::string both(len, '\0');
      MPI_Recv(&both[0], len, MPI_CHAR, first, 0, world, MPI_STATUS_IGNORE);
      auto cut = both.find('\0');
      problem = both.substr(0, cut);
      trace = cut == std::string::npos ? "" : both.substr(cut + 1);
    }
  }
  if (me == 0 && !trace.empty())
    utils::logmesg(lmp, "Fix pysoft/invoke: Python traceback on rank {}:\n{}\n", first, trace);
  std::string where = nprocs == 1 ? std::string()
      : failed == nprocs ? fmt::format(" on all {} ranks", nprocs)
      : fmt::format(" on rank {} ({} of {} ranks failed)", first, failed, nprocs);
  error->all(FLERR, "Fix pysoft/invoke{}: {}", where, problem);
}

/* ----------------------------------------------------------------------
   Call the hook.  A class is instantiated once, at its first call, as Class(lmp, **kwargs),
   and the instance is then called as instance(lmp); a function is called as f(lmp, **kwargs).
   A Python exception may happen on one rank only, while the others wait in a collective
   inside the hook: error->one prints the traceback and aborts all ranks, so it never hangs.
   An exception whose class has a true attribute `collective` was raised alike on every rank
   (the hook decided from broadcast data, e.g. a refusal to overwrite a file): error->all then
   stops all ranks cleanly with its message as one line, no traceback.
------------------------------------------------------------------------- */

void FixPysoftInvoke::invoke()
{
  std::string problem, last;
  bool collective = false;
  {
    GIL gil;
    PyObject *kw = PyDict_New();
    for (const auto &kv : kwargs) {
      PyObject *v = PyUnicode_FromString(kv.second.c_str());
      PyDict_SetItemString(kw, kv.first.c_str(), v);
      Py_DECREF(v);
    }
    PyObject *args = PyTuple_Pack(1, (PyObject *) handle);
    PyObject *result = nullptr;
    if (is_class && !instantiated) {
      PyObject *instance = PyObject_Call((PyObject *) callable, args, kw);
      if (instance) {
        Py_DECREF((PyObject *) callable);
        callable = instance;
        instantiated = true;
        result = PyObject_CallObject((PyObject *) callable, args);
      }
    } else if (is_class) {
      result = PyObject_CallObject((PyObject *) callable, args);
    } else {
      result = PyObject_Call((PyObject *) callable, args, kw);
    }
    if (!result) problem = python_error(&last, &collective);
    Py_XDECREF(result);
    Py_DECREF(args);
    Py_DECREF(kw);
  }
  if (!problem.empty() && collective)
    error->all(FLERR, "Fix pysoft/invoke {}:{}: {}", module_name, attr_name, last);
  if (!problem.empty())
    pysoft_io::error_one(lmp, FLERR, fmt::format("Fix pysoft/invoke {}:{} raised an exception at step {}:\n{}",
                                                 module_name, attr_name, update->ntimestep, problem));
}

/* ----------------------------------------------------------------------
   With start yes, the first step of a run counts as a dump's would: a hook that samples every
   N steps then sees the frames a dump every N steps writes, step 0 included.  The hook is called
   again at the same step when a run starts where the previous one ended; it may ignore that.
------------------------------------------------------------------------- */

void FixPysoftInvoke::setup(int /*vflag*/)
{
  if (at_start && !at_run && update->ntimestep % every == 0) invoke();
}

void FixPysoftInvoke::end_of_step()
{
  invoke();
}

void FixPysoftInvoke::post_run()
{
  // post_run also closes minimizations; only runs count (with run0, only zero-step runs: an
  // input script calls the hook at a chosen point with "run 0 post no")
  // LAMMPS calls post_run on every fix, whatever its mask: only "at run" hooks answer it
  if (!at_run) return;
  if (update->whichflag != 1) return;
  if (only_run0 && update->nsteps != 0) return;
  if (++nruns % every == 0) invoke();
}
