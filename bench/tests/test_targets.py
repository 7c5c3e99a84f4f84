"""Verdicts against the issue's targets, and the two renderings of one result."""

from bench.load import LoadResult
from bench.report import render
from bench.results import LoadFigures, RunResults, StartupFigures, StartupRow, ThroughputRow
from bench.targets import all_verdicts


def _load(rps, p99, bad=0):
    return LoadResult(requests=1000, rps=rps, p50_ms=1.0, p99_ms=p99, bad_responses=bad,
                      socket_errors=0, tool="wrk")


def _row(kind, ours, theirs, rss=(40.0, 150.0)):
    return ThroughputRow("GET /x", kind, {
        "sandlot": LoadFigures(load=ours, peak_rss_mib=rss[0], path="/x"),
        "prism": LoadFigures(load=theirs, peak_rss_mib=rss[1], path="/x"),
    })


def _verdicts(results):
    return {v.target: v.verdict for v in all_verdicts(results)}


def test_examples_need_both_the_rate_and_the_p99_ratio():
    fast_but_spiky = RunResults(throughput=[_row("examples", _load(4000, 10), _load(1000, 12))])
    assert "FAIL" in _verdicts(fast_but_spiky).values()
    good = RunResults(throughput=[_row("examples", _load(4000, 5), _load(1000, 12))])
    assert set(_verdicts(good).values()) == {"PASS"}


def test_dynamic_needs_twenty_times_and_rss_needs_half():
    results = RunResults(throughput=[_row("dynamic", _load(1900, 1), _load(100, 9), rss=(80.0, 150.0))])
    verdicts = list(_verdicts(results).values())
    assert verdicts == ["FAIL", "FAIL"]


def test_dynamic_with_a_new_id_each_request_needs_five_times():
    results = RunResults(throughput=[_row("dynamic_new_id", _load(600, 1), _load(100, 9))])
    assert list(_verdicts(results).values()) == ["PASS", "PASS"]
    results = RunResults(throughput=[_row("dynamic_new_id", _load(400, 1), _load(100, 9))])
    assert list(_verdicts(results).values()) == ["FAIL", "PASS"]


def test_error_answers_make_a_ratio_meaningless():
    results = RunResults(throughput=[_row("examples", _load(9000, 1, bad=5), _load(1000, 12))])
    assert list(_verdicts(results).values())[0] == "n/a"


def test_startup_targets_handle_a_prism_that_never_started():
    results = RunResults(startup=[
        StartupRow("api.github.com", 120, {"sandlot": StartupFigures(seconds=3.0),
                                           "prism": StartupFigures(problem="did not start within 120 s")}),
        StartupRow("stripe.com", 120, {"sandlot": StartupFigures(problem="did not start within 120 s"),
                                       "prism": StartupFigures(problem="did not start within 120 s")}),
    ])
    verdicts = _verdicts(results)
    assert list(verdicts.values()) == ["PASS", "FAIL", "FAIL", "FAIL"]
    assert verdicts["start-up on api.github.com: first answer <= 1 s"] == "FAIL"  # 3 s


def test_text_and_markdown_show_the_same_figures():
    results = RunResults(load_settings="wrk", throughput=[_row("examples", _load(4321, 5), _load(1000, 12))])
    text, markdown = render(results, markdown=False), render(results, markdown=True)
    for figure in ("4,321", "1,000", "4.32x", "PASS"):
        assert figure in text and figure in markdown
    assert "| GET /x | Sandlot | 4,321 |" in markdown


def test_a_row_shows_each_sides_fastest_run_and_a_failed_run_only_when_all_failed():
    from bench.runner import _fastest

    slow, fast, failed = (LoadFigures(load=_load(900, 9)), LoadFigures(load=_load(3000, 4)),
                          LoadFigures(problem="server died under load"))
    assert _fastest([slow, failed, fast]) is fast
    assert _fastest([failed, slow]) is slow
    assert _fastest([failed]) is failed
