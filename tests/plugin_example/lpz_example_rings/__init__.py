"""The dataset `rings` for lpz: what it is. No torch here, so that lpz checks a config at once."""
from lpz.data import DatasetSpec

RINGS = DatasetSpec(
    name="rings",                               # the same as the entry point's name
    kind="points",                              # 2-D points: the network mlp2d fits them
    sample_shape=lambda dataloader: (2,),       # the shape of one sample, given the config's dataloader
    loader="lpz_example_rings.data:load_rings",  # imported only when a run loads the data
    summary="2-D points on two rings around the origin, of radius 1 and 2",
)
