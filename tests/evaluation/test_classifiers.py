import json

import pytest
import torch

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.classifiers import ConceptProbe, ProbeConfig, load_probe, require_accurate, train_probe

SPEC = ConceptDataSpec(concepts=("color", "size"), train_classes=("00", "01", "10"), test_classes=("11",), image_size=16)


@pytest.fixture(scope="module")
def probe():
    return train_probe(SPEC, steps=60, batch_size=64, images_per_class=256, heldout_per_class=128, width=8, seed=0)


def test_probe_accuracy_on_generator_data(probe):
    assert set(probe.heldout_accuracy) == {"color", "size"}
    assert min(probe.heldout_accuracy.values()) >= 0.99
    require_accurate(probe)  # does not raise
    # fresh data of every class, including the held-out class 11
    data = SPEC.sample(("00", "01", "10", "11"), 64, seed=123)
    acc = probe.accuracy(data.images, data.labels)
    assert min(acc.values()) >= 0.98
    proba = probe.predict_proba(data.images)
    assert set(proba) == {"color", "size"} and proba["color"].shape == (256,)
    assert torch.all((proba["size"] >= 0) & (proba["size"] <= 1))
    torch.testing.assert_close(probe.probabilities(data.images)[:, 1], proba["size"])


def test_training_is_deterministic():
    kw = dict(steps=3, images_per_class=16, heldout_per_class=8, batch_size=16, width=4)
    a, b, c = (train_probe(SPEC, seed=s, **kw) for s in (7, 7, 8))
    state_a, state_b, state_c = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)


def test_save_load_roundtrip(probe, tmp_path):
    probe.save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "probe.json").read_text())
    assert meta["config"]["concepts"] == ["color", "size"]
    loaded = load_probe(tmp_path / "p")
    assert loaded.heldout_accuracy == probe.heldout_accuracy
    x = SPEC.sample(("11",), 8, seed=5).images
    torch.testing.assert_close(loaded.probabilities(x), probe.probabilities(x))


def test_linear_probe_learns_color():
    spec = ConceptDataSpec(concepts=("color",), train_classes=("0",), test_classes=("1",), image_size=16)
    p = train_probe(spec, kind="linear", steps=200, images_per_class=256, heldout_per_class=128, seed=1)
    assert p.config.kind == "linear"
    assert p.heldout_accuracy["color"] >= 0.99


def test_inaccurate_or_untrained_probe_is_refused(probe):
    untrained = ConceptProbe(ProbeConfig(("color", "size"), image_size=16))
    with pytest.raises(ValueError, match="no held-out accuracy"):
        require_accurate(untrained)
    untrained.heldout_accuracy = {"color": 1.0, "size": 0.9}
    with pytest.raises(ValueError, match="below 0.99.*size"):
        require_accurate(untrained)
    with pytest.raises(KeyError, match="shape"):
        require_accurate(probe, ("color", "shape"))


def test_bad_input(probe, tmp_path):
    with pytest.raises(ValueError, match="kind"):
        ProbeConfig(("color",), kind="mlp")
    with pytest.raises(ValueError, match="unknown concept"):
        ProbeConfig(("colour",))
    with pytest.raises(ValueError, match=r"\(N, 3, 16, 16\)"):
        probe.predict_proba(torch.zeros(2, 3, 32, 32))
    with pytest.raises(KeyError, match="size"):
        probe.accuracy(torch.zeros(2, 3, 16, 16), {"color": torch.zeros(2)})
    with pytest.raises(FileNotFoundError):
        load_probe(tmp_path / "nothing")
    with pytest.raises(ValueError, match="steps"):
        train_probe(SPEC, steps=0)
