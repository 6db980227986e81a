"""lpz: spatially distributed coevolutionary GAN training (Lipizzaner), at scale."""
__version__ = "0.1.0"
