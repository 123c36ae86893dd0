"""The content address of a model request: the response cache key and provenance.request_hash."""

from __future__ import annotations

import hashlib
import json

from pipeline.engine.images import image_sha256
from pipeline.engine.schema_tools import schema_key
from pipeline.engine.types import ChatRequest


def request_hash(req: ChatRequest, model_id: str, image_variant: str = "") -> str:
    """sha256 over model id, template name + version, messages (images by content hash), sampling and
    output schema. `image_variant` names how images are prepared (e.g. the max side) since that changes
    what the model sees. Raises ImageError when an image cannot be read."""
    messages = [
        {"role": m.role, "text": m.text, "images": [image_sha256(p) for p in m.images]} for m in req.messages
    ]
    payload = {
        "model": model_id,
        "template": [req.template.name, req.template.version],
        "messages": messages,
        "images": image_variant if any(m.images for m in req.messages) else "",
        "sampling": req.sampling.model_dump(mode="json"),
        "schema": schema_key(req.output_model),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
