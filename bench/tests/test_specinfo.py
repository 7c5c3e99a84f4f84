"""What the harness reads from OpenAPI documents: base paths, probe paths, credentials."""

from bench import specinfo


def test_base_path_substitutes_server_variables_and_drops_the_trailing_slash():
    doc = {"servers": [{"url": "{scheme}://developer.uspto.gov/ds-api/",
                        "variables": {"scheme": {"default": "https"}}}]}
    assert specinfo.base_path(doc) == "/ds-api"
    assert specinfo.base_path({"servers": [{"url": "https://api.stripe.com/"}]}) == ""
    assert specinfo.base_path({}) == ""


def test_probe_path_prefers_a_get_without_parameters_and_fills_templates():
    doc = {"paths": {"/pets/{id}": {"get": {}}, "/pets": {"post": {}}, "/owners": {"get": {}}}}
    assert specinfo.probe_path(doc) == "/owners"
    assert specinfo.probe_path({"paths": {"/a/{x}/b/{y}": {"get": {}}}}) == "/a/1/b/1"


def test_auth_arguments_cover_basic_bearer_and_header_keys_with_one_authorization():
    doc = {
        "security": [{"token": []}],
        "components": {"securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "token": {"type": "http", "scheme": "bearer"},
            "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "q": {"type": "apiKey", "in": "query", "name": "k"},
        }},
    }
    assert specinfo.auth_arguments(doc) == [
        "-H", "Authorization: Bearer bench-token", "-H", "X-Api-Key: bench-key"]


def test_with_response_example_leaves_the_original_untouched():
    doc = {"paths": {"/p": {"get": {"responses": {"200": {"content": {"application/json": {}}}}}}}}
    changed = specinfo.with_response_example(doc, "/p", "get", {"a": 1})
    assert changed["paths"]["/p"]["get"]["responses"]["200"]["content"]["application/json"] == {"example": {"a": 1}}
    assert doc["paths"]["/p"]["get"]["responses"]["200"]["content"]["application/json"] == {}


def test_has_external_refs_finds_refs_to_other_files_only():
    assert specinfo.has_external_refs({"a": [{"$ref": "#/components/x"}, {"b": {"$ref": "other.yml#/p"}}]})
    assert not specinfo.has_external_refs({"a": [{"$ref": "#/components/x"}], "$ref": "#/y"})
