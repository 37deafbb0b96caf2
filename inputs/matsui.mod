# Matsui (1994) potential for Al2O3, as used by Du et al., ACS Nano 2021 (doc/method.md section 1):
#
#   V(r) = qi qj / r  +  f (Bi+Bj) exp((Ai+Aj-r)/(Bi+Bj))  -  Ci Cj / r^6,   f = 4.184 kJ/mol/Å
#
# Coulomb: born/coul/long real space + PPPM (accuracy 1e-5, as in the paper).
# Short range: the LAMMPS `born` form  E = A exp((sigma-r)/rho) - C/r^6 + D/r^8  with
#   A = f (Bi+Bj)   [kJ/mol -> eV]     rho = Bi+Bj   [Å]     sigma = Ai+Aj   [Å]
#   C = Ci Cj       [kJ/mol Å^6 -> eV Å^6]             D = 0
# The conversion is done below from the paper's own parameters, and nowhere else;
# tests/test_inputs.py checks the resulting energies against the formula above.
#
# Use:  after the box and the atoms exist (read_data, or create_atoms), with
#       units metal, atom_style charge, atom type 1 = Al, type 2 = O:
#           include matsui.mod
# It sets the pair style, kspace style and the charges of all atoms (by type).
# Masses are not set here: they belong to the structure (in.quench sets them and
# write_data carries them into every data file made from it).
#
# Variables (-var NAME VALUE, or define before the include):
#   rc    real-space cutoff, Å                        default 10.0
#   kacc  PPPM relative accuracy in the forces        default 1.0e-5 (paper)
#
# Why rc = 10 Å: beyond ~6 Å the Born-Mayer repulsion is below 1e-9 eV, and PPPM
# carries the Coulomb sum to the requested accuracy whatever rc is; rc only truncates
# the -C/r^6 dispersion and trades real-space against mesh work.  At a-Al2O3 density the
# dispersion left out beyond 10 Å shifts the pressure by about -0.3 GPa (-0.18 GPa at
# 12 Å), the same for every sample; `pair_modify tail yes` after the include adds it back.
# The paper states no cutoff; 10 Å is a usual choice for this potential and costs about
# 60 % of the real-space work of 12 Å.

variable rc   index 10.0
variable kacc index 1.0e-5

# Paper's parameters (q in e; A, B in Å; C in Å^3 (kJ/mol)^1/2; f in kJ/mol/Å)
variable matsui_f equal 4.184
variable q_Al     equal  1.4175
variable q_O      equal -0.945
variable A_Al     equal  0.7852
variable A_O      equal  1.8215
variable B_Al     equal  0.034
variable B_O      equal  0.138
variable C_Al     equal  36.82
variable C_O      equal  90.61

# eV per kJ/mol, 1000 / (N_A e), from the exact SI (2019) values of N_A and e
variable kJmol2eV equal 1.0e3/(6.02214076e23*1.602176634e-19)

# LAMMPS born coefficients per type pair (AlAl = 1 1, AlO = 1 2, OO = 2 2)
variable born_A_AlAl   equal v_matsui_f*(v_B_Al+v_B_Al)*v_kJmol2eV
variable born_A_AlO    equal v_matsui_f*(v_B_Al+v_B_O)*v_kJmol2eV
variable born_A_OO     equal v_matsui_f*(v_B_O+v_B_O)*v_kJmol2eV
variable born_rho_AlAl equal v_B_Al+v_B_Al
variable born_rho_AlO  equal v_B_Al+v_B_O
variable born_rho_OO   equal v_B_O+v_B_O
variable born_sig_AlAl equal v_A_Al+v_A_Al
variable born_sig_AlO  equal v_A_Al+v_A_O
variable born_sig_OO   equal v_A_O+v_A_O
variable born_C_AlAl   equal v_C_Al*v_C_Al*v_kJmol2eV
variable born_C_AlO    equal v_C_Al*v_C_O*v_kJmol2eV
variable born_C_OO     equal v_C_O*v_C_O*v_kJmol2eV

pair_style  born/coul/long ${rc}
# coefficients formatted with 17 significant digits so no precision is lost on the way
pair_coeff  1 1 $(v_born_A_AlAl:%.17g) $(v_born_rho_AlAl:%.17g) $(v_born_sig_AlAl:%.17g) $(v_born_C_AlAl:%.17g) 0.0
pair_coeff  1 2 $(v_born_A_AlO:%.17g) $(v_born_rho_AlO:%.17g) $(v_born_sig_AlO:%.17g) $(v_born_C_AlO:%.17g) 0.0
pair_coeff  2 2 $(v_born_A_OO:%.17g) $(v_born_rho_OO:%.17g) $(v_born_sig_OO:%.17g) $(v_born_C_OO:%.17g) 0.0
kspace_style pppm ${kacc}

set type 1 charge ${q_Al}
set type 2 charge ${q_O}
