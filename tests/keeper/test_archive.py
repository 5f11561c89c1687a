"""Retention: `Store.archive` moves old decisions (and their snapshots, the bulk of the store) into
an archive store without losing a row, keeps each market's latest ones for the policy, and leaves
pushes where they are; `oracle archive` does it from the config."""

from __future__ import annotations

import gc
import json
import sqlite3

import pytest

import oracle.keeper.store as store_module
from oracle.keeper.store import Store, StoreError

DAY = 86_400


def decision(market: str, i: int, loosen: bool) -> dict:
    return {
        "market": market,
        "health": "ok",
        "snapshot_hash": f"0x{i:064x}",
        "snapshot": json.dumps({"price": 100.0 + i, "levels": [[100.0, 1.0]] * 20}),
        "action": "no_change",
        "reason": "within the deadband",
        "loosening_wanted": int(loosen),
        "alert": 0,
    }


def filled(path, cycles: int = 10) -> Store:
    """A store of `cycles` daily cycles over two markets; the last three ask to loosen."""
    store = Store(path)
    for day in range(cycles):
        cid = store.begin_cycle(day * DAY)
        loosen = day >= cycles - 3
        store.record_decisions(cid, [decision(m, day, loosen) for m in ("A/USD", "B/USD")])
        store.finish_cycle(cid, day * DAY + 5, "done")
    cid = store.begin_cycle(0)
    store.record_signed(cid, "update", 0, "0x" + "11" * 32, "0x" + "22" * 32, {"x": 1}, 0)
    return store


def rows(db: sqlite3.Connection) -> set[tuple]:
    return set(db.execute("SELECT * FROM decisions").fetchall())


def test_old_decisions_move_whole_and_the_latest_stay(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "ARCHIVE_CHUNK", 2)  # several transactions per market
    store = filled(tmp_path / "oracle.db")
    everything = rows(store.db)
    streaks = [store.loosen_streak(m) for m in ("A/USD", "B/USD")]
    assert streaks == [3, 3]  # the last three days asked to loosen, the one before did not
    moved = store.archive(7 * DAY, tmp_path / "archive.db", keep=4)
    # days 0–5 are each market's older than its latest 4; of them, days 0–5 started before day 7
    assert moved == {"decisions_archived": 12, "decisions_left": 8, "markets": 2}
    archive = Store(tmp_path / "archive.db")
    assert rows(store.db) | rows(archive.db) == everything  # every row, whole, in one of the two
    assert not rows(store.db) & rows(archive.db)  # and in one only
    left = store.db.execute("SELECT DISTINCT cycle_id FROM decisions").fetchall()
    assert sorted(c for (c,) in left) == [7, 8, 9, 10]
    # the archive is a store: its cycles came with the decisions; readers read it as one
    assert [d["started_at"] for d in archive.decisions("A/USD", 10)] == [
        5 * DAY - k * DAY for k in range(6)
    ]
    assert [store.loosen_streak(m) for m in ("A/USD", "B/USD")] == streaks
    assert [p["nonce"] for p in store.pushes()] == [0]  # pushes stay
    assert store.db.execute("SELECT COUNT(*) FROM cycles").fetchone()[0] == 11
    # a second run moves nothing more, and appends to the same archive
    again = store.archive(7 * DAY, tmp_path / "archive.db", keep=4)
    assert again["decisions_archived"] == 0
    more = store.archive(10 * DAY, tmp_path / "archive.db", keep=1, vacuum=True)
    assert more == {"decisions_archived": 6, "decisions_left": 2, "markets": 2}
    assert len(rows(archive.db)) == 18
    store.close()
    archive.close()


def test_the_cut_is_by_cycle_time(tmp_path):
    store = filled(tmp_path / "oracle.db")
    moved = store.archive(3 * DAY, tmp_path / "archive.db", keep=1)
    assert moved["decisions_archived"] == 6  # days 0, 1 and 2 of both markets
    store.close()


def test_archiving_into_the_store_itself_is_refused_and_moves_nothing(tmp_path):
    store = filled(tmp_path / "oracle.db")
    before = rows(store.db)
    with pytest.raises(StoreError, match="into itself"):
        store.archive(10 * DAY, tmp_path / "oracle.db", keep=1)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "archive.db").write_text("not a database")
    with pytest.raises(StoreError, match="cannot"):
        store.archive(10 * DAY, tmp_path / "ro" / "archive.db", keep=1)
    assert rows(store.db) == before
    store.close()


def test_an_archive_that_cannot_be_written_loses_nothing(tmp_path):
    """The archive's file cannot grow (a full disk, here a file-size limit) while rows move: the
    copy fails, the store keeps every row and the error is one line. (SQLite commits a transaction
    over two WAL files file by file: copying and deleting in one transaction lost the chunk.)"""
    import resource

    store = filled(tmp_path / "oracle.db")
    everything = rows(store.db)
    Store(tmp_path / "archive.db").close()
    other = sqlite3.connect(tmp_path / "archive.db", isolation_level=None)
    other.execute("PRAGMA wal_autocheckpoint=0")  # its WAL already past the limit below
    other.execute("CREATE TABLE filler (x BLOB)")
    other.execute("INSERT INTO filler VALUES (zeroblob(2000000))")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        with pytest.raises(StoreError) as failed:
            store.archive(10 * DAY, tmp_path / "archive.db", keep=1)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert "\n" not in str(failed.value)
    archived = rows(sqlite3.connect(tmp_path / "archive.db"))
    assert rows(store.db) | archived == everything
    assert rows(store.db) == everything  # the delete never ran
    other.close()
    # with room again, a second run moves them
    assert store.archive(10 * DAY, tmp_path / "archive.db", keep=1)["decisions_left"] == 2
    store.close()


