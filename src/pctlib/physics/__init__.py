"""Fast Monte Carlo of protons through water phantoms and layered pixel detectors (the Bergen pCT DTC)."""
