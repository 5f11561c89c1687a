"""The keeper's audit trail in SQLite: every cycle, every market's snapshot, recommendation,
decision and reason, and every signed payload with its transaction.

A push is written as `signed` (nonce, digest, payload) *before* its transaction is sent, becomes
`sent` with the transaction hash as soon as the node accepts it, and `mined`, `reverted` or
`abandoned` after. A keeper that dies anywhere in between finds the row on restart and settles it
against the chain's nonce (see `Keeper.reconcile`): nothing is lost and nothing is applied twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.errors import OracleError
from oracle.snapshot import Health

SCHEMA = """
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles(id),
    market TEXT NOT NULL,
    health TEXT NOT NULL,
    snapshot_hash TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    recommendation TEXT,
    explanation TEXT,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    update_values TEXT,
    proposal_values TEXT,
    loosening_wanted INTEGER NOT NULL,
    alert INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles(id),
    kind TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    digest TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    tx_hash TEXT,
    block INTEGER,
    gas_used INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pushes_status ON pushes(status);
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY,
    cycle_id INTEGER NOT NULL REFERENCES cycles(id),
    consumer TEXT NOT NULL,
    market TEXT NOT NULL,
    status TEXT NOT NULL,
    consumer_values TEXT,
    previous_values TEXT,
    registry_threshold INTEGER,
    detail TEXT,
    tx_hash TEXT,
    gas_used INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS syncs_market ON syncs(market, id);
