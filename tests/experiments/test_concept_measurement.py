"""hidcap.experiments.concept_measurement: the concept classifier is cached per spec (one cache key scheme)."""
import json

import torch

from hidcap.experiments.concept_measurement import concept_probe
from hidcap.scales import concept_scale


def test_concept_probe_is_cached_per_spec(tmp_path):
    scale = concept_scale("tiny")
    spec = scale.spec()
    first = concept_probe(spec, scale, tmp_path / "probe", "cpu", progress=False)
    again = concept_probe(spec, scale, tmp_path / "probe", "cpu", progress=False)
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    other = concept_probe(scale.spec(color_separation=0.2), scale, tmp_path / "probe", "cpu", seed=5,
                                 progress=False)
    assert json.loads((tmp_path / "probe" / "spec.json").read_text())["data"]["color"] == 0.2
    wider = concept_probe(scale.spec(color_separation=0.2, position_range=0.2), scale, tmp_path / "probe",
                                 "cpu", seed=5, progress=False)  # another position range: not the cached probe
    assert json.loads((tmp_path / "probe" / "spec.json").read_text())["data"]["position_range"] == 0.2
    assert not all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), wider.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))
