import pytest
import torch

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.pixels import pixel_concepts


@pytest.mark.parametrize("bits", ["00", "01", "10", "11"])
def test_scores_generator_images_of_each_class(bits):
    images = ConceptDataSpec(image_size=16).sample([bits], 64, seed=1).images
    own = pixel_concepts(images, bits)
    assert own["joint"] >= 0.9, (bits, own)
    opposite = "".join("1" if c == "0" else "0" for c in bits)
    assert pixel_concepts(images, opposite)["joint"] <= 0.1
    assert (own["b_minus_r"] > 0) == (bits[0] == "1")


def test_blank_images_match_nothing():
    scores = pixel_concepts(torch.ones(4, 3, 16, 16), "11")
    assert scores["color"] == scores["size"] == scores["joint"] == 0.0


@pytest.mark.parametrize(
    "images, bits, match",
    [(torch.ones(2, 1, 8, 8), "11", "B, 3, H, W"), (torch.ones(2, 3, 8, 8), "111", "two bits"),
     (torch.ones(2, 3, 8, 8), "1x", "two bits")],
)
def test_bad_input_raises(images, bits, match):
    with pytest.raises(ValueError, match=match):
        pixel_concepts(images, bits)
