"""Training the edge scorer: predict-then-track and predict-and-track (paper Sec. 4.4)."""
