"""real[] vectors in PostgreSQL's binary form: what numpy writes is what PostgreSQL stores,
and what array_send gives back decodes to the same float32 values (a real PostgreSQL)."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from mediagw.common.real_array import RealArray, decode_real_array, vector_list

pytestmark = pytest.mark.integration  # a real PostgreSQL


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes), type(value)  # bytea comes back as bytes
    return value


def test_a_vector_written_in_binary_reads_back_the_same_both_ways(
    pg_conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    vector = np.random.default_rng(7).standard_normal(384).astype(np.float32)
    row = pg_conn.execute(
        "SELECT %s::real[], array_send(%s::real[]), array_length(%s::real[], 1)",
        (RealArray(vector), RealArray(vector), RealArray(vector)),
    ).fetchone()
    assert row is not None
    text_form, binary_form, length = row
    assert length == 384
    assert np.array_equal(np.asarray(text_form, dtype=np.float32), vector)
    decoded = decode_real_array(_bytes(binary_form))
    assert decoded is not None
    assert np.array_equal(decoded, vector)
    assert vector_list(_bytes(binary_form), "c1") == vector.tolist()


def test_a_list_of_floats_stored_the_usual_way_decodes_alike(
    pg_conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    values = [0.5, -1.25, 3.0]
    row = pg_conn.execute("SELECT array_send(%s::real[])", (values,)).fetchone()
    assert row is not None
    assert vector_list(_bytes(row[0]), "c1") == values


def test_arrays_that_are_not_one_flat_vector_are_refused(
    pg_conn: psycopg.Connection[tuple[object, ...]],
) -> None:
    row = pg_conn.execute(
        "SELECT array_send('{{1,2},{3,4}}'::real[]), array_send('{1,NULL}'::real[])"
    ).fetchone()
    assert row is not None
    two_d, with_null = row
    assert decode_real_array(_bytes(two_d)) is None
    assert decode_real_array(_bytes(with_null)) is None
    with pytest.raises(ValueError, match="content c9"):
        vector_list(_bytes(two_d), "c9")
    with pytest.raises(ValueError, match="one dimension"):
        RealArray(np.zeros((2, 2), dtype=np.float32))
