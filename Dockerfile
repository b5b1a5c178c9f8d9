# Container image for Cloud Run (see docs/deploy.md).
#
# Build stage: a static binary, no cgo, no local paths in it.
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that code changes reuse the cached module layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -s -w: no symbol table or DWARF data (a third of the size; stack traces
# keep their function names). grpcnotrace: without gRPC's x/net/trace debug
# pages the linker can drop unused methods, another quarter of the size
# and several MB of memory (docs/performance.md).
RUN CGO_ENABLED=0 go build -trimpath -tags=grpcnotrace -ldflags='-s -w' -o /jitaccess ./cmd/jitaccess

# Runtime stage: no shell, no package manager, a non-root user. CA
# certificates (for Google APIs) and tzdata come with the image; the binary
# embeds tzdata as well.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /jitaccess /jitaccess
USER nonroot:nonroot
# Cloud Run sets PORT (8080 unless configured otherwise); the app honours it.
EXPOSE 8080
ENTRYPOINT ["/jitaccess"]
