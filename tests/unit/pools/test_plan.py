"""Planning a pools apply: create/update/delete by name, and the human diff for --dry-run."""

from __future__ import annotations

from dataclasses import replace

from geodns.pools.model import Check, CheckType, MatchKind, Member, Policy, Pool, Rule
from geodns.pools.plan import Plan, Update, plan

WWW = Pool(
    name="www.example.com.",
    members=(Member("192.0.2.11", region="us"), Member("192.0.2.21", region="eu")),
    rules=(Rule(MatchKind.CONTINENT, "EU", ("eu", "us")),),
    default_regions=("us", "eu"),
)
API = Pool(
    name="api.example.com.", members=(Member("192.0.2.41", priority=0),), policy=Policy.FAILOVER
)
OLD = Pool(name="old.example.com.", members=(Member("192.0.2.99"),))


def test_same_pools_plan_nothing() -> None:
    result = plan([WWW, API], [API, WWW])
    assert result.empty and result == Plan()
    assert result.describe() == []


def test_pools_are_created_updated_and_deleted_by_name() -> None:
    www_60 = replace(WWW, ttl=60)
    result = plan([WWW, OLD], [API, www_60])
    assert result == Plan(create=(API,), update=(Update(WWW, www_60),), delete=(OLD,))
    assert not result.empty
    assert result.describe() == [
        "+ create api.example.com. (failover, 1 member in 1 region, ttl 30)",
        "~ update www.example.com.: ttl 30 -> 60",
        "- delete old.example.com. (weighted, 1 member in 1 region, ttl 30)",
    ]


def test_describe_names_each_changed_field() -> None:
    desired = replace(
        WWW,
        policy=Policy.STICKY,
        fail_open=False,
        default_regions=None,
        members=(
            Member("192.0.2.11", weight=0, region="us", url="https://us1.example.com"),
            Member("192.0.2.12", region="us", priority=1),
        ),
        rules=(Rule(MatchKind.CONTINENT, "EU", ("us",)),),
        check=Check(CheckType.HTTP, path="/health"),
    )
    assert plan([WWW], [desired]).describe() == [
        "~ update www.example.com.: policy weighted -> sticky",
        "~ update www.example.com.: fail_open true -> false",
        "~ update www.example.com.: default_regions [us, eu] -> (all members)",
        "~ update www.example.com.: member + 192.0.2.12 (region us, weight 100, priority 1)",
        "~ update www.example.com.: member - 192.0.2.21",
        "~ update www.example.com.: member 192.0.2.11 weight 100 -> 0",
        "~ update www.example.com.: member 192.0.2.11 url none -> https://us1.example.com",
        "~ update www.example.com.: rule - continent EU -> [eu, us]",
        "~ update www.example.com.: rule + continent EU -> [us]",
        "~ update www.example.com.: check none -> http:80",
    ]


def test_check_changes_are_itemised_and_order_changes_are_said() -> None:
    checked = replace(WWW, check=Check(CheckType.HTTP, interval_s=10.0, expect_status=(200, 399)))
    faster = replace(checked, check=Check(CheckType.HTTP, interval_s=5.0, expect_status=(200, 299)))
    reordered = replace(WWW, members=WWW.members[::-1])
    assert plan([checked], [faster]).describe() == [
        "~ update www.example.com.: check.expect_status [200, 399] -> [200, 299]",
        "~ update www.example.com.: check.interval_s 10.0 -> 5.0",
    ]
    assert plan([WWW], [reordered]).describe() == [
        "~ update www.example.com.: members reordered: 192.0.2.21, 192.0.2.11",
    ]
    two_rules = replace(WWW, rules=(*WWW.rules, Rule(MatchKind.COUNTRY, "CN", ("us",))))
    assert plan([two_rules], [replace(two_rules, rules=two_rules.rules[::-1])]).describe() == [
        "~ update www.example.com.: rules reordered: country CN -> [us]; continent EU -> [eu, us]",
    ]


def test_deleting_everything_is_planned_in_name_order() -> None:
    result = plan([WWW, OLD, API], [])
    assert [pool.name for pool in result.delete] == [
        "api.example.com.",
        "old.example.com.",
        "www.example.com.",
    ]
