# pysoft_sampler.mod: collect the training data of pysoft train during the run (pysoft.sampler),
# instead of writing the trajectory.  Include it before "run"; it needs the variables
#   dt       MD timestep, ps                 (in.nvt300 sets it)
#   n_dump   MD steps between frames         (in.nvt300 sets it)
# and takes (-var NAME VALUE):
#   samples  dataset file                    samples.pysoft
#   tR       phop window, ps                 6.0
#   types    species of the atom types       Al,O
#   spec     structure-function spec         default (a shipped name or a JSON file)
#   hop_threshold, calm_threshold  Å^2       0.2, 0.05
#   calm_fraction  calm pairs kept           0.00390625 (1/256)
#   sampler_restart  yes: after read_restart, continue the dataset from the restart's step   no
#            (the restart file names its sampler run and its last frame: the dataset must be
#            that run's, and its later frames are cut off)
#   replace  yes: overwrite an existing dataset (a new one, not sampler_restart)     no
# The per-atom state (positions of 2h + 1 frames, the phop sums of 2h + 2, h = tR/2 in frames,
# the peak and calm rules, the run's identity and the last frame's timestep)
# lives in a fix property/atom array, so that it follows the atoms between ranks and is written
# to restart files.

variable samples       index samples.pysoft
variable tR            index 6.0
variable types         index Al,O
variable spec          index default
variable hop_threshold index 0.2
variable calm_threshold index 0.05
variable calm_fraction index 0.00390625
variable sampler_restart index no
variable replace       index no
variable pysoft_h      equal floor(${tR}/(2*${dt}*${n_dump})+0.5+1e-9)
variable pysoft_cols   equal 14*v_pysoft_h+20

# every argument and the dataset file, checked before the state is sized from them (one line)
fix pysoft_sampler_check all pysoft/invoke 1 pysoft.sampler:check at now arg out ${samples} arg types ${types} &
    arg every ${n_dump} arg tR ${tR} arg calm_fraction ${calm_fraction} arg spec ${spec} &
    arg hop_threshold ${hop_threshold} arg calm_threshold ${calm_threshold} arg restart ${sampler_restart} &
    arg replace ${replace}
unfix pysoft_sampler_check
fix pysoft_state all property/atom d2_pysoft_sampler ${pysoft_cols}
fix pysoft_sampler all pysoft/invoke ${n_dump} pysoft.sampler:Sampler start yes arg out ${samples} arg types ${types} &
    arg every ${n_dump} arg tR ${tR} arg calm_fraction ${calm_fraction} arg spec ${spec} &
    arg hop_threshold ${hop_threshold} arg calm_threshold ${calm_threshold} arg restart ${sampler_restart} &
    arg replace ${replace}
fix pysoft_sampler_end all pysoft/invoke 1 pysoft.sampler:end_of_run at run arg out ${samples}
