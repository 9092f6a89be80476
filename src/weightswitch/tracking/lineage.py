"""What MLflow's run table shows as a run's inputs and outputs: the prepared splits it read
(the "Dataset" column) and the network it made (the "Models" column), in MLflow's own terms.

Datasets: one per split of the run's recorded identity (metrics.json `identity.data`: the
sha256 of each prepared file it trained and was evaluated on), named `<dataset>-<split>`,
context `train`/`val`/`test` (MLflow's `mlflow.data.context` input tag), digest the file's
sha256 cut to the 36 characters MLflow stores (the whole one is in the profile). Model: the
exported network (FC weights W * G), logged with the PyTorch flavour, so
`mlflow.pytorch.load_model` gives a module that evaluates to the run's exported test
accuracy; it costs about the model's size (1 MB for LeNet) and a second.
"""

from __future__ import annotations

import copy
import json
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from torch import nn

DIGEST_CHARS = 36  # the longest dataset digest MLflow accepts
MODEL_NAME = "model"
CONTEXT_TAG = "mlflow.data.context"


def dataset_inputs(metrics: dict[str, Any]) -> list[Any]:
    """`DatasetInput`s of the prepared splits the finished run `metrics` read."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    hashes = (metrics.get("identity") or {}).get("data") or {}
    config = metrics.get("config") or {}
    folder = Path(str(config.get("data_root") or "data")).resolve() / str(metrics["dataset"])
    inputs = []
    for file, sha256 in sorted(hashes.items()):
        split = Path(file).stem
        profile = {"sha256": sha256, "num_rows": metrics.get(f"{split}_size")}
        dataset = Dataset(
            name=f"{metrics['dataset']}-{split}",
            digest=str(sha256)[:DIGEST_CHARS],
            source_type="local",
            source=json.dumps({"uri": (folder / file).as_uri()}),
            profile=json.dumps({k: v for k, v in profile.items() if v is not None}),
        )
        inputs.append(DatasetInput(dataset, tags=[InputTag(CONTEXT_TAG, split)]))
    return inputs


def log_pytorch_model(client: Any, run_id: str, model: nn.Module) -> str | None:
    """Log `model` (a CPU copy, eval mode) as the run's PyTorch model; skip a run that has one
    (a run continued or reused: one model per run). Returns the model's id, if logged.
    Through `client` only: `mlflow.pytorch.log_model` would set mlflow's global tracking URI
    (and the environment's) to this store for the rest of the process."""
    run = client.get_run(run_id)
    if run.outputs is not None and run.outputs.model_outputs:
        return None
    import mlflow.pytorch
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    logged = client.create_logged_model(
        run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id
    )
    with tempfile.TemporaryDirectory(prefix="ws-model-") as tmp:
        folder = Path(tmp) / MODEL_NAME
        mlflow.pytorch.save_model(
            copy.deepcopy(model).to("cpu").eval(),
            str(folder),
            mlflow_model=Model(run_id=run_id, model_id=logged.model_id, name=MODEL_NAME),
            serialization_format="pickle",  # the whole module, as model_exported.pt keeps it
            pip_requirements=[f"torch=={metadata.version('torch')}"],  # no slow inference
        )
        client.log_model_artifacts(logged.model_id, str(folder))
    client.finalize_logged_model(logged.model_id, "READY")
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    return logged.model_id
