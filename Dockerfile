# geodns node image: the package, its migrations and the example zones, run as the
# unprivileged user geodns (no capabilities: DNS listens on 5300 inside the container).
FROM python:3.11-slim
WORKDIR /srv/geodns
COPY pyproject.toml README.md LICENSE ./
COPY geodns ./geodns
COPY migrations ./migrations
COPY zones ./zones
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /var/lib/geodns --create-home --shell /usr/sbin/nologin geodns
USER geodns
# the default SQLite database (geodns.db) is written here, the user's own directory
WORKDIR /var/lib/geodns
EXPOSE 5300/udp 5300/tcp 8053/tcp
# DNS on every address inside the container, on an unprivileged port: publish it as 53 with
# -p 53:5300/udp -p 53:5300/tcp. The API listens on every address inside the container too,
# or no published port could reach it: publish it on the host's loopback only
# (-p 127.0.0.1:8053:8053), as the README's "Containers" section explains.
ENV GEODNS_DNS=0.0.0.0:5300 GEODNS_API=0.0.0.0:8053 GEODNS_ZONES=/srv/geodns/zones
ENTRYPOINT ["geodns"]
CMD ["serve"]
