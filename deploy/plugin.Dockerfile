# The jwt-relay plugin as an OCI image: FROM scratch, one layer, the .wasm alone at /plugin.wasm.
#
# This is the "compat" Wasm image layout both Istio (WasmPlugin `url: oci://...`) and Envoy Gateway
# (EnvoyExtensionPolicy `code.type: Image`) pull: a single layer whose only file is plugin.wasm.
# Keep exactly one COPY, so the image has exactly one layer.
#
# Build it with `make image` (where a Docker engine exists): it copies the built filter into an
# empty build context as plugin.wasm, then runs
#   docker build -f deploy/plugin.Dockerfile -t jwt-relay:VERSION CONTEXT
FROM scratch
COPY plugin.wasm ./
