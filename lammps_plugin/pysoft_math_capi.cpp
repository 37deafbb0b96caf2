/* ----------------------------------------------------------------------
   pysoft: a C interface to the plugin's math, without LAMMPS.
   Loaded through ctypes by the tests, to check the structure functions,
   the bond-switching classification and D2min on hand-made input and the
   spec and model readers on damaged files, and by pysoft (pysoft/spec.py)
   to find spec files by the plugin's own rule and validate them before a run.
------------------------------------------------------------------------- */

#include "bond_switching.h"
#include "nonaffine.h"
#include "softness_model.h"
#include "spec_files.h"
#include "structure_functions.h"

#include <cstring>

namespace {
void set_error(char *err, int len, const char *msg)
{
  if (err && len > 0) {
    strncpy(err, msg, len - 1);
    err[len - 1] = '\0';
  }
}
}    // namespace

extern "C" {

// the file a spec argument names (pysoft::find_spec_file), written to out; returns its length
// (out holds all of it when that is below outlen), or -1 when the argument names no file
__attribute__((visibility("default"))) int pysoft_find_spec_file(const char *arg, char *out,
                                                                  int outlen)
{
  const std::string path = pysoft::find_spec_file(arg);
  if (path.empty()) return -1;
  set_error(out, outlen, path.c_str());
  return (int) path.size();
}

// the names of the specs shipped with pysoft, sorted, one per line, written to out; returns
// the length of that text (out holds all of it when that is below outlen)
__attribute__((visibility("default"))) int pysoft_shipped_specs(char *out, int outlen)
{
  std::string text;
  for (const auto &name : pysoft::shipped_spec_names()) text += name + "\n";
  set_error(out, outlen, text.c_str());
  return (int) text.size();
}

// number of feature columns of a spec, or -1 with a message in err
__attribute__((visibility("default"))) int pysoft_spec_ncols(const char *spec_json, char *err,
                                                              int errlen)
{
  try {
    return pysoft::StructureSpec::from_json(spec_json).ncols();
  } catch (std::exception &e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

// the radial column count and the largest cutoff of a spec, so that Python asks the spec reader
// instead of working them out again; returns the number of columns, or -1 with a message in err
__attribute__((visibility("default"))) int pysoft_spec_shape(const char *spec_json, int *nradial,
                                                              double *max_cutoff, char *err,
                                                              int errlen)
{
  try {
    auto spec = pysoft::StructureSpec::from_json(spec_json);
    *nradial = spec.nradial();
    *max_cutoff = spec.max_cutoff();
    return spec.ncols();
  } catch (std::exception &e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

// number of feature columns of a softness model (the text of a model file), or -1 with a
// message in err: the same reading and checks as compute softness
__attribute__((visibility("default"))) int pysoft_model_ncols(const char *model_json, char *err,
                                                               int errlen)
{
  try {
    return (int) pysoft::SoftnessModel::from_json(model_json).coef.size();
  } catch (std::exception &e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

// the checksum a model file's text should hold (pysoft::model_checksum), written to out; 0, or
// -1 with a message in out
__attribute__((visibility("default"))) int pysoft_model_checksum(const char *model_json, char *out,
                                                                  int outlen)
{
  try {
    set_error(out, outlen, pysoft::model_checksum(model_json).c_str());
    return 0;
  } catch (std::exception &e) {
    set_error(out, outlen, e.what());
    return -1;
  }
}

// label of column c, written to out
__attribute__((visibility("default"))) int pysoft_spec_label(const char *spec_json, int c,
                                                              char *out, int outlen)
{
  try {
    auto spec = pysoft::StructureSpec::from_json(spec_json);
    if (c < 0 || c >= spec.ncols()) return -1;
    set_error(out, outlen, spec.column_label(c).c_str());
    return 0;
  } catch (std::exception &e) {
    set_error(out, outlen, e.what());
    return -1;
  }
}

// features of ncentre centres; centre c has counts[c] neighbours, whose displacement vectors
// (3 doubles) and species follow those of centre c-1 in disp and species.  out: ncentre rows.
__attribute__((visibility("default"))) int pysoft_structure_functions(
    const char *spec_json, int ncentre, const int *counts, const double *disp, const int *species,
    double *out, char *err, int errlen)
{
  try {
    pysoft::StructureFunctions sf(pysoft::StructureSpec::from_json(spec_json));
    const int ncol = sf.ncols();
    const int ns = sf.spec().nspecies();
    long off = 0;
    for (int c = 0; c < ncentre; c++) {
      for (int k = 0; k < counts[c]; k++)
        if (species[off + k] < 0 || species[off + k] >= ns) {
          set_error(err, errlen, "species index out of range");
          return -1;
        }
      sf.evaluate(counts[c], disp + 3 * off, species + off, out + (long) c * ncol);
      off += counts[c];
    }
    return 0;
  } catch (std::exception &e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

// bond-switching state (0 UC, 1 DC, 2 IC, 3 SC) of an atom whose bonded neighbour ids were
// ref (nref, sorted) in the reference and are now (nnow, sorted) now
__attribute__((visibility("default"))) int pysoft_bond_switch_state(const int64_t *ref, int nref,
                                                                     const int64_t *now, int nnow)
{
  return pysoft::classify_bond_switch(ref, nref, now, nnow);
}

// D2min of ncentre atoms; centre c has counts[c] neighbours, whose reference separations X and
// current separations d (3 doubles each) follow those of centre c-1.  out: ncentre values;
// J, if not null, the 9 values (row-major) of each centre's best-fit J.
__attribute__((visibility("default"))) void pysoft_nonaffine_d2min(int ncentre, const int *counts,
                                                                   const double *X, const double *d,
                                                                   double *out, double *J)
{
  long off = 0;
  for (int c = 0; c < ncentre; c++) {
    out[c] = pysoft::nonaffine_d2min(counts[c], X + 3 * off, d + 3 * off, J ? J + 9L * c : nullptr);
    off += counts[c];
  }
}
}
