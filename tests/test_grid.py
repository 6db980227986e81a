from lpz.config.grid import Grid


def test_one_cell_is_its_own_neighbourhood():
    assert Grid(1, 1).neighbourhood(0) == [0]


def test_two_by_two_has_three_distinct_cells():
    grid = Grid(2, 2)
    # cell 0 at (0,0): N and S wrap to (1,0) = 2, W and E wrap to (0,1) = 1
    assert grid.neighbourhood(0) == [0, 2, 1]
    assert grid.neighbourhood(3) == [3, 1, 2]
    assert all(len(grid.neighbourhood(c)) == 3 for c in grid.cells)


def test_three_by_three_von_neumann_wraps_around_the_torus():
    grid = Grid(3, 3)
    assert grid.neighbourhood(4) == [4, 1, 7, 3, 5]   # centre: N, S, W, E
    assert grid.neighbourhood(0) == [0, 6, 3, 2, 1]   # corner wraps both ways
    assert all(len(grid.neighbourhood(c)) == 5 for c in grid.cells)


def test_rectangular_two_by_three():
    grid = Grid(2, 3)
    assert grid.size == 6
    # cell 1 at (0,1): N and S are both (1,1) = 4, W = 0, E = 2
    assert grid.neighbourhood(1) == [1, 4, 0, 2]
    assert grid.neighbourhood(5) == [5, 2, 4, 3]


def test_moore_neighbourhood_has_the_eight_surrounding_cells():
    grid = Grid(3, 3, "moore")
    assert sorted(grid.neighbourhood(4)) == list(range(9))
    assert Grid(4, 4, "moore").neighbourhood(5) == [5, 0, 1, 2, 4, 6, 8, 9, 10]


def test_ring_neighbourhood_follows_row_major_order():
    grid = Grid(3, 3, "ring", radius=2)
    assert grid.neighbourhood(0) == [0, 8, 1, 7, 2]
    assert Grid(1, 2, "ring").neighbourhood(0) == [0, 1]


def test_neighbourhood_relation_is_symmetric_on_the_torus():
    for grid in (Grid(3, 3), Grid(2, 3), Grid(4, 5), Grid(3, 3, "moore")):
        for c in grid.cells:
            for n in grid.neighbourhood(c):
                assert c in grid.neighbourhood(n)
