"""Layer-wise linear sum assignment of segments, made differentiable by blackbox gradients (paper Sec. 4.3).

``solve_block(cost)`` is the public primitive: the 0/1 assignment matrix of one cost block (``inf`` = infeasible).
"""

from .solver import AssignmentError, solve_block

__all__ = ["AssignmentError", "solve_block"]
