# geodns node image: the package, its migrations and the example zones, run as the
# unprivileged user geodns (no capabilities: DNS listens on 5300 inside the container).
# The wheel, with the native data plane's C extension, is built in a stage of its own so
# that the image carries no compiler.
FROM python:3.11-slim AS wheel
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml setup.py README.md LICENSE ./
COPY geodns ./geodns
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
WORKDIR /srv/geodns
COPY zones ./zones
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
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
