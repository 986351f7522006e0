"""A sync key the service accepts is one the database accepts: the documented pattern refuses
every character PostgreSQL's ``crdt_state_key_format`` check calls a control character.

(Fuzzing found the gap: a key with U+0091 passed the pattern and failed the check, a 500.)
"""

from __future__ import annotations

import re

import psycopg
import pytest

from mediagw.sync.protocol import KEY_PATTERN

pytestmark = pytest.mark.integration


def test_every_character_postgres_calls_a_control_is_refused_by_the_key_pattern(
    pg_conn: psycopg.Connection,
) -> None:
    pattern = re.compile(KEY_PATTERN)
    rows = pg_conn.execute(
        "SELECT n FROM generate_series(1, 65533) AS n "
        "WHERE n NOT BETWEEN 55296 AND 57343 AND chr(n) ~ '[[:cntrl:]]'"
    ).fetchall()
    controls = [chr(n) for (n,) in rows]
    assert controls, "PostgreSQL reported no control character at all"
    accepted = [f"U+{ord(c):04X}" for c in controls if pattern.fullmatch(f"key{c}")]
    assert not accepted, f"the key pattern admits what the database refuses: {accepted}"
