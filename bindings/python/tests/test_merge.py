"""merge_records for the built-in and host stores, validate_todos."""

import json

import pytest

import azmx_sync
from azmx_sync import (
    ChangeOp,
    MergeContract,
    RejectReason,
    StoreNameProblem,
    StoreSpec,
    StoreValidator,
    SyncError,
    SyncRecord,
    TodoProblem,
)


def compact(value):
    """Canonical JSON text, as merge_records returns bodies."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def snip(id, at, dev, text, scope="alice", deleted=False):
    return SyncRecord(
        id=id, scope=scope, updated_at=at, version=None, deleted=deleted, device_id=dev,
        body=None if deleted else compact({"text": text}),
    )


def mem(id, version, at, dev, fact, deleted=False):
    return SyncRecord(
        id=id, scope=None, updated_at=at, version=version, deleted=deleted, device_id=dev,
        body=None if deleted else compact({"fact": fact}),
    )


def todo(session, at, dev, items):
    return SyncRecord(id=session, scope=None, updated_at=at, version=None, deleted=False,
                      device_id=dev, body=json.dumps({"items": items}))


def test_builtin_stores():
    stores = {s.name: s for s in azmx_sync.builtin_stores()}
    assert stores == {
        "snippets": StoreSpec(name="snippets", contract=MergeContract.LWW_BY_TIME,
                              validator=StoreValidator.REQUIRE_SCOPE),
        "todos": StoreSpec(name="todos", contract=MergeContract.LWW_PER_GROUP,
                           validator=StoreValidator.TODOS),
        "memory": StoreSpec(name="memory", contract=MergeContract.LWW_BY_VERSION,
                            validator=StoreValidator.NO_SCOPE),
    }
    assert azmx_sync.builtin_store("memory") == stores["memory"]
    with pytest.raises(SyncError.UnknownStore) as e:
        azmx_sync.builtin_store("chats")
    assert e.value.name == "chats"


def test_snippets_lww_and_additive():
    spec = azmx_sync.builtin_store("snippets")
    local = [snip("a", 100, "laptop", "mine"), snip("b", 100, "laptop", "old b")]
    incoming = [snip("b", 200, "desktop", "new b"), snip("c", 50, "desktop", "peer only"),
                snip("a", 10, "desktop", "stale a")]
    out = azmx_sync.merge_records(spec, local, incoming)
    bodies = {r.id: json.loads(r.body)["text"] for r in out.state}
    assert bodies == {"a": "mine", "b": "new b", "c": "peer only"}  # local-only kept
    assert [(c.op, c.record.id) for c in out.changes] == [(ChangeOp.UPDATE, "b"), (ChangeOp.INSERT, "c")]
    assert (out.counts.applied, out.counts.kept_local, out.counts.unchanged,
            out.counts.rejected_invalid) == (2, 1, 0, 0)
    assert out.rejected == []
    # Merging the same batch again changes nothing, whatever the order.
    again = azmx_sync.merge_records(spec, out.state, list(reversed(incoming)))
    assert again.changes == [] and again.state == out.state
    assert again.counts.unchanged == 2 and again.counts.kept_local == 1


def test_tombstones_delete_and_absence_never_deletes():
    spec = azmx_sync.builtin_store("snippets")
    local = [snip("a", 100, "laptop", "x"), snip("b", 100, "laptop", "y")]
    out = azmx_sync.merge_records(spec, local, [snip("a", 200, "desktop", None, deleted=True)])
    assert [(c.op, c.record.id, c.record.deleted, c.record.body) for c in out.changes] == [
        (ChangeOp.DELETE, "a", True, None)]
    assert {r.id for r in out.state} == {"a", "b"}  # the tombstone stays in the state
    assert azmx_sync.merge_records(spec, local, []).state == local


def test_memory_lww_by_version():
    spec = azmx_sync.builtin_store("memory")
    local = [mem("m1", 5, 1000, "laptop", "v5")]
    out = azmx_sync.merge_records(spec, local, [mem("m1", 6, 1, "desktop", "v6 older clock")])
    assert json.loads(out.state[0].body)["fact"] == "v6 older clock"
    out = azmx_sync.merge_records(spec, local, [mem("m1", 4, 9999, "desktop", "v4")])
    assert out.counts.kept_local == 1
    no_version = SyncRecord(id="m2", scope=None, updated_at=1, version=None, deleted=False,
                            device_id="d", body="{}")
    out = azmx_sync.merge_records(spec, [], [no_version])
    assert out.rejected[0].reason == RejectReason.MISSING_VERSION()
    assert out.state == []


def test_todos_validated_on_incoming():
    spec = azmx_sync.builtin_store("todos")
    good = todo("s1", 10, "d", [{"id": "1", "content": "ship", "status": "in_progress"}])
    bad = todo("s2", 10, "d", [{"id": "1", "content": "a", "status": "in_progress"},
                               {"id": "2", "content": "b", "status": "in_progress"}])
    out = azmx_sync.merge_records(spec, [], [good, bad])
    assert [r.id for r in out.state] == ["s1"]
    assert len(out.rejected) == 1
    r = out.rejected[0]
    assert (r.id, r.scope) == ("s2", None)
    assert r.reason == RejectReason.INVALID_TODOS(problem=TodoProblem.MULTIPLE_IN_PROGRESS(index=1))
    assert out.counts.rejected_invalid == 1


def test_shape_rejections_and_bad_json():
    spec = azmx_sync.builtin_store("snippets")
    out = azmx_sync.merge_records(spec, [], [
        snip("/home/alice/x", 1, "d", "path"),
        snip("ok", 1, "d", "no scope", scope=None),
        SyncRecord(id="t", scope="alice", updated_at=1, version=None, deleted=True,
                   device_id="d", body="{}"),
    ])
    reasons = {r.id: r.reason for r in out.rejected}
    assert reasons == {"/home/alice/x": RejectReason.PATH_LIKE_ID(), "ok": RejectReason.MISSING_SCOPE(),
                       "t": RejectReason.TOMBSTONE_WITH_BODY()}
    with pytest.raises(SyncError.InvalidJson) as e:
        azmx_sync.merge_records(spec, [], [snip("a", 1, "d", "x"),
                                           SyncRecord(id="b", scope="s", updated_at=1, version=None,
                                                      deleted=False, device_id="d", body="{oops")])
    assert e.value.what == "incoming[1].body" and e.value.line == 1


def test_host_registered_store():
    spec = StoreSpec(name="bookmarks", contract=MergeContract.LWW_BY_TIME,
                     validator=StoreValidator.SHAPE_ONLY)
    azmx_sync.check_store_spec(spec)
    a = SyncRecord(id="k", scope=None, updated_at=5, version=None, deleted=False, device_id="d1",
                   body='{"url": "https://example.org", "n": [1, 2]}')
    out = azmx_sync.merge_records(spec, [], [a])
    assert out.state[0].body == '{"n":[1,2],"url":"https://example.org"}'  # canonical JSON
    with pytest.raises(SyncError.InvalidStoreName) as e:
        azmx_sync.check_store_spec(StoreSpec(name="team-workspace", contract=MergeContract.LWW_BY_TIME,
                                             validator=StoreValidator.SHAPE_ONLY))
    assert e.value.problem == StoreNameProblem.WORKSPACE_SCOPED
    with pytest.raises(SyncError.InvalidStoreName) as e:
        azmx_sync.merge_records(StoreSpec(name="../x", contract=MergeContract.LWW_BY_TIME,
                                          validator=StoreValidator.SHAPE_ONLY), [], [])
    assert e.value.problem == StoreNameProblem.BAD_START
    with pytest.raises(SyncError.BuiltinStoreRedefined):
        azmx_sync.merge_records(StoreSpec(name="snippets", contract=MergeContract.LWW_BY_VERSION,
                                          validator=StoreValidator.REQUIRE_SCOPE), [], [])


def test_validate_todos():
    ok = {"items": [{"id": "1", "content": "a", "status": "pending"},
                    {"id": "2", "content": "b", "status": "completed", "extra": True}]}
    assert azmx_sync.validate_todos(json.dumps(ok)) is None
    cases = [
        ([], TodoProblem.NOT_AN_OBJECT()),
        ({}, TodoProblem.MISSING_ITEMS()),
        ({"items": [{"id": "1", "content": "a", "status": "pending"},
                    {"id": "1", "content": "b", "status": "pending"}]},
         TodoProblem.DUPLICATE_ID(index=1, first=0)),
        ({"items": [{"id": "1", "content": "  ", "status": "pending"}]}, TodoProblem.EMPTY_CONTENT(index=0)),
        ({"items": [{"id": "1", "content": "a", "status": "done"}]}, TodoProblem.BAD_STATUS(index=0)),
        ({"items": [{"content": "a", "status": "pending"}] * 501}, TodoProblem.TOO_MANY_ITEMS(count=501)),
    ]
    for body, problem in cases:
        with pytest.raises(SyncError.InvalidTodos) as e:
            azmx_sync.validate_todos(json.dumps(body))
        assert e.value.problem == problem
    with pytest.raises(SyncError.InvalidJson) as e:
        azmx_sync.validate_todos("{not json")
    assert e.value.what == "json"
