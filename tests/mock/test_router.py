"""Routing: most specific template first, base paths, 404/405."""

from __future__ import annotations

from sandlot.mock.router import Router, server_base_paths


def _router() -> Router[str]:
    router: Router[str] = Router(server_base_paths([("https://api.test/v2/", {}),
                                                    ("/{ver}/api", {"ver": {"default": "beta"}})]))
    for method, template in [("GET", "/pets"), ("POST", "/pets"), ("GET", "/pets/{id}"), ("DELETE", "/pets/{id}"),
                             ("GET", "/pets/mine"), ("GET", "/files/{name}.json"), ("GET", "/files/{name}"),
                             ("GET", "/a/{x}/b/{y}"), ("GET", "/")]:
        router.add(template, method, f"{method} {template}")
    return router


def test_server_base_paths_fill_variables_and_ignore_hosts() -> None:
    assert server_base_paths([("https://h/v2/", {}), ("/{ver}/api", {"ver": {"default": "beta"}}),
                              ("https://h", {}), ("/", {})]) == ["/beta/api", "/v2"]


def test_literal_segment_beats_parameter() -> None:
    router = _router()
    assert router.match("GET", "/pets/mine").value == "GET /pets/mine"
    hit = router.match("GET", "/pets/42")
    assert hit.value == "GET /pets/{id}" and hit.path_params == {"id": "42"}


def test_mixed_segment_beats_bare_parameter_and_values_are_decoded() -> None:
    router = _router()
    hit = router.match("GET", "/files/read%20me.json")
    assert hit.value == "GET /files/{name}.json" and hit.path_params == {"name": "read me"}
    assert router.match("GET", "/files/readme.txt").path_params == {"name": "readme.txt"}
    assert router.match("GET", "/files/a%0Ab.json").path_params == {"name": "a\nb"}
    assert router.match("GET", "/a/1/b/2").path_params == {"x": "1", "y": "2"}


def test_base_path_is_optional_and_trailing_slash_ignored() -> None:
    router = _router()
    assert router.match("GET", "/v2/pets/").value == "GET /pets"
    assert router.match("GET", "/beta/api/pets/7").path_params == {"id": "7"}
    assert router.match("GET", "/v2").value == "GET /"


def test_unknown_path_is_none_and_wrong_method_lists_allowed() -> None:
    router = _router()
    assert router.match("GET", "/nothing/here") is None
    assert router.match("GET", "/pets/1/extra") is None
    miss = router.match("PUT", "/pets/1")
    assert miss.value is None and miss.allowed == ("GET", "DELETE")
    # the concrete path decides even though /pets/{id} has DELETE
    concrete = router.match("DELETE", "/pets/mine")
    assert concrete.value is None and concrete.allowed == ("GET",)
