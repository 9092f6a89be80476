"""The numerics version: the one explicit fingerprint of the code that can change a number.

Why: a training stage must be invalidated when (and only when) its numbers could change.
Depending on every module a stage imports made a progress-line edit invalidate hours of
training, so no lock could stay true. Instead, each component below carries an integer that
is bumped by hand when a change to that component can alter any number a run produces
(weights, losses, accuracies, sparsities). `dvc.yaml` reads these integers as params of the
stages that use the component, and every run's identity records the ones its method uses,
so a checkpoint or finished run of another numerics version is never resumed or reused.

What is IN (bump the component):
- DATA: fetch/prepare: the split, the class-balanced subsets, the uint8 encoding.
- CORE: models and their init (the FC init included), the batch iterator (order,
  augmentation, normalisation), the loop, optimisers, schedules, evaluation, sparsity metrics.
- SWITCHER: the SNN (U-Net, heads, init), the switched layers, free gates, noise input, the
  alternating phases.
- PRUNE: pruning criteria and allocation, masks, the fine-tune schedule.
- REPORT: what `weightswitch report` writes from the run records (tables, figures, metrics);
  guarded by the byte-identical rebuild of a committed report (tests/test_rebuild.py).
What is OUT (no bump): progress, logging, CLI text, MLflow tracking, provenance,
locking and resume mechanics, error messages, benchmarks.

The guard: tests/test_golden.py trains a few tiny fixed runs (dense, switcher, switcher-noise,
free gates, magnitude prune + fine-tune) on generated data and compares their metrics with
the records in tests/golden/records.json for the current versions. A change that alters them
without a bump fails the suite; a bump without a record asks for one
(`python tests/golden_runs.py --record`).

This file is also a DVC params file (top-level integer constants only: DVC parses it).
"""

DATA = 1
CORE = 2  # 2: every method's switchable FC layers start from the reference N(0, 0.01)
SWITCHER = 1
PRUNE = 1
REPORT = 8  # 4: primary table, exploratory labels, runs.csv numerics; 5: figures; 6: primary first;
# 7: pruned runs vs their equal-budget control, vs the parent labelled secondary;
# 8: threads and CPU of diverged runs read; unrecorded numerics counted, not flagged as DIFFER


def components(method: str) -> tuple[str, ...]:
    """The components whose numbers a run of `method` depends on (its identity records them)."""
    from weightswitch.catalog import PRUNE_PARENTS
    from weightswitch.config import PRUNE_METHODS, SWITCHER_METHODS

    if method in SWITCHER_METHODS:
        return ("CORE", "SWITCHER")
    if method in PRUNE_METHODS:  # a gated parent is exported (W·G) and ranked by switcher code
        gated = PRUNE_PARENTS[method] != "dense"
        return ("CORE", "SWITCHER", "PRUNE") if gated else ("CORE", "PRUNE")
    return ("CORE",)


def versions(method: str) -> dict[str, int]:
    """{component: version} for a run of `method` (part of its identity)."""
    return {name: int(globals()[name]) for name in components(method)}
