# geodns node image: the package, its migrations and the example zones.
FROM python:3.11-slim
WORKDIR /srv/geodns
COPY pyproject.toml README.md ./
COPY geodns ./geodns
COPY migrations ./migrations
COPY zones ./zones
RUN pip install --no-cache-dir .
EXPOSE 53/udp 53/tcp 8053/tcp
# DNS on every address inside the container; the API too (publish it only where you need it)
ENV GEODNS_DNS=0.0.0.0:53 GEODNS_API=0.0.0.0:8053 GEODNS_ZONES=/srv/geodns/zones
ENTRYPOINT ["geodns"]
CMD ["serve"]
