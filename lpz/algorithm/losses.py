"""GAN losses on discriminator logits (the sigmoid lives here, where it is stable).

bce        D: binary cross-entropy on real (label 1) and fake (label 0).
           G: binary cross-entropy of its fakes against label 1, as the old
           system's `bceloss` (the non-saturating form of the standard GAN).
mse        least squares on the sigmoid outputs (LSGAN with 1/0 targets).
heuristic  G: -1/2 E[log D(G(z))], the old system's HeuristicLoss; D: bce.
mustangs   each generator draws one of the three above (per generation or
           per batch); discriminators use bce (Toutouh et al. 2019).
wgan       the Wasserstein GAN (Arjovsky et al. 2017): the discriminator is a
           critic whose raw outputs estimate the Wasserstein-1 distance; the
           critic minimises E[D(fake)] - E[D(real)], the generator -E[D(fake)].
           (Its weight clipping and extra critic steps live in cell.train.)
"""
import torch
import torch.nn.functional as F

BASE_LOSSES = ("bce", "mse", "heuristic")
WGAN_CRITIC_STEPS, WGAN_WEIGHT_CLIP = 5, 0.01  # Arjovsky et al.'s, where a wgan config leaves them out


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "wgan":
        return -fake_logits.mean()
    if kind == "bce":
        return F.softplus(-fake_logits).mean()
    if kind == "heuristic":
        return 0.5 * F.softplus(-fake_logits).mean()
    if kind == "mse":
        return (torch.sigmoid(fake_logits) - 1).square().mean()
    raise ValueError(f"unknown generator loss {kind}")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "wgan":
        return fake_logits.mean() - real_logits.mean()
    if kind == "mse":
        return (torch.sigmoid(real_logits) - 1).square().mean() + torch.sigmoid(fake_logits).square().mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def discriminator_kind(loss: str) -> str:
    return loss if loss in ("mse", "wgan") else "bce"


def fitness_kind(loss: str) -> str:
    """The loss fitness is measured with: one for everybody, so fitnesses compare."""
    return "bce" if loss == "mustangs" else loss
