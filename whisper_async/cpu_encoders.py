"""The faster engine's encoders on CPU, named once for the server (serving/bfloat16_encoder.py)
and for `deploy --cpu-encoder`, which sets the container's WASYNC_CPU_ENCODER."""

from __future__ import annotations

SETTING = "WASYNC_CPU_ENCODER"
CTRANSLATE2, TORCH_BFLOAT16 = "ctranslate2", "torch-bfloat16"
CHOICES = (CTRANSLATE2, TORCH_BFLOAT16)
# SageMaker's CPU instances on 4th-generation Xeon (Sapphire Rapids), which has AMX
AMX_FAMILIES = ("ml.c7i.", "ml.m7i.", "ml.r7i.")
GPU_FAMILIES = ("ml.g", "ml.p")
