"""Where a run's model file is downloaded: the route server/downloads.py serves,
and the URL TrainingRun.modelDownloadUrl gives (the schema links to it without
depending on the HTTP app)."""

from __future__ import annotations

from resolvers.training_runs import RunStatus

MODEL_DOWNLOAD_ROUTE = "/runs/{run_id}/model"


def model_download_url(run_id: int, status: str, model_path: str | None) -> str | None:
    """Where a run's model can be downloaded: COMPLETED runs with a model file only.

    Decided from the row alone (no file-system check, so a page of runs costs nothing
    more): the URL may still answer 404 if the file was removed since.
    """
    if status != RunStatus.COMPLETED or not model_path:
        return None
    return MODEL_DOWNLOAD_ROUTE.format(run_id=run_id)
