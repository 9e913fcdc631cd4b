"""Hit preselection before graph building: per-hit features and classifiers of primary / secondary /
noise hits."""
