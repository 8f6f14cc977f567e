"""A step whose output is a folder of shards plus one large file, slow enough to kill mid-upload."""

import os
from pathlib import Path

from zenml_kf import BaseMaterializer, pipeline, step

BIG_MB = int(os.environ.get("CRASH_BIG_MB", "160"))


class Shards:
    def __init__(self, count: int, big_mb: int) -> None:
        self.count = count
        self.big_mb = big_mb


class ShardsMaterializer(BaseMaterializer):
    """Writes `count` small shards and one big file, in 1 MiB blocks (no large buffers)."""

    def save(self, data: Shards, path: Path) -> None:
        block = os.urandom(1 << 20)
        with open(path / "big.bin", "wb") as f:
            for _ in range(data.big_mb):
                f.write(block)
        for i in range(data.count):
            (path / f"shard-{i:02d}.bin").write_bytes(block[: 4096 + i])

    def load(self, path: Path, data_type: type) -> Shards:
        shards = sorted(path.glob("shard-*.bin"))
        return Shards(len(shards), (path / "big.bin").stat().st_size >> 20)


@step(output_materializers={"output": ShardsMaterializer})
def produce() -> Shards:
    return Shards(12, BIG_MB)


@pipeline
def crashy(produce):
    produce()


p = crashy(produce())
