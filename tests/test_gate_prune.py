"""Issue 28: per-layer allocation, the fine-tuning schedule and gate-ranked pruning (`gate`,
`gate-weight` and their ablation twins), through the real CLI on the generated data.

The masks of a gate-ranked run are checked against the parent's gates recomputed here from its
checkpoint (an independent rebuild of the switched model), and the opt-in behaviours' numbers
are pinned like the golden runs (tests/golden_runs.py): a change that alters them needs a
PRUNE bump in src/weightswitch/numerics.py and a new record below."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import golden_runs
from test_train import LAYERS, exported, history, metrics, train_cli
from weightswitch import checkpoint
from weightswitch.config import build_config
from weightswitch.errors import UsageError
from weightswitch.methods import prune as P
from weightswitch.models import build_model
from weightswitch.switcher import attach_switcher, switched_layers

# ------------------------------------------------------------------------ units: allocation


def test_uniform_and_global_allocations_zero_each_layers_share() -> None:
    sizes = {"fc1": 235200, "fc2": 30000, "fc3": 1000}
    want = {"fc1": 211680, "fc2": 27000, "fc3": 900}
    assert P.layer_counts(sizes, 0.9) == want
    assert P.layer_counts(sizes, 0.9, "global") == want  # the total; ranked together


def test_output_denser_keeps_the_output_layer_denser_and_hits_the_total() -> None:
    sizes = {"fc1": 235200, "fc2": 30000, "fc3": 1000}
    counts = P.layer_counts(sizes, 0.9, "output-denser", 0.8)
    assert counts["fc3"] == 720  # 0.8 x 0.9 of the output layer
    assert sum(counts.values()) == round(0.9 * sum(sizes.values()))  # the FC target, exactly
    hidden = (counts["fc1"] + counts["fc2"]) / (235200 + 30000)
    for name in ("fc1", "fc2"):  # one common sparsity, up to one weight of rounding
        assert abs(counts[name] - hidden * sizes[name]) < 1
    # the rest by largest remainders (4 weights over sizes 3 and 4: 1.71 and 2.29 -> 2 and 2),
    # ties to the earlier layer (3 over 2 and 2: 1.5 each -> 2 and 1)
    assert P.layer_counts({"a": 3, "b": 4, "out": 10}, 0.5, "output-denser", 0.8) == {
        "a": 2,
        "b": 2,
        "out": 4,
    }
    assert P.layer_counts({"a": 2, "b": 2, "out": 10}, 0.5, "output-denser", 0.8) == {
        "a": 2,
        "b": 1,
        "out": 4,
    }
    assert P.layer_counts(sizes, 0.9, "output-denser", 1.0) == P.layer_counts(sizes, 0.9)
    with pytest.raises(UsageError, match="at least two switchable layers"):
        P.layer_counts({"fc": 100}, 0.5, "output-denser")
    with pytest.raises(UsageError, match="more than all their weights"):
        P.layer_counts({"a": 10, "out": 1000}, 0.5, "output-denser", 0.0)


def test_scope_global_is_allocation_global_one_identity() -> None:
    def cfg(**prune: object) -> object:
        overrides = {"prune.sparsity": 0.5, **{f"prune.{k}": v for k, v in prune.items()}}
        return build_config("lenet300", "mnist", "magnitude", overrides=overrides)

    old, new = cfg(scope="global"), cfg(allocation="global")
    assert old.prune == new.prune and old.fingerprint() == new.fingerprint()
    assert new.prune.allocation == "global" and new.prune.scope == "layer"
    default = cfg()  # a new field at its default changes no identity
    assert "allocation" not in default.fingerprint()["prune"]
    assert "finetune_schedule" not in default.fingerprint()["prune"]
    assert "finetune_schedule" in cfg(finetune_schedule={"name": "cosine"}).fingerprint()["prune"]


@pytest.mark.parametrize(
    ("prune", "message"),
    [
        ({"allocation": "densest"}, "unknown prune allocation 'densest'"),
        ({"allocation": "output-denser", "scope": "global"}, "cannot be combined"),
        ({"output_ratio": 1.5}, "output_ratio must be in"),
        ({"finetune_schedule": {"name": "cosine", "stop_lr": 0.001}}, "stop_lr is not supported"),
        ({"finetune_schedule": {"name": "warm"}}, "unknown finetune_schedule name"),
    ],
)
def test_bad_prune_options_fail_in_one_line(prune: dict, message: str) -> None:
    overrides = {"prune.sparsity": 0.5, **{f"prune.{k}": v for k, v in prune.items()}}
    with pytest.raises(UsageError, match=message):
        build_config("lenet300", "mnist", "magnitude", overrides=overrides)
    with pytest.raises(UsageError, match="output-denser needs --sparsity"):
        build_config(
            "lenet300",
            "mnist",
            "magnitude",
            overrides={"prune.match": "x", "prune.allocation": "output-denser"},
        )


# ---------------------------------------------------------------- units: gate criteria


def _anti_correlated() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Effective weights W·G and gates g where a large g goes with a small |W|."""
    torch.manual_seed(0)
    g = torch.rand(6, 5) + 0.1
    w = torch.randn(6, 5).sign() / g**2  # |W| = 1/g^2: |g·W| = 1/g, the reverse order of g
    return {"fc": w * g}, {"fc": g}