def test_an_archive_holding_another_stores_rows_under_the_same_ids_is_refused(tmp_path):
    first = filled(tmp_path / "first.db")
    first.archive(10 * DAY, tmp_path / "archive.db", keep=1)
    first.close()
    second = Store(tmp_path / "second.db")
    for day in range(4):
        cid = second.begin_cycle(day * DAY)
        second.record_decisions(cid, [decision("C/USD", 100 + day, False)])
    everything = rows(second.db)
    with pytest.raises(StoreError, match="another store's archive"):
        second.archive(10 * DAY, tmp_path / "archive.db", keep=1)
    assert rows(second.db) == everything  # nothing left the store
    second.close()


def test_a_store_has_one_keeper_and_its_lock_dies_with_it(tmp_path):
    """`StoreLock`: while a keeper process holds the store, a second writer that must be alone
    with it (another keeper, a vacuum) is refused in one line naming the holder and its PID;
    readers are not held back; a keeper killed with SIGKILL leaves no lock behind (the kernel
    drops a dead process's flock: the lock file still exists and locks nothing)."""
    import os
    import signal
    import subprocess
    import sys

    path = tmp_path / "oracle.db"
    filled(path).close()
    hold = (
        "import sys, time; from oracle.keeper.store import Store; "
        f"s = Store({str(path)!r}, holder='a keeper'); print('held', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(StoreError) as refused:
            Store(path, holder="oracle archive --vacuum")
        assert f"in use by a keeper (pid {proc.pid})" in str(refused.value)
        assert "\n" not in str(refused.value)
        for reader in (Store(path), Store(path, read_only=True)):
            assert reader.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 20
            reader.close()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "oracle.db.lock").exists()
    mine = Store(path, holder="a keeper")
    with pytest.raises(StoreError, match=rf"in use by a keeper \(pid {os.getpid()}\)"):
        Store(path, holder="a keeper")  # a second keeper in the same process, too
    mine.close()
    Store(path, holder="a keeper").close()  # closed: free again
    dropped = Store(path, holder="a keeper")  # dropped unclosed (an embedding's mistake)...
    dropped.db.close()
    del dropped
    gc.collect()
    Store(path, holder="a keeper").close()  # ...its lock goes with it, not with the process


def test_a_store_that_cannot_be_opened_keeps_no_lock(tmp_path):
    """A keeper's store that is not a database is refused, and its lock is let go with it: the
    second attempt gets the same error, not "in use" by its own process."""
    path = tmp_path / "oracle.db"
    path.write_bytes(b"not a database " * 100)
    for _ in range(2):
        with pytest.raises(StoreError, match="cannot open the store at"):
            Store(path, holder="a keeper")


def test_a_store_from_before_the_streak_index_gets_it_from_its_keeper(tmp_path):
    """A store written before `decisions_streak` (its index on a market's decisions was
    (market, id)) is given the covering index when its keeper opens it, and the keeper's
    per-cycle streak read then touches no row of the table. Not by a command opened beside a
    running keeper (`oracle archive`, a script): on a large store the build would hold the
    keeper's writes for its whole length."""
    path = tmp_path / "oracle.db"
    old = filled(path)
    old.db.executescript(
        "DROP INDEX decisions_streak; CREATE INDEX decisions_market ON decisions(market, id);"
    )
    old.close()

    def indexes(store):
        query = "SELECT name FROM sqlite_master WHERE type='index'"
        return {r[0] for r in store.db.execute(query)}

    beside = Store(path)
    assert "decisions_streak" not in indexes(beside) and "decisions_market" in indexes(beside)
    assert beside.loosen_streak("A/USD") == 3  # slower, the same answer
    beside.close()
    store = Store(path, holder="a keeper")
    assert "decisions_streak" in indexes(store) and "decisions_market" not in indexes(store)
    plan = store.db.execute(f"EXPLAIN QUERY PLAN {store_module.STREAK_QUERY}", ("A/USD",))
    plan = plan.fetchall()
    assert "COVERING INDEX decisions_streak" in plan[0][-1]
    assert store.loosen_streak("A/USD") == 3
    store.close()


def test_a_markets_last_healthy_price_is_looked_for_among_its_kept_decisions(tmp_path, monkeypatch):
    """`Store.last_healthy_price`, which a restarted trigger starts from: the price of the
    market's latest healthy decision, not of a later unhealthy one; None for a market with none,
    and None when the healthy one is older than the decisions an archive keeps (a market long
    unhealthy costs a bounded read, not one row per cycle it ever had)."""
    store = filled(tmp_path / "oracle.db")  # days 0–9 healthy, price 100 + day
    for day in (10, 11):
        cid = store.begin_cycle(day * DAY)
        store.record_decisions(cid, [decision("A/USD", day, False) | {"health": "degraded"}])
        store.finish_cycle(cid, day * DAY + 5, "done")
    assert store.last_healthy_price("A/USD") == 109.0
    assert store.last_healthy_price("B/USD") == 109.0
    assert store.last_healthy_price("C/USD") is None
    monkeypatch.setattr(store_module, "KEEP_DECISIONS", 2)  # only the two degraded ones
    assert store.last_healthy_price("A/USD") is None
    store.close()
