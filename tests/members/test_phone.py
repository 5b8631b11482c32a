"""Korean phone numbers: every notation of one number is the same number."""

from __future__ import annotations

import pytest

from members.phone import InvalidPhoneNumber, format_phone, is_mobile, mask_phone, normalize_phone

NOTATIONS_OF_ONE_MOBILE = [
    "010-1234-5678",
    "01012345678",
    "+82 10 1234 5678",
    "+82 10-1234-5678",
    "+82-10-1234-5678",
    "+8210-1234-5678",
    "+82 010 1234 5678",
    "010 1234 5678",
    "82-10-1234-5678",
    "821012345678",
    "0082 10 1234 5678",
    "010.1234.5678",
    "(010) 1234-5678",
    "  010-1234-5678  ",
]


@pytest.mark.parametrize("notation", NOTATIONS_OF_ONE_MOBILE)
def test_every_korean_notation_of_a_mobile_number_is_the_same_number(notation):
    assert normalize_phone(notation) == "01012345678"


@pytest.mark.parametrize(
    ("notation", "digits"),
    [
        ("02-123-4567", "021234567"),
        ("(02) 1234-5678", "0212345678"),
        ("+82 2 1234 5678", "0212345678"),
        ("031-123-4567", "0311234567"),
        ("070-1234-5678", "07012345678"),
        ("1588-1234", "15881234"),
        ("011-123-4567", "0111234567"),
    ],
)
def test_landlines_internet_and_representative_numbers_are_kept_as_national_digits(notation, digits):
    assert normalize_phone(notation) == digits


@pytest.mark.parametrize(
    "notation",
    [
        "",
        "   ",
        "010-1234-567",
        "010-1234-56789",
        "1234-5678",
        "+1 202 555 0100",
        "+44 20 7946 0958",
        "010-abcd-5678",
        "010-1234-5678 ext 9",
        "phone",
        "00-0000-0000",
    ],
)
def test_text_that_is_not_a_korean_number_is_refused(notation):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(notation)


def test_a_number_typed_in_full_width_digits_is_the_same_number_or_refused():
    try:
        normalized = normalize_phone("０１０-１２３４-５６７８")
    except InvalidPhoneNumber:
        return
    assert normalized == "01012345678"


def test_display_forms_of_a_normalized_number():
    assert format_phone("01012345678") == "010-1234-5678"
    assert format_phone("021234567") == "02-123-4567"
    assert format_phone("15881234") == "1588-1234"
    assert mask_phone("01012345678") == "010-****-5678"
    assert is_mobile("01012345678")
    assert not is_mobile("021234567")
