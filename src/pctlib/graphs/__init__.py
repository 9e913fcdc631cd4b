"""Readout frames to graphs: preprocessing, hit graphs, line graphs, cached datasets (paper Sec. 4.1, App. A)."""
