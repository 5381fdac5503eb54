"""Validates an Envoy bootstrap YAML against Envoy's own API (the protobuf messages that
PyPI's envoy-data-plane generates from Envoy's protos): unknown fields, wrong types and
typed_config payloads of unknown types are errors. Prints the wasm filter's configuration
string (the filter's JSON config) on success, for the caller to check with the filter's own
config parser.

usage: check_envoy.py envoy.yaml
"""
import importlib
import json
import sys

import yaml

# typed_config payloads are protobuf Any values: their message types must be imported to be
# registered, else they cannot be checked.
TYPED_CONFIG_MODULES = [
    "envoy.extensions.filters.network.http_connection_manager.v3",
    "envoy.extensions.filters.http.wasm.v3",
    "envoy.extensions.filters.http.router.v3",
    "envoy.extensions.transport_sockets.tls.v3",
    "google.protobuf",
]


def main(path):
    for module in TYPED_CONFIG_MODULES:
        importlib.import_module("envoy_data_plane." + module)
    from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap
    from envoy_data_plane.envoy.extensions.filters.http.wasm.v3 import Wasm

    with open(path) as f:
        document = yaml.safe_load(f)
    bootstrap = Bootstrap.from_dict(document)
    wasm_configs = []
    cluster_names = {c.name for c in bootstrap.static_resources.clusters}
    for listener in bootstrap.static_resources.listeners:
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                manager = network_filter.typed_config.unpack()
                for http_filter in getattr(manager, "http_filters", []):
                    config = http_filter.typed_config.unpack()
                    if isinstance(config, Wasm):
                        wasm_configs.append(config.config)
                for vhost in manager.route_config.virtual_hosts:
                    for route in vhost.routes:
                        if route.route.cluster not in cluster_names:
                            raise SystemExit(f"route to unknown cluster {route.route.cluster!r}")
    if len(wasm_configs) != 1:
        raise SystemExit(f"expected one envoy.filters.http.wasm filter, found {len(wasm_configs)}")
    plugin = wasm_configs[0]
    if plugin.fail_open:
        raise SystemExit("the wasm filter must fail closed (fail_open: false)")
    filter_config = json.loads(plugin.configuration.unpack().value)
    for authority, cluster in filter_config.get("dispatch_clusters", {}).items():
        if cluster not in cluster_names:
            raise SystemExit(f"dispatch_clusters maps {authority!r} to unknown cluster {cluster!r}")
    print(json.dumps(filter_config))


if __name__ == "__main__":
    main(sys.argv[1])
