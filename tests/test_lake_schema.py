"""The lake's Arrow schema follows the published article schema field by field, so the two
cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from chinanews.items import ARTICLE_FIELDS
from chinanews.lake.schema import ARTICLE_SCHEMA, project

ROOT = Path(__file__).resolve().parent.parent
JSON_SCHEMA = json.loads((ROOT / "docs" / "article.schema.json").read_text(encoding="utf-8"))
PROPERTIES: dict[str, Any] = JSON_SCHEMA["properties"]
TIMES = {"published_at", "crawled_at"}


def json_types(prop: dict[str, Any]) -> set[str]:
    kind = prop["type"]
    return {kind} if isinstance(kind, str) else set(kind)


def check_scalar(name: str, prop: dict[str, Any], arrow: pa.DataType) -> None:
    kinds = json_types(prop) - {"null"}
    assert len(kinds) == 1, name
    (kind,) = kinds
    if name.rsplit(".", 1)[-1] in TIMES:
        assert pa.types.is_timestamp(arrow), name
        assert arrow.tz, f"{name} is a timestamp with a time zone"
    elif kind == "string":
        assert pa.types.is_string(arrow), name
    elif kind == "integer":
        assert pa.types.is_integer(arrow), name
    else:
        raise AssertionError(f"{name}: no rule for JSON type {kind}")


def test_the_same_fields_as_the_json_schema_and_the_item() -> None:
    assert ARTICLE_SCHEMA.names == list(PROPERTIES)
    assert tuple(ARTICLE_SCHEMA.names) == ARTICLE_FIELDS


@pytest.mark.parametrize("name", list(PROPERTIES))
def test_each_field_has_the_type_of_the_json_schema(name: str) -> None:
    prop = PROPERTIES[name]
    field = ARTICLE_SCHEMA.field(name)
    if "object" in json_types(prop):
        # a JSON object of strings is a map of strings, {} when empty
        assert pa.types.is_map(field.type), name
        assert not field.nullable, f"{name}: an empty object is {{}}, never null"
        check_scalar(f"{name}{{}}", {"type": "string"}, field.type.key_type)
        check_scalar(f"{name}[]", prop["additionalProperties"], field.type.item_type)
        assert not field.type.item_field.nullable, name
        return
    if "array" not in json_types(prop):
        check_scalar(name, prop, field.type)
        # nullable in Arrow exactly when JSON allows null or the field may be missing
        # (validation requires it, but the exporter also takes items it has not seen)
        assert field.nullable == (name not in ("url", "pages", "version")), name
        return
    assert pa.types.is_list(field.type), name
    assert not field.nullable, f"{name}: an empty list is [], never null"
    items = prop["items"]
    element = field.type.value_type
    if items["type"] != "object":
        check_scalar(f"{name}[]", items, element)
        return
    assert pa.types.is_struct(element), name
    assert [element.field(i).name for i in range(element.num_fields)] == list(items["properties"])
    for sub, sub_prop in items["properties"].items():
        sub_field = element.field(sub)
        check_scalar(f"{name}.{sub}", sub_prop, sub_field.type)
        assert sub_field.nullable == (sub not in items["required"]), f"{name}.{sub}"


def test_times_keep_their_zone() -> None:
    assert ARTICLE_SCHEMA.field("published_at").type == pa.timestamp("us", tz="Asia/Shanghai")
    assert ARTICLE_SCHEMA.field("crawled_at").type == pa.timestamp("us", tz="UTC")
    related = ARTICLE_SCHEMA.field("related").type.value_type
    assert related.field("published_at").type == pa.timestamp("us", tz="Asia/Shanghai")


def test_the_packaged_json_schema_is_the_documented_one() -> None:
    packaged = ROOT / "chinanews" / "schemas" / "article.schema.json"
    assert json.loads(packaged.read_text(encoding="utf-8"))["properties"] == PROPERTIES


def test_project_keeps_the_order_asked_for_and_rejects_unknown_fields() -> None:
    assert project(["title", "url"]).names == ["title", "url"]
    with pytest.raises(ValueError, match="nope"):
        project(["url", "nope"])
