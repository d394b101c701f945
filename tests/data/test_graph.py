import pytest

from hidcap.data.concepts import ConceptDataSpec
from hidcap.data.graph import ConceptGraph, all_classes, class_frequencies, distance_to_set, hamming


def test_hamming_and_nodes():
    assert hamming("000", "111") == 3 and hamming("010", "011") == 1 and hamming("10", "10") == 0
    assert all_classes(2) == ("00", "01", "10", "11")
    assert len(all_classes(3)) == 8


def test_edges_are_the_hypercube():
    g = ConceptGraph(3, ("000",))
    assert len(g.edges) == 12 and all(hamming(a, b) == 1 for a, b in g.edges)
    assert set(g.neighbours("000")) == {"100", "010", "001"}


def test_distances_of_the_papers_splits():
    g = ConceptGraph(3, ("000", "100", "010", "001"))
    assert g.distances() == {"011": 1, "101": 1, "110": 1, "111": 2}
    assert g.by_distance() == {1: ("011", "101", "110"), 2: ("111",)}
    adversarial = ConceptGraph(3, ("000", "100", "001", "111"))
    assert adversarial.distances() == {"010": 1, "011": 1, "101": 1, "110": 1}
    assert distance_to_set("11", ["00", "01", "10"]) == 1
    assert ConceptGraph(2, ("00",)).distance("11") == 2


def test_from_spec_and_frequencies():
    spec = ConceptDataSpec(concepts=("shape", "color", "size"), train_classes=("000", "100", "010", "001"),
                           test_classes=("111",), images_per_class=1000, class_counts=(("100", 0),))
    g = ConceptGraph.from_spec(spec)
    assert g.train == ("000", "010", "001") and g.distance("100") == 1 and g.distance("111") == 2
    assert class_frequencies(spec) == {"000": 1000, "100": 0, "010": 1000, "001": 1000}
    assert class_frequencies(spec, normalise=True)["000"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("call, param", [
    (lambda: hamming("01", "011"), "b"),
    (lambda: hamming("0a", "01"), "a"),
    (lambda: ConceptGraph(2, ()), "train"),
    (lambda: ConceptGraph(2, ("000",)), "train"),
    (lambda: all_classes(0), "n_bits"),
    (lambda: distance_to_set("00", []), "classes"),
])
def test_bad_input_raises(call, param):
    with pytest.raises(ValueError, match=param):
        call()
