"""The bench's login reference: argon2id alone and with every hashing thread at once."""

from __future__ import annotations

import pytest

from harness.load.gateway_bench import Argon2Reference, BenchReport, argon2_reference, table

pytestmark = pytest.mark.unit


def test_the_reference_measures_one_verify_alone_and_all_threads_at_once() -> None:
    reference = argon2_reference(threads=2, rounds=3, rounds_at_once=3)
    assert reference.threads == 2
    assert 0.001 < reference.alone_seconds < 2.0, "an OWASP-profile verify takes milliseconds"
    assert reference.verifies_per_second > 0
    assert reference.naive_rate == pytest.approx(2 / reference.alone_seconds)


def test_the_login_ceiling_is_the_measured_rate_and_the_table_prints_both() -> None:
    disturbed = Argon2Reference(alone_seconds=0.025, threads=2, verifies_per_second=60.0)
    argon2 = Argon2Reference(alone_seconds=0.020, threads=2, verifies_per_second=80.0)
    report = BenchReport(2, 32, 8.0, [8000.0, 8200.0], [disturbed, argon2])
    assert report.login_ceiling == 80.0, "the better contended rate, not threads ÷ one verify"
    text = table(report)
    assert "Login ceiling: 80 argon2id verifies/s with 2 thread(s) hashing at once" in text
    assert "(the better of 60 / 80 before / after the paths;" in text
    assert "one alone: 20.0 ms, so 2 ÷ that = 100/s if they did not contend" in text
