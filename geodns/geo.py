"""GeoReader: client address -> Location (country, continent, coordinates, prefix).

Reads a GeoIP2/GeoLite2 City or Country mmdb through geoip2 once at load time and
caches per covering network, so a warm lookup is a dict hit. Synchronous: used on
the query path, never awaits.
"""