def test_gate_criteria_prune_the_lowest_g_and_the_lowest_g_w_exactly() -> None:
    weights, gates = _anti_correlated()
    g, effective = gates["fc"], weights["fc"]
    for name, score in (("gate", g), ("gate-weight", effective.abs())):
        mask = P.prune_masks(weights, {"fc": 12}, P.CRITERIA[name], "layer", gates)["fc"]
        assert int((mask == 0).sum()) == 12
        want = torch.ones(30)
        want[score.reshape(-1).argsort()[:12]] = 0  # distinct scores: the 12 lowest
        assert torch.equal(mask.reshape(-1), want), name
    by_gate = P.prune_masks(weights, {"fc": 12}, P.CRITERIA["gate"], "layer", gates)["fc"]
    by_gw = P.prune_masks(weights, {"fc": 12}, P.CRITERIA["gate-weight"], "layer", gates)["fc"]
    assert not torch.equal(by_gate, by_gw)  # the two rankings disagree here
    flipped = P.prune_masks(weights, {"fc": 12}, P.CRITERIA["gate"], "layer", {"fc": -g})["fc"]
    assert not torch.equal(flipped, by_gate)  # a flipped ranking prunes other connections
    assert torch.equal(by_gw, flipped)  # |g·W| = 1/g ranks as -g does
    with pytest.raises(UsageError, match="needs the parent's gates"):
        P.prune_masks(weights, {"fc": 12}, P.CRITERIA["gate"], "layer")


# ------------------------------------------------------------ runs on the generated data


