"""Edge-scoring networks on the line graph (paper Sec. 4.2)."""
