"""A small MLMD gRPC server for tests: KFP's `metadata-grpc-service` stand-in.

The ml-metadata wheel ships no server binary, but its C++ extension exposes every RPC
as `Method(store, request_bytes) -> (response_bytes, error, code)`. A generic gRPC
handler passes the raw bytes through, so a real store (sqlite file or MySQL) answers
the same protocol `MetadataStoreClientConfig` speaks. Calls are serialized with a lock
because one extension store handle is one database connection.

    python mlmd_grpc_server.py --port 8080 --sqlite /tmp/mlmd.db
    python mlmd_grpc_server.py --port 8080 --mysql-host 127.0.0.1 --mysql-port 3306 \
        --mysql-database mlmd --mysql-user u   # password from MLMD_MYSQL_PASSWORD
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store as ext
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = "ml_metadata.MetadataStoreService"


def _open(args: argparse.Namespace) -> Any:
    config = metadata_store_pb2.ConnectionConfig()
    if args.sqlite:
        config.sqlite.filename_uri = args.sqlite
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    else:
        config.mysql.host = args.mysql_host
        config.mysql.port = args.mysql_port
        config.mysql.database = args.mysql_database
        config.mysql.user = args.mysql_user
        config.mysql.password = os.environ.get("MLMD_MYSQL_PASSWORD", "")
    options = metadata_store_pb2.MigrationOptions()
    return ext.CreateMetadataStore(config.SerializeToString(), options.SerializeToString())


def _handler(store: Any, method: Callable[..., Any], lock: threading.Lock) -> Callable[..., bytes]:
    def call(request: bytes, context: grpc.ServicerContext) -> bytes:
        with lock:
            response, error, code = method(store, request)
        if code != 0:
            context.abort(_status(code), error.decode("utf-8", "replace"))
        return bytes(response)

    return call


def _status(code: int) -> grpc.StatusCode:
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status
    return grpc.StatusCode.UNKNOWN


def serve(args: argparse.Namespace) -> None:
    store = _open(args)
    lock = threading.Lock()
    service = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
    handlers = {
        m.name: grpc.unary_unary_rpc_method_handler(_handler(store, getattr(ext, m.name), lock))
        for m in service.methods
        if hasattr(ext, m.name)
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"{args.host}:{args.port}")
    if bound == 0:
        sys.exit(f"cannot bind {args.host}:{args.port}")
    server.start()
    print(f"MLMD gRPC server on {args.host}:{bound}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1).wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sqlite")
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3306)
    parser.add_argument("--mysql-database", default="mlmd")
    parser.add_argument("--mysql-user", default="root")
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
