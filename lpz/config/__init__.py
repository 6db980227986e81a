"""Run configuration: the typed sections (lpz.config.models), reading YAML files with bounds
(lpz.config.files), and a cell's memory estimate (lpz.config.footprint). No torch here."""
from lpz.config.models import (LOSSES, NETWORKS, Config, Dataloader, Network, OptimizeMixture, check_combinations,
                               load_config, neighbourhood_size, resolved, samples_due, validate)

__all__ = ["Config", "Dataloader", "LOSSES", "NETWORKS", "Network", "OptimizeMixture", "check_combinations",
           "load_config", "neighbourhood_size", "resolved", "samples_due", "validate"]