@pytest.fixture(scope="module")
def parents(prepared_root: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A finished dense run, switcher run and free-gates run (2 epochs each)."""
    base = tmp_path_factory.mktemp("gate-parents")
    for method, epochs in (
        ("dense", "3"),
        ("switcher", "2"),
        ("free-gates", "2"),
        ("switcher-noise", "2"),
    ):
        assert train_cli(prepared_root, base / method, method, "--epochs", epochs) == 0
    return SimpleNamespace(
        root=prepared_root,
        dense=base / "dense",
        switcher=base / "switcher",
        free=base / "free-gates",
        noise=base / "switcher-noise",
    )


def _parent_gates(run: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(W, g) per layer of a finished gated run, rebuilt here from its checkpoint."""
    sw = metrics(run)["config"]["switcher"]
    model = build_model("lenet300", "mnist", hidden=[32, 16], fc_bias=False)
    attach_switcher(model, gate_net=sw["gate_net"], snn_input=sw["snn_input"])
    model.load_state_dict(checkpoint.load(run / "checkpoint.pt")["model"])
    with torch.no_grad():
        layers = switched_layers(model)
        return (
            {n: m.weight.detach().clone() for n, m in layers.items()},
            {n: m.gates().detach().clone() for n, m in layers.items()},
        )


def _mask(run: Path, name: str) -> torch.Tensor:
    return checkpoint.load(run / "checkpoint.pt")["model"][f"{name}.weight_mask"]


def _ranked_by(mask: torch.Tensor, score: torch.Tensor) -> bool:
    """Every pruned connection scores at most every kept one (ties may fall either way)."""
    pruned, kept = score[mask == 0], score[mask == 1]
    return not len(pruned) or not len(kept) or bool(pruned.max() <= kept.min())


@pytest.mark.parametrize("sparsity", [0.8, 0.98])
def test_gate_ranked_masks_follow_g_and_g_w_of_the_parent(
    parents: SimpleNamespace, tmp_path: Path, sparsity: float
) -> None:
    w, g = _parent_gates(parents.switcher)
    masks = {}
    for method in ("gate", "gate-weight"):
        out = tmp_path / method
        assert (
            train_cli(
                parents.root,
                out,
                method,
                "--init-from",
                str(parents.switcher),
                "--sparsity",
                str(sparsity),
                "--finetune-epochs",
                "0",
            )
            == 0
        )
        m = metrics(out)
        assert m["parent_method"] == "switcher" and m["init_from"] == str(parents.switcher)
        assert m["criterion"] == method and m["dense_epochs"] == 2 and m["prune_steps"] == 1
        assert history(out) == history(parents.switcher)  # the parent's epochs, not retrained
        plain = exported(out)
        for name, size in LAYERS.items():
            # no fine-tuning: the run's network is the parent's W·G with the mask applied (at
            # these targets every zero gate is pruned, so the zeros are the mask's)
            weight = plain.get_submodule(name).weight
            mask = masks[method, name] = (weight != 0).float()
            assert int((mask == 0).sum()) == round(sparsity * size)
            assert torch.equal(weight, w[name] * g[name] * mask)
            score = g[name] if method == "gate" else (g[name] * w[name]).abs()
            assert _ranked_by(mask, score), (method, name)
    assert any(not torch.equal(masks["gate", n], masks["gate-weight", n]) for n in LAYERS)


def test_gate_ranked_run_fine_tunes_and_records_its_parent(
    parents: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "gate-free"
    assert (
        train_cli(
            parents.root,
            out,
            "gate-free",
            "--init-from",
            str(parents.free),
            "--sparsity",
            "0.9",
            "--finetune-epochs",
            "2",
            "--finetune-lr",
            "0.05",
            "--allocation",
            "output-denser",
        )
        == 0
    )
    m = metrics(out)
    assert m["parent_method"] == "free-gates" and m["allocation"] == "output-denser"
    assert m["output_layer"] == "fc3" and m["epochs"] == 4
    counts = P.layer_counts(LAYERS, 0.9, "output-denser", 0.8)
    assert m["layer_target_sparsity"] == {n: counts[n] / LAYERS[n] for n in LAYERS}
    assert [r["phase"] for r in history(out)][2:] == ["finetune"] * 2
    _, g = _parent_gates(parents.free)
    plain = exported(out)
    for name in LAYERS:  # the mask survives fine-tuning
        mask = _mask(out, name)
        assert int((mask == 0).sum()) == counts[name]
        assert _ranked_by(mask, g[name])
        assert bool((plain.get_submodule(name).weight[mask == 0] == 0).all())


def test_gate_noise_ranks_the_noise_nets_gates(parents: SimpleNamespace, tmp_path: Path) -> None:
    out = tmp_path / "gate-noise"
    assert (
        train_cli(
            parents.root,
            out,
            "gate-noise",
            "--init-from",
            str(parents.noise),
            "--sparsity",
            "0.7",
            "--finetune-epochs",
            "1",
        )
        == 0
    )
    assert metrics(out)["parent_method"] == "switcher-noise"
    _, g = _parent_gates(parents.noise)
    for name, size in LAYERS.items():
        mask = _mask(out, name)
        assert int((mask == 0).sum()) == round(0.7 * size) and _ranked_by(mask, g[name])


def test_a_killed_gate_ranked_run_resumes_to_the_same_result(
    parents: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_train import _comparable, _KillAfter

    args = (
        "--init-from",
        str(parents.switcher),
        "--sparsity",
        "0.8",
        "--finetune-epochs",
        "3",
        "--finetune-lr",
        "0.05",
        "--finetune-schedule",
        "cosine",
    )
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert train_cli(parents.root, full, "gate-weight", *args) == 0
    with monkeypatch.context() as mp:
        _KillAfter(mp, 3)  # the parent's 2 epochs, then 1 of fine-tuning
        assert train_cli(parents.root, killed, "gate-weight", *args) == 130
    assert train_cli(parents.root, killed, "gate-weight", *args) == 0
    assert _comparable(killed) == _comparable(full)
    a, b = exported(full).state_dict(), exported(killed).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("method", "parent", "message"),
    [
        ("gate", None, "prunes a finished switcher run: pass --init-from"),
        ("gate", "dense", "is a 'dense' run, not switcher"),
        ("gate-noise", "switcher", "is a 'switcher' run, not switcher-noise"),
        ("magnitude", "switcher", "is a 'switcher' run, not dense"),
    ],
)
def test_a_wrong_parent_fails_in_one_line(
    parents: SimpleNamespace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    method: str,
    parent: str | None,
    message: str,
) -> None:
    extra = ("--init-from", str(getattr(parents, parent))) if parent else ()
    assert train_cli(parents.root, tmp_path / "x", method, "--sparsity", "0.5", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_output_denser_allocation_on_a_dense_parent(
    parents: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "od"
    assert (
        train_cli(
            parents.root,
            out,
            "magnitude",
            "--init-from",
            str(parents.dense),
            "--sparsity",
            "0.9",
            "--finetune-epochs",
            "0",
            "--allocation",
            "output-denser",
            "--output-ratio",
            "0.5",
        )
        == 0
    )
    counts = P.layer_counts(LAYERS, 0.9, "output-denser", 0.5)
    assert counts["fc3"] == round(0.45 * LAYERS["fc3"])
    plain = exported(out)
    assert {n: int((plain.get_submodule(n).weight == 0).sum()) for n in LAYERS} == counts
    m = metrics(out)
    assert m["parent_method"] == "dense" and m["target_sparsity"] == 0.9
    assert abs(m["fc_sparsity"] - 0.9) * sum(LAYERS.values()) <= 0.5


def test_finetune_schedule_counts_fine_tuning_epochs(
    parents: SimpleNamespace, tmp_path: Path
) -> None:
    cosine, steps = tmp_path / "cosine", tmp_path / "steps"
    common = (
        "--init-from",
        str(parents.dense),
        "--sparsity",
        "0.5",
        "--finetune-epochs",
        "4",
        "--finetune-lr",
        "0.08",
    )
    assert (
        train_cli(
            parents.root,
            cosine,
            "magnitude",
            *common,
            "--finetune-schedule",
            "cosine",
            "--finetune-min-lr",
            "0.01",
        )
        == 0
    )
    lrs = [float(r["lr"]) for r in history(cosine)[3:]]
    want = [0.01 + 0.07 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs == pytest.approx(want, rel=1e-5)
    assert (
        train_cli(
            parents.root,
            steps,
            "iterative",
            *common,
            "--prune-steps",
            "2",
            "--finetune-schedule",
            "multistep",
            "--finetune-milestones",
            "1",
            "--finetune-gamma",
            "0.5",
        )
        == 0
    )
    # two rounds of 4 epochs, the schedule restarts with each round
    lrs = [float(r["lr"]) for r in history(steps)[3:]]
    assert lrs == pytest.approx([0.08, 0.04, 0.04, 0.04] * 2, rel=1e-5)


# ------------------------------------------------- golden-style: the opt-in numbers, pinned

LAYER_NAMES = ("fc1", "fc2", "fc3")
# (method, parent golden run, extra flags); parents: golden_runs.RUNS
OPT_IN: dict[str, tuple[str, str, list[str]]] = {
    "magnitude-output-denser-cosine": (
        "magnitude",
        "dense",
        [
            "--sparsity",
            "0.9",
            "--allocation",
            "output-denser",
            "--finetune-epochs",
            "2",
            "--finetune-lr",
            "0.05",
            "--finetune-schedule",
            "cosine",
        ],
    ),
    "gate": ("gate", "switcher", ["--sparsity", "0.8", "--finetune-epochs", "1"]),
    "gate-weight-global": (
        "gate-weight",
        "switcher",
        ["--sparsity", "0.8", "--allocation", "global", "--finetune-epochs", "1"],
    ),
}
# recorded with `python tests/test_gate_prune.py --record` for numerics CORE=2, PRUNE=1 (gate-ranked
# runs also carry SWITCHER=1: their parent is exported by switcher code; numbers unchanged)
RECORDS: dict[str, dict[str, object]] = {
    "gate": {
        "key": "CORE=2,PRUNE=1,SWITCHER=1",
        "fc_sparsity": 0.8,
        "test_accuracy": 0.1,
        "val_accuracy": 0.09,
        "train_loss": [2.30257, 2.30255, 2.30255],
        "weight_l1": 5235.527908279724,
        "kept_l1": 58.95816693099535,
    },
    "gate-weight-global": {
        "key": "CORE=2,PRUNE=1,SWITCHER=1",
        "fc_sparsity": 0.8,
        "test_accuracy": 0.1,
        "val_accuracy": 0.09,
        "train_loss": [2.30257, 2.30255, 2.30255],
        "weight_l1": 5235.526762693051,
        "kept_l1": 68.4550193385221,
    },
    "magnitude-output-denser-cosine": {
        "key": "CORE=2,PRUNE=1",
        "fc_sparsity": 0.9,
        "test_accuracy": 0.08,
        "val_accuracy": 0.05,
        "train_loss": [2.30249, 2.30246, 2.30242, 2.30257, 2.30257],
        "weight_l1": 2781.0178451495153,
        "kept_l1": 53.332446123473346,
    },
}


def train_opt_in(workdir: Path) -> dict[str, dict[str, object]]:
    """The golden parents (dense, switcher), then each opt-in run from them; its numbers."""
    from weightswitch.cli import main

    torch.set_num_threads(1)
    data = golden_runs.prepare(workdir)
    for name in {parent for _, parent, _ in OPT_IN.values()}:
        method, extra = golden_runs.RUNS[name]
        assert (
            main(
                [
                    "train",
                    *golden_runs.BASE,
                    "--root",
                    str(data),
                    "--method",
                    method,
                    "--out",
                    str(workdir / name),
                    *extra,
                ]
            )
            == 0
        )
    out = {}
    for name, (method, parent, extra) in OPT_IN.items():
        run = workdir / name
        assert (
            main(
                [
                    "train",
                    *golden_runs.BASE,
                    "--root",
                    str(data),
                    "--method",
                    method,
                    "--out",
                    str(run),
                    "--init-from",
                    str(workdir / parent),
                    *extra,
                ]
            )
            == 0
        )
        plain = exported(run).requires_grad_(False)  # the kept weights: what the ranking decides
        kept = sum(float(plain.get_submodule(n).weight.double().abs().sum()) for n in LAYER_NAMES)
        out[name] = {"key": golden_runs.key(method), **golden_runs.measure(run), "kept_l1": kept}
    return out


def test_opt_in_numbers_match_their_record(tmp_path: Path) -> None:
    got = train_opt_in(tmp_path)
    for name, numbers in got.items():
        want = RECORDS.get(name)
        assert want is not None and want["key"] == numbers["key"], (
            f"no record of {name} for numerics {numbers['key']}: after a deliberate PRUNE bump, "
            "run `python tests/test_gate_prune.py --record` and paste its output into RECORDS"
        )
        problems = golden_runs.differences(want, numbers)
        if not math.isclose(want["kept_l1"], numbers["kept_l1"], rel_tol=golden_runs.RTOL):
            problems.append(f"kept_l1 {want['kept_l1']} -> {numbers['kept_l1']}")
        assert not problems, f"{name} changed without a numerics bump: {'; '.join(problems)}"


if __name__ == "__main__":  # print the records of today's numerics versions
    import json
    import sys
    import tempfile

    if sys.argv[1:] != ["--record"]:
        raise SystemExit("usage: python tests/test_gate_prune.py --record")
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(train_opt_in(Path(tmp)), indent=4, sort_keys=True))
