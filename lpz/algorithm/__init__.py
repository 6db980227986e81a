"""The algorithm: networks, losses, individuals, the grid, mixtures, and one generation of one cell.

No I/O here: nothing reads or writes a store, a file or the network, and nothing draws a picture.
Every random draw comes from a generator seeded by (run seed, cell, generation, purpose).
"""
