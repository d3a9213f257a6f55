"""GeoReader on MaxMind's real test databases: locations, deciding prefixes, the cache."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from geodns.errors import ConfigError
from geodns.geo import GeoReader, Location, bundled_database_path, open_geo

DATA = Path(__file__).resolve().parent.parent / "data"
MAXMIND = DATA / "maxmind"


def _int(text: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(text)
    return ip.version, int(ip)


@pytest.fixture
def city() -> Iterator[GeoReader]:
    reader = open_geo(str(MAXMIND / "GeoIP2-City-Test.mmdb"))
    assert reader is not None
    with reader:
        yield reader


@pytest.fixture
def country() -> Iterator[GeoReader]:
    reader = open_geo(str(MAXMIND / "GeoIP2-Country-Test.mmdb"))
    assert reader is not None
    with reader:
        yield reader


# Rows from tests/data/maxmind/README.md, checked against source-data/GeoIP2-City-Test.json
# (an IPv4 network there is written ::a.b.c.d/N: N - 96 is its IPv4 prefix).
CITY_ROWS = [
    ("81.2.69.142", Location("GB", "EU", 51.5142, -0.0931, 31)),
    ("81.2.69.143", Location("GB", "EU", 51.5142, -0.0931, 31)),
    ("81.2.69.160", Location("GB", "EU", 51.5142, -0.0931, 27)),
    ("89.160.20.112", Location("SE", "EU", 58.4167, 15.6167, 28)),
    ("175.16.199.0", Location("CN", "AS", 43.88, 125.3228, 24)),
    ("175.16.199.255", Location("CN", "AS", 43.88, 125.3228, 24)),
    ("67.43.156.0", Location("BT", "AS", 27.5, 90.5, 24)),
    ("202.196.224.0", Location("PH", "AS", 13.0, 122.0, 20)),
    ("2001:218::", Location("JP", "AS", 35.68536, 139.75309, 32)),
    ("2a02:d280::1", Location("CZ", "EU", 49.75, 15.0, 29)),
    # an IPv4-mapped IPv6 address stays in IPv6 bits: ::ffff:81.2.69.142/127
    ("::ffff:81.2.69.142", Location("GB", "EU", 51.5142, -0.0931, 127)),
]


@pytest.mark.parametrize(("address", "expected"), CITY_ROWS, ids=[r[0] for r in CITY_ROWS])
def test_city_database_gives_country_continent_coordinates_and_network_prefix(
    city: GeoReader, address: str, expected: Location
) -> None:
    assert city.locate(*_int(address)) == expected


def test_every_network_in_the_city_source_json_locates_with_its_own_prefix(
    city: GeoReader,
) -> None:
    entries = json.loads((MAXMIND / "source-data" / "GeoIP2-City-Test.json").read_text())
    checked = 0
    for entry in entries:
        [(text, record)] = entry.items()
        network = ipaddress.ip_network(text)
        family, prefix = network.version, network.prefixlen
        first = int(network.network_address)
        if family == 6 and first < 2**32 and prefix >= 96:  # ::a.b.c.d/N is IPv4 a.b.c.d/N-96
            family, prefix = 4, prefix - 96
        place = record.get("country") or record.get("registered_country") or {}
        location = city.locate(family, first)
        assert (location.country, location.prefix) == (place.get("iso_code"), prefix), text
        checked += 1
    assert checked == len(entries) > 200


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("81.2.69.142", Location("GB", "EU", None, None, 31)),
        ("175.16.199.7", Location("CN", "AS", None, None, 24)),
        ("2001:218::1", Location("JP", "AS", None, None, 32)),
        ("111.235.160.0", Location("CN", "AS", None, None, 22)),
    ],
    ids=["gb-31", "cn-24", "jp-v6-32", "cn-only-in-country-db"],
)
def test_country_database_gives_country_and_continent_without_coordinates(
    country: GeoReader, address: str, expected: Location
) -> None:
    assert country.locate(*_int(address)) == expected


@pytest.mark.parametrize(
    ("database", "address", "expected"),
    [
        ("GeoLite2-City-Test.mmdb", "81.2.69.160", Location("GB", "EU", 51.5142, -0.0931, 27)),
        ("GeoLite2-Country-Test.mmdb", "89.160.20.112", Location("SE", "EU", None, None, 28)),
    ],
    ids=["geolite2-city", "geolite2-country"],
)
def test_geolite2_layouts_read_like_geoip2(database: str, address: str, expected: Location) -> None:
    with open_geo(str(MAXMIND / database)) as reader:  # type: ignore[union-attr]
        assert reader.locate(*_int(address)) == expected


@pytest.mark.parametrize(
    ("address", "prefix"),
    [("10.0.0.1", 8), ("127.0.0.1", 8), ("111.235.160.0", 5), ("2001:480::", 44), ("::1", 104)],
    ids=["rfc1918", "loopback", "unassigned-v4", "unassigned-v6", "v6-loopback"],
)
def test_unknown_address_has_no_location_and_the_empty_networks_prefix(
    city: GeoReader, address: str, prefix: int
) -> None:
    assert city.locate(*_int(address)) == Location(None, None, None, None, prefix)


def test_warm_lookup_in_the_same_slash24_is_a_cache_hit_not_an_mmdb_walk(city: GeoReader) -> None:
    first = city.locate(*_int("175.16.199.1"))
    assert city.walks == 1
    assert city.locate(*_int("175.16.199.200")) is first
    assert city.walks == 1
    city.locate(*_int("67.43.156.9"))
    assert city.walks == 2


def test_networks_smaller_than_slash24_are_cached_per_network(city: GeoReader) -> None:
    first = city.locate(*_int("81.2.69.142"))  # 81.2.69.142/31
    assert city.locate(*_int("81.2.69.143")) is first
    assert city.walks == 1
    wider = city.locate(*_int("81.2.69.161"))  # 81.2.69.160/27, same /24 block
    assert (wider.prefix, city.walks) == (27, 2)
    assert city.locate(*_int("81.2.69.190")) is wider
    assert city.locate(*_int("81.2.69.142")) is first
    assert city.walks == 2


def test_ipv6_lookups_are_cached_per_slash56(city: GeoReader) -> None:
    first = city.locate(*_int("2001:218::1"))
    assert city.locate(*_int("2001:218:0:ff::7")) is first  # same /56
    assert city.walks == 1
    assert city.locate(*_int("2001:218:0:100::")) == first  # next /56: one more walk
    assert city.walks == 2


def test_description_names_database_type_and_build_date(city: GeoReader) -> None:
    assert city.description == "GeoIP2-City 2026-02-04"


def test_loopback_benchmark_database_maps_loopback_slash24s_to_countries() -> None:
    with open_geo(str(DATA / "loopback-geo.mmdb")) as reader:  # type: ignore[union-attr]
        assert reader.locate(*_int("127.0.2.9")) == Location("DE", "EU", 51.2993, 9.491, 24)
        assert reader.locate(*_int("127.0.0.1")).country is None


def test_bundled_geolite2_city_database_opens_when_no_path_is_configured() -> None:
    path = bundled_database_path()
    assert path is not None and path.endswith("GeoLite2-City.mmdb")
    with open_geo(None) as reader:  # type: ignore[union-attr]
        assert reader.description.startswith("GeoLite2-City ")
        assert reader.locate(*_int("81.2.69.142")).country == "GB"


def test_no_path_and_no_bundled_database_means_no_reader() -> None:
    assert open_geo(None, bundled=False) is None


def test_missing_database_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.mmdb"
    with pytest.raises(ConfigError, match=f"GeoIP database {missing}: cannot be read"):
        open_geo(str(missing))


def test_file_that_is_not_an_mmdb_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mmdb"
    bogus.write_bytes(b"not a maxmind database\n" * 10)
    with pytest.raises(ConfigError, match=f"GeoIP database {bogus}: cannot be read"):
        open_geo(str(bogus))
