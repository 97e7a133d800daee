"""docs/api/openapi.yaml is a valid OpenAPI document, and the server answers every path it documents."""
import pytest
import yaml

from conftest import ROOT

validator = pytest.importorskip("openapi_spec_validator", reason="pip install openapi-spec-validator (scripts/setup.sh does)")


def test_the_openapi_file_is_valid_and_every_documented_path_is_served(serve):
    spec = yaml.safe_load((ROOT / "docs/api/openapi.yaml").read_text())
    validator.validate(spec)
    server = serve()
    unknown = "0" * 32
    for path, operations in spec["paths"].items():
        url = path.replace("{id}", unknown).replace("{name}", "starry-night")
        for method in operations:
            if method not in ("get", "delete"):
                continue
            response = server.session.request(method.upper(), server.url + url, timeout=30)
            expected = 404 if "{id}" in path else 200
            assert response.status_code == expected, (method, path, response.status_code, response.text[:200])
            assert str(expected) in operations[method]["responses"], (method, path)
