"""Input checks and progress bar shared by the DDPM and VDM samplers (hidcap.diffusion.base)."""
import math

import numpy as np
import pytest
import torch

from hidcap.diffusion import DDPM, VDM, DDPMConfig
from hidcap.models import UNet, presets


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return UNet(presets.tiny(image_size=8, cond_dim=2)).eval()


DIFFUSIONS = [VDM(), DDPM(DDPMConfig.scaled(10))]


@pytest.mark.parametrize("diffusion", DIFFUSIONS, ids=["vdm", "ddpm"])
@pytest.mark.parametrize("guidance", [math.nan, math.inf])
def test_non_finite_guidance_is_rejected(model, diffusion, guidance):
    with pytest.raises(ValueError, match="guidance must be a finite number"):
        diffusion.sample(model, torch.zeros(2, 2), torch.Generator().manual_seed(0), steps=2, guidance=guidance)


@pytest.mark.parametrize("diffusion", DIFFUSIONS, ids=["vdm", "ddpm"])
def test_non_finite_cond_is_rejected_naming_the_rows(model, diffusion):
    cond = torch.zeros(3, 2)
    cond[1, 0] = math.nan
    with pytest.raises(ValueError, match=r"cond has NaN/inf values in row\(s\) \[1\]"):
        diffusion.sample(model, cond, torch.Generator().manual_seed(0), steps=2)
    with pytest.raises(ValueError, match="null_cond has NaN"):
        diffusion.sample(model, torch.zeros(3, 2), torch.Generator().manual_seed(0), steps=2, guidance=2.0,
                         null_cond=torch.tensor([math.nan, 0.0]))


@pytest.mark.parametrize("eta", [math.nan, -0.5])
def test_bad_eta_is_rejected(model, eta):
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        DDPM(DDPMConfig.scaled(10)).sample(model, torch.zeros(2, 2), torch.Generator().manual_seed(0), eta=eta)


def test_zero_steps_is_an_error_not_all_steps(model):
    with pytest.raises(ValueError, match="steps must be in"):
        DDPM(DDPMConfig.scaled(10)).sample(model, torch.zeros(1, 2), torch.Generator().manual_seed(0), steps=0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        VDM().sample(model, torch.zeros(1, 2), torch.Generator().manual_seed(0), steps=0)


@pytest.mark.parametrize("diffusion", DIFFUSIONS, ids=["vdm", "ddpm"])
def test_numpy_integer_steps_work(model, diffusion):
    a = diffusion.sample(model, torch.zeros(1, 2), torch.Generator().manual_seed(0), steps=np.int64(3))
    b = diffusion.sample(model, torch.zeros(1, 2), torch.Generator().manual_seed(0), steps=3)
    assert torch.equal(a, b)


@pytest.mark.parametrize("diffusion", DIFFUSIONS, ids=["vdm", "ddpm"])
def test_progress_bar_follows_the_training_policy(model, diffusion, capsys):
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    quiet = diffusion.sample(model, torch.zeros(1, 2), gen(), steps=3)  # stderr is not a terminal here
    assert capsys.readouterr().err == ""
    shown = diffusion.sample(model, torch.zeros(1, 2), gen(), steps=3, progress=True)
    assert "sample" in capsys.readouterr().err and torch.equal(quiet, shown)  # the bar changes no numbers
    diffusion.sample(model, torch.zeros(1, 2), gen(), steps=3, progress=False)
    assert capsys.readouterr().err == ""
