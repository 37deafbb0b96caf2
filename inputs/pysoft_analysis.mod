# pysoft on-the-fly analysis of a strain loop (doc/method.md sections 4 and 7): include this once,
# on the equilibrated unstrained glass, before the strain loop; then end every strain step
# with the two lines
#     run 0 post no                                          # calls the tally hook (at run0)
#     fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current   # next D2min reference
# (the end of this step; fix_modify of the compute's reference store works in every LAMMPS
# release, "compute_modify pysoft_NA reference current" from 22Jul2025 on)
# The data file must have been read after "atom_modify map yes" (compute nonaffine/atom).
# After read_restart, include it again with resume 1: the computes and fixes come back with
# the same IDs and their stored per-atom state, one "run 0" restores that state before the tally
# hook exists (so the restored configuration adds no row), and the series continues.
# Each step appends one JSON line to ${series}; the only per-atom files are the few key frames in
# ${keyframes} (pysoft.keyframes): the peak, the drop onset and the last step are written by
#     unfix pysoft_tally
#     fix pysoft_keyframes all pysoft/invoke 1 pysoft.keyframes:finish at run0 arg dir ${keyframes}
#     run 0 post no
# after the loop (until then each rank keeps its atoms' candidates in memory).
#
# Variables (set them before the include):
#   model    softness model from `pysoft train` (JSON)                   required
#   series   time-series file (JSON lines)                               series.jsonl
#   al, o    LAMMPS types of Al and O                                    1, 2
#   rc_bond  Al-O bond cutoff, Å                                         2.25
#   rc_na    neighbour cutoff of D2min in the reference, Å               4.0
#   resume   1 to continue the series after read_restart (a run 0       0
#            first restores the per-atom state; see above)
#   resume_step  with resume 1: the first step of the restarted run;      none (the last
#            rows of the series at or after it are dropped)                   row + 1)
#   replace  yes to overwrite an existing series (without resume)         no
#            (and the key frames of a previous run in ${keyframes})
#   run_id   the run's identity, written in the series header and        none
#            checked on resume (in.tension.planestrain: pysoft.runid)
#   keyframes  folder of the key frames (per-atom LAMMPS dumps for OVITO    keyframes
#            at step 0, peak stress, onset of the largest drop, last step;
#            doc/keyframes.md); none: no key frames
#   keyframes_every  also a key frame every this many strain steps (0: no)   0
#   keyframes_stress  equal-style variable with the step's stress along the  none (the
#            loading axis, GPa, that picks peak and drop                       pressure tensor)
# Ghost atoms must reach the softness spec's 11 Å + skin: comm_modify cutoff 13.5 below.

variable    model    index model.json
variable    series   index series.jsonl
variable    al       index 1
variable    o        index 2
variable    rc_bond  index 2.25
variable    rc_na    index 4.0
variable    resume   index 0
variable    resume_step index none
variable    replace  index no
variable    run_id   index none
variable    keyframes        index keyframes
variable    keyframes_every  index 0
variable    keyframes_stress index none

comm_modify cutoff 13.5
group       pysoft_Al type ${al}

# per-atom state that moves with the atoms and is saved in restart files: the cumulative
# non-affine displacement D, the initial softness S0 and the initial fractional position along
# the loading axis X0 (the material slab of the crack profile, pysoft.crack)
fix         pysoft_state all property/atom d_pysoft_D d_pysoft_S0 d_pysoft_X0 ghost no

compute     pysoft_S pysoft_Al softness ${model} Al O
compute     pysoft_B pysoft_Al bondswitch/atom ${rc_bond} ${o}
compute     pysoft_NA all nonaffine/atom ${rc_na}
compute     pysoft_stress all stress/atom NULL
compute     pysoft_vol all voronoi/atom
compute     pysoft_xu all property/atom xu yu zu

if "${resume} == 1" then "run 0 post no"
# every compute and property the hook reads is named here, not left to the hook's defaults
fix         pysoft_tally all pysoft/invoke 1 pysoft.hooks:PlaneStrainTally at run0 &
            arg out ${series} arg centre_type ${al} arg softness pysoft_S arg bonds pysoft_B &
            arg nonaffine pysoft_NA arg D pysoft_D arg S0 pysoft_S0 arg stress pysoft_stress &
            arg volume pysoft_vol arg unwrapped pysoft_xu arg X0 pysoft_X0 &
            arg restart ${resume} arg resume_step ${resume_step} arg replace ${replace} arg run_id ${run_id} &
            arg keyframes ${keyframes} arg keyframes_every ${keyframes_every} arg stress_var ${keyframes_stress}
