"""Staff find a member by phone whichever way they type it."""

import pytest
from django.contrib.auth.models import User

from members.services import member_upsert


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["010-1234-5678", "+82 10 1234 5678", "01012345678", "010.1234.5678", "1234-5678"])
def test_the_member_list_finds_a_phone_in_any_notation(client, typed):
    member_upsert(external_id="S-1", name="김단골", phone="010-1234-5678")
    member_upsert(external_id="S-2", name="이다른", phone="010-9999-0000")
    client.force_login(User.objects.create_superuser("staff", "s@example.com", "pw-for-tests-1"))
    page = client.get("/admin/members/member/", {"q": typed}).content.decode()
    assert "S-1" in page
    assert "S-2" not in page
    assert "010-1234-5678" in page  # shown in the dashed notation staff read
