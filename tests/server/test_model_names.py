"""Which model name the server answers to, and collections that ask for a model it does not serve."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import pytest
import weaviate
from tests.integration.serve_process import TINY_MODEL
from weaviate.classes.query import MetadataQuery

from colweave.model import Encoder
from colweave.server.config import COLMODERNVBERT, ServerConfig
from colweave.store.store import Store

from .conftest import HashModel, png, start_server


def collection(name: str, model: str | None) -> dict:
    module: dict = {"imageFields": ["doc_page"]}
    if model is not None:
        module["model"] = model
    return {
        "class": name,
        "properties": [{"name": "doc_page", "dataType": ["blob"]}, {"name": "title", "dataType": ["text"]}],
        "vectorConfig": {
            "page": {
                "vectorizer": {"multi2multivec-weaviate": module},
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": {"multivector": {"enabled": True}},
            }
        },
    }


def test_a_colmodernvbert_export_answers_to_weaviates_default_name() -> None:
    enc = Encoder(TINY_MODEL, device="cpu")
    # The committed export was made from a local checkpoint: its manifest names no path of that machine.
    assert enc.info["source"] == "tiny-checkpoint"
    assert enc.info["model_type"] == "colmodernvbert"
    cfg = ServerConfig(model=str(TINY_MODEL))
    assert cfg.served_name(enc.info["model_id"], enc.info["model_type"]) == COLMODERNVBERT
    assert ServerConfig(model=str(TINY_MODEL), model_name="mine").served_name("x", "colmodernvbert") == "mine"
    assert ServerConfig(model="./other").served_name("other-model", "siglip") == "other-model"


def test_a_collection_for_another_model_is_refused(tmp_path: Path) -> None:
    # One collection stored earlier (by a server that served another model), then a server starts.
    with Store(tmp_path / "data") as store:
        store.create_collection(collection("Earlier", "Snowflake/other-model"))
    s = start_server(HashModel(), data_dir=tmp_path / "data")
    try:
        r = httpx.post(f"{s.http}/v1/schema", json=collection("Other", "Snowflake/other-model"), timeout=10)
        assert r.status_code == 422
        msg = r.json()["error"][0]["message"]
        assert "'Snowflake/other-model'" in msg
        assert COLMODERNVBERT in msg
        assert "--model-name" in msg
        assert httpx.get(f"{s.http}/v1/schema/Other", timeout=10).status_code == 404  # nothing created
        # The default model (omitted or named) is what is served: created.
        assert httpx.post(f"{s.http}/v1/schema", json=collection("Mine", None), timeout=10).status_code == 200
        page = base64.b64encode(png(20, 30)).decode()
        objects = [
            {"class": "Earlier", "properties": {"doc_page": page, "title": "a"}},
            {"class": "Mine", "properties": {"doc_page": page, "title": "b"}},
        ]
        out = httpx.post(f"{s.http}/v1/batch/objects", json={"objects": objects}, timeout=30).json()
        assert "Snowflake/other-model" in out[0]["result"]["errors"]["error"][0]["message"]
        assert out[1]["result"] == {}
        assert httpx.get(f"{s.http}/v1/objects?class=Earlier", timeout=10).json()["objects"] == []
        port = s.grpc.rsplit(":", 1)[1]
        with weaviate.connect_to_local(
            port=int(s.http.rsplit(":", 1)[1]), grpc_port=int(port), skip_init_checks=True
        ) as client:
            earlier = client.collections.get("Earlier")
            with pytest.raises(weaviate.exceptions.WeaviateBaseError, match="Snowflake/other-model"):
                earlier.query.near_text("a query", limit=1)
            res = client.collections.get("Mine").query.near_text(
                "a query", limit=1, return_metadata=MetadataQuery(distance=True)
            )
            assert len(res.objects) == 1
            assert np.isfinite(res.objects[0].metadata.distance)
    finally:
        s.stop()