CREATE TABLE IF NOT EXISTS arrays (
    id INTEGER PRIMARY KEY,
    push_id INTEGER NOT NULL REFERENCES pushes(id),
    market TEXT NOT NULL,
    scenario_set INTEGER NOT NULL,
    moves TEXT NOT NULL,
    floor_units INTEGER NOT NULL,
    depth_code INTEGER NOT NULL,
    target TEXT NOT NULL,
    notes TEXT NOT NULL,
    labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bars (
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    PRIMARY KEY (series, ts)
) WITHOUT ROWID;
"""
#: A market's latest decisions, with the loosening flag in the index itself: the per-cycle streak
#: read (`loosen_streak`) never touches the rows, whose snapshot and explanation fill kilobytes of
#: overflow pages. It replaces (market, id), which served the same reads and more slowly. A new
#: store gets it at once; a store from before gets it from its keeper (`Store(holder=...)`, the
#: writer alone with it), not from a command opened beside a running keeper, whose writes would
#: wait out the build (seconds per GB).
STREAK_INDEX = """
DROP INDEX IF EXISTS decisions_market;
CREATE INDEX IF NOT EXISTS decisions_streak ON decisions(market, id, loosening_wanted);
"""


PENDING = ("signed", "sent")
#: Push kinds of the registry's batches (one nonce) and of the arrays contract's (another).
REGISTRY_KINDS = ("update", "proposal")
#: Each market's latest decisions `Store.archive` never moves: the policy's loosening streak
#: (`Store.loosen_streak`) reads up to `MAX_STREAK` and the dashboard's price chart (`Store.prices`)
#: up to 2,000.
KEEP_DECISIONS = 2_000
#: Decisions of one market moved per chunk by `Store.archive`: a running keeper's writes wait
#: for one chunk at most (SQLite has one writer), not for the whole move.
ARCHIVE_CHUNK = 5_000
ARRAYS_KIND = "arrays"


#: The longest loosening streak `Store.loosen_streak` counts, so the longest
#: `policy.loosen_after_cycles` a keeper can reach (the config refuses more).
MAX_STREAK = 1_000
#: A market's latest loosening flags, newest first (`Store.loosen_streak`): answered from the
#: `decisions_streak` index alone.
STREAK_QUERY = (
    f"SELECT loosening_wanted FROM decisions WHERE market = ? ORDER BY id DESC LIMIT {MAX_STREAK}"
)


class StoreError(OracleError):
    """The audit database cannot be opened or written."""


@dataclass(frozen=True)
class PushRow:
    id: int
    cycle_id: int
    kind: str
    nonce: int
    digest: str
    status: str
    tx_hash: str | None
    payload: dict[str, Any]


def _unwritable(path: Path) -> str | None:
    """Why the store cannot be written, in words an operator can act on: SQLite only says
    \"unable to open database file\" for a read-only mount or file."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "read-only: its file system is mounted read-only"
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if p.exists() and not os.access(p, os.W_OK):
                return f"read-only: {p.name} is not writable"
        if not os.access(path.parent, os.W_OK):
            return "read-only: its directory is not writable"
    except OSError:
        return None
    return None


class StoreLock:
    """One writer that must be alone with a store: the keeper (`oracle once`, `oracle run`) or
    `oracle archive --vacuum`. Two keepers on one store would each settle and sign the registry's
    nonces from their own view of the pending pushes; a vacuum rewrites the file under a keeper's
    writes. An exclusive `flock` on `<store>.lock`, which names its holder: the kernel drops it
    when the holding process ends however it ends, so a killed keeper leaves nothing to clean up
    (a lock file that merely exists locks nothing). Readers (the dashboard, `oracle status`,
    `history`, an archive without `--vacuum`) do not take it: WAL lets them read beside the
    keeper."""

    def __init__(self, store: Path | str, holder: str) -> None:
        path = Path(f"{Path(store).resolve()}.lock")  # a symlinked store shares its target's
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            cause = _unwritable(Path(store))
            raise StoreError(
                f"cannot open the store at {store}: its lock {path.name}: {exc}"
                + (f" ({cause})" if cause else "")
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = os.pread(fd, 200, 0).decode(errors="replace").strip()
            except OSError:
                who = ""
            os.close(fd)
            who = who or "another process"
            raise StoreError(
                f"the store at {store} is in use by {who}: one keeper per store, and "
                "archive --vacuum only with the keeper stopped"
            ) from None
        except OSError as exc:  # no lock to be had (ENOLCK, a file system without flock)
            os.close(fd)
            raise StoreError(f"cannot lock the store at {store} ({path.name}): {exc}") from None
        with contextlib.suppress(OSError):  # the name is for the next one's error: a full disk
            os.ftruncate(fd, 0)  # does not stop the holder
            os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        # closing the descriptor drops the flock: at `release`, or when the lock is collected
        # unreleased (a store dropped without `close`), not only when the process ends
        self._release = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        self._release()  # once: later calls do nothing


class Store:
    def __init__(
        self, path: Path | str, read_only: bool = False, holder: str | None = None
    ) -> None:
        """`read_only`: for readers beside a running keeper (the dashboard, `status`): the file must
        exist, nothing in it is written (SQLite may still make its `-wal` and `-shm` files beside
        it, which a reader of a WAL store needs), and the keeper's writes stay visible.
        `holder`: the writer that must be alone with the store (`StoreLock`), named in the error
        another one gets; held until `close`."""
        self._lock = threading.RLock()
        writer = holder is not None and not read_only and str(path) != ":memory:"
        self._held = StoreLock(path, holder) if writer and holder is not None else None
        if read_only:
            if not Path(path).exists():
                raise StoreError(f"cannot open the store at {path}: no such file")
            try:
                uri = f"{Path(path).resolve().as_uri()}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
                self.db.execute("SELECT 1 FROM cycles LIMIT 1")
            except sqlite3.Error as exc:
                cause = _unwritable(Path(path))  # SQLite's own words do not name the directory
                raise StoreError(
                    f"cannot read the store at {path}: {exc}" + (f" ({cause})" if cause else "")
                ) from None
            return
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'decisions'"
            new = self.db.execute(query).fetchone() is None
            self.db.executescript(SCHEMA)
            if new or self._held is not None:
                self.db.executescript(STREAK_INDEX)
        except (sqlite3.Error, OSError) as exc:
            if self._held is not None:
                self._held.release()
            cause = _unwritable(Path(path)) if str(path) != ":memory:" else None
            raise StoreError(
                f"cannot open the store at {path}: {exc}" + (f" ({cause})" if cause else "")
            ) from None

    def close(self) -> None:
        """Closes the connection (once no transaction is open on it: a feed thread that outlived
        its deadline may still be keeping bars) and lets the lock go."""
        with self._lock:
            self.db.close()
        if self._held is not None:
            self._held.release()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # One connection for every thread: a transaction is one thread's at a time (the feed
        # pool's threads keep price history while the cycle's own thread waits for them).
        with self._lock, self._open_tx() as db:
            yield db

    @contextmanager
    def _open_tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:  # nothing half-written stays open on the shared connection
            if self.db.in_transaction:  # BEGIN itself may be what failed (e.g. locked)
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"store write failed: {exc}") from None
            raise

    # Price history ----------------------------------------------------------------------------

    def load_bars(self, series: str, limit: int) -> list[tuple[int, float, float]]:
        """The last `limit` bars kept for `series` (open time, close, volume), oldest first: a
        restarted keeper's history asks the venue only for what came after
        (`oracle.feeds.history.BarCache`)."""
        try:
            with self._lock:
                rows = self.db.execute(
                    "SELECT ts, close, volume FROM bars WHERE series = ? ORDER BY ts DESC LIMIT ?",
                    (series, limit),
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from None
        return [(int(t), float(c), float(v)) for t, c, v in reversed(rows)]

    def keep_bars(self, series: str, bars: Sequence[tuple[int, float, float]], first: int) -> None:
        """Writes `bars` (a revised bar replaces the one with its open time) and drops the
        series' bars opened before `first`, so the table holds each series' window only."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO bars (series, ts, close, volume) VALUES (?, ?, ?, ?)",
                [(series, *bar) for bar in bars],
            )
            db.execute("DELETE FROM bars WHERE series = ? AND ts < ?", (series, first))

    # Consumer syncs ---------------------------------------------------------------------------

    def record_sync(self, cycle_id: int, consumer: str, market: str, now: int, **row: Any) -> None:
        """One market's outcome in a consumer sync (e.g. Aave via the risk adapter): `status`
        "synced" with the values written, or "skipped" / "failed" with the `detail`."""
        values = {k: json.dumps(v) if isinstance(v, tuple | list) else v for k, v in row.items()}
        columns = ", ".join(["cycle_id", "consumer", "market", "created_at", *values])
        marks = ", ".join("?" * (4 + len(values)))
        with self._tx() as db:
            db.execute(
                f"INSERT INTO syncs ({columns}) VALUES ({marks})",
                (cycle_id, consumer, market, now, *values.values()),
            )

    def syncs(self, market: str | None = None) -> list[dict[str, Any]]:
        """Consumer sync rows, oldest first (optionally one market's)."""
        query = "SELECT * FROM syncs" + (" WHERE market = ?" if market else "") + " ORDER BY id"
        cur = self.db.execute(query, (market,) if market else ())
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    # Cycles and decisions ---------------------------------------------------------------------

    def begin_cycle(self, now: int) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO cycles (started_at, status) VALUES (?, 'running')", (now,)
            )
            return int(cur.lastrowid or 0)

    def finish_cycle(self, cycle_id: int, now: int, status: str, note: str = "") -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE cycles SET finished_at = ?, status = ?, note = ? WHERE id = ?",
                (now, status, note, cycle_id),
            )

    def record_decisions(self, cycle_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """A cycle's decisions in one transaction (one fsync, not one per market: 0.3 s a cycle
        at 500 markets); written before any batch of the cycle is signed."""
        cols = [
            "market",
            "health",
            "snapshot_hash",
            "snapshot",
            "recommendation",
            "explanation",
            "action",
            "reason",
            "update_values",
            "proposal_values",
            "loosening_wanted",
            "alert",
        ]
        values = [[cycle_id, *(row.get(c) for c in cols)] for row in rows]
        with self._tx() as db:
            db.executemany(
                f"INSERT INTO decisions (cycle_id, {', '.join(cols)}) "
                f"VALUES ({', '.join('?' * (len(cols) + 1))})",
                values,
            )

    def last_cycle(self) -> dict[str, Any] | None:
        """The latest cycle (started, finished, status, note), or None before the first."""
        cur = self.db.execute(
            "SELECT id, started_at, finished_at, status, note FROM cycles ORDER BY id DESC LIMIT 1"
        )
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    def prices(self, market: str, limit: int = 2_000) -> list[tuple[int, float]]:
        """(cycle time, snapshot median price) of the market's latest cycles, oldest first."""
        rows = self.db.execute(
            "SELECT c.started_at, d.snapshot FROM decisions d JOIN cycles c ON c.id = d.cycle_id "
            "WHERE d.market = ? ORDER BY d.id DESC LIMIT ?",
            (market, limit),
        ).fetchall()
        out = []
        for started, snapshot in reversed(rows):
            price = json.loads(snapshot).get("price")
            if price is not None:
                out.append((int(started), float(price)))
        return out

    def last_healthy_price(self, market: str) -> float | None:
        """The snapshot price of `market`'s latest decision read healthy (None: none stored), so
        a restarted keeper's trigger knows where a market stood before it went unhealthy."""
        # among its latest `KEEP_DECISIONS` (a market never healthy costs no more), the flag read
        # before the kilobytes of snapshot, which only the one row found is read for
        row = self.db.execute(
            "SELECT snapshot FROM decisions WHERE id = (SELECT id FROM (SELECT id, health FROM "
            "decisions WHERE market = ? ORDER BY id DESC LIMIT ?) WHERE health = ? "
            "ORDER BY id DESC LIMIT 1)",
            (market, KEEP_DECISIONS, Health.OK.value),
        ).fetchone()
        price = None if row is None else json.loads(row[0]).get("price")
        return None if price is None else float(price)

    def loosen_streak(self, market: str) -> int:
        """Consecutive latest decisions for `market` that asked to loosen (at most `MAX_STREAK`).

        Read from the `decisions_streak` index alone, until the first decision that did not: the
        flag sits behind the row's snapshot and explanation (kilobytes, on overflow pages), so
        fetching 1,000 rows a market from the table, as this did, read megabytes a cycle at 500
        markets and took half a 1,000-cycle-old keeper's cycle (`make bench-store`)."""
        streak = 0
        with self._lock:
            cur = self.db.execute(STREAK_QUERY, (market,))
            try:
                for (wanted,) in cur:
                    if not wanted:
                        break
                    streak += 1
            finally:
                cur.close()
        return streak

    # Retention ----------------------------------------------------------------------------------

    def archive(
        self, before: int, to: Path | str, keep: int = KEEP_DECISIONS, vacuum: bool = False
    ) -> dict[str, int]:
        """Moves the decisions of cycles started before `before` (unix seconds) — each with its
        snapshot, the bulk of the store: 4.4 kB a market and cycle at 500 markets — into the
        store at `to` (created with this schema if new, so every reader of a store reads it),
        leaving each market's latest `keep`. Cycles are copied (pushes refer to them), pushes,
        syncs, arrays and bars stay. Rows move in chunks (`_archive_chunk`), copied, then
        deleted once the archive holds them: a row is in one file or both, never neither, and a
        keeper may keep running beside it (it waits for one chunk at most). The file stops
        growing as new rows fill the freed pages; `vacuum` also gives them back to the disk (it
        rewrites the file: `oracle archive --vacuum` holds the `StoreLock`, so no keeper runs
        beside it). Returns what moved."""
        target = Path(to).resolve()
        if str(target) == str(Path(self.db.execute("PRAGMA database_list").fetchone()[2])):
            raise StoreError(f"cannot archive the store into itself ({target})")
        Store(target).close()  # the schema, and a clear error if the file cannot be a store
        floors = {}
        for (market,) in self.db.execute("SELECT DISTINCT market FROM decisions").fetchall():
            row = self.db.execute(
                "SELECT id FROM decisions WHERE market = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                (market, keep - 1),
            ).fetchone()
            if row is not None:
                floors[market] = int(row[0])  # ids below it are not among the latest `keep`
        cycles, decisions = (
            ", ".join(r[1] for r in self.db.execute(f"PRAGMA main.table_info({table})"))
            for table in ("cycles", "decisions")
        )
        moved = 0
        with self._lock:
            try:
                self.db.execute("ATTACH DATABASE ? AS archive", (str(target),))
                self.db.execute("PRAGMA archive.synchronous=FULL")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the archive at {target}: {exc}") from None
        try:
            for market, floor in floors.items():
                while ids := self._archive_chunk(market, floor, before, cycles, decisions):
                    moved += len(ids)
        finally:
            with self._lock:
                self.db.execute("DETACH DATABASE archive")
        if vacuum:
            with self._lock:
                try:
                    self.db.execute("VACUUM")
                except sqlite3.Error as exc:
                    raise StoreError(f"vacuum failed (the rows are archived): {exc}") from None
        left = self.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        return {"decisions_archived": moved, "decisions_left": int(left), "markets": len(floors)}

    def _archive_chunk(
        self, market: str, floor: int, before: int, cycles: str, decisions: str
    ) -> list[int]:
        """Moves up to `ARCHIVE_CHUNK` of `market`'s decisions below id `floor` of cycles started
        before `before` into the attached archive; returns their ids (none: nothing left). Two
        transactions, each writing one file — SQLite commits a transaction over two WAL files
        file by file, so a crash between would lose rows: first the copy into the archive, then
        the delete of the rows the archive now holds the same. A crash between leaves a row in
        both, and the next run finishes it."""
        with self._lock:
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT d.id FROM decisions d JOIN cycles c ON c.id = d.cycle_id "
                    "WHERE d.market = ? AND d.id < ? AND c.started_at < ? ORDER BY d.id LIMIT ?",
                    (market, floor, before, ARCHIVE_CHUNK),
                ).fetchall()
            ]
            if not ids:
                return ids
            marks = ",".join("?" * len(ids))
            with self._open_tx() as db:
                db.execute(
                    f"INSERT OR REPLACE INTO archive.cycles ({cycles}) SELECT {cycles} FROM "
                    "main.cycles WHERE id IN (SELECT DISTINCT cycle_id FROM main.decisions "
                    f"WHERE id IN ({marks}))",
                    ids,
                )
                db.execute(
                    f"INSERT OR IGNORE INTO archive.decisions ({decisions}) "
                    f"SELECT {decisions} FROM main.decisions WHERE id IN ({marks})",
                    ids,
                )
            with self._open_tx() as db:
                deleted = db.execute(
                    f"DELETE FROM main.decisions WHERE id IN ({marks}) AND EXISTS (SELECT 1 "
                    "FROM archive.decisions a WHERE a.id = decisions.id "
                    "AND a.cycle_id = decisions.cycle_id AND a.market = decisions.market "
                    "AND a.snapshot_hash = decisions.snapshot_hash)",
                    ids,
                ).rowcount
                if deleted != len(ids):  # rolled back: every row stays in this store
                    raise StoreError(
                        f"the archive holds other decisions under {len(ids) - deleted} of the "
                        "ids being moved (another store's archive?): archive into another file"
                    )
        return ids

    # Pushes -------------------------------------------------------------------------------------

    def record_signed(
        self,
        cycle_id: int,
        kind: str,
        nonce: int,
        digest: str,
        inputs_hash: str,
        payload: dict[str, Any],
        now: int,
    ) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO pushes (cycle_id, kind, nonce, digest, inputs_hash, payload, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'signed', ?, ?)",
                (cycle_id, kind, nonce, digest, inputs_hash, json.dumps(payload), now, now),
            )
            return int(cur.lastrowid or 0)

    def mark(self, push_id: int, status: str, now: int, **fields: Any) -> None:
        allowed = {"tx_hash", "block", "gas_used", "error"}
        if set(fields) - allowed:
            raise ValueError(f"unknown push fields {set(fields) - allowed}")
        sets = ", ".join([*(f"{k} = ?" for k in fields), "status = ?", "updated_at = ?"])
        with self._tx() as db:
            db.execute(
                f"UPDATE pushes SET {sets} WHERE id = ?", (*fields.values(), status, now, push_id)
            )

    def pending(self, kinds: Sequence[str] = REGISTRY_KINDS) -> list[PushRow]:
        """Pushes of `kinds` signed or sent but not yet settled."""
        marks = ", ".join("?" * len(kinds))
        return self._push_rows(f"status IN (?, ?) AND kind IN ({marks})", (*PENDING, *kinds))

    def mined_from(self, nonce: int, kinds: Sequence[str] = REGISTRY_KINDS) -> list[PushRow]:
        """Pushes of `kinds` recorded as mined at `nonce` or later: after a chain rollback (a node
        restarted from an older state, a reorg) these are the ones the chain may no longer have."""
        marks = ", ".join("?" * len(kinds))
        return self._push_rows(
            f"status = 'mined' AND nonce >= ? AND kind IN ({marks})", (nonce, *kinds)
        )

    def last_mined(self, kind: str) -> dict[str, Any] | None:
        """The latest mined push of `kind` (id, nonce, created_at, payload), or None."""
        row = self.db.execute(
            "SELECT id, nonce, created_at, payload FROM pushes WHERE kind = ? AND status = 'mined' "
            "ORDER BY id DESC LIMIT 1",
            (kind,),
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "nonce": row[1], "created_at": row[2], "payload": json.loads(row[3])}

    # Risk arrays ------------------------------------------------------------------------------

    def record_arrays(self, push_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """What one arrays batch carries per asset: the values signed, the target they step
        toward, why they differ, and what each row is."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO arrays (push_id, market, scenario_set, moves, floor_units, "
                "depth_code, target, notes, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        push_id,
                        r["market"],
                        r["scenario_set"],
                        json.dumps(r["moves"]),
                        r["floor_units"],
                        r["depth_code"],
                        json.dumps(r["target"]),
                        json.dumps(r["notes"]),
                        json.dumps(r["labels"]),
                    )
                    for r in rows
                ],
            )

    def arrays(self, limit: int = 50) -> list[dict[str, Any]]:
        """Arrays of the latest batches, newest first, with their push's status and time."""
        cur = self.db.execute(
            "SELECT a.push_id, p.status, p.nonce, p.created_at, p.tx_hash, a.market, "
            "a.scenario_set, a.moves, a.floor_units, a.depth_code, a.target, a.notes, a.labels "
            "FROM arrays a JOIN pushes p ON p.id = a.push_id ORDER BY a.id DESC LIMIT ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        out = []
        for r in cur.fetchall():
            row = dict(zip(names, r, strict=True))
            for key in ("moves", "target", "notes", "labels"):
                row[key] = json.loads(row[key])
            out.append(row)
        return out

    def _push_rows(self, where: str, params: tuple[Any, ...]) -> list[PushRow]:
        rows = self.db.execute(
            "SELECT id, cycle_id, kind, nonce, digest, status, tx_hash, payload FROM pushes "
            f"WHERE {where} ORDER BY id",
            params,
        ).fetchall()
        return [PushRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows]

    def reopen(self, push_id: int, now: int, error: str) -> None:
        """Back to `sent`: reconcile settles it again from what the chain now holds."""
        with self._tx() as db:
            db.execute(
                "UPDATE pushes SET status = 'sent', block = NULL, gas_used = NULL, error = ?, "
                "updated_at = ? WHERE id = ?",
                (error, now, push_id),
            )

    def last_mined_at(self) -> int | None:
        """When the latest push that was mined was signed (None: none yet)."""
        query = "SELECT MAX(created_at) FROM pushes WHERE status = 'mined'"
        row = self.db.execute(query).fetchone()
        return None if row[0] is None else int(row[0])

    def pushes(self, limit: int = 50) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT id, cycle_id, kind, nonce, status, tx_hash, gas_used, error, created_at, "
            "payload FROM pushes ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def decisions(self, market: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = (
            "SELECT d.id, d.cycle_id, c.started_at, d.market, d.health, d.action, d.reason, "
            "d.update_values, d.proposal_values, d.snapshot_hash FROM decisions d "
            "JOIN cycles c ON c.id = d.cycle_id"
        )
        args: tuple[Any, ...] = ()
        if market is not None:
            query += " WHERE d.market = ?"
            args = (market,)
        cur = self.db.execute(query + " ORDER BY d.id DESC LIMIT ?", (*args, limit))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
