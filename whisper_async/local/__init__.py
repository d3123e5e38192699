"""The local stack: moto server plus a SageMaker emulator on 127.0.0.1, for offline use."""
