"""PostgreSQL ``real[]`` in its binary wire form, both ways, with numpy.

Embeddings are 384 floats. psycopg adapts a Python list element by element (the text dumper
was the single largest cost of ingesting the seed catalogue, and parsing the text form back
costs ~50x more than this); the binary form is a fixed header and (length, value) pairs, which
numpy writes and reads in one step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from psycopg import adapters
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

ARRAY_HEADER = 20
"""ndim, has-NULLs flag, element type oid, then the one dimension's length and lower bound."""
FLOAT4_OID = 700
FLOAT4_ARRAY_OID = 1021
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f4")])


class RealArray:
    """A vector to be written as ``real[]`` in binary (``%s`` or ``%b`` placeholders)."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[float] | np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.float32)
        if self.values.ndim != 1:
            raise ValueError(f"a real[] vector has one dimension, not {self.values.ndim}")

    def __len__(self) -> int:
        return int(self.values.shape[0])


def encode_real_array(values: np.ndarray) -> bytes:
    """The bytes ``array_send`` gives for a one-dimensional ``real[]`` without NULLs."""
    n = int(values.shape[0])
    header = np.array([1, 0, FLOAT4_OID, n, 1], dtype=">i4").tobytes()
    elements = np.empty(n, dtype=_ELEMENT)
    elements["length"] = 4
    elements["value"] = values
    return header + elements.tobytes()


def decode_real_array(data: bytes) -> npt.NDArray[np.float32] | None:
    """A ``real[]`` in binary form (``array_send``) → float32 vector; None unless it has one
    dimension and no NULLs."""
    if len(data) < ARRAY_HEADER or int.from_bytes(data[:4], "big") != 1:
        return None
    if int.from_bytes(data[4:8], "big") != 0:  # the has-NULLs flag
        return None
    elements = np.frombuffer(data, dtype=_ELEMENT, offset=ARRAY_HEADER)
    vector: npt.NDArray[np.float32] = elements["value"].astype(np.float32)
    return vector


def vector_list(data: bytes, owner: object) -> list[float]:
    """A stored ``array_send`` vector as the list of floats Qdrant takes."""
    vector = decode_real_array(data)
    if vector is None:
        raise ValueError(f"content {owner}: its stored vector is not a one-dimension real[]")
    return list(vector.tolist())


class RealArrayBinaryDumper(Dumper):
    format = Format.BINARY
    oid = FLOAT4_ARRAY_OID

    def dump(self, obj: RealArray) -> Buffer:
        return encode_real_array(obj.values)


adapters.register_dumper(RealArray, RealArrayBinaryDumper)
