/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the common part of the per-atom computes measured against a
   reference configuration (compute bondswitch/atom, compute nonaffine/atom):
   their store (a FixReferenceStore), when the reference is captured, and
   "reference current": `fix_modify ID_STORE reference current` in every
   LAMMPS release, also `compute_modify ID reference current` from 22Jul2025
   on (lammps_compat.h).
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_WITH_REFERENCE_H
#define LMP_COMPUTE_WITH_REFERENCE_H

#include "compute.h"
#include "fix_reference_store.h"
#include "lammps_compat.h"

#include <string>

namespace LAMMPS_NS {

class ComputeWithReference : public Compute {
 public:
  ~ComputeWithReference() override;
  void init_list(int, class NeighList *) override;
  void setup() override;
#if PYSOFT_COMPUTE_MODIFY_PARAM
  int modify_param(int, char **) override;
#endif
  // "reference WORD" given to compute_modify or to the store's fix_modify (`how` names which,
  // for the messages): WORD must be current; the configuration of now becomes the reference
  void renew_reference(int narg, char **arg, const char *how);
  // the ID of the store fix, for fix_modify
  const std::string &store_id() const { return id_store; }

 protected:
  ComputeWithReference(class LAMMPS *, int, char **, const ReferenceKind &);

  // the full neighbour list the compute requests in init(), with its own cutoff
  class NeighList *list;

  // Create the store, once the compute's arguments are checked.  Its ID derives from the
  // compute's, so that a compute defined again with the same ID after read_restart gets its
  // reference back from the restart file.  True when it did (check what it was captured with).
  bool attach_store();
  // the store, looked up each time: `unfix` would otherwise leave a dangling pointer
  FixReferenceStore *store();
  // the store, holding the reference to compare with in this invocation.  This, setup() and
  // modify_param() are the one place that decides, by kind.capture, when a reference is taken.
  FixReferenceStore *reference();
  // fill the store from the configuration now (begin_capture, entries, end_capture)
  virtual void capture() = 0;
  // stop on "reference WORD" with a WORD other than current, given to `how` (compute_modify or
  // fix_modify); each compute has its own long-standing wording of it
  virtual void refuse_reference_word(const char *word, const char *how) = 0;

 private:
  const ReferenceKind &kind;
  std::string id_store;
  std::string rearm[2];

  void refresh_between_runs();
};

}    // namespace LAMMPS_NS

#endif
