# Dormouse in a container: a static binary (pure Go, SQLite included) on a
# small Debian base. Build from the repository's root:
#
#	docker build -t dormouse .
#	docker run -p 5222:5222 -p 5223:5223 -p 5443:5443 -v dormouse:/var/lib/dormouse dormouse
#
# Configuration: a file given with -config, or DORMOUSE_<SECTION>_<KEY>
# environment variables (see README.md, Configuration). deploy/cluster has
# a two-node cluster built from this file.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=container
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dormouse ./cmd/dormouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
	&& useradd --system --home-dir /var/lib/dormouse --create-home --shell /usr/sbin/nologin dormouse
COPY --from=build /out/dormouse /usr/local/bin/dormouse
USER dormouse
WORKDIR /var/lib/dormouse
ENV DORMOUSE_DATA_DIR=/var/lib/dormouse
VOLUME /var/lib/dormouse
# 5222 c2s (STARTTLS), 5223 c2s (direct TLS), 5269 s2s, 5443 HTTPS
# (WebSocket, upload), 5280 admin (/metrics, /healthz, /readyz: keep it
# internal).
EXPOSE 5222 5223 5269 5443 5280
ENTRYPOINT ["dormouse"]
CMD ["serve"]
