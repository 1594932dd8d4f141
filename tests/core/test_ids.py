"""Prefixed, time-ordered ids: shape, prefixes, ordering and offline shape checks."""

import itertools
import re
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core import ids
from keyward.core.ids import PREFIXES, is_id, new_id

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
BODY = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")


def _milliseconds(value: str) -> int:
    """The creation time written in the first ten characters of the body (50 bits, top 2 zero)."""
    decoded = 0
    for char in value.partition("_")[2][:10]:
        decoded = decoded * 32 + CROCKFORD.index(char)
    return decoded


def _ids_at(milliseconds: list[int]) -> list[str]:
    """One id per instant, with the module's clock set to the middle of each millisecond.

    The process's last id is set aside meanwhile (and restored after), so instants before now
    can be replayed without real ids of later tests inheriting a far-future time.
    """
    made = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ids, "_last", 0)
        for ms in milliseconds:
            patch.setattr(ids, "time", SimpleNamespace(time=lambda ms=ms: (ms + 0.5) / 1000))
            made.append(new_id("key"))
    return made


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_new_id_is_prefix_and_26_crockford_characters(prefix: str) -> None:
    value = new_id(prefix)
    head, separator, body = value.partition("_")
    assert (head, separator) == (prefix, "_")
    assert BODY.fullmatch(body)
    assert is_id(value, prefix)


def test_new_id_records_its_creation_millisecond() -> None:
    before = int(time.time() * 1000)
    value = new_id("evt")
    after = int(time.time() * 1000)
    assert before <= _milliseconds(value) <= after


@pytest.mark.parametrize("prefix", ["", "xx", "KEY", "key_", "keys", "k", "ws "])
def test_new_id_refuses_unknown_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id(prefix)


def test_new_ids_are_unique() -> None:
    made = [new_id("req") for _ in range(5000)]
    assert len(set(made)) == len(made)


def test_id_made_in_a_later_millisecond_sorts_later() -> None:
    first = new_id("key")
    deadline = _milliseconds(first)
    while int(time.time() * 1000) <= deadline:
        time.sleep(0.0005)
    second = new_id("key")
    assert _milliseconds(second) > _milliseconds(first)
    assert second > first


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=2**48 - 1), min_size=2, max_size=8, unique=True))
def test_ids_sort_in_creation_order_across_milliseconds(milliseconds: list[int]) -> None:
    milliseconds.sort()
    made = _ids_at(milliseconds)
    assert [_milliseconds(v) for v in made] == milliseconds
    assert all(earlier < later for earlier, later in itertools.pairwise(made))


def test_ids_made_within_one_millisecond_strictly_increase() -> None:
    made = _ids_at([1_780_000_000_000] * 200)
    assert {_milliseconds(v) for v in made} == {1_780_000_000_000}
    assert all(earlier < later for earlier, later in itertools.pairwise(made))


def test_ids_keep_increasing_when_the_clock_steps_back() -> None:
    made = _ids_at([1_780_000_000_000, 1_780_000_000_000 - 5_000])
    assert made[1] > made[0]


def test_ids_made_in_a_burst_strictly_increase() -> None:
    made = [new_id("evt") for _ in range(2000)]
    assert all(earlier < later for earlier, later in itertools.pairwise(made))


def test_ids_sort_in_creation_order_across_carry_boundaries() -> None:
    base = 1_780_000_000_000
    milliseconds = [base + 31, base + 32, base + 1023, base + 1024, base + 2**20, 2**48 - 1]
    made = _ids_at(milliseconds)
    assert sorted(made) == made


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("key_01m85chg6afe0f4g9y8mdcj86f", "mem"),
        ("mem_01m85chg6afe0f4g9y8mdcj86g", "key"),
        ("ws_01m85chg6afe0f4g9y8mdcj86h", "w"),
        ("key_" + "0" * 25, "key"),
        ("key_" + "0" * 27, "key"),
        ("key_", "key"),
        ("", "key"),
        ("key" + "0" * 26, "key"),
        ("key__" + "0" * 25, "key"),
        ("KEY_" + "0" * 26, "KEY"),
        ("key_" + "A" * 26, "key"),
        ("key_" + "0" * 25 + "Z", "key"),
        ("key_" + "0" * 25 + "i", "key"),
        ("key_" + "0" * 25 + "l", "key"),
        ("key_" + "0" * 25 + "o", "key"),
        ("key_" + "0" * 25 + "u", "key"),
        ("key_" + "0" * 25 + "-", "key"),
        ("key_" + "0" * 25 + "é", "key"),
        (" key_" + "0" * 26, "key"),
        ("key_" + "0" * 26 + " ", "key"),
    ],
)
def test_is_id_rejects_wrong_prefix_length_case_and_alphabet(value: str, prefix: str) -> None:
    assert not is_id(value, prefix)


def test_is_id_accepts_every_crockford_character() -> None:
    assert is_id("key_" + CROCKFORD[:26], "key")
    assert is_id("key_" + CROCKFORD[6:], "key")


def test_is_id_rejects_trailing_newline() -> None:
    assert not is_id(new_id("key") + "\n", "key")
