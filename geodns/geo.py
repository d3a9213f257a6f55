"""GeoReader: client address -> Location (country, continent, coordinates, prefix).

Reads a GeoIP2/GeoLite2 City or Country mmdb with maxminddb and caches per covering
network, so a warm lookup is a dict hit. Synchronous and pure apart from opening the
file in open_geo(): used on the query path, never awaits.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from typing import Any

import maxminddb

from geodns.dns.edns import CLIENT_PREFIX_CAP
from geodns.errors import ConfigError

__all__ = ["Location", "GeoReader", "open_geo", "bundled_database_path"]

BITS = {4: 32, 6: 128}
# A lookup is cached for the whole /24 (IPv4) or /56 (IPv6) around the address when the
# deciding network covers it: the widest ECS source prefixes we honour (RFC 7871 §11.1),
# so an ECS client always lands on one such block.
COARSE_BITS = CLIENT_PREFIX_CAP
# Entries per family and per cache level before that level is dropped and refills. A
# flood of random (spoofed) sources cannot grow memory past this; dropping everything
# is cheaper on the hot path than LRU bookkeeping, and a miss costs one mmdb walk.
MAX_ENTRIES = 1 << 18


@dataclass(frozen=True, slots=True)
class Location:
    """What the database says about a client network; prefix is the deciding network's length.

    prefix is in the address's own family (0-32 for IPv4, 0-128 for IPv6): every address
    sharing the first prefix bits gets this same Location.
    """

    country: str | None  # ISO 3166-1 alpha-2, e.g. "GB"
    continent: str | None  # MaxMind continent code, e.g. "EU"
    latitude: float | None
    longitude: float | None
    prefix: int


class _Cache:
    """Two levels per family: coarse blocks (/24, /56) and, inside split blocks, networks.

    A block whose deciding network is at least as wide as the block maps straight to its
    Location. A block holding several smaller networks (e.g. 81.2.69.142/31) maps to the
    prefix lengths seen in it, and each network is cached under (network, length): so the
    fine level is keyed by network, not by address, and is bounded by the database.
    """

    __slots__ = ("bits", "shift", "coarse", "split", "fine")

    def __init__(self, family: int) -> None:
        self.bits = BITS[family]
        self.shift = self.bits - COARSE_BITS[family]
        self.coarse: dict[int, Location] = {}
        self.split: dict[int, list[int]] = {}
        self.fine: dict[tuple[int, int], Location] = {}

    def get(self, address: int) -> Location | None:
        block = address >> self.shift
        found = self.coarse.get(block)
        if found is not None:
            return found
        lengths = self.split.get(block)
        if lengths is not None:
            for length in lengths:
                found = self.fine.get((address >> (self.bits - length), length))
                if found is not None:
                    return found
        return None

    def put(self, address: int, location: Location) -> None:
        block = address >> self.shift
        if location.prefix <= self.bits - self.shift:
            if len(self.coarse) >= MAX_ENTRIES:
                self.coarse.clear()
            self.coarse[block] = location
            return
        if len(self.fine) >= MAX_ENTRIES:
            self.fine.clear()
            self.split.clear()
        lengths = self.split.setdefault(block, [])
        if location.prefix not in lengths:
            lengths.append(location.prefix)
        self.fine[(address >> (self.bits - location.prefix), location.prefix)] = location


class GeoReader:
    """Looks addresses up in one mmdb, caching per covering network.

    walks counts the lookups that reached the database (cache misses), for tests and
    metrics. Not thread-safe beyond the GIL's dict atomicity; the DNS loop is one thread.
    """

    def __init__(self, reader: maxminddb.Reader, source: str) -> None:
        self._reader = reader
        self.source = source
        meta = reader.metadata()
        self.database_type: str = meta.database_type
        self.build_date = datetime.datetime.fromtimestamp(meta.build_epoch, datetime.UTC).date()
        self._ip_version: int = meta.ip_version
        self._caches = {4: _Cache(4), 6: _Cache(6)}
        self.walks = 0

    @property
    def description(self) -> str:
        """The database type and build date, e.g. "GeoLite2-City 2018-07-03"."""
        return f"{self.database_type} {self.build_date.isoformat()}"

    def locate(self, family: int, address: int) -> Location:
        """Location of an address (an int of the family's width; family 4 or 6)."""
        cache = self._caches[family]
        found = cache.get(address)
        if found is not None:
            return found
        location = self._walk(family, address)
        cache.put(address, location)
        return location

    def _walk(self, family: int, address: int) -> Location:
        self.walks += 1
        bits = BITS[family]
        ip = ipaddress.IPv4Address(address) if family == 4 else ipaddress.IPv6Address(address)
        if family == 6 and self._ip_version == 4:
            return Location(None, None, None, None, 0)  # no IPv6 data: no bit of it decides
        record, prefix = self._reader.get_with_prefix_len(ip)
        # maxminddb already reports an IPv4 address's prefix in IPv4 bits, starting from
        # the tree's IPv4 subtree (::/96) of an IPv6 database; clamp for trees whose IPv4
        # subtree is itself inside a wider empty network.
        prefix = max(0, min(prefix, bits))
        if not isinstance(record, dict):
            return Location(None, None, None, None, prefix)
        return _location(record, prefix)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> GeoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GeoReader({self.description}, {self.source!r})"


def _location(record: dict[str, Any], prefix: int) -> Location:
    """City and Country layouts share country/continent; only City has location."""
    # country is where the network is; records for anycast or satellite networks carry
    # only registered_country, which is the better guess than nothing.
    country = record.get("country") or record.get("registered_country") or {}
    continent = record.get("continent") or {}
    coordinates = record.get("location") or {}
    latitude = coordinates.get("latitude")
    longitude = coordinates.get("longitude")
    if latitude is None or longitude is None:
        latitude = longitude = None
    return Location(
        country=country.get("iso_code"),
        continent=continent.get("code"),
        latitude=float(latitude) if latitude is not None else None,
        longitude=float(longitude) if longitude is not None else None,
        prefix=prefix,
    )


def bundled_database_path() -> str | None:
    """The GeoLite2 City mmdb that the maxminddb-geolite2 package ships, if installed."""
    try:
        from _maxminddb_geolite2 import geolite2_database
    except ImportError:
        return None
    path = geolite2_database() if callable(geolite2_database) else geolite2_database
    return str(path) if os.path.isfile(str(path)) else None


def open_geo(path: str | None, *, bundled: bool = True) -> GeoReader | None:
    """Open the configured mmdb, else the bundled one, else None (route by default order).

    Raises ConfigError naming the path and the reason when a configured database cannot
    be used (missing, unreadable, corrupt, or without country data such as an ASN db).
    """
    if path is None:
        found = bundled_database_path() if bundled else None
        if found is None:
            return None
        return _open(found)
    return _open(path)


def _open(path: str) -> GeoReader:
    try:
        reader = maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"GeoIP database {path}: cannot be read: {exc}") from exc
    database_type = reader.metadata().database_type
    if "City" not in database_type and "Country" not in database_type:
        reader.close()
        raise ConfigError(
            f"GeoIP database {path}: is a {database_type} database; "
            "geodns needs a City or Country database (e.g. GeoLite2-City)"
        )
    return GeoReader(reader, path)
