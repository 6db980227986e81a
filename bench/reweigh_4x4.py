"""Re-weigh the kept 4x4 mixtures: the shipped (FID-tuned) weights, uniform, the lowest-TVD weighting
(a linear program on one draw) and half of each, all scored on a fresh 10,000-sample draw. Not a test."""
import sys
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1])); sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_balance import best_weighting_tvd
from lpz.algorithm import mixture
from lpz.seeding import generator
from lpz.engine.work import run_dataset
from lpz.scoring import make_scorer
from lpz.scoring.classifier import class_frequencies, load_classifier, logits, real_statistics, tvd, weights_file
from lpz.runs import Run
from lpz.store import LocalStore
from lpz.views.sampling import mixture_nets
torch.set_num_threads(2)
for seed in (1, 2):
    run = Run.open(LocalStore(Path(__file__).resolve().parents[1] / Path(f"bench/results/mnist-200/4x4-seed{seed}")), f"mnist-4x4-seed{seed}-g200")
    dataset = run_dataset(run)
    net, info = load_classifier(weights_file(dataset.name))
    _, real = real_statistics(dataset, net, info["sha256"])
    gens, shipped = mixture_nets(run)
    freqs = np.array([class_frequencies(logits(net, g(g.latent(10000, generator(7, "fit", i))).detach())) for i, g in enumerate(gens)])
    _, lp = best_weighting_tvd(freqs, real)
    lp = np.clip(lp, 0, None); lp /= lp.sum()
    scorer = make_scorer(run.config, dataset, sample_size=10000)
    z = gens[0].latent(10000, generator(99, "fresh", "noise"))
    for name, w in [("shipped", list(shipped)), ("uniform", [1 / len(gens)] * len(gens)), ("min-TVD LP", lp.tolist()),
                    ("half shipped half LP", (0.5 * np.asarray(shipped) + 0.5 * lp).tolist())]:
        s = mixture.sample(gens, w, z)
        feats = scorer.features_of(s)
        print(f"seed {seed} {name}: FID {scorer.distance(feats):.1f} TVD {scorer.details(gens, w, None, features=feats)['tvd']:.3f}", flush=True)
