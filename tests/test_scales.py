"""hidcap.scales: the registry of scales builds valid configs and refuses unknown names."""
import pytest

from hidcap.scales import (
    BUMP_SCALES,
    CONCEPT_SCALES,
    SCALES,
    TORUS_SCALES,
    bump_scale,
    concept_scale,
    torus_scale,
)
from hidcap.models import presets


def test_concept_scales_build_valid_configs():
    for name in (*SCALES, "quick-8px"):
        s = concept_scale(name)
        spec = s.spec(color_separation=0.3)
        cfg = s.train_config(spec, seed=1, device="cpu", steps=s.steps)
        assert cfg.model.image_size == spec.image_size == s.image_size and cfg.seed == 1
    full = concept_scale("full")
    assert full.steps == 20000 and full.checkpoints.count == 60 and full.image_size == 32
    with pytest.raises(ValueError, match="unknown scale"):
        concept_scale("huge")
    with pytest.raises(ValueError, match="does not fit"):
        concept_scale("quick").train_config(full.spec(), 0, "cpu")


def test_registries_hold_every_scale_and_lookups_return_the_entries():
    for registry in (CONCEPT_SCALES, BUMP_SCALES, TORUS_SCALES):
        assert set(SCALES) <= set(registry)
    assert concept_scale("quick") is CONCEPT_SCALES["quick"] and bump_scale("full") is BUMP_SCALES["full"]
    for lookup in (concept_scale, bump_scale, torus_scale):
        with pytest.raises(ValueError, match="unknown scale"):
            lookup("huge")


def test_torus_scales_full_quick_and_the_example_entries():
    full = torus_scale("full")
    cfg = full.train_config(0, "cpu")
    assert cfg.model == presets.gaussian_bumps() and cfg.diffusion.timesteps == 1000
    assert cfg.data.image_size == 32 and cfg.data.increment == 0.1 and cfg.data.periodic
    assert cfg.steps == 50000 and cfg.checkpoints.count == 40 and full.sample_steps == 1000
    assert full.data.lattice().shape == (102400, 2) and full.labels().shape == (1024, 2)
    quick = torus_scale("quick")
    qcfg = quick.train_config(3, "cpu")
    assert qcfg.seed == 3 and qcfg.model.image_size == 16 and quick.data.lattice().shape == (1024, 2)
    assert qcfg.model == bump_scale("quick").model  # referenced, not copied
    # the probe's quick scale measures like the example: the whole 32 x 32 lattice, 300 landmarks, 50 steps
    assert quick.labels().shape == (1024, 2) and quick.landmarks == torus_scale("example-cpu").landmarks == 300
    assert quick.sample_steps == 50 and quick.measure_every == 1
    from hidcap.run_config import checkpoint_schedule

    assert checkpoint_schedule(qcfg) == (50, 200, 500, 1000, 1500)  # five measured trained checkpoints, dense early
    cpu = torus_scale("example-cpu").train_config(0, "cpu")
    assert cpu.steps == 1500 and cpu.log_every == 50 and cpu.optimizer == bump_scale("quick").optimizer
    # make demo: only the last checkpoint on the whole lattice, the earlier ones on the 16 x 16 integer lattice
    example = torus_scale("example-cpu")
    assert example.labels().shape == (1024, 2) and example.coarse_labels().shape == (256, 2)
    assert quick.coarse_labels() is None and full.coarse_labels() is None  # the probe measures every step fully
    tiny = torus_scale("example-tiny")
    assert tiny.maxdim == 1 and tiny.train_config(0, "cpu").checkpoints.count == 1
    # a finer measurement lattice is one field away: the 32 x 32 training lattice of a 16 px frame
    from dataclasses import replace

    assert replace(quick, grid_step=0.5).labels().shape == (1024, 2)


def test_cunet_concept_scales():
    from hidcap.diffusion import ParkVDMConfig
    from hidcap.models import CUNetConfig

    for name, size in (("cunet-sprint", 32), ("cunet-tiny", 8)):
        s = concept_scale(name)
        assert isinstance(s.model, CUNetConfig) and isinstance(s.diffusion, ParkVDMConfig)
        assert s.image_size == s.model.image_size == size and s.optimizer.grad_clip == 0.01
    sprint = concept_scale("cunet-sprint")
    assert sprint.model.channels == (64, 128, 256) and sprint.batch_size == 64  # Park et al.'s run preset
    assert sprint.checkpoints.count == 12 and sprint.checkpoints.spacing == "linear"
