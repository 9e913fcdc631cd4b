"""pctlib: end-to-end differentiable charged-particle tracking for the Bergen pCT Digital Tracking Calorimeter.

The package is organised along the data flow of the project:
simulate -> graphs -> score -> assign -> tracks -> metrics -> studies.
The notebooks in ``notebooks/`` narrate and plot; the logic lives here.
"""

__version__ = "0.1.0"
