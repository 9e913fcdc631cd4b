"""Graph sizes of the paper's GATE data (Kortus et al. 2024, via REFERENCE.md), for comparison only."""

#: (primaries per frame, phantom mm) -> (nodes mean, nodes std, edges mean, edges std) of the hit graph
HIT_GRAPH_SIZES = {
    (50, 100): (1337, 54, 4311, 497), (50, 150): (1074, 38, 3079, 397), (50, 200): (815, 28, 2235, 284),
    (100, 100): (2675, 76, 14837, 1350), (100, 150): (2148, 53, 10397, 1015), (100, 200): (1628, 40, 7514, 803),
    (150, 100): (4015, 80, 31532, 2413), (150, 150): (3224, 62, 21906, 1836), (150, 200): (2445, 46, 15770, 1400),
}
#: (primaries per frame, phantom mm) -> line-graph edges
LINE_GRAPH_EDGES = {(100, 100): 493910, (100, 150): 279974, (100, 200): 172926, (150, 100): 1611761}
#: phantom mm -> hits per primary
HITS_PER_PRIMARY = {100: 26.8, 150: 21.5, 200: 16.3}
