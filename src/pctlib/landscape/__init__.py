"""Loss-landscape studies of trained scorers (paper Sec. 3.3, 5.2-5.4, App. D): one module per study.

``hessian``: Hessian-vector products, top eigenpairs and the trace of a loss over fixed frames.
``surfaces``: directions (eigenvectors, filter-normalised random) and 2-D surfaces on a grid.
"""
