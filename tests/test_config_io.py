import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from hidcap.config_io import KIND_KEY, ConfigKeyError, config_from_dict, config_to_dict, load_config, save_config
from hidcap.data import BumpDataSpec, ConceptDataSpec
from hidcap.diffusion import DDPMConfig, VDMConfig
from hidcap.training import TrainConfig, run_preset


def _strip_kinds(value):
    if isinstance(value, dict):
        return {k: _strip_kinds(v) for k, v in value.items() if k != KIND_KEY}
    if isinstance(value, list):
        return [_strip_kinds(v) for v in value]
    return value


@pytest.fixture
def saved(tmp_path):
    path = save_config(run_preset("tiny"), tmp_path / "config.json")
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("section", ["diffusion", "data", "optimizer", "checkpoints", "model", ""])
def test_unknown_key_in_any_section_names_file_section_and_key(saved, section):
    path, data = saved
    (data[section] if section else data)["colour_typo"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(KeyError, match=rf"config\.json.*{section or 'top level'}.*colour_typo") as info:
        load_config(TrainConfig, path)
    assert not str(info.value).startswith('"')  # a plain message, not KeyError's quoted repr


def test_unknown_key_in_an_old_file_without_kinds(saved):
    path, data = saved
    data = _strip_kinds(data)
    data["diffusion"]["typo"] = 0.5
    path.write_text(json.dumps(data))
    with pytest.raises(KeyError, match=r"config\.json: section 'diffusion'.*typo|config\.json: section 'diffusion'.*fit none"):
        load_config(TrainConfig, path)


def test_missing_key_is_an_error_not_a_default(saved):
    path, data = saved
    del data["optimizer"]["lr"]
    path.write_text(json.dumps(data))
    with pytest.raises(KeyError, match=r"config\.json: section 'optimizer'.*missing.*'lr'"):
        load_config(TrainConfig, path)
    del data["data"]["held_out" if "held_out" in data["data"] else "noise_std"]
    with pytest.raises(KeyError, match="section 'data'.*missing"):
        config_from_dict(TrainConfig, _strip_kinds(data) | {"optimizer": {**_strip_kinds(data["optimizer"]), "lr": 1e-3}})


def test_documented_old_file_defaults_fill_in():
    @dataclass(frozen=True)
    class Versioned:
        config_defaults_for_old_files: ClassVar[tuple[str, ...]] = ("added_later",)
        a: int = 1
        added_later: float = 0.5

    assert config_from_dict(Versioned, {"a": 3}) == Versioned(3, 0.5)
    with pytest.raises(KeyError, match="missing.*'a'"):
        config_from_dict(Versioned, {"added_later": 3})


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"steps": 3,')
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        load_config(TrainConfig, path)


def test_bad_value_names_file_and_section(saved):
    path, data = saved
    data["optimizer"]["weight_decay"] = -1
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"config\.json: section 'optimizer'.*weight_decay"):
        load_config(TrainConfig, path)


def test_kind_is_written_and_selects_the_union_option():
    cfg = run_preset("tiny-bumps")
    d = config_to_dict(cfg)
    assert d[KIND_KEY] == "TrainConfig" and d["diffusion"][KIND_KEY] == "DDPMConfig"
    assert d["data"][KIND_KEY] == "BumpDataSpec" and d["data"]["kind"] == "bump"  # no clash with the field
    assert config_from_dict(TrainConfig, d) == cfg
    d["diffusion"][KIND_KEY] = "VDMConfig"
    with pytest.raises(KeyError, match="section 'diffusion'.*unknown key"):
        config_from_dict(TrainConfig, d)  # the kind decides; DDPM keys do not fit VDMConfig
    d["diffusion"][KIND_KEY] = "Nope"
    with pytest.raises(KeyError, match="unknown @kind 'Nope'.*DDPMConfig"):
        config_from_dict(TrainConfig, d)


def test_old_files_without_kind_still_load_by_their_keys():
    for name in ("smoke", "tiny", "tiny-bumps"):
        cfg = run_preset(name)
        assert config_from_dict(TrainConfig, _strip_kinds(config_to_dict(cfg))) == cfg


