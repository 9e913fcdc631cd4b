"""Hit preselection before graph building (issue 17): per-hit features and classifiers of primary / secondary /
noise hits."""
