import numpy as np
import pytest

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.classifiers import ConceptProbe, ProbeConfig
from hidcap.evaluation.concept_scores import ConceptSpace, concept_space, iter_checkpoints

from .fakes import SPEC, Renderer, render_sampler


@pytest.fixture(scope="module")
def probe(small_probe):
    return small_probe


@pytest.fixture(scope="module")
def table(probe):
    models = {0: Renderer(1.0), 100: Renderer(0.5), 200: Renderer(0.0)}
    return concept_space(models, SPEC, probe, samples_per_class=16, seed=0, sampler=render_sampler, max_batch=24)


def test_trajectory_of_held_out_class_moves_to_its_corner(table):
    assert table.steps == [0, 100, 200] and table.classes == ["00", "01", "10", "11"]
    steps, pts = table.trajectory("11")
    assert pts.shape == (3, 2)
    # first "red" (colour ~0), at the end at its corner (1, 1)
    assert pts[0, 0] < 0.3 and pts[-1, 0] > 0.6 and pts[-1, 1] > 0.6
    corner = np.array([1.0, 1.0])
    dist = np.linalg.norm(pts - corner, axis=1)
    assert dist[-1] < dist[0]
    _, joint = table.accuracy_curve("11", "joint")
    _, additive = table.accuracy_curve("11", "additive")
    assert joint[0] < 0.1 and joint[-1] > 0.9
    assert np.all(additive >= joint - 1e-9)  # mean per-concept correctness >= all-correct fraction
    # a class with colour bit 0 is right at every step
    _, j00 = table.accuracy_curve("00")
    assert np.all(j00 > 0.9)


def test_per_sample_correctness_matches_accuracy(table):
    for row in table.accuracy:
        arr = table.correct[(row["step"], row["class"])]
        assert arr.shape == (16, 2)
        assert row["joint"] == pytest.approx(arr.all(axis=1).mean())
        assert row["additive"] == pytest.approx(arr.mean())


def test_same_seed_same_result_independent_of_checkpoint_order(probe):
    models = {0: Renderer(0.3), 5: Renderer(0.7)}
    a = concept_space(models, SPEC, probe, ("11",), 8, seed=3, sampler=render_sampler)
    b = concept_space(list(reversed(list(models.items()))), SPEC, probe, ("11",), 8, seed=3, sampler=render_sampler)
    assert a.point(0, "11").tolist() == b.point(0, "11").tolist()
    one = concept_space(Renderer(0.3), SPEC, probe, ("11",), 8, seed=3, sampler=render_sampler)
    assert one.steps == [0] and one.point(0, "11").tolist() == a.point(0, "11").tolist()


def test_csv_and_json_roundtrip(table, tmp_path):
    lines = table.to_csv(tmp_path / "points.csv").read_text().splitlines()
    assert lines[0] == "step,class,concept,value" and len(lines) == 1 + 3 * 4 * 2
    acc_lines = table.to_csv(tmp_path / "acc.csv", "accuracy").read_text().splitlines()
    assert acc_lines[0] == "step,class,joint,additive,n_samples" and len(acc_lines) == 1 + 12
    samples = table.to_csv(tmp_path / "s.csv", "samples").read_text().splitlines()
    assert samples[0] == "step,class,sample,color,size,joint" and len(samples) == 1 + 12 * 16
    back = ConceptSpace.from_json(table.to_json(tmp_path / "cs.json"))
    assert back.points == table.points and back.accuracy == table.accuracy
    assert all(np.array_equal(back.correct[k], v) for k, v in table.correct.items())


def test_bad_input(probe, table):
    models = {0: Renderer()}
    with pytest.raises(ValueError, match="unknown class"):
        concept_space(models, SPEC, probe, ("12",), 4, sampler=render_sampler)
    with pytest.raises(ValueError, match="unknown class"):
        concept_space(models, SPEC, probe, ("111",), 4, sampler=render_sampler)
    color_only = ConceptProbe(ProbeConfig(("color",), image_size=16))
    color_only.heldout_accuracy = {"color": 1.0}
    with pytest.raises(KeyError, match="size"):
        concept_space(models, SPEC, color_only, ("11",), 4, sampler=render_sampler)
    weak = ConceptProbe(ProbeConfig(("color", "size"), image_size=16))
    weak.heldout_accuracy = {"color": 0.6, "size": 0.7}
    with pytest.raises(ValueError, match="below 0.99"):
        concept_space(models, SPEC, weak, ("11",), 4, sampler=render_sampler)
    # the explicit override runs (e.g. to look at an imperfect probe on purpose)
    concept_space(models, SPEC, weak, ("11",), 2, sampler=render_sampler, allow_inaccurate_probe=True)
    with pytest.raises(ValueError, match="sampler is required"):
        concept_space(models, SPEC, probe, ("11",), 4)
    with pytest.raises(KeyError, match="steps"):
        list(iter_checkpoints(models, [7]))
    with pytest.raises(KeyError, match="not measured"):
        table.trajectory("01x")
    with pytest.raises(ValueError, match="samples_per_class"):
        concept_space(models, SPEC, probe, ("11",), 0, sampler=render_sampler)


@pytest.mark.slow
def test_training_class_moves_towards_its_corner(probe, tmp_path):
    """A few hundred steps of the tiny preset: class 00 (large red) becomes more accurate and its
    concept-space point gets closer to its corner (0, 0)."""
    from hidcap.training import CheckpointConfig, run_preset, train

    spec = ConceptDataSpec(image_size=16, images_per_class=128)
    series = train(run_preset("tiny", data=spec, steps=300, checkpoints=CheckpointConfig(steps=(0, 300))),
                   tmp_path / "run", progress=False)
    table = concept_space(series, SPEC, probe, ("00",), 32, seed=0, steps=20)
    _, pts = table.trajectory("00")
    _, joint = table.accuracy_curve("00")
    assert np.linalg.norm(pts[-1]) < np.linalg.norm(pts[0])
    assert joint[-1] > joint[0]


def test_concept_space_from_dict_needs_every_table():
    with pytest.raises(KeyError, match="correct"):
        ConceptSpace.from_dict({"concepts": ["color"], "points": [], "accuracy": []})
    empty = ConceptSpace.from_dict({"concepts": ["color", "size"], "points": [], "accuracy": [],
                                    "correct": [{"step": 0, "class": "11", "correct": []}]})
    assert empty.correct[(0, "11")].shape == (0, 2)
