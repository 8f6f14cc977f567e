"""Deleting runs: their ML Metadata records and, on request, the artifact files no other run uses.

ml-metadata 1.17 can create and read records but not delete them: neither its Python API
nor the service's RPCs have a delete call. So the records go through SQL against MLMD's
own tables (schema version 10: `Context`, `ContextProperty`, `ParentContext`,
`Association`, `Attribution`, `Execution`, `ExecutionProperty`, `Event`, `EventPath`,
`Artifact`, `ArtifactProperty`), on the stores whose database this process can reach:
the sqlite file and MySQL/MariaDB. A gRPC store (a KFP cluster's) is refused with the
reason; its database is only reachable on the cluster.

What belongs to a run is found by joins, not by properties: the run context; the
executions associated with it; their events; and every artifact those events or the
run's attributions reach. An artifact stays, with its record and its files, while an
execution of a surviving run has an event on it or a surviving run context is
attributed to it: run 2 reading, or reusing through the cache, an output of run 1 keeps
it. A property can only keep more: a surviving cache hit naming a deleted execution as
its original (`cached_execution_id`) keeps that execution's outputs even without events.
Pipeline contexts stay; they hold a pipeline's remaining runs.

Everything is one transaction (sqlite `BEGIN IMMEDIATE`; MySQL at SERIALIZABLE, retried
on a deadlock), and what to delete is decided inside it, so a run writing at the same
time is seen. A failure leaves every record as it was. Artifact files are removed only
after the commit: a crash in between leaves folders no record points at (which `zenml
clean` finds), never a record pointing at missing files. As the cache looks executions
up in MLMD, a deleted run can serve no later cache hit. One race is left to the user: a
run that found a step of a run in the cache a moment before that run is deleted fails
to record or read it, and runs again cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zenml_kf.exceptions import MetadataStoreError, first_line
from zenml_kf.metadata.mlmd_sql import Transaction, in_transaction, open_database
from zenml_kf.metadata.recorder import DAG_EXECUTION, PIPELINE_CONTEXT, RUN_CONTEXT
from zenml_kf.metadata.stale_runs import OWNER_HOST, OWNER_PID, OWNER_STARTED, Owner

if TYPE_CHECKING:
    from zenml_kf.artifact_stores.base import BaseArtifactStore
    from zenml_kf.metadata.base import BaseMetadataStore
    from zenml_kf.metadata.views import MetadataReader

SCHEMA_VERSION = 10
"""The MLMD schema (the one ml-metadata 1.17 writes) whose tables this module knows."""

_CONTEXT_KIND = 2  # Type.type_kind of context types
_LIVE_STATES = (1, 2)  # Execution.last_known_state NEW, RUNNING
_OUTPUT_EVENT = 4  # Event.type OUTPUT
CACHED_EXECUTION_ID = "cached_execution_id"


class RunDeletionError(MetadataStoreError):
    """A run cannot be deleted (unknown, still running, or the store cannot delete)."""


@dataclass
class DeletedRun:
    """What deleting one run removed."""

    run_id: str
    executions: int = 0
    """Step executions removed (the run's own DAG execution not counted)."""
    artifacts: int = 0
    """Artifact records removed."""
    kept: int = 0
    """Artifacts of the run kept, with their files, because another run uses them."""
    removed_files: list[str] = field(default_factory=list)
    """URIs of the artifact folders removed (with `artifacts=True`)."""
    left_files: list[str] = field(default_factory=list)
    """URIs of removed records whose folders were left: not in this stack's artifact store."""


# --- the public entry point ------------------------------------------------------------------


def delete_runs(
    reader: MetadataReader,
    metadata_store: BaseMetadataStore,
    artifact_store: BaseArtifactStore,
    runs: Iterable[str],
    artifacts: bool = False,
    confirm: Callable[[list[str]], bool] | None = None,
) -> list[DeletedRun]:
    """Delete `runs` (ids or unique prefixes) from `metadata_store`, all or none.

    With `artifacts`, also remove from `artifact_store` the folders of the artifacts whose
    records went. Every name is resolved and checked before anything changes: an unknown
    or ambiguous one, or a run still running, is an error and nothing is deleted.
    `confirm(run_ids)` is asked last, once the runs are known to be deletable; False
    deletes nothing (and returns no run).
    """
    run_ids = resolve_runs(reader, runs)
    database = open_database(metadata_store)
    if database is None:
        raise RunDeletionError(
            f"metadata store '{metadata_store.name}' ({metadata_store.flavor}) cannot delete runs: "
            "ML Metadata's service has no delete call; delete them through a sqlite or mysql "
            "metadata store on the same database"
        )
    if confirm is not None and not confirm(run_ids):
        return []
    done = in_transaction(database, _delete_records, run_ids, "delete runs")
    deleted = [DeletedRun(**summary) for summary in done["runs"]]
    files: dict[str, list[str]] = done["files"]
    if artifacts:
        _remove_files(artifact_store, deleted, files)
    return deleted


def resolve_runs(reader: MetadataReader, runs: Iterable[str]) -> list[str]:
    """Full run ids, in the order given and once each; refuses runs still running."""
    from zenml_kf.metadata.views import ExecutionStatus

    run_ids: dict[str, None] = {}
    for name in runs:
        if not name.strip():  # a prefix of every run id
            raise RunDeletionError("an empty run id names no run; give a run id or a unique prefix of one")
        view = reader.run(name)  # unknown or ambiguous: its own one-line error
        if view.status == ExecutionStatus.RUNNING:
            raise RunDeletionError(_still_running(view.id, view.owner))
        run_ids[view.id] = None
    if not run_ids:
        raise RunDeletionError("no run given; 'zenml runs list' shows the runs")
    return list(run_ids)


def _still_running(run_id: str, owner: Owner | None = None) -> str:
    by = f" (pid {owner.pid} on {owner.host})" if owner is not None else ""
    return (
        f"run '{run_id}' is still running{by}; wait until it finishes or stop it, then delete it "
        "(nothing was deleted)"
    )


# --- what to delete, decided and done inside the transaction ---------------------------------


def _delete_records(tx: Transaction, run_ids: list[str]) -> dict[str, Any]:
    """Delete the runs' records. As JSON: per-run summaries (`runs`, `DeletedRun` fields) and
    by run the URIs of the removed artifacts no remaining record points at (`files`)."""
    _check_schema(tx)
    types = dict(
        tx.rows(
            "SELECT `name`, `id` FROM `Type` WHERE `type_kind` = ? AND `name` IN (?, ?)",
            [_CONTEXT_KIND, RUN_CONTEXT, PIPELINE_CONTEXT],
        )
    )
    found = {
        name: int(cid)
        for cid, name in tx.rows_in(
            "SELECT `id`, `name` FROM `Context` WHERE `type_id` = ? AND `name` IN ({ids})",
            run_ids,
            [types.get(RUN_CONTEXT, -1)],
        )
    }
    for run_id in run_ids:
        if run_id not in found:
            raise RunDeletionError(f"run '{run_id}' is no longer in the metadata store (deleted meanwhile?)")
    contexts = set(found.values())

    executions_of: dict[int, set[int]] = {cid: set() for cid in contexts}
    for cid, eid in tx.rows_in(
        "SELECT `context_id`, `execution_id` FROM `Association` WHERE `context_id` IN ({ids})", contexts
    ):
        executions_of[int(cid)].add(int(eid))
    executions = set().union(*executions_of.values())
    dags = _refuse_live_runs(tx, executions, executions_of, found)

    events = tx.rows_in(
        "SELECT `id`, `artifact_id`, `execution_id`, `type` FROM `Event` WHERE `execution_id` IN ({ids})",
        executions,
    )
    reached_by: dict[int, set[int]] = {cid: set() for cid in contexts}
    context_of = {eid: cid for cid, eids in executions_of.items() for eid in eids}
    for _, aid, eid, _ in events:
        reached_by[context_of[int(eid)]].add(int(aid))
    for cid, aid in tx.rows_in(
        "SELECT `context_id`, `artifact_id` FROM `Attribution` WHERE `context_id` IN ({ids})", contexts
    ):
        reached_by[int(cid)].add(int(aid))
    candidates = set().union(*reached_by.values())
    kept = _used_elsewhere(tx, candidates, executions, contexts, types.get(PIPELINE_CONTEXT, -1))
    kept |= _served_to_survivors(tx, events, executions)
    doomed = candidates - kept
    uris = {
        int(aid): str(uri or "")
        for aid, uri in tx.rows_in("SELECT `id`, `uri` FROM `Artifact` WHERE `id` IN ({ids})", doomed)
    }
    shared = {
        str(uri)
        for aid, uri in tx.rows_in(
            "SELECT `id`, `uri` FROM `Artifact` WHERE `uri` IN ({ids})", set(uris.values()) - {""}
        )
        if int(aid) not in doomed
    }

    event_ids = {int(ev[0]) for ev in events}
    tx.delete_in("EventPath", "event_id", event_ids)
    tx.delete_in("Event", "id", event_ids)
    tx.delete_in("ExecutionProperty", "execution_id", executions)
    tx.delete_in("Association", "execution_id", executions)
    tx.delete_in("Association", "context_id", contexts)
    tx.delete_in("Execution", "id", executions)
    tx.delete_in("Attribution", "artifact_id", doomed)
    tx.delete_in("Attribution", "context_id", contexts)
    tx.delete_in("ArtifactProperty", "artifact_id", doomed)
    tx.delete_in("Artifact", "id", doomed)
    tx.delete_in("ParentContext", "context_id", contexts)
    tx.delete_in("ParentContext", "parent_context_id", contexts)
    tx.delete_in("ContextProperty", "context_id", contexts)
    tx.delete_in("Context", "id", contexts)

    summaries: list[dict[str, Any]] = []
    files: dict[str, list[str]] = {}
    counted: set[int] = set()
    for run_id in run_ids:
        cid = found[run_id]
        mine = reached_by[cid]
        own = (mine & doomed) - counted
        counted |= own
        summaries.append(
            {
                "run_id": run_id,
                "executions": len(executions_of[cid] - dags),
                "artifacts": len(own),
                "kept": len(mine & kept),
            }
        )
        # A URI another record still holds is not this run's to remove.
        files[run_id] = sorted({uris[a] for a in own if uris.get(a) and uris[a] not in shared})
    return {"runs": summaries, "files": files}


def _check_schema(tx: Transaction) -> None:
    try:
        rows = tx.rows("SELECT `schema_version` FROM `MLMDEnv`")
    except Exception as exc:
        raise RunDeletionError(
            f"the metadata store has no ML Metadata schema ({first_line(exc)}); nothing was deleted"
        ) from exc
    versions = {int(row[0]) for row in rows}
    if versions != {SCHEMA_VERSION}:
        found = ", ".join(str(v) for v in sorted(versions)) or "none"
        raise RunDeletionError(
            f"the metadata store has ML Metadata schema version {found}, but runs can only be "
            f"deleted from version {SCHEMA_VERSION}; nothing was deleted"
        )


def _refuse_live_runs(
    tx: Transaction, executions: set[int], executions_of: dict[int, set[int]], found: dict[str, int]
) -> set[int]:
    """The runs' DAG executions; refuses a run whose DAG execution is RUNNING while the
    process that owns it still runs.

    Checked again inside the transaction, as the check before it may race a writer. Runs
    without an owner (KFP's) were checked by their status before; a stale owner (its
    process gone) does not keep a run.
    """
    if not executions:
        return set()
    dags = {
        int(eid): int(state or 0)
        for eid, state in tx.rows_in(
            "SELECT e.`id`, e.`last_known_state` FROM `Execution` e JOIN `Type` t ON t.`id` = e.`type_id` "
            "WHERE t.`name` = ? AND e.`id` IN ({ids})",
            executions,
            [DAG_EXECUTION],
        )
    }
    live = [eid for eid, state in dags.items() if state in _LIVE_STATES]
    if not live:
        return set(dags)
    props: dict[int, dict[str, Any]] = {eid: {} for eid in live}
    for eid, name, text, number in tx.rows_in(
        "SELECT `execution_id`, `name`, `string_value`, `int_value` FROM `ExecutionProperty` "
        "WHERE `name` IN (?, ?, ?) AND `execution_id` IN ({ids})",
        live,
        [OWNER_HOST, OWNER_PID, OWNER_STARTED],
    ):
        props[int(eid)][str(name)] = number if number is not None else text
    names = {cid: run_id for run_id, cid in found.items()}
    for cid, eids in executions_of.items():
        for eid in eids & set(live):
            host, pid = props[eid].get(OWNER_HOST), props[eid].get(OWNER_PID)
            if not host or not isinstance(pid, int):
                continue
            owner = Owner(str(host), pid, str(props[eid].get(OWNER_STARTED) or ""))
            if owner.is_alive():
                raise RunDeletionError(_still_running(names[cid], owner))
    return set(dags)


def _served_to_survivors(tx: Transaction, events: list[tuple[Any, ...]], executions: set[int]) -> set[int]:
    """Outputs of deleted executions that a surviving cache hit names as its original.

    A cache hit names its original in `cached_execution_id` (KFP's convention) and also
    has an OUTPUT event on each artifact it reuses, which `_used_elsewhere` sees. Should
    a hit ever be recorded without those events, its artifacts are kept all the same:
    deletion keeps too much rather than too little.
    """
    named = {
        int(value)
        for eid, value in tx.rows_in(
            "SELECT `execution_id`, `string_value` FROM `ExecutionProperty` "
            "WHERE `name` = ? AND `string_value` IN ({ids})",
            {str(e) for e in executions},
            [CACHED_EXECUTION_ID],
        )
        if int(eid) not in executions and str(value).isdigit()
    }
    return {int(aid) for _, aid, eid, kind in events if int(eid) in named and int(kind) == _OUTPUT_EVENT}


def _used_elsewhere(
    tx: Transaction, artifacts: set[int], executions: set[int], contexts: set[int], pipeline_type: int
) -> set[int]:
    """Artifacts an execution or a context outside the deleted runs still refers to.

    A pipeline context's attribution does not count: every artifact of a pipeline's runs
    is attributed to it, and it holds no run of its own.
    """
    used = {
        int(aid)
        for aid, eid in tx.rows_in(
            "SELECT `artifact_id`, `execution_id` FROM `Event` WHERE `artifact_id` IN ({ids})", artifacts
        )
        if int(eid) not in executions
    }
    attributions = [
        (int(aid), int(cid))
        for aid, cid in tx.rows_in(
            "SELECT `artifact_id`, `context_id` FROM `Attribution` WHERE `artifact_id` IN ({ids})", artifacts
        )
        if int(cid) not in contexts
    ]
    others = {cid for _, cid in attributions}
    pipelines = {
        int(row[0])
        for row in tx.rows_in(
            "SELECT `id` FROM `Context` WHERE `type_id` = ? AND `id` IN ({ids})", others, [pipeline_type]
        )
    }
    used |= {aid for aid, cid in attributions if cid not in pipelines}
    return used


# --- artifact files, after the commit --------------------------------------------------------


def _remove_files(store: BaseArtifactStore, deleted: list[DeletedRun], files: dict[str, list[str]]) -> None:
    """Remove the folders of the deleted artifact records that live in `store`.

    The records are already gone, so a failure here leaves orphan folders only: it is
    reported with one of them, and `zenml clean` or a removal by hand finishes the job.
    """
    failed: list[str] = []
    cause = ""
    for summary in deleted:
        for uri in files.get(summary.run_id, []):
            if not store.holds(uri):
                summary.left_files.append(uri)
                continue
            try:
                store.remove(uri)
            except Exception as exc:  # one folder must not keep the others
                failed.append(uri)
                cause = cause or first_line(exc)
                continue
            summary.removed_files.append(uri)
    if failed:
        raise RunDeletionError(
            f"the runs' records are deleted, but {len(failed)} artifact folder(s) could not be "
            f"removed ({cause}), e.g. {failed[0]}; remove them by hand or with 'zenml clean'"
        )
