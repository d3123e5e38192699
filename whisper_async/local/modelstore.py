"""The extracted models of one stack, each in a folder named by a random id.

No path here is built from a name a client sent (endpoint, config or model names), so a name
check that lets something through still cannot reach outside the state directory. A folder
holds the model (`model/`) and the serving process's home (`home/`), and goes away when the
endpoint that uses it is deleted or updated to another config.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from ..digits import human_size
from ..storage import S3Uri
from .extraction import (
    DEFAULT_MAX_MODEL_BYTES,
    RAISE_THE_LIMIT,
    ExtractionError,
    safe_extract,
)

MODEL_FOLDER = "model"
HOME_FOLDER = "home"


class ModelUnavailable(Exception):
    """The model data could not be downloaded or unpacked; the message is the FailureReason."""


class ModelStore:
    def __init__(self, root: Path, s3: Any, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> None:
        self.root = root
        self.s3 = s3
        self.max_bytes = max_bytes

    def prepare(self, model_data: str) -> Path:
        """Download and unpack `model_data` (s3://…/model.tar.gz); return the model folder."""
        folder = self.root / uuid.uuid4().hex
        (folder / HOME_FOLDER).mkdir(parents=True)
        archive = folder / "model.tar.gz"
        try:
            uri = S3Uri.parse(model_data)
            size = int(self.s3.head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"])
            if size > self.max_bytes:
                raise ExtractionError(
                    f"model.tar.gz is {human_size(size)}, over the local stack's limit of "
                    f"{human_size(self.max_bytes)} for a model; {RAISE_THE_LIMIT}"
                )
            self.s3.download_file(uri.bucket, uri.key, str(archive))
            safe_extract(archive, folder / MODEL_FOLDER, self.max_bytes)
        except ExtractionError as exc:
            self._remove_folder(folder)
            raise ModelUnavailable(str(exc)) from exc
        except Exception as exc:
            self._remove_folder(folder)
            raise ModelUnavailable(
                f"could not download the model data {model_data}: {exc}"
            ) from exc
        finally:
            archive.unlink(missing_ok=True)
        return folder / MODEL_FOLDER

    def remove(self, model_dir: Path) -> None:
        """Delete a model folder `prepare` returned, with the serving process's home."""
        self._remove_folder(model_dir.parent)

    def clear(self) -> None:
        """Delete every extracted model: those a stopped or crashed stack left behind."""
        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_folder(self, folder: Path) -> None:
        if folder.parent == self.root:  # only ever one of ours
            shutil.rmtree(folder, ignore_errors=True)
