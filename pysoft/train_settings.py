"""The settings of a training run and their defaults, in one place.

``pysoft train`` (its options), ``pysoft run`` (the ``train:`` section of the config) and
:func:`pysoft.train.train` all take their defaults from :class:`TrainSettings`.  This module
imports nothing, so the config and the command line can read it without loading numba.
"""

from dataclasses import dataclass, field


@dataclass
class TrainSettings:
    """Everything that defines a training run (all stored in the model's provenance)."""

    types: tuple                       # species of LAMMPS types 1..n, e.g. ("Al", "O")
    centre: str = None                 # species whose atoms are labelled; default types[0]
    spec: str = "default"              # structure-function spec (name or file)
    t_r: float = 6.0                   # phop window tR, ps (doc/method.md section 6)
    dt: float = 0.001                  # MD timestep of the dumps, ps
    hop_threshold: float = 0.2         # Å^2
    calm_threshold: float = 0.05       # Å^2
    calm_fraction: float = 1.0         # calm pairs kept for the draw (pysoft.phop.keep_calm)
    per_class: int = None              # events per class; default: as many as the rarer class
    min_events: int = 10               # fewer rearranging events than this is an error
    seed: int = 0
    C_grid: tuple = (0.01, 0.1, 1.0, 10.0)
    folds: int = 5
    also_thresholds: tuple = (0.5,)    # Å^2: held-out accuracy also at these hop thresholds (the paper's 0.5)
    progress: bool = True
    extra: dict = field(default_factory=dict)
