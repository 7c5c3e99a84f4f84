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


def test_the_direct_descent_answers_as_the_full_walk_does() -> None:
    """`_descend` (no backtracking) must give `_walk`'s first answer wherever it answers at all."""
    import itertools

    from sandlot.mock import router as module

    templates = ["/a/{x}", "/a/b", "/a/b/c", "/a/{x}/c", "/a/{x}/d/{y}", "/a/b/{z}/e", "/{p}/b/c", "/{p}/q",
                 "/f/{n}.json", "/f/{n}", "/f/{n}/g", "/h/", "/h/{k}/{l}"]
    router: Router[str] = Router()
    for template in templates:
        router.add(template, "GET", template)
    words = ["a", "b", "c", "d", "e", "f", "g", "h", "q", "x.json", "%62", ""]
    paths = ["/" + "/".join(p) for n in range(1, 5) for p in itertools.product(words, repeat=n)]
    descended = 0
    for path in paths:
        segments = [module.urllib.parse.unquote(s) for s in module._split(module._normalise(path))]
        first = next(module._walk(router._root, segments, 0, []), None)
        direct = module._descend(router._root, segments)
        if direct is not None:
            descended += 1
            assert first is not None and direct[0] is first[0] and direct[1] == first[1], path
        if first is not None and "{" in first[0].template:  # (paths without parameters are a dict lookup)
            assert router.match("GET", path).template == first[0].template, path
    assert descended > 100  # the fast path is taken, and it is not the only one
    assert router.match("GET", "/a/b/c").value == "/a/b/c"
    assert router.match("GET", "/a/%62/c").value == "/a/b/c"  # decoded before matching
    assert router.match("GET", "/a/zz/c").path_params == {"x": "zz"}
    assert router.match("GET", "/a/b/zz/e").path_params == {"z": "zz"}
    # /a/b/{z}/e dead-ends at `y`: backtracked to /a/{x}/d/{y}
    assert router.match("GET", "/a/b/d/y").path_params == {"x": "b", "y": "y"}