def test_a_new_union_member_needs_only_to_be_in_the_union():
    @dataclass(frozen=True)
    class A:
        x: int = 0

    @dataclass(frozen=True)
    class B:
        x: int = 0  # the same keys as A: only the kind can tell them apart

    @dataclass(frozen=True)
    class Holder:
        part: A | B = field(default_factory=A)

    for part in (A(2), B(3)):
        assert config_from_dict(Holder, config_to_dict(Holder(part))) == Holder(part)
    with pytest.raises(KeyError, match="several"):
        config_from_dict(Holder, {"part": {"x": 1}})


def test_resuming_a_run_written_before_kinds_existed(tmp_path):
    from hidcap.training import train

    cfg = dataclasses.replace(run_preset("tiny"), steps=2, batch_size=4,
                              data=ConceptDataSpec(image_size=16, images_per_class=4))
    cfg = dataclasses.replace(cfg, checkpoints=dataclasses.replace(cfg.checkpoints, count=1))
    train(cfg, tmp_path, progress=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_strip_kinds(json.loads(path.read_text())), indent=2))
    assert train(cfg, tmp_path, progress=False).steps == [0, 2]


def test_same_config_same_json_across_processes(tmp_path):
    script = "import sys; from hidcap.config_io import save_config; from hidcap.training import run_preset; " \
             "save_config(run_preset('tiny'), sys.argv[1])"
    texts = set()
    for seed in (0, 1, 2):
        out = tmp_path / f"c{seed}.json"
        subprocess.run([sys.executable, "-c", script, str(out)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(seed)})
        texts.add(out.read_text())
    assert len(texts) == 1


def test_other_union_data_specs_roundtrip():
    for data in (ConceptDataSpec(), BumpDataSpec(kind="stripe_x", latent_size=44), None):
        cfg = TrainConfig(data=data, diffusion=DDPMConfig())
        assert config_from_dict(TrainConfig, config_to_dict(cfg)) == cfg
    assert isinstance(config_from_dict(TrainConfig, config_to_dict(TrainConfig())).diffusion, VDMConfig)
    with pytest.raises(ConfigKeyError):
        config_from_dict(TrainConfig, {"bogus": 1})


def test_notes_beside_the_fields_are_kept_apart_from_the_config(tmp_path):
    from hidcap.config_io import load_config_extras

    cfg = run_preset("tiny")
    path = save_config(cfg, tmp_path / "config.json", extra={"@extensions": [{"from_steps": 1, "to_steps": 2}]})
    assert json.loads(path.read_text())["@extensions"] == [{"from_steps": 1, "to_steps": 2}]
    assert load_config(TrainConfig, path) == cfg  # loading skips the note
    assert load_config_extras(path) == {"@extensions": [{"from_steps": 1, "to_steps": 2}]}
    for bad in ({"notes": 1}, {KIND_KEY: "x"}):
        with pytest.raises(ValueError, match="must begin with '@'"):
            save_config(cfg, tmp_path / "bad.json", extra=bad)
    data = json.loads(path.read_text())
    data["optimizer"]["@note"] = 1  # only top-level notes are skipped; a section stays strict
    with pytest.raises(ConfigKeyError, match="unknown key"):
        config_from_dict(TrainConfig, data)


def test_set_field_reads_text_to_the_field_type_and_names_a_misplaced_field():
    from hidcap.config_io import set_field

    cfg = run_preset("tiny")
    assert set_field(cfg, "optimizer.lr", "3e-3").optimizer.lr == 0.003
    assert set_field(cfg, "optimizer.grad_clip", "none").optimizer.grad_clip is None
    assert set_field(cfg, "optimizer.betas", "[0.9, 0.99]").optimizer.betas == (0.9, 0.99)
    assert set_field(cfg, "data_seed", 7).data_seed == 7 and set_field(cfg, "channels_last", "yes").channels_last
    with pytest.raises(ConfigKeyError) as info:
        set_field(cfg, "weight_decay", "0.1")
    assert str(info.value).startswith("unknown config field 'weight_decay'")
    assert str(info.value).endswith("(did you mean optimizer.weight_decay?)")
    with pytest.raises(ValueError, match="optimizer.betas takes 2 values"):
        set_field(cfg, "optimizer.betas", "[0.9]")
    with pytest.raises(ValueError, match="steps takes an integer, got 2.5"):
        set_field(cfg, "steps", 2.5)
