"""Parsing of wrk reports and schemathesis JSON reports, on captured real outputs."""

import math

import pytest

from bench.conformance import summarise_report
from bench.load import parse_wrk
from bench.pyload import Stats

WRK_REPORT = """Running 10s test @ http://127.0.0.1:4710/pets/1
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.48ms   21.72ms 308.52ms   97.38%
    Req/Sec     1.89k   763.98     2.70k    71.67%
  Latency Distribution
     50%  680.00us
     75%    9.26ms
     90%   16.51ms
     99%    1.36s
  11321 requests in 3.00s, 3.77MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 12
Requests/sec:   3768.01
Transfer/sec:      1.25MB
"""


def test_parse_wrk_reads_rate_percentiles_in_any_unit_and_error_counts():
    result = parse_wrk(WRK_REPORT)
    assert result.requests == 11321
    assert result.rps == pytest.approx(3768.01)
    assert result.p50_ms == pytest.approx(0.68)
    assert result.p99_ms == pytest.approx(1360.0)
    assert result.bad_responses == 12
    assert result.socket_errors == 7


def test_parse_wrk_without_errors_counts_zero():
    clean = "\n".join(line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    result = parse_wrk(clean)
    assert (result.bad_responses, result.socket_errors) == (0, 0)


def test_parse_wrk_refuses_a_report_without_percentiles():
    without = WRK_REPORT.replace("     99%    1.36s\n", "")
    with pytest.raises(ValueError, match="50%/99%"):
        parse_wrk(without)


def test_summarise_report_splits_server_errors_from_nonconforming_responses():
    report = {
        "operations": {"total": 5, "selected": 4, "tested": 3},
        "test_cases": {"generated": 40},
        "failures": [
            {"code": "ST101", "title": "Server error", "count": 2},
            {"code": "ST108", "title": "Response violates schema", "count": 3},
            {"code": "ST105", "title": "Undocumented Content-Type", "count": 1},
            {"code": "ST204", "title": "Wrong response to undeclared method", "count": 4},
        ],
        "errors": [{"title": "Network error", "count": 2}],
    }
    result = summarise_report("x.yaml", report)
    assert (result.operations_tested, result.operations_selected, result.test_cases) == (3, 4, 40)
    assert (result.server_errors, result.nonconforming, result.errored) == (2, 4, 2)
    assert "ST204 Wrong response to undeclared method x4" in result.detail


def test_pyload_percentiles_use_nearest_rank():
    stats = Stats(duration_s=2.0, latencies_s=[i / 1000 for i in range(1, 101)])
    assert stats.rps == 50.0
    assert stats.percentile_ms(50) == pytest.approx(50.0)
    assert stats.percentile_ms(99) == pytest.approx(99.0)
    assert math.isnan(Stats().percentile_ms(50))


def test_failing_checks_count_code_input_mode_and_received_status():
    from bench.conformance import describe_breakdown, failing_checks

    def case(mode):
        return {"value": {"meta": {"generation": {"mode": mode}}}}

    def failed(code):
        return {"name": "x", "status": "failure", "failure_info": {"failure": {"code": code}}}

    events = [
        {"ScenarioStarted": {}},
        {"ScenarioFinished": {"recorder": {
            "cases": {"a": case("negative"), "b": case("positive"), "c": case("negative")},
            "checks": {"a": [failed("ST103"), {"name": "y", "status": "success"}],
                       "b": [failed("ST108")], "c": [failed("ST103")]},
            "interactions": {"a": {"response": {"status_code": 422}}, "b": {"response": {"status_code": 200}},
                             "c": {"response": {"status_code": 422}}},
        }}},
    ]
    found = failing_checks(events)
    assert found == {("ST103", "negative", 422): 2, ("ST108", "positive", 200): 1}
    assert describe_breakdown(found) == "ST103 negative 422 x2; ST108 positive 200 x1"


def test_wrk_distinct_script_numbers_every_request_within_the_path():
    from bench.load import wrk_distinct_script

    lua, url = wrk_distinct_script("http://127.0.0.1:4010/v1/pets/{n}?x=1", offset=5000)
    assert url == "http://127.0.0.1:4010/"
    assert 'wrk.format(nil, "/v1/pets/" .. (counter * 64 + tid) .. "?x=1")' in lua
    assert "local counter = 5000" in lua
