"""Model updates on the box: download, verify, warm up and swap a fleet-assigned model.

    ModelAssignment (uplink) -> ModelUpdater: download (FetchModel, resumable)
      -> verify (size, sha256, Ed25519 signature by a pinned key, ONNX shapes)
      -> warm up (reference frames vs the manifest's expected detections)
      -> persist the choice (state.json: temp + fsync + rename) -> swap between frames
    ModelReport (uplink) <- every state change

The running model is never dropped: any failure leaves it running and is reported with
its reason. The previous model stays on disk (and loaded) for rollback.
"""
